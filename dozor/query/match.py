"""Evaluating a query tree against one post: what alert rules use, and the definition search
must agree with (a property test checks it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

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
    return _EVALUATORS[type(node)](node, doc)


def _and(node: And, doc: Document) -> bool:
    return all(matches(child, doc) for child in node.children)


def _or(node: Or, doc: Document) -> bool:
    return any(matches(child, doc) for child in node.children)


def _not(node: Not, doc: Document) -> bool:
    return not matches(node.child, doc)


def _prefix(node: Prefix, doc: Document) -> bool:
    return doc.has_prefix(node.prefix)


def _phrase(node: Phrase, doc: Document) -> bool:
    adjacent = _first_pair_adjacent(node, doc)
    if adjacent is False:
        return False
    if adjacent is True and len(node.parts) == 2:
        return True
    return bool(phrase_positions(node, doc))


def _first_pair_adjacent(node: Phrase, doc: Document) -> bool | None:
    """Do the phrase's first two parts occur side by side? None when this cannot be told
    cheaply (a prefix among them)."""
    first, second = node.parts[0], node.parts[1]
    if not (isinstance(first, Term) and isinstance(second, Term)):
        return None
    tokens = doc.words if first.exact else doc.stems
    last = len(tokens) - 1
    return any(
        position < last and part_at(second, doc, position + 1)
        for value in ((first.word,) if first.exact else first.stems)
        if value in (doc.word_set if first.exact else doc.stem_set)
        for position in _find_all(tokens, value)
    )


def _regex(node: Regex, doc: Document) -> bool:
    return node.compiled.search(doc.text) is not None


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
    """Token indexes where the phrase starts.

    Only the positions of one part (a Term, whose positions are looked up) are tried, so a
    phrase costs little even in a long post.
    """
    size = len(phrase.parts)
    pivot = next((i for i, p in enumerate(phrase.parts) if isinstance(p, Term)), None)
    if pivot is None:
        starts: Iterable[int] = range(len(doc.words) - size + 1)
    else:
        starts = sorted(p - pivot for p in _term_positions(phrase.parts[pivot], doc))  # type: ignore[arg-type]
    last = len(doc.words) - size
    return [
        start
        for start in starts
        if 0 <= start <= last
        and all(part_at(part, doc, start + offset) for offset, part in enumerate(phrase.parts))
    ]


def _term_positions(term: Term, doc: Document) -> set[int]:
    if term.exact:
        return set(_find_all(doc.words, term.word)) if term.word in doc.word_set else set()
    return {p for stem in term.stems if stem in doc.stem_set for p in _find_all(doc.stems, stem)}


def _find_all(tokens: tuple[str, ...], value: str) -> list[int]:
    """Positions of *value* in *tokens* (count and index scan in C)."""
    found, start = [], 0
    for _ in range(tokens.count(value)):
        start = tokens.index(value, start)
        found.append(start)
        start += 1
    return found


_EVALUATORS: dict[type, Callable[[Any, Document], bool]] = {}


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


_EVALUATORS.update(
    {
        And: _and,
        Or: _or,
        Not: _not,
        Term: _term_in,
        Prefix: _prefix,
        Phrase: _phrase,
        Regex: _regex,
        Filter: _filter,
    }
)
