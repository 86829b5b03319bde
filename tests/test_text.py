"""Folding, tokenizing, stemming and language detection for Russian and Kyrgyz."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.language import KYRGYZ_TEST, RUSSIAN, evaluate, read_conllu
from dozor.text import analyze, analyze_terms, fold, query_stems
from dozor.text.normalize import tokenize


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


def test_word_form_quality_does_not_regress() -> None:
    """Floors under the figures bench/language.py reports (see README for the current ones)."""
    russian = evaluate(read_conllu(RUSSIAN))
    assert russian.recall >= 0.90
    assert russian.precision >= 0.93
    kyrgyz = evaluate(read_conllu(KYRGYZ_TEST))
    assert kyrgyz.recall >= 0.78
    assert kyrgyz.precision >= 0.72


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
    assert (fast.kinds, fast.words, fast.stems, fast.language) == (
        slow.kinds,
        slow.words,
        slow.stems,
        slow.language,
    )
