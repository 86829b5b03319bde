"""The query language: parsing, errors with positions, regexes that cannot hang."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dozor.errors import QueryError
from dozor.query import And, Filter, Node, Not, Or, Phrase, Prefix, Regex, Term, parse
from dozor.query.ast import positive_leaves
from dozor.query.document import Document, build_document
from dozor.query.highlight import highlight_spans, merge_spans
from dozor.query.match import default_scope, matches, part_at, phrase_positions
from dozor.query.regex import translate
from dozor.text import analyze
from tests.test_search_property import WORDS, corpus, queries

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def test_terms_phrases_prefixes_and_exact_words() -> None:
    assert parse("мигрант") == Term("мигрант", ("мигрант", "~мигрант"))
    assert parse("=мигрант") == Term("мигрант", (), exact=True)
    assert parse("мигра*") == Prefix("мигра")
    phrase = parse('"уголовное дело"')
    assert isinstance(phrase, Phrase)
    assert [p.word for p in phrase.parts if isinstance(p, Term)] == ["уголовное", "дело"]
    exact = parse('="уголовное дело"')
    assert isinstance(exact, Phrase)
    assert all(isinstance(p, Term) and p.exact for p in exact.parts)
    one_exact = parse('"уголовное =дело"')  # the = was dropped as punctuation
    assert one_exact == Phrase((parse("уголовное"), parse("=дело")))  # type: ignore[arg-type]
    assert parse("#МВД") == Term("#мвд", ("#мвд",))
    assert parse("Кара-Суу") == Phrase((parse("кара"), parse("суу")))  # type: ignore[arg-type]


def test_boolean_structure() -> None:
    tree = parse("a OR b c -d NOT (e OR f)")
    assert isinstance(tree, Or)
    left, right = tree.children
    assert left == parse("a")
    assert isinstance(right, And)
    assert [type(c) for c in right.children] == [Term, Term, Not, Not]


def test_filters() -> None:
    tree = parse(
        'channel:mvd_official_kg channel:"МВД КР" after:2024-11-01 before:2024-11-02T12:00 '
        "has:photo -is:forward"
    )
    assert isinstance(tree, And)
    assert tree.children[0] == Or(
        (Filter("channel", "mvd_official_kg"), Filter("channel", "МВД КР"))
    )
    filters = [c for c in tree.children if isinstance(c, Filter)]
    assert [(f.field, f.value) for f in filters] == [
        ("after", "2024-11-01"),
        ("before", "2024-11-02T12:00"),
        ("has", "photo"),
    ]
    assert filters[0].when == datetime(2024, 11, 1, tzinfo=UTC)
    assert filters[1].when == datetime(2024, 11, 2, 12, tzinfo=UTC)
    assert tree.children[-1] == Not(Filter("is", "forward"))


def test_urls_and_times_are_not_filters() -> None:
    assert parse("https://t.me/durov") == Term("t.me/durov", ("t.me/durov",))
    assert parse("10:30") == Term("10:30", ("10:30",))


@pytest.mark.parametrize(
    ("query", "position", "message"),
    [
        ('мигрант "уголовное дело', 9, "unbalanced quote"),
        ("(мигрант OR беженец", 1, "unclosed ("),
        ("мигрант)", 8, "unmatched )"),
        ("OR мигрант", 1, "OR needs a term on its left"),
        ("мигрант OR", 9, "OR needs a term on its right"),
        ("мигрант OR OR беженец", 9, "OR needs a term on its right"),
        ("foo:bar", 1, "unknown filter foo:"),
        ("after:2024-13-01", 7, "bad date '2024-13-01'"),
        ("before:yesterday", 8, "bad date"),
        ("after:0001-01-01T00:00+05:00", 7, "date '0001-01-01T00:00+05:00' is out of range"),
        ("мигрант \x00", 9, "a query cannot hold the NUL character"),
        ("has:cats", 5, "has: takes media, photo, video, document, link"),
        ("is:pinned", 4, "is: takes forward, reply, edited, deleted"),
        ("channel:", 1, "channel: needs a value"),
        ("/(а/", 1, "invalid regular expression"),
        (r"/(a)\1/", 1, "invalid regular expression"),
        ("/(?<=a)b/", 1, "invalid regular expression"),
        ("/abc", 1, "unterminated regular expression"),
        ("/a/x", 4, "unknown regular expression flag"),
        ("()", 1, "empty parentheses"),
        ("", 1, "empty query"),
        ("   ", 1, "empty query"),
        ("мигрант -", 9, "nothing to search for"),
        ("NOT", 1, "NOT needs something to exclude"),
        ("м*", 1, "too short"),
        ("ми*гр", 1, "* goes at the end of a word"),
        ("=", 1, "= needs a word"),
        ("(" * 51 + "a" + ")" * 51, 51, "nested too deeply (at most 50 levels)"),
        ("-(" * 25 + "-a" + ")" * 25, 51, "nested too deeply"),
    ],
)
def test_errors_point_at_the_problem(query: str, position: int, message: str) -> None:
    with pytest.raises(QueryError) as info:
        parse(query)
    assert info.value.position + 1 == position
    assert message in str(info.value)
    assert str(info.value).startswith(f"query error at position {position}:")
    assert info.value.pointer().splitlines()[1] == " " * (position - 1) + "^"


def _post(text: str) -> Document:
    return build_document(
        {
            "channel_id": -1001,
            "message_id": 1,
            "date": datetime(2024, 1, 1, tzinfo=UTC),
            "text": text,
            "media": None,
            "media_type": None,
            "entities": None,
            "current_version": 1,
        }
    )


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("мигрант", "Мигранты, мигрантов и мигрантами", True),
        ("мигрант", "Бишкекте мигранттардын саны өстү", True),
        ("Бишкек", "Мигранты в Бишкеке", True),
        ("Бишкек", "Бишкекте жаңылык", True),
        ("кармалды", "Милиция уурууну кармады", True),
        ("кармалды", "Шектүүнү кармоо иштери", True),
        ("=мигрантов", "Мигрантов нет", True),
        ("=мигрантов", "Мигранты есть", False),
        ("мигра*", "миграция", True),
        ("мигра*", "мигранттар келди", True),
        ('"уголовное дело"', "по уголовному делу", True),
        ('="уголовное дело"', "возбуждено уголовного дела", False),
        ('"уголовн* дел*"', "в уголовных делах", True),
        ('"уголовного =дело"', "в уголовное дело", True),
        ('"уголовного =дело"', "по уголовному делу", False),
        ('"уголовн* дел*"', "дела уголовные", False),
        ("#МВД", "новость #мвд", True),
        ("@mvd_official_kg", "см. @MVD_official_kg", True),
        ("10:30", "в 10:30 утра", True),
        ("mvd.gov.kg", "https://www.mvd.gov.kg/", True),
        ("mvd.gov.kg*", "https://mvd.gov.kg/news/1?x=2", True),
        ("https://mvd.gov.kg/news/1", "mvd.gov.kg/news/1/", True),
        ("мигрант", "мигрaнт с латинской a", True),
        ("пройти", "прошли", True),
        ("день", "дня", True),
        ("погибнуть", "погиб", True),
        ("опасный", "опасна", True),
        ("Белов", "Белова", True),
        ("оказать", "оказались", False),
        ("оказаться", "оказался", True),
        ("газета", "Газетада жарыяланды", True),
    ],
)
def test_the_examples_of_the_query_docs_hold(query: str, text: str, expected: bool) -> None:
    """docs/QUERY.md promises these; a stemmer change must not quietly break them."""
    assert matches(default_scope(parse(query)), _post(text)) is expected


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ('"мигра* задержан"', "Мигранты задержаны в Бишкеке", True),
        ('"мигра* задержан"', "задержаны мигранты", False),
        ('"ми* за*"', "Мигранты задержаны", True),  # prefixes only: every position is tried
        ('"ми* за*"', "задержаны мигранты", False),
        ('"в бишкек*"', "задержаны в Бишкеке", True),
    ],
)
def test_phrases_with_prefixes(query: str, text: str, expected: bool) -> None:
    assert matches(parse(query), _post(text)) is expected


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(WORDS), min_size=2, max_size=4),
    st.booleans(),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=30),
    st.integers(0, 2),
)
def test_word_phrases_match_where_their_positions_are_found(
    words: list[str], exact: bool, text: list[str], missing: int
) -> None:
    """Phrases of words have a fast check of their own; it means what phrase_positions
    (which also serves highlighting and phrases with prefixes) finds."""
    query = ("=" if exact else "") + '"' + " ".join(words) + '"'
    phrase = parse(query)
    assert isinstance(phrase, Phrase) and all(isinstance(p, Term) for p in phrase.parts)
    doc = _post(" ".join(text + words[: len(words) - missing]))  # often there, or nearly
    assert matches(phrase, doc) is bool(phrase_positions(phrase, doc))


def test_fifty_levels_of_nesting_still_match() -> None:
    deep = parse("-(" * 24 + "-мигрант" + ")" * 24)  # 49 NOTs, 24 parentheses: 49 levels
    assert not matches(deep, _post("мигранты прибыли"))  # an odd number of NOTs
    assert matches(deep, _post("погода"))


def test_regex_word_classes_are_unicode() -> None:
    assert translate(r"задерж\w+") == r"задерж[\p{L}\p{N}\p{M}_]+"
    regex = parse(r"/задерж\w+/")
    assert isinstance(regex, Regex)
    assert regex.compiled.search("Полиция задержала мигрантов") is not None
    assert parse(r"/\d+ мигрант/").compiled.search("٣ мигрант") is not None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("pattern", "means"),
    [
        (r"\s", str.isspace),
        (r"\S", lambda c: not c.isspace()),
        (r"[\s]", str.isspace),
        (r"[[:space:]]", str.isspace),
        (r"[[:alpha:]]", str.isalpha),
        (r"[[:digit:]]", str.isdecimal),
        (r"[[:alnum:]]", str.isalnum),
        (r"[[:upper:]]", lambda c: unicodedata.category(c) == "Lu"),
        (r"[[:lower:]]", lambda c: unicodedata.category(c) == "Ll"),
        (r"[[:punct:]]", lambda c: unicodedata.category(c)[0] in "PS"),
    ],
)
def test_regex_space_and_posix_classes_mean_what_python_says(
    pattern: str, means: Callable[[str], bool]
) -> None:
    """RE2 reads these as ASCII; dozor rewrites them to mean what Python's str methods (and
    ``re``'s \\s) say, character by character, over the first 12,288 code points (Latin,
    Cyrillic with ң ө ү, the no-break and thin spaces of typography)."""
    regex = parse(f"/{pattern}/")
    assert isinstance(regex, Regex)
    wrong = [
        hex(code)
        for code in range(1, 0x3000)
        # code points this Python's Unicode tables leave unassigned, RE2's newer ones may not
        if unicodedata.category(chr(code)) != "Cn"
        and (regex.compiled.search(chr(code)) is not None) != means(chr(code))
    ]
    assert wrong == []


def test_regex_word_boundaries() -> None:
    regex = parse(r"/\bмиг\b/i")
    assert isinstance(regex, Regex)
    assert regex.compiled.search("Это МИГ, не мигрант") is not None
    assert regex.compiled.search("мигрант") is None
    assert regex.compiled.search("миг") is not None


def test_catastrophic_patterns_run_in_linear_time() -> None:
    """(a+)+$ backtracks exponentially in Python's re; RE2 answers at once."""
    regex = parse("/(а+)+$/")
    assert isinstance(regex, Regex)
    assert regex.compiled.search("а" * 50_000 + "б") is None


