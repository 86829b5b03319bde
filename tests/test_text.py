"""Folding, tokenizing, stemming and language detection for Russian and Kyrgyz."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.language import KYRGYZ_TEST, KYRGYZ_TRAIN, RUSSIAN, evaluate, read_conllu
from dozor.text import ANALYZER_VERSION, analyze, analyze_terms, fold, query_stems
from dozor.text.analyzer import _word_info, surface_prefixes
from dozor.text.diff import compact_diff
from dozor.text.normalize import tokenize

GOLDEN = Path(__file__).parent / "fixtures" / "golden"


def matches(query_word: str, text: str) -> list[str]:
    """Words of *text* that a query word finds by word form."""
    stems = set(query_stems(fold(query_word)))
    return [t.word for t in analyze(text).tokens if t.stem in stems]


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("МИГРАНТ", "мигрант"),
        ("Ёлка", "елка"),
        ("замо́к", "замок"),
        ("ＭＶＤ", "mvd"),
        ("мигрaнт", "мигрант"),  # Latin "a" disguising a Cyrillic word
        ("Бишкек", "бишкек"),
        ("ҢӨҮ", "ңөү"),
        ("йод", "йод"),  # й is not и
    ],
)
def test_fold(raw: str, folded: str) -> None:
    assert fold(raw) == folded


def test_tokens_keep_hashtags_mentions_numbers_urls_with_offsets() -> None:
    text = "См. https://mvd.gov.kg/news/1?utm=x, #МВД и @mvd_official_kg: 12.03.2024 в 10:30."
    tokens = list(tokenize(text))
    assert [(t.kind, t.form) for t in tokens] == [
        ("word", "см"),
        ("url", "mvd.gov.kg/news/1"),
        ("hashtag", "#мвд"),
        ("word", "и"),
        ("mention", "@mvd_official_kg"),
        ("number", "12.03.2024"),
        ("word", "в"),
        ("number", "10:30"),
    ]
    url = tokens[1]
    assert text[url.start : url.end] == "https://mvd.gov.kg/news/1?utm=x"


def test_bare_domains_need_a_known_tld() -> None:
    kinds = {t.form: t.kind for t in tokenize("Смотрите mvd.gov.kg и t.me/s/durov, Mr.Smith")}
    assert kinds["mvd.gov.kg"] == "url"
    assert kinds["t.me/s/durov"] == "url"
    assert kinds["mr"] == "word"
    assert kinds["smith"] == "word"


def test_hyphenated_words_split_into_parts() -> None:
    assert [t.form for t in tokenize("Кара-Суу")] == ["кара", "суу"]


def test_russian_word_forms() -> None:
    text = "Мигранты задержаны. Мигрантов допросили, с мигрантами работают; мигрантка"
    assert matches("мигрант", text) == ["мигранты", "мигрантов", "мигрантами"]
    assert matches("мигранты", "МИГРАНТ") == ["мигрант"]


def test_kyrgyz_words_without_kyrgyz_letters_are_found() -> None:
    post = "Бишкекте милиция кызматкерлери мигранттарды кармады. Алар үчүн иш козголду."
    assert analyze(post).language == "ky"
    assert matches("Бишкек", post) == ["бишкекте"]
    assert matches("мигрант", post) == ["мигранттарды"]
    assert matches("кармалды", post) == ["кармады"]


def test_kyrgyz_verbal_nouns_find_their_verb() -> None:
    """-оо/-өө swallows a root's final vowel: карма + оо = кармоо, изде + өө = издөө."""
    post = "Милиция шектүүнү кармоо жана издөө иштерин жүргүзүүдө. Уурулар кармалды."
    assert matches("кармалды", post) == ["кармоо", "кармалды"]
    assert matches("издеди", post) == ["издөө"]


def test_kyrgyz_plural_goes_when_the_ending_chain_is_new() -> None:
    assert matches("прокурор", "Прокурорлорунун жыйыны") == ["прокурорлорунун"]


def test_kyrgyz_query_words_the_stemmer_cuts_short_still_find_their_forms() -> None:
    """On its own газета is cut to газе; inside газетада the root газет stays whole."""
    text = "Бул маалымат газетада жана Лениндин көчөсүндө жарыяланды"
    assert matches("газета", text) == ["газетада"]
    assert matches("Ленин", text) == ["лениндин"]


