"""Folding and tokenizing: the surface form every other step works on."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

# Stress marks (common in Russian and Kyrgyz texts) are dropped; ё is folded to е because
# writers use them interchangeably. Other diacritics stay: й is not и, ң is not н.
_DROP = {0x0300: None, 0x0301: None}
_YO = str.maketrans({"ё": "е"})
# Latin letters that look like Cyrillic ones, used to disguise words ("мигрaнт" with a Latin a).
_LOOKALIKES = str.maketrans(
    {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "k": "к"}
)
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[a-z]")

# Bare domains are recognised for common top-level domains only ("Mr.Smith" is not a link).
_TLDS = (
    "com|org|net|info|io|me|tv|news|online|site|gov|edu|int|co|to|ly|eu|uk|us|de|fr|cn|"
    "tr|ru|su|kg|kz|uz|tj|tm|ua|by|am|az|ge|md"
)
# Order matters: the first alternative that matches at a position wins.
_TOKEN = re.compile(
    r"""
    (?P<url>(?:https?://|www\.)[^\s<>"'«»]+
        |\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*
         \.(?:"""
    + _TLDS
    + r""")\b(?:/[^\s<>"'«»]*)?)
    |(?P<mention>@[a-z0-9_]{3,32}\b)
    |(?P<hashtag>\#[^\W_](?:[^\W]|[\u0300\u0301])*)
    |(?P<number>\d+(?:[.,:/]\d+)+)
    |(?P<word>(?:[^\W_]|[\u0300\u0301])+)
    """,
    re.VERBOSE | re.IGNORECASE,
)
_URL_TRAILING = ".,;:!?)]}»\"'…"
# Non-alphanumeric characters a token may contain. The SQLite full-text index declares them as
# token characters, so it splits stored text exactly where dozor did.
TOKEN_CHARS = "#@._/:%~+-,"
# Longer tokens are cut: PostgreSQL refuses lexemes over 2 KB, and nobody searches for them.
MAX_TOKEN = 200
_URL_JUNK = re.compile(r"[^\w#@._/:%~+\-,]")


@dataclass(frozen=True, slots=True)
class RawToken:
    start: int
    end: int
    kind: str  # word, number, hashtag, mention, url
    form: str  # folded surface form


def squeeze_spaces(text: str) -> str:
    """*text* with every run of whitespace one space, none at the ends: the words of a text as
    a rendering (a saved page, an HTML export) may space them otherwise."""
    return " ".join(text.split())


def fold(text: str) -> str:
    """NFKC, case folding, ё → е, stress marks removed; Latin lookalikes inside Cyrillic words
    become Cyrillic."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_YO).translate(_DROP)
    if _CYRILLIC.search(folded) and _LATIN.search(folded):
        folded = _unmask(folded)
    return folded


def _unmask(text: str) -> str:
    return re.sub(r"[\w]+", _unmask_word, text)


def _unmask_word(match: re.Match[str]) -> str:
    word = match.group(0)
    if _CYRILLIC.search(word) and _LATIN.search(word):
        return word.translate(_LOOKALIKES)
    return word


def tokenize(text: str) -> Iterator[RawToken]:
    """Tokens with offsets into *text* and their folded forms."""
    for start, end, kind, form in scan(text):
        yield RawToken(start, end, kind, form)


def scan(text: str) -> Iterator[tuple[int, int, str, str]]:
    """(start, end, kind, folded form) of every token: the fast core of :func:`tokenize`."""
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "word"
        start, end = match.span()
        if kind == "url":
            end = start + len(match.group(0).rstrip(_URL_TRAILING))
            yield start, end, kind, _fold_url(text[start:end])
            continue
        kind, form = _classify(kind, match.group(0))
        if form:
            yield start, end, kind, form


def scan_forms(text: str) -> list[tuple[str, str]]:
    """(kind, folded form) of every token, without offsets: what indexing and rule matching
    need. The analyzer calls it once per distinct whitespace-separated chunk and caches it."""
    return [(kind, form) for _, _, kind, form in scan(text)]


@lru_cache(maxsize=100_000)
def _classify(kind: str, surface: str) -> tuple[str, str]:
    """(kind, folded form) of a surface string; texts repeat words, so this is cached."""
    form = fold(surface)[:MAX_TOKEN]
    if kind == "word" and form.isdigit():
        return "number", form
    return kind, form


def _fold_url(url: str) -> str:
    """``host/path``: scheme, ``www.``, query, fragment and a trailing slash do not
    distinguish links; characters outside :data:`TOKEN_CHARS` become ``-``."""
    folded = unicodedata.normalize("NFKC", url)
    folded = re.sub(r"^(?:https?://)?(?:www\.)?", "", folded, flags=re.IGNORECASE)
    folded = re.split(r"[?#]", folded, maxsplit=1)[0]
    host, _, path = folded.partition("/")
    path = _URL_JUNK.sub("-", fold(path))
    return (host.casefold() + ("/" + path if path else "")).rstrip("/")[:MAX_TOKEN]
