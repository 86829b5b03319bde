"""The query tree. Leaves carry what matching needs, already normalized."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Term:
    """One token. ``stems`` match any word form; ``exact`` matches the folded surface only."""

    word: str
    stems: tuple[str, ...]
    exact: bool = False


@dataclass(frozen=True, slots=True)
class Prefix:
    """Tokens whose folded surface form starts with ``prefix``."""

    prefix: str


@dataclass(frozen=True, slots=True)
class Phrase:
    """Consecutive tokens, each matched like a Term or Prefix."""

    parts: tuple[Term | Prefix, ...]


@dataclass(frozen=True, slots=True)
class Regex:
    """A RE2 pattern over the post's original text (``\\w`` etc. made Unicode-aware)."""

    source: str
    pattern: str
    ignore_case: bool
    compiled: Any  # re2 pattern object

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Regex) and (self.pattern, self.ignore_case) == (
            other.pattern,
            other.ignore_case,
        )

    def __hash__(self) -> int:
        return hash((self.pattern, self.ignore_case))


FILTER_FIELDS = ("channel", "after", "before", "has", "is")
HAS_VALUES = ("media", "photo", "video", "document", "link")
IS_VALUES = ("forward", "reply", "edited", "deleted")


@dataclass(frozen=True, slots=True)
class Filter:
    """``field:value``. ``channel`` values stay as typed until bound to channel ids."""

    field: str
    value: str
    when: datetime | None = None  # after/before, as an aware UTC datetime
    channel_ids: frozenset[int] | None = None  # channel, once bound


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


Node = Term | Prefix | Phrase | Regex | Filter | And | Or | Not


def walk(node: Node) -> list[Node]:
    """Every node of the tree, parents before children."""
    nodes: list[Node] = [node]
    if isinstance(node, And | Or):
        for child in node.children:
            nodes += walk(child)
    elif isinstance(node, Not):
        nodes += walk(node.child)
    return nodes


def mentions_deleted(node: Node) -> bool:
    """Does the query say anything about deletion (``is:deleted`` or ``-is:deleted``)?"""
    return any(
        isinstance(n, Filter) and n.field == "is" and n.value == "deleted" for n in walk(node)
    )


def positive_leaves(node: Node, negated: bool = False) -> list[Node]:
    """Leaves whose presence makes the query match (not under a NOT)."""
    if isinstance(node, And | Or):
        return [leaf for child in node.children for leaf in positive_leaves(child, negated)]
    if isinstance(node, Not):
        return positive_leaves(node.child, not negated)
    return [] if negated else [node]
