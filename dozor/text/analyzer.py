"""From text to tokens with surface forms and stems."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any

from dozor.text import kyrgyz
from dozor.text.language import Language, detect_from_evidence, token_evidence
from dozor.text.normalize import scan, scan_forms
from dozor.text.russian import REFLEXIVE_MARK, russian_query_stems, russian_stem

# Bumped whenever a text would get other words, stems or facets in the search index: the
# database records which version built its index, and an older one is rebuilt (`dozor db
# reindex`). tests/test_text.py fingerprints the analysis of sample texts to catch a missed bump.
ANALYZER_VERSION = 3

# Kyrgyz stems carry this mark in the index, so a Kyrgyz stem never matches an unrelated
# Russian one that happens to be spelled alike ("карм" from кармалды vs "карм" from карма).
KYRGYZ_MARK = "~"


@dataclass(frozen=True, slots=True)
class Token:
    start: int
    end: int
    kind: str  # word, number, hashtag, mention, url
    word: str  # folded surface form
    stem: str  # what "any word form" matches on


@dataclass(frozen=True, slots=True)
class Analysis:
    """Tokens of a text as parallel lists (cheap to build; :attr:`tokens` gives objects)."""

    starts: list[int]
    ends: list[int]
    kinds: list[str]
    words: list[str]
    stems: list[str]
    language: Language

    @property
    def tokens(self) -> list[Token]:
        return [
            Token(*fields)
            for fields in zip(
                self.starts, self.ends, self.kinds, self.words, self.stems, strict=True
            )
        ]


_CYRILLIC_WORD = re.compile("[абвгдеёжзийклмнопрстуфхцчшщъыьэюяңөү-]+")


def is_cyrillic_word(word: str) -> bool:
    return _CYRILLIC_WORD.fullmatch(word) is not None


def kyrgyz_stem(word: str) -> str:
    return KYRGYZ_MARK + kyrgyz.stem(word)


def analyze(text: str) -> Analysis:
    starts: list[int] = []
    ends: list[int] = []
    kinds: list[str] = []
    words: list[str] = []
    infos: list[_WordInfo | None] = []
    for start, end, kind, form in scan(text):
        starts.append(start)
        ends.append(end)
        kinds.append(kind)
        words.append(form)
        infos.append(_word_info(form) if kind == "word" else None)
    language = detect_from_evidence(info.evidence for info in infos if info is not None)
    stems = [
        word if info is None else info.stem(language)
        for word, info in zip(words, infos, strict=True)
    ]
    return Analysis(starts, ends, kinds, words, stems, language)


@dataclass(frozen=True, slots=True)
class Terms:
    """What indexing and matching need of a text: forms and stems, no offsets."""

    words: list[str]
    stems: list[str]
    language: Language
    has_url: bool


def analyze_terms(text: str) -> Terms:
    """Like :func:`analyze` without character offsets; same tokens, several times faster.

    No token spans whitespace, and a token's stem depends only on the word and the language
    decided for the post, so everything is computed once per distinct whitespace-separated
    chunk ("Бишкеке.", "мигрантов,") and reused; the per-post work is C-level concatenation.
    """
    get = _CHUNKS.get
    chunks = [get(piece) or _new_chunk(piece) for piece in text.split()]
    leaning = sum(map(_LEANING, chunks))
    language: Language = "ky" if leaning > 0 else "ru" if leaning < 0 else "mixed"
    if language != "ru":  # Kyrgyz and mixed readings are worked out when first needed
        slot = _STEM_SLOTS[language]
        for chunk in chunks:
            if chunk[slot] is None:
                chunk[slot] = _chunk_stems(chunk, language)
    chain = itertools.chain.from_iterable
    return Terms(
        words=list(chain(map(_WORDS, chunks))),
        stems=list(chain(map(_STEMS[language], chunks))),
        language=language,
        has_url=any(map(_HAS_URL, chunks)),
    )


def chunk_token_counts(text: str) -> list[int]:
    """How many tokens each whitespace-separated chunk of *text* holds, as
    :func:`analyze_terms` counts them (``text.split()`` order), from the same cache."""
    get = _CHUNKS.get
    return [len(_WORDS(get(piece) or _new_chunk(piece))) for piece in text.split()]


# A chunk: [has a link, words, leaning, the words' infos, stems if the post is Russian, Kyrgyz,
# mixed]. The leaning is the chunk's Kyrgyz evidence less its Russian evidence, so a post's
# language is the sign of one sum (detect_from_evidence compares the two totals). Most posts are
# Russian, so only the Russian stems are computed up front; the others are filled in when a post
# of that language first contains the chunk.
_Chunk = list[Any]
_HAS_URL, _WORDS, _LEANING = (itemgetter(i) for i in range(3))
_INFOS_AT = 3
_STEM_SLOTS: dict[Language, int] = {"ru": 4, "ky": 5, "mixed": 6}
_STEMS = {language: itemgetter(slot) for language, slot in _STEM_SLOTS.items()}
_CHUNKS: dict[str, _Chunk] = {}
# Every cache of the analyzer is bounded (this one and the lru_caches of words): a service
# keeps meeting new numbers, links and names for months. bench/memory.py checks that memory
# levels off, and analysis runs as fast as with caches five times larger (bench/rules.py).
_MAX_CHUNKS = 100_000


def _new_chunk(piece: str) -> _Chunk:
    forms = scan_forms(piece)
    infos = tuple(_word_info(form) if kind == "word" else None for kind, form in forms)
    chunk: _Chunk = [
        any(kind == "url" for kind, _ in forms),
        tuple(form for _, form in forms),
        sum(info.evidence for info in infos if info is not None),
        infos,
        None,
        None,
        None,
    ]
    chunk[_STEM_SLOTS["ru"]] = _chunk_stems(chunk, "ru")
    if len(_CHUNKS) >= _MAX_CHUNKS:
        _CHUNKS.clear()
    _CHUNKS[piece] = chunk
    return chunk


def _chunk_stems(chunk: _Chunk, language: Language) -> tuple[str, ...]:
    return tuple(
        form if info is None else info.stem(language)
        for form, info in zip(_WORDS(chunk), chunk[_INFOS_AT], strict=True)
    )


@dataclass(frozen=True, slots=True)
class _WordInfo:
    """What stemming needs to know about a folded word, computed once per distinct word."""

    word: str
    cyrillic: bool
    evidence: int

    def stem(self, language: Language) -> str:
        if not self.cyrillic:
            return self.word
        if self.evidence >= 3 or (language == "ky" and self.evidence > -2):
            return kyrgyz_stem(self.word)
        if language == "mixed" and self.evidence > 0:
            return kyrgyz_stem(self.word)
        return russian_stem(self.word)


@lru_cache(maxsize=100_000)
def _word_info(word: str) -> _WordInfo:
    cyrillic = is_cyrillic_word(word)
    return _WordInfo(word, cyrillic, token_evidence(word) if cyrillic else 0)


def surface_prefixes(stem: str) -> tuple[str, ...]:
    """Prefixes one of which begins every word whose stem is *stem*: what a stem tells of the
    spelling of its words, so a phrase can be looked for among words instead of stems.

    Snowball only cuts endings, and a reflexive mark is appended after them (оказа+ся). A
    Kyrgyz root may change its last letter (аймагы → ~аймак) or take back a swallowed vowel
    (кармоо → ~карма), so all but its last letter is kept; a token typed with a tilde
    ("~abc") is its own stem, hence the stem itself too."""
    if stem.startswith(KYRGYZ_MARK):
        return (stem[len(KYRGYZ_MARK) : -1], stem)
    return (stem.removesuffix(REFLEXIVE_MARK),)


@lru_cache(maxsize=50_000)
def query_stems(word: str) -> tuple[str, ...]:
    """The stems a query word may match: Russian and Kyrgyz readings unless it is plainly
    one language. *word* is already folded."""
    if not is_cyrillic_word(word):
        return (word,)
    evidence = token_evidence(word)
    kyrgyz_stems = tuple(KYRGYZ_MARK + key for key in kyrgyz.query_stems(word))
    if evidence >= 3:
        return kyrgyz_stems
    russian = russian_query_stems(word)
    if evidence <= -2:
        return russian
    return tuple(dict.fromkeys((*russian, *kyrgyz_stems)))
