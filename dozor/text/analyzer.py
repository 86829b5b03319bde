"""From text to tokens with surface forms and stems."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import Stemmer

from dozor.text import kyrgyz
from dozor.text.language import Language, detect, token_evidence
from dozor.text.normalize import tokenize

# Kyrgyz stems carry this mark in the index, so a Kyrgyz stem never matches an unrelated
# Russian one that happens to be spelled alike ("карм" from кармалды vs "карм" from карма).
KYRGYZ_MARK = "~"

_russian = Stemmer.Stemmer("russian", 100_000)
_CYRILLIC_WORD_CHARS = frozenset("абвгдеёжзийклмнопрстуфхцчшщъыьэюяңөү-")


@dataclass(frozen=True, slots=True)
class Token:
    start: int
    end: int
    kind: str  # word, number, hashtag, mention, url
    word: str  # folded surface form
    stem: str  # what "any word form" matches on


@dataclass(frozen=True, slots=True)
class Analysis:
    tokens: tuple[Token, ...]
    language: Language

    @property
    def words(self) -> list[str]:
        return [t.word for t in self.tokens]

    @property
    def stems(self) -> list[str]:
        return [t.stem for t in self.tokens]


def is_cyrillic_word(word: str) -> bool:
    return all(ch in _CYRILLIC_WORD_CHARS for ch in word)


@lru_cache(maxsize=200_000)
def russian_stem(word: str) -> str:
    return str(_russian.stemWord(word))


@lru_cache(maxsize=200_000)
def kyrgyz_stem(word: str) -> str:
    return KYRGYZ_MARK + kyrgyz.stem(word)


def analyze(text: str) -> Analysis:
    raw = list(tokenize(text))
    cyrillic = [t.form for t in raw if t.kind == "word" and is_cyrillic_word(t.form)]
    language = detect(cyrillic)
    tokens = tuple(
        Token(t.start, t.end, t.kind, t.form, _stem(t.kind, t.form, language)) for t in raw
    )
    return Analysis(tokens, language)


def _stem(kind: str, word: str, language: Language) -> str:
    if kind != "word" or not is_cyrillic_word(word):
        return word
    evidence = token_evidence(word)
    if evidence >= 3 or (language == "ky" and evidence > -2):
        return kyrgyz_stem(word)
    if language == "mixed" and evidence > 0:
        return kyrgyz_stem(word)
    return russian_stem(word)


@lru_cache(maxsize=50_000)
def query_stems(word: str) -> tuple[str, ...]:
    """The stems a query word may match: Russian and Kyrgyz readings unless it is plainly
    one language. *word* is already folded."""
    if not is_cyrillic_word(word):
        return (word,)
    evidence = token_evidence(word)
    if evidence >= 3:
        return (kyrgyz_stem(word),)
    russian = russian_query_stems(word)
    if evidence <= -2:
        return russian
    return tuple(dict.fromkeys((*russian, kyrgyz_stem(word))))


# Verbs whose forms Snowball cannot relate to the dictionary form (пройти → прошли, пройдут),
# keyed by the ending of the dictionary form; the forms keep its prefix (вы-, при-, про- ...)
# and are stemmed like any text word.
_PAST_AND_PRESENT = ("л", "ла", "ли", "ло", "у", "ет", "ут", "ем", "ешь", "ете", "я")
_RUSSIAN_ALTERNATIONS = (
    ("йти", ("шел", "шла", "шли", "шло", "йду", "йдет", "йдут", "йдем", "йдешь", "йдя")),
    ("идти", ("шел", "шла", "шли", "шло", "иду", "идет", "идут", "идем", "идешь", "идя")),
    (
        "вести",
        (
            *tuple("вед" + e for e in _PAST_AND_PRESENT if e[0] not in "л"),
            "вел",
            "вела",
            "вели",
            "вело",
        ),
    ),
    ("везти", (*tuple("вез" + e for e in _PAST_AND_PRESENT), "вез")),
    ("мочь", ("мог", "могла", "могли", "могло", "могу", "может", "могут", "можем", "можешь")),
    ("лечь", ("лег", "легла", "легли", "ляжет", "лягут", "лягу")),
)
_RUSSIAN_WHOLE_WORDS = {
    "быть": ("был", "буд", "будет"),
    "человек": ("люд",),
    "ребенок": ("дет",),
    "хороший": ("лучш",),
}
_FLEETING = re.compile(r"^(.{2,}[бвгджзклмнпрстфхцчшщ])[еоё]([кцн])$")


def russian_query_stems(word: str) -> tuple[str, ...]:
    """The Snowball stem plus variants for regular alternations Snowball leaves apart."""
    stems = [russian_stem(word)]
    stems += _RUSSIAN_WHOLE_WORDS.get(word, ())
    for ending, variants in _RUSSIAN_ALTERNATIONS:
        if word.endswith(ending):
            prefix = word[: -len(ending)]
            stems += [russian_stem(prefix + form) for form in variants]
            break
    if fleeting := _FLEETING.match(stems[0]):  # отец → отца, беспорядок → беспорядка
        stems.append(fleeting[1] + fleeting[2])
    if len(word) > 4 and word.endswith(("ов", "ев", "ин", "ын")):  # Белов → Белова
        stems.append(word)
    return tuple(dict.fromkeys(stems))