def test_deleted_posts_need_is_deleted() -> None:
    post = {
        "channel_id": -1001,
        "message_id": 1,
        "date": datetime(2024, 1, 1, tzinfo=UTC),
        "text": "мигранты",
        "media": None,
        "media_type": None,
        "entities": None,
        "current_version": 1,
        "deleted_at": datetime(2024, 2, 1, tzinfo=UTC),
    }
    doc = build_document(post)
    assert not matches(default_scope(parse("мигрант")), doc)
    assert matches(default_scope(parse("мигрант is:deleted")), doc)
    assert not matches(default_scope(parse("мигрант -is:deleted")), doc)


def test_repeated_channel_filters_mean_any_of() -> None:
    tree = parse("channel:a channel:b мигрант -channel:c")
    assert tree == And(
        (
            Or((Filter("channel", "a"), Filter("channel", "b"))),
            parse("мигрант"),
            Not(Filter("channel", "c")),
        )
    )


def _spans_token_by_token(node: Node, text: str) -> list[tuple[int, int]]:
    """The plain definition highlight_spans must agree with: every token, offsets and all."""
    analysis = analyze(text)
    tokens = analysis.tokens
    doc = Document(0, NOW, text, tuple(analysis.words), tuple(analysis.stems), frozenset())
    spans: list[tuple[int, int]] = []
    for leaf in positive_leaves(node):
        if isinstance(leaf, Term | Prefix):
            spans += [(t.start, t.end) for i, t in enumerate(tokens) if part_at(leaf, doc, i)]
        elif isinstance(leaf, Phrase):
            size = len(leaf.parts)
            spans += [
                (tokens[i].start, tokens[i + size - 1].end) for i in phrase_positions(leaf, doc)
            ]
        elif isinstance(leaf, Regex):
            spans += [m.span() for m in leaf.compiled.finditer(text) if m.end() > m.start()]
    return merge_spans(spans)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queries, st.sampled_from([record.text for record in corpus(size=60)]))
