"""Text analysis shared by search and alert rules, so both give a word the same meaning.

``analyze(text)`` splits a post into tokens (words, numbers, hashtags, @mentions, URLs), each
with its offsets in the original text, its folded surface form (NFKC, case-folded, ё → е,
stress marks dropped) and its stem (Russian Snowball or dozor's Kyrgyz suffix stripper, chosen
from the language of the post and of the word).
"""

from dozor.text.analyzer import (
    ANALYZER_VERSION,
    Analysis,
    Terms,
    Token,
    analyze,
    analyze_terms,
    chunk_token_counts,
    query_stems,
)
from dozor.text.normalize import fold


def clip(text: str, size: int) -> str:
    """*text*, or its first *size* characters and "…"."""
    return text if len(text) <= size else text[:size] + "…"


__all__ = [
    "ANALYZER_VERSION",
    "Analysis",
    "Terms",
    "Token",
    "analyze",
    "analyze_terms",
    "chunk_token_counts",
    "clip",
    "fold",
    "query_stems",
]