def test_short_kyrgyz_roots_keep_their_final_vowel() -> None:
    """бала "child" and бал "honey" are different words."""
    assert matches("бала", "Балдар жана бал, балага") == ["балага"]


def test_kyrgyz_stems_do_not_meet_unrelated_russian_ones() -> None:
    assert matches("кармалды", "Карма вернулась к нему.") == []


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Сотрудники полиции задержали двух мигрантов в Бишкеке.", "ru"),
        ("Мигранттардын укуктары боюнча жыйын өттү.", "ky"),
        ("Бишкекте уурулар кармалды.", "ky"),
        ("12:30", "mixed"),
    ],
)
def test_language_detection(text: str, language: str) -> None:
    assert analyze(text).language == language


def test_russian_irregular_forms() -> None:
    assert matches("пройти", "Они прошли мимо и пройдут снова") == ["прошли", "пройдут"]
    assert matches("Белов", "у Белова и Беловым") == ["белова", "беловым"]


@pytest.mark.parametrize(
    ("query", "text", "found"),
    [
        ("день", "В тот день, два дня, пять дней, днем", ["день", "дня", "дней", "днем"]),
        ("стать", "Она стала, они стали", ["стала", "стали"]),
        ("погибнуть", "Двое погибли, один погиб", ["погибли", "погиб"]),
        ("время", "В это время, со времени", ["время", "времени"]),
        ("этот", "Этого человека, эту машину", ["этого", "эту"]),
        ("гореть", "Леса горят", ["горят"]),
        ("состояться", "Суд состоится", ["состоится"]),
        ("гражданин", "Граждан задержали", ["граждан"]),
        ("задержанный", "Он был задержан, она задержана", ["задержан", "задержана"]),
        ("май", "9 мая", ["мая"]),
    ],
)
def test_russian_forms_snowball_alone_misses(query: str, text: str, found: list[str]) -> None:
    assert matches(query, text) == found


def test_reflexive_verbs_are_words_of_their_own() -> None:
    """оказать помощь (render help) is not оказаться (turn out); each finds its own forms."""
    text = "Врачи оказали помощь. Он оказался дома, она оказалась рядом"
    assert matches("оказать", text) == ["оказали"]
    assert matches("оказаться", text) == ["оказался", "оказалась"]
    assert matches("состояться", "Суд состоится, встреча состоялась") == [
        "состоится",
        "состоялась",
    ]


def test_generated_russian_forms_keep_away_from_other_words() -> None:
    """Gerunds and masculine short adjectives are not generated: Snowball cuts them to other
    words' stems."""
    assert matches("выступать", "Выступ скалы") == []
    assert matches("частный", "Часть города") == []
    assert matches("общественный", "Общество") == []


def test_word_form_quality_does_not_regress() -> None:
    """Floors under the figures bench/language.py reports (see README for the current ones)."""
    russian = evaluate(read_conllu(RUSSIAN))
    assert russian.recall >= 0.97
    assert russian.precision >= 0.95
    kyrgyz = evaluate(read_conllu(KYRGYZ_TEST))
    assert kyrgyz.recall >= 0.82
    assert kyrgyz.precision >= 0.78


def test_abbreviations_are_not_stemmed_to_nothing() -> None:
    """Snowball turns ИИМ into «и»; that would match every «и» in Russian text."""
    assert matches("ИИМ", "Сотрудники и граждане") == []
    assert matches("ИИМ", "ИИМдин кызматкерлери") == ["иимдин"]


_ALPHABET = st.sampled_from(
    list("абвгдеёжзийклмнопрстуфхцчшщъыьэюяңөүАБЁҢ")
    + list("abcdefghijklmnopqrstuvwxyzXYZ0123456789")
    + [" ", " ", "\n", "\u00a0", "\t", ".", ",", ":", "/", "-", "#", "@", "_", "!", "«", "»"]
    + ["\u0301", "\u200b", "https://", "www.", ".kg", ".com", "t.me/", "ё"]
)


@given(st.lists(_ALPHABET, max_size=60).map("".join))
def test_fast_terms_equal_tokenized_terms(text: str) -> None:
    """Indexing uses the chunked fast path, highlighting the offset-tracking one: same tokens."""
    slow, fast = analyze(text), analyze_terms(text)
    assert (fast.words, fast.stems, fast.language, fast.has_url) == (
        slow.words,
        slow.stems,
        slow.language,
        "url" in slow.kinds,
    )