def test_highlights_equal_token_by_token_spans(query: str, text: str) -> None:
    try:
        node = parse(query)
    except QueryError:
        return
    assert highlight_spans(node, text) == _spans_token_by_token(node, text)


def test_highlights_in_a_long_post() -> None:
    text = "Начало. " + "слово " * 300 + "Мигранты задержаны, «уголовное дело» возбуждено. Мигрант"
    node = parse('мигрант OR "уголовное дело"')
    spans = highlight_spans(node, text)
    assert [text[s:e] for s, e in spans] == ["Мигранты", "уголовное дело", "Мигрант"]
    assert spans == _spans_token_by_token(node, text)


def test_highlights_across_unusual_whitespace_and_token_free_chunks() -> None:
    # Chunks are found twice (str.split for token counts, a regex for offsets): every kind of
    # whitespace must cut both the same way, and chunks without tokens must not shift counts.
    separators = ["\xa0", "\u2028", "\x1c", "\u3000", "\t", "\u2009", " — ", " ... "]
    text = "Начало" + "".join(f"{sep}слово{i}{sep}мигрантов" for i, sep in enumerate(separators))
    node = parse("мигрант OR слово3")
    spans = highlight_spans(node, text)
    assert [text[s:e] for s, e in spans] == ["мигрантов"] * 3 + ["слово3"] + ["мигрантов"] * 5
    assert spans == _spans_token_by_token(node, text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="аб \n", max_size=60), min_size=1, max_size=30))
@example(["а" * 300 + " ", ""])  # one long word, then the match: the window once shrank to it
def test_snippets_show_the_first_match_in_a_window_of_the_text(pieces: list[str]) -> None:
    from dozor.query.highlight import make_snippet

    text = "мигрант ".join(pieces)
    spans = [(i, i + 7) for i in range(len(text)) if text.startswith("мигрант", i)]
    snippet = make_snippet(text, spans)
    flat = text.replace("\n", " ")
    body = snippet.text.removeprefix("…").removesuffix("…")
    assert body in flat
    assert len(snippet.text) <= 242
    if len(flat) > 240:
        assert len(body) >= 240 - 2 * 40  # edges move at most 40 characters to meet words
    for start, end in snippet.spans:
        assert snippet.text[start:end] in "мигрант"
    if spans:
        assert snippet.spans and snippet.text[slice(*snippet.spans[0])] == "мигрант"
