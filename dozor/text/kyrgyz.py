"""A light suffix-stripping stemmer for Kyrgyz (Cyrillic script).

Kyrgyz is agglutinative: a word is a root followed by a chain of suffixes, each in up to four
vowel-harmony variants and with consonant alternations: мигрант-тар-дын "of the migrants",
карма-л-ды "was detained", Бишкек-те "in Bishkek", аймак → аймаг-ы-нда "in its region".
No Snowball stemmer exists for Kyrgyz, so dozor strips endings:

1. Endings are whole suffix chains (``тардын``, ``ында``, ``ылды`` ...) observed after a lemma
   in the UD Kyrgyz-KTMU treebank's training split (``data/kyrgyz_endings.txt``).
2. A word is cut at the longest ending that leaves a *known* root (a lemma of that treebank,
   ``data/kyrgyz_lemmas.txt``); failing that, at the longest ending that leaves at least three
   letters including a vowel. A verbal noun's ending (оо, өө, уу, үү) swallows a root's
   final vowel (карма + оо → кармоо, изде + өө → издөө): a consonant-final root before it
   takes back the vowel that makes it a known root.
3. If that root is not a known one and still ends in a plural suffix (лар, дер, төр ...), the
   plural goes too: a chain such as тарынын may be new while тар and ынын are not
   (прокурорлорунун → прокурор).
4. The root is put in a canonical form so that alternating spellings meet: a final г/б
   becomes к/п (аймак / аймагы), and a root of six letters or more loses a final vowel, which
   a vowel-initial suffix may have swallowed. Shorter roots keep it: they are often words of
   their own beside the consonant-final one (бала "child" / бал "honey", ала / ал).

Choices were made by two-fold cross-validation inside the training split (data learned from
one half, measured on the other).

Stems are therefore not words, only keys: a query word and a post word match when their keys
are equal. bench/language.py reports recall and precision on the treebank's test split, which
the data was not derived from.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

VOWELS = frozenset("аеиоөуүыэюяё")
KYRGYZ_LETTERS = frozenset("ңөү")
MIN_ROOT = 3
MIN_VOWEL_DROP = 6  # see 4. above


def _load(name: str) -> frozenset[str]:
    text = (resources.files("dozor.text") / "data" / name).read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def canonical_root(root: str) -> str:
    """Drop a final vowel (from a long enough root) and undo final voicing г → к, б → п."""
    if len(root) >= MIN_VOWEL_DROP and root[-1] in VOWELS:
        root = root[:-1]
    if root.endswith("г"):
        return root[:-1] + "к"
    if root.endswith("б"):
        return root[:-1] + "п"
    return root


_ENDINGS = _load("kyrgyz_endings.txt")
_LEMMAS = _load("kyrgyz_lemmas.txt")
_ROOTS = frozenset(canonical_root(lemma) for lemma in _LEMMAS)
_LONGEST = max(map(len, _ENDINGS))


_PLURALS = frozenset(c + v + "р" for c in "лдт" for v in "аеоө")


@lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    """The stem key of a folded Kyrgyz word (lower case, ё already folded)."""
    root = _cut(word)
    if not _known(root) and _ends_in_plural(root):
        root = root[:-3]
    return canonical_root(root)


def query_stems(word: str) -> tuple[str, ...]:
    """The keys a Kyrgyz query word matches: its stem and, when the stemmer cut into it, the
    whole word's root. A dictionary form stripped on its own (газета → газе, Ленин → лен) is
    usually kept whole inside its inflected forms (газетада → газет, Лениндин → ленин)."""
    own, whole = stem(word), canonical_root(word)
    return (own, whole) if whole != own and whole.startswith(own) else (own,)


def _known(root: str) -> bool:
    return root in _LEMMAS or canonical_root(root) in _ROOTS


def _cut(word: str) -> str:
    if _known(word):
        return word
    longest = min(len(word) - 2, _LONGEST)
    for length in range(1, longest + 1):  # shortest ending first: the longest known root
        root, ending = word[:-length], word[-length:]
        if ending in _ENDINGS:
            if _known(root):
                return root
            elided = _elided_vowel_root(root, ending)
            if elided is not None:
                return elided
    for length in range(min(len(word) - MIN_ROOT, _LONGEST), 0, -1):
        root = word[:-length]
        if word[-length:] in _ENDINGS and _has_vowel(root):
            return root
    return word


def _elided_vowel_root(root: str, ending: str) -> str | None:
    """A known root whose final vowel a vowel-initial ending swallowed (карма + оо → кармоо)."""
    if ending[:2] not in ("оо", "өө", "уу", "үү") or root[-1] in VOWELS:
        return None
    return next((root + v for v in "аеоөыиуү" if (root + v) in _LEMMAS), None)


def _ends_in_plural(root: str) -> bool:
    return len(root) >= 6 and root[-3:] in _PLURALS and _has_vowel(root[:-3])


def _has_vowel(text: str) -> bool:
    return not VOWELS.isdisjoint(text)
