"""Where a query matched in a text: spans to mark in snippets and alerts."""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from dozor.query.ast import Node, Phrase, Prefix, Regex, Term, positive_leaves
from dozor.query.document import Document
from dozor.query.match import phrase_positions
from dozor.text import analyze_terms, chunk_token_counts
from dozor.text.normalize import scan

Span = tuple[int, int]


def _same(text: str) -> str:
    return text


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def highlight_spans(node: Node, text: str) -> list[Span]:
    """Character spans of *text* matched by the query's positive terms, merged and sorted.

    Matching runs on the token lists :func:`analyze_terms` builds from its per-chunk cache;
    character offsets are then worked out only for the whitespace-separated chunks holding a
    match, which is what makes snippets for a page of long posts cheap.
    """
    terms = analyze_terms(text)
    doc = Document(0, _EPOCH, text, tuple(terms.words), tuple(terms.stems), frozenset())
    runs: list[tuple[int, int]] = []  # first and last token of each match
    spans: list[Span] = []
    for leaf in positive_leaves(node):
        if isinstance(leaf, Term | Prefix):
            runs += [(i, i) for i in _token_hits(leaf, doc)]
        elif isinstance(leaf, Phrase):
            last = len(leaf.parts) - 1
            runs += [(i, i + last) for i in phrase_positions(leaf, doc)]
        elif isinstance(leaf, Regex):
            spans += [m.span() for m in leaf.compiled.finditer(text) if m.end() > m.start()]
    offsets = _token_offsets(text, {i for run in runs for i in run})
    spans += [(offsets[first][0], offsets[last][1]) for first, last in runs]
    return merge_spans(spans)


def _token_hits(leaf: Term | Prefix, doc: Document) -> list[int]:
    if isinstance(leaf, Prefix):
        if not doc.has_prefix(leaf.prefix):
            return []
        return [i for i, word in enumerate(doc.words) if word.startswith(leaf.prefix)]
    if leaf.exact:
        return [i for i, word in enumerate(doc.words) if word == leaf.word]
    if doc.stem_set.isdisjoint(leaf.stems):
        return []
    return [i for i, stem in enumerate(doc.stems) if stem in leaf.stems]


_CHUNK = re.compile(r"\S+")


def _token_offsets(text: str, wanted: set[int]) -> dict[int, Span]:
    """Character spans of the tokens numbered *wanted*, scanning only the chunks they are in
    (no token spans whitespace, so chunk by chunk gives the same tokens as the whole text).
    Which chunk holds a token comes from the analyzer's cached token count per chunk."""
    if not wanted:
        return {}
    ends = list(itertools.accumulate(chunk_token_counts(text)))
    needed = {bisect.bisect_right(ends, token) for token in wanted}
    last = max(needed)
    offsets: dict[int, Span] = {}
    for number, chunk in enumerate(_CHUNK.finditer(text)):
        if number in needed:
            base, first_token = chunk.start(), ends[number - 1] if number else 0
            for token, (start, end, _, _) in enumerate(scan(chunk.group()), first_token):
                offsets[token] = (base + start, base + end)
            if number == last:
                break
    return offsets


def merge_spans(spans: list[Span]) -> list[Span]:
    """Sorted, with overlapping or touching spans joined."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True)
class Snippet:
    text: str
    spans: list[Span]  # relative to ``text``

    def marked(self, before: str, after: str, escape: Callable[[str], str] | None = None) -> str:
        """The snippet with every span wrapped in *before*/*after*; *escape* is applied to the
        text outside the markers (e.g. html.escape)."""
        esc = escape or _same
        out, pos = [], 0
        for start, end in self.spans:
            out += [esc(self.text[pos:start]), before, esc(self.text[start:end]), after]
            pos = end
        out.append(esc(self.text[pos:]))
        return "".join(out)


WORD_SEARCH = 40  # characters a snippet's edge may move to fall between words


def make_snippet(text: str, spans: list[Span], width: int = 240) -> Snippet:
    """A window of about *width* characters around the first match, on one line."""
    flat = text.replace("\r", " ").replace("\n", " ")
    if len(flat) <= width:
        return Snippet(flat, spans)
    first = spans[0][0] if spans else 0
    start = max(0, min(first - width // 3, len(flat) - width))
    if start > 0:  # begin at a word if one begins soon; a long unbroken run is cut instead
        space = flat.find(" ", start, min(first, start + WORD_SEARCH))
        start = space + 1 if space >= 0 else start
    end = min(len(flat), start + width)
    if end < len(flat):
        space = flat.rfind(" ", max(start + width // 2, end - WORD_SEARCH), end)
        end = space if space > 0 else end
    prefix, suffix = ("…" if start > 0 else ""), ("…" if end < len(flat) else "")
    shift = start - len(prefix)
    inside = [
        (max(s, start) - shift, min(e, end) - shift) for s, e in spans if s < end and e > start
    ]
    return Snippet(prefix + flat[start:end] + suffix, inside)
