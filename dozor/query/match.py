"""Evaluating a query tree against one post: what alert rules use, and the definition search
must agree with (a property test checks it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import lru_cache
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


Check = Callable[[Document], bool]


def matches(node: Node, doc: Document) -> bool:
    return _compiled(node)(doc)


@lru_cache(maxsize=4096)
def _compiled(node: Node) -> Check:
    return compile_query(node)


def compile_query(node: Node) -> Check:
    """The query as one function of a post: the tree is walked once here, not per post.

    This is the single definition of what a query means for one post; :func:`matches` and the
    rule index both call what it returns.
    """
    return _COMPILERS[type(node)](node)


def _compile_and(node: And) -> Check:
    checks = tuple(compile_query(child) for child in node.children)
    if len(checks) == 2:
        first, second = checks
        return lambda doc: first(doc) and second(doc)

    def check(doc: Document) -> bool:
        return all(c(doc) for c in checks)

    return check


def _compile_or(node: Or) -> Check:
    checks = tuple(compile_query(child) for child in node.children)

    def check(doc: Document) -> bool:
        return any(c(doc) for c in checks)

    return check


def _compile_not(node: Not) -> Check:
    child = compile_query(node.child)
    return lambda doc: not child(doc)


def _compile_term(node: Term) -> Check:
    if node.exact:
        word = node.word
        return lambda doc: word in doc.word_set
    if len(node.stems) == 1:
        stem = node.stems[0]
        return lambda doc: stem in doc.stem_set
    stems = node.stems
    return lambda doc: not doc.stem_set.isdisjoint(stems)


def _compile_prefix(node: Prefix) -> Check:
    prefix = node.prefix
    return lambda doc: doc.has_prefix(prefix)


def _compile_phrase(node: Phrase) -> Check:
    if all(isinstance(part, Term) for part in node.parts):
        return _compile_word_phrase(node.parts)  # type: ignore[arg-type]
    # Most posts lack one of the phrase's words altogether: that is the cheap answer first.
    words_present = tuple(_compile_term(part) for part in node.parts if isinstance(part, Term))
    two_terms = len(node.parts) == 2

    def check(doc: Document) -> bool:
        for present in words_present:
            if not present(doc):
                return False
        adjacent = _first_pair_adjacent(node, doc)
        if adjacent is not None and (adjacent is False or two_terms):
            return adjacent
        return bool(phrase_positions(node, doc))

    return check


def _compile_word_phrase(parts: tuple[Term, ...]) -> Check:
    """A phrase of words only, the usual kind: the first word's positions are found by
    ``tuple.index`` (in C) and the other words compared there. Same meaning as
    :func:`phrase_positions`, without its general machinery."""
    keys = tuple(
        (part.exact, frozenset((part.word,) if part.exact else part.stems)) for part in parts
    )
    first_exact, first_keys = keys[0]
    rest = tuple((offset, exact, values) for offset, (exact, values) in enumerate(keys[1:], 1))
    span = len(keys)

    def check(doc: Document) -> bool:
        for exact, values in keys:  # most posts lack one of the words: the cheap answer first
            if values.isdisjoint(doc.word_set if exact else doc.stem_set):
                return False
        words, stems = doc.words, doc.stems
        tokens = words if first_exact else stems
        present = doc.word_set if first_exact else doc.stem_set
        stop = len(tokens) - span + 1
        for first in first_keys & present:
            position = -1
            while True:
                try:
                    position = tokens.index(first, position + 1, stop)
                except ValueError:
                    break
                for offset, exact, values in rest:
                    if (words if exact else stems)[position + offset] not in values:
                        break
                else:
                    return True
        return False

    return check


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


def _compile_regex(node: Regex) -> Check:
    search = node.compiled.search
    return lambda doc: search(doc.text) is not None


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


def _compile_filter(node: Filter) -> Check:
    if node.field == "channel":
        channel_ids = node.channel_ids
        if channel_ids is None:
            return _unbound(node)
        return lambda doc: doc.channel_id in channel_ids
    when = node.when
    if node.field in ("after", "before"):
        assert when is not None
        if node.field == "after":
            return lambda doc: doc.date >= when
        return lambda doc: doc.date < when
    value = node.value
    return lambda doc: value in doc.facets


def _unbound(node: Filter) -> Check:
    def check(doc: Document) -> bool:
        raise ValueError(f"channel:{node.value} was not bound to channel ids")

    return check


_COMPILERS: dict[type, Callable[[Any], Check]] = {
    And: _compile_and,
    Or: _compile_or,
    Not: _compile_not,
    Term: _compile_term,
    Prefix: _compile_prefix,
    Phrase: _compile_phrase,
    Regex: _compile_regex,
    Filter: _compile_filter,
}
