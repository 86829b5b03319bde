"""Where a query matched in a text: spans to mark in snippets and alerts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from dozor.query.ast import And, Node, Not, Or, Phrase, Prefix, Regex, Term
from dozor.query.document import Document
from dozor.query.match import part_at, phrase_positions
from dozor.text import analyze

Span = tuple[int, int]


def _same(text: str) -> str:
    return text


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def positive_leaves(node: Node, negated: bool = False) -> list[Node]:
    """Leaves whose presence makes the query match (not under a NOT)."""
    if isinstance(node, And | Or):
        return [leaf for child in node.children for leaf in positive_leaves(child, negated)]
    if isinstance(node, Not):
        return positive_leaves(node.child, not negated)
    return [] if negated else [node]


def highlight_spans(node: Node, text: str) -> list[Span]:
    """Character spans of *text* matched by the query's positive terms, merged and sorted."""
    analysis = analyze(text)
    tokens = analysis.tokens
    doc = Document(0, _EPOCH, text, tuple(analysis.words), tuple(analysis.stems), frozenset())
    spans: list[Span] = []
    for leaf in positive_leaves(node):
        if isinstance(leaf, Term | Prefix):
            spans += [(t.start, t.end) for i, t in enumerate(tokens) if part_at(leaf, doc, i)]
        elif isinstance(leaf, Phrase):
            size = len(leaf.parts)
            spans += [
                (tokens[i].start, tokens[i + size - 1].end) for i in phrase_positions(leaf, doc)
            ]
        elif isinstance(leaf, Regex):
            spans += [m.span() for m in leaf.compiled.finditer(text) if m.end() > m.start()]
    return _merge(spans)


def _merge(spans: list[Span]) -> list[Span]:
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


def make_snippet(text: str, spans: list[Span], width: int = 240) -> Snippet:
    """A window of about *width* characters around the first match, on one line."""
    flat = text.replace("\r", " ").replace("\n", " ")
    if len(flat) <= width:
        return Snippet(flat, spans)
    first = spans[0][0] if spans else 0
    start = max(0, min(first - width // 3, len(flat) - width))
    if start > 0:
        space = flat.find(" ", start, first) if first > start else -1
        start = space + 1 if space >= 0 else start
    end = min(len(flat), start + width)
    if end < len(flat):
        space = flat.rfind(" ", start + width // 2, end)
        end = space if space > 0 else end
    prefix, suffix = ("…" if start > 0 else ""), ("…" if end < len(flat) else "")
    shift = start - len(prefix)
    inside = [
        (max(s, start) - shift, min(e, end) - shift) for s, e in spans if s < end and e > start
    ]
    return Snippet(prefix + flat[start:end] + suffix, inside)
