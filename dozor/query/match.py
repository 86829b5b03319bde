"""Evaluating a query tree against one post: what alert rules use, and the definition search
must agree with (a property test checks it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from dozor.query.ast import (
    And,
    Filter,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    Regex,
    Term,
    mentions_deleted,
)
from dozor.query.document import Document

NOT_DELETED = Not(Filter("is", "deleted"))


def default_scope(node: Node) -> Node:
    """Deleted posts are found only by queries that mention ``is:deleted``."""
    return node if mentions_deleted(node) else And((node, NOT_DELETED))


def bind_channels(node: Node, resolve: Callable[[str], frozenset[int]]) -> Node:
    """Attach channel ids to every ``channel:`` filter (resolve may raise for unknown ones)."""
    if isinstance(node, Filter) and node.field == "channel":
        return replace(node, channel_ids=resolve(node.value))
    if isinstance(node, And):
        return And(tuple(bind_channels(c, resolve) for c in node.children))
    if isinstance(node, Or):
        return Or(tuple(bind_channels(c, resolve) for c in node.children))
    if isinstance(node, Not):
        return Not(bind_channels(node.child, resolve))
    return node


def matches(node: Node, doc: Document) -> bool:
    if isinstance(node, And):
        return all(matches(child, doc) for child in node.children)
    if isinstance(node, Or):
        return any(matches(child, doc) for child in node.children)
    if isinstance(node, Not):
        return not matches(node.child, doc)
    if isinstance(node, Term):
        return _term_in(node, doc)
    if isinstance(node, Prefix):
        return any(word.startswith(node.prefix) for word in doc.words)
    if isinstance(node, Phrase):
        return bool(phrase_positions(node, doc))
    if isinstance(node, Regex):
        return node.compiled.search(doc.text) is not None
    return _filter(node, doc)


def _term_in(term: Term, doc: Document) -> bool:
    if term.exact:
        return term.word in doc.word_set
    return not doc.stem_set.isdisjoint(term.stems)


def part_at(part: Term | Prefix, doc: Document, index: int) -> bool:
    if isinstance(part, Prefix):
        return doc.words[index].startswith(part.prefix)
    if part.exact:
        return doc.words[index] == part.word
    return doc.stems[index] in part.stems


def phrase_positions(phrase: Phrase, doc: Document) -> list[int]:
    """Token indexes where the phrase starts."""
    size = len(phrase.parts)
    return [
        start
        for start in range(len(doc.words) - size + 1)
        if all(part_at(part, doc, start + offset) for offset, part in enumerate(phrase.parts))
    ]


def _filter(node: Filter, doc: Document) -> bool:
    if node.field == "channel":
        if node.channel_ids is None:
            raise ValueError(f"channel:{node.value} was not bound to channel ids")
        return doc.channel_id in node.channel_ids
    if node.field == "after":
        assert node.when is not None
        return doc.date >= node.when
    if node.field == "before":
        assert node.when is not None
        return doc.date < node.when
    return node.value in doc.facets
