"""Why does a text match a query, or not? (`dozor rules test`)"""

from __future__ import annotations

from dozor.query.ast import And, Filter, Node, Not, Or, Phrase, Prefix, Regex, Term
from dozor.query.document import Document
from dozor.query.highlight import highlight_spans
from dozor.query.match import matches


def explain(node: Node, doc: Document) -> list[str]:
    """One line per node, indented like the query tree: ✓/✗, what it is, what it found."""
    return _lines(node, doc, 0)


def _lines(node: Node, doc: Document, depth: int) -> list[str]:
    ok = matches(node, doc)
    mark = "✓" if ok else "✗"
    pad = "  " * depth
    if isinstance(node, And | Or):
        word = "all of" if isinstance(node, And) else "any of"
        lines = [f"{pad}{mark} {word}:"]
        for child in node.children:
            lines += _lines(child, doc, depth + 1)
        return lines
    if isinstance(node, Not):
        lines = [f"{pad}{mark} not:"]
        return lines + _lines(node.child, doc, depth + 1)
    return [f"{pad}{mark} {describe(node)}{_found(node, doc) if ok else ''}"]


def describe(node: Node) -> str:
    if isinstance(node, Term):
        if node.exact:
            return f"exactly «{node.word}»"
        stems = ", ".join(node.stems)
        return f"any form of «{node.word}» (stems {stems})"
    if isinstance(node, Prefix):
        return f"a word starting with «{node.prefix}»"
    if isinstance(node, Phrase):
        return "the phrase «" + " ".join(describe_part(p) for p in node.parts) + "»"
    if isinstance(node, Regex):
        return f"regular expression {node.source}"
    if isinstance(node, Filter):
        return f"{node.field}:{node.value}"
    return str(node)


def describe_part(part: Term | Prefix) -> str:
    return f"{part.prefix}*" if isinstance(part, Prefix) else part.word


def _found(node: Node, doc: Document) -> str:
    if isinstance(node, Term | Prefix | Phrase | Regex):
        spans = highlight_spans(node, doc.text)
        found = ", ".join(f"«{doc.text[s:e]}»" for s, e in spans[:5])
        return f": found {found}" if found else ""
    return ""
