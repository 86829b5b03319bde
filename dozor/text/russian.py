"""Russian: Snowball stems for text, and for a query word the stems of its other forms.

Text words get one stem each from Snowball (PyStemmer). Snowball strips suffixes, so forms whose
stem changes (день / дня, время / времени, погибнуть / погиб, должный / должен) or whose stem is
too short to keep (май / мая, дать / дали) end up with different stems. Rather than index more
per word, a *query* word is expanded: the regular forms its ending implies are generated and
stemmed exactly like text words, and the query matches any of those stems. Generated forms that
do not exist cost nothing: no text word has their stem.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

import Stemmer

MIN_RUSSIAN_STEM = 3
VOWELS = frozenset("аеиоуыэюя")
REFLEXIVE_MARK = "+ся"


@lru_cache(maxsize=100_000)
def russian_stem(word: str) -> str:
    """Snowball's stem, unless it would leave under 3 letters (ИИМ → и would match «и»).

    Snowball drops the reflexive -ся/-сь; the stem keeps a mark of it instead, so оказаться
    (turn out) and оказать (render) stay apart while each finds all its own forms."""
    stem = _snowball(word)
    if len(stem) < MIN_RUSSIAN_STEM:
        return word
    if word.endswith(("ся", "сь")) and _snowball(word[:-2]) == stem:
        return stem + REFLEXIVE_MARK
    return stem


_per_thread = threading.local()


def _snowball(word: str) -> str:
    """Snowball's Russian stem; a stemmer object per thread, as they keep internal state (rules
    are compiled in a worker thread while the event loop analyses posts).

    PyStemmer's own cache is off (size 0): callers cache already, and its upkeep (a sweep of
    every entry each time it fills) made a new word 4x slower to stem (1.6 µs against 0.4)."""
    stemmer = getattr(_per_thread, "stemmer", None)
    if stemmer is None:
        stemmer = _per_thread.stemmer = Stemmer.Stemmer("russian", 0)
    return str(stemmer.stemWord(word))


def russian_query_stems(word: str) -> tuple[str, ...]:
    """The stems a Russian query word matches: its own and those of its generated forms."""
    stems = [russian_stem(word)]
    stems += _WHOLE_WORDS.get(word, ())
    forms = [*_PRONOUNS.get(word, ()), *_irregular_verb_forms(word), *_regular_forms(word)]
    stems += [russian_stem(form) for form in forms]
    # The word itself, for consonant-final words whose forms Snowball cuts differently:
    # задержан → задержаны (задержа / задержан), Белов → Белова.
    if len(word) > 4 and word[-1] not in VOWELS:
        stems.append(word)
    return tuple(dict.fromkeys(stems))


# Pronouns and pronominal adjectives: closed classes, listed whole (folded: ё → е).
_PRONOUN_PARADIGMS = (
    "весь вся все всего всей всему всем всеми всех всю",
    "тот та то те того той тому тем тех ту теми том",
    "этот эта это эти этого этой этому этим этих эту этими этом",
    "мой моя мое мои моего моей моему моим моих мою моими моем",
    "твой твоя твое твои твоего твоей твоему твоим твоих твою твоими твоем",
    "свой своя свое свои своего своей своему своим своих свою своими своем",
    "наш наша наше наши нашего нашей нашему нашим наших нашу нашими нашем",
    "ваш ваша ваше ваши вашего вашей вашему вашим ваших вашу вашими вашем",
    "один одна одно одни одного одной одному одним одних одну одними одном",
    "сам сама само сами самого самой самому самим самих саму самими самом",
    "кто кого кому кем ком",
    "что чего чему чем",
)
_PRONOUNS = {
    form: tuple(paradigm.split()) for paradigm in _PRONOUN_PARADIGMS for form in paradigm.split()
}

# Suppletive words: no rule relates the forms.
_WHOLE_WORDS = {
    "быть": ("был", "буд", "будет"),
    "человек": ("люд",),
    "ребенок": ("дет",),
    "хороший": ("лучш",),
}

# Verbs whose stem alternates (пройти → прошли, пройдут), keyed by the ending of the
# infinitive; the forms keep its prefix (вы-, при-, про- ...).
_PAST_AND_PRESENT = ("л", "ла", "ли", "ло", "у", "ет", "ут", "ем", "ешь", "ете", "я")
_ALTERNATIONS = (
    ("йти", ("шел", "шла", "шли", "шло", "йду", "йдет", "йдут", "йдем", "йдешь", "йдя")),
    ("идти", ("шел", "шла", "шли", "шло", "иду", "идет", "идут", "идем", "идешь", "идя")),
    ("вести", (*("вед" + e for e in _PAST_AND_PRESENT if e[0] != "л"), "вел", "вела", "вели")),
    ("везти", (*("вез" + e for e in _PAST_AND_PRESENT), "вез")),
    ("мочь", ("мог", "могла", "могли", "могло", "могу", "может", "могут", "можем", "можешь")),
    ("лечь", ("лег", "легла", "легли", "ляжет", "лягут", "лягу")),
)


def _irregular_verb_forms(word: str) -> list[str]:
    for ending, variants in _ALTERNATIONS:
        if word.endswith(ending):
            return [word[: -len(ending)] + form for form in variants]
    return []


def _regular_forms(word: str) -> list[str]:
    if len(word) < 3:
        return []
    if word.endswith(("ться", "тись")):  # reflexive: the forms of the verb, plus -ся / -сь
        return [_reflexive(form) for form in _verb_forms(word[:-2])]
    return [*_verb_forms(word), *_noun_forms(word), *_short_adjective_forms(word)]


def _reflexive(form: str) -> str:
    return form + ("сь" if form[-1] in VOWELS else "ся")


# Finite forms only: Snowball cuts gerunds and participles (выступав, выступавший) down to
# stems shared with other words (выступ), and dictionaries list participles on their own.
_PAST = ("л", "ла", "ли", "ло")
_FIRST_PRESENT = ("ю", "ет", "ют", "ем", "ешь", "ете")
_SECOND_PRESENT = ("ит", "ят", "ат", "им", "ишь", "ите", "ю", "у", "я")
_NU_PAST = ("", "ла", "ли", "ло")


def _verb_forms(word: str) -> list[str]:
    """Past, present and participle forms of an infinitive in -ть (стать → стал, стали;
    гореть → горят; погибнуть → погиб; девальвировать → девальвирует)."""
    if not (word.endswith("ть") and len(word) >= 4 and word[-3] in VOWELS):
        return []
    base = word[:-2]
    forms = [base + ending for ending in _PAST]
    if base.endswith("ну") and len(base) > 4:
        forms += [base[:-2] + ending for ending in _NU_PAST]
    if base.endswith(("ова", "ева")):
        forms += [base[:-3] + "у" + ending for ending in _FIRST_PRESENT]
    elif base[-1] in "аяе":
        forms += [base + ending for ending in _FIRST_PRESENT]
    if base[-1] in "еи" or base.endswith("оя"):  # горит, горят; стоит, боится
        forms += [base[:-1] + ending for ending in _SECOND_PRESENT]
    return forms


_HARD_NOUN = ("а", "у", "ом", "е", "ы", "и", "ов", "ам", "ами", "ах", "ей")
_A_NOUN = ("ы", "и", "е", "у", "ой", "ам", "ами", "ах")
_SOFT_A_NOUN = ("и", "е", "ю", "ей", "ям", "ями", "ях", "ь")
_O_NOUN = ("а", "у", "ом", "е", "ам", "ами", "ах")
_SOFT_NOUN = ("я", "ю", "ем", "е", "и", "ей", "ев", "ям", "ями", "ях", "ью")
_SAMPLE_CASES = ("а", "я", "ы", "и")
_FLEETING = re.compile(r"^(.*[бвгджзклмнпрстфхцчшщ])[еоё]([вкцнлр]ь?)$")


def _noun_forms(word: str) -> list[str]:
    """Case forms by the word's ending, with the changes Snowball cannot see: a fleeting
    vowel (день → дня, отец → отца, церковь → церкви), -мя (время → времени), -анин
    (гражданин → граждан)."""
    last, stem = word[-1], word[:-1]
    if word.endswith(("ый", "ой", "ть")):  # adjectives; infinitives (убить is no noun)
        return []
    if word.endswith("мя"):
        return [stem + "ен" + ending for ending in ("и", "ем", "а", "ам", "ами", "ах")]
    if last == "а":
        forms = [stem + ending for ending in _A_NOUN]
    elif last == "я":
        forms = [stem + ending for ending in _SOFT_A_NOUN]
    elif last == "о":
        forms = [stem + ending for ending in _O_NOUN]
    elif last in "йье":
        forms = [stem + ending for ending in _SOFT_NOUN]
    elif last not in VOWELS:
        forms = [word + ending for ending in _HARD_NOUN]
    else:
        return []
    if fleeting := _FLEETING.match(word):
        short = fleeting[1] + fleeting[2].rstrip("ь")
        # Snowball gives every case of a long enough stem one key, so a few forms stand for
        # all; a short one (дн-) keeps each form whole, so each is needed.
        endings = _HARD_NOUN + _SOFT_NOUN if len(short) < MIN_RUSSIAN_STEM else _SAMPLE_CASES
        forms += [short + ending for ending in endings]
    if word.endswith("иец"):  # мальтиец → мальтийцы
        forms += [word[:-3] + "ийц" + ending for ending in _SAMPLE_CASES]
    if word.endswith(("анин", "янин")):
        forms += [word[:-2] + ending for ending in ("", "е", "ам", "ами", "ах")]
    return forms


def _short_adjective_forms(word: str) -> list[str]:
    """Short forms of adjectives and participles: опасный → опасна, решенный → решено. Not the
    masculine (опасен, решен): Snowball cuts it to a noun's stem (частен → част, as часть)."""
    if word.endswith("ственный"):  # adjectives (общественный): no participle's short forms
        return []
    if word.endswith("нный") and len(word) > 6:  # задержанный → задержана, решенный → решено
        return [word[:-3] + ending for ending in ("а", "о", "ы")]
    if word.endswith(("ный", "ной")) and len(word) > 5 and word[-4] not in VOWELS:
        return [word[:-3] + ending for ending in ("на", "но", "ны")]
    return []
