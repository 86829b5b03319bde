"""Is a post Russian or Kyrgyz? Both are written in Cyrillic; the evidence is letters only
Kyrgyz has (ң ө ү), frequent function words, and characteristic endings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from dozor.text.kyrgyz import KYRGYZ_LETTERS

Language = Literal["ru", "ky", "mixed"]

KYRGYZ_WORDS = frozenset(
    [
        "жана",
        "менен",
        "үчүн",
        "боюнча",
        "деп",
        "бул",
        "ал",
        "анын",
        "алар",
        "аны",
        "ага",
        "мен",
        "сен",
        "биз",
        "силер",
        "эмес",
        "бар",
        "жок",
        "дагы",
        "болуп",
        "болгон",
        "болот",
        "керек",
        "тарабынан",
        "ичинде",
        "кийин",
        "чейин",
        "аркылуу",
        "жөнүндө",
        "тууралуу",
        "бирок",
        "эле",
        "экен",
        "бир",
        "эки",
        "үч",
        "төрт",
        "беш",
        "жылы",
        "жылдын",
        "күнү",
        "шаарында",
        "облусунда",
        "районунда",
        "айылында",
        "ички",
        "иштер",
        "министрлиги",
        "ишканасы",
        "кызматкерлери",
        "кармалды",
        "болду",
        "алып",
        "келди",
        "берди",
        "жатат",
        "жаткан",
        "учурда",
        "маалымат",
        "башкы",
        "ошол",
        "ошондой",
        "ар",
        "кайсы",
        "кандай",
        "качан",
        "эч",
    ]
)
RUSSIAN_WORDS = frozenset(
    [
        "и",
        "в",
        "во",
        "на",
        "с",
        "со",
        "по",
        "к",
        "ко",
        "о",
        "об",
        "от",
        "до",
        "из",
        "за",
        "для",
        "что",
        "это",
        "как",
        "не",
        "но",
        "а",
        "же",
        "ли",
        "бы",
        "его",
        "ее",
        "их",
        "он",
        "она",
        "они",
        "мы",
        "вы",
        "я",
        "был",
        "была",
        "было",
        "были",
        "при",
        "под",
        "над",
        "также",
        "который",
        "которая",
        "которые",
        "которых",
        "этом",
        "этого",
        "чтобы",
        "или",
        "уже",
        "еще",
        "только",
        "после",
        "году",
        "года",
        "время",
        "тем",
        "том",
        "все",
        "всех",
        "ни",
    ]
)
_KYRGYZ_ENDINGS = (
    "дын",
    "дин",
    "дун",
    "дүн",
    "нын",
    "нин",
    "нун",
    "нүн",
    "тын",
    "тин",
    "тун",
    "түн",
    "лар",
    "лер",
    "дар",
    "дер",
    "тар",
    "тер",
    "ган",
    "ген",
    "гон",
    "кан",
    "кен",
    "уу",
    "үү",
    "оо",
    "ды",
    "ты",
    "ди",
    "ти",
    "да",
    "та",
    "га",
    "ге",
    "ка",
    "ке",
)
_RUSSIAN_ENDINGS = (
    "ого",
    "его",
    "ому",
    "ему",
    "ыми",
    "ими",
    "ться",
    "тся",
    "ость",
    "ение",
    "ание",
    "ых",
    "их",
    "ий",
    "ый",
    "ой",
    "ая",
    "яя",
    "ую",
    "ие",
    "ые",
    "ет",
    "ит",
    "ют",
    "ят",
    "ется",
    "ова",
    "ев",
    "ов",
)


def token_evidence(word: str) -> int:
    """Positive for Kyrgyz-looking words, negative for Russian-looking ones."""
    if not KYRGYZ_LETTERS.isdisjoint(word):
        return 3
    if word in KYRGYZ_WORDS:
        return 2
    if word in RUSSIAN_WORDS or "щ" in word or "ъ" in word:
        return -2
    if len(word) > 4 and word.endswith(_RUSSIAN_ENDINGS):
        return -1
    if len(word) > 4 and word.endswith(_KYRGYZ_ENDINGS):
        return 1
    return 0


def detect(words: Iterable[str]) -> Language:
    """The language of a text given its folded Cyrillic words."""
    return detect_from_evidence(token_evidence(word) for word in words)


def detect_from_evidence(evidences: Iterable[int]) -> Language:
    kyrgyz = russian = 0
    for evidence in evidences:
        if evidence > 0:
            kyrgyz += evidence
        elif evidence < 0:
            russian -= evidence
    if kyrgyz > russian:
        return "ky"
    if russian > kyrgyz:
        return "ru"
    return "mixed"