def _index_fingerprint() -> str:
    """SHA-256 of what the search index would store for the sample texts."""
    digest = hashlib.sha256()
    texts = [s.text for s in read_conllu(RUSSIAN) + read_conllu(KYRGYZ_TEST)]
    texts += [p.read_text(encoding="utf-8") for p in sorted(RUSSIAN.parent.glob("book_*.txt"))]
    for sample in texts:
        terms = analyze_terms(sample)
        digest.update(" ".join(terms.words).encode() + b"\n" + " ".join(terms.stems).encode())
    return digest.hexdigest()


def test_index_changes_come_with_a_new_analyzer_version() -> None:
    """Stored indexes are rebuilt only when ANALYZER_VERSION grows: a change in what texts
    index to must come with a bump (then DOZOR_UPDATE_GOLDEN=1 records the new fingerprint)."""
    recorded_path = GOLDEN / "analyzer.json"
    recorded = json.loads(recorded_path.read_text(encoding="utf-8"))
    fingerprint = _index_fingerprint()
    if os.environ.get("DOZOR_UPDATE_GOLDEN") and fingerprint != recorded["fingerprint"]:
        assert recorded["version"] < ANALYZER_VERSION, "bump ANALYZER_VERSION first"
        recorded = {"version": ANALYZER_VERSION, "fingerprint": fingerprint}
        recorded_path.write_text(json.dumps(recorded, indent=2) + "\n", encoding="utf-8")
    assert fingerprint == recorded["fingerprint"], (
        "texts now index differently: bump ANALYZER_VERSION in dozor/text/analyzer.py"
    )
    assert recorded["version"] == ANALYZER_VERSION


def _every_reading(text: str) -> list[tuple[str, str]]:
    """(word, stem) of every word of *text*, stemmed as in a Russian, a Kyrgyz and a mixed
    post (the language decides which stemmer a word gets)."""
    return [
        (word, _word_info(word).stem(language))
        for word in analyze_terms(text).words
        for language in ("ru", "ky", "mixed")
    ]


def test_a_stem_tells_how_each_of_its_words_begins() -> None:
    """Search looks for a phrase of word forms and prefixes among the words by this promise:
    every word begins with one of its stem's surface prefixes. Checked on every word of the
    samples (Russian news, the Kyrgyz treebank) in each language's reading."""
    texts = [s.text for s in read_conllu(RUSSIAN) + read_conllu(KYRGYZ_TEST)]
    texts += [s.text for s in read_conllu(KYRGYZ_TRAIN)]
    texts += [p.read_text(encoding="utf-8") for p in sorted(RUSSIAN.parent.glob("book_*.txt"))]
    readings = {pair for text in texts for pair in _every_reading(text)}
    assert len({stem for _, stem in readings if stem.startswith("~")}) > 3000
    assert len({stem for _, stem in readings if stem.endswith("+ся")}) > 20
    broken = [(w, s) for w, s in readings if not w.startswith(surface_prefixes(s))]
    assert broken == []


@given(st.lists(_ALPHABET, max_size=30).map("".join))
def test_a_stem_tells_how_each_of_its_words_begins_whatever_the_text(text: str) -> None:
    for word, stem in _every_reading(text):
        assert word.startswith(surface_prefixes(stem)), (word, stem)


def test_a_compact_diff_keeps_a_few_words_around_each_change() -> None:
    before = "Сегодня в Бишкеке сотрудники милиции задержали троих граждан на рынке Дордой утром"
    after = before.replace("троих", "двоих").replace("утром", "вечером")
    pieces = compact_diff(before, after, context=2)
    assert [(p.kind, p.text) for p in pieces] == [
        ("same", " … милиции задержали "),  # nothing before the first change's context
        ("removed", "троих"),
        ("added", "двоих"),
        ("same", " граждан на рынке Дордой "),  # four words: short enough to keep whole
        ("removed", "утром"),
        ("added", "вечером"),
    ]
    joined = "".join(p.text for p in compact_diff(before, before + " подробности"))
    assert joined == " … на рынке Дордой утром подробности"
    assert compact_diff(before, before) == []
