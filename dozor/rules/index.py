"""Matching one post against thousands of rules quickly.

Most rules need some word to be present: ``мигрант -задержан`` cannot match a post without a
form of мигрант. Each rule gets an *anchor*, a set of keys (stems, exact words, prefixes,
channels) of which a matching post must contain at least one; a post is then checked only
against the rules its own keys point at, plus the few rules with no anchor (a bare regex, a
pure exclusion). The check itself is the ordinary matcher, so the index changes speed, never
results.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from dozor.query.ast import And, Filter, Node, Or, Phrase, Prefix, Term
from dozor.query.document import Document
from dozor.query.match import matches

Anchor = frozenset[str]


@dataclass(frozen=True, eq=False)
class CompiledRule:
    id: int
    name: str
    node: Node
    events: frozenset[str]
    chat_id: int
    mode: str
    alert_from: datetime


def anchor(node: Node) -> Anchor | None:
    """Keys a post must have one of to possibly match; None when there is no such set."""
    if isinstance(node, Term):
        return (
            frozenset({f"w:{node.word}"}) if node.exact else frozenset(f"s:{s}" for s in node.stems)
        )
    if isinstance(node, Prefix):
        return frozenset({f"p:{node.prefix}"})
    if isinstance(node, Phrase):
        return _smallest([anchor(part) for part in node.parts])
    if isinstance(node, Filter) and node.field == "channel" and node.channel_ids is not None:
        return frozenset(f"c:{i}" for i in node.channel_ids)
    if isinstance(node, And):
        return _smallest([anchor(child) for child in node.children])
    if isinstance(node, Or):
        parts = [anchor(child) for child in node.children]
        if any(part is None for part in parts):
            return None
        return frozenset().union(*(p for p in parts if p is not None))
    return None  # Not, Regex, date and facet filters: nothing in particular is required


def _smallest(anchors: list[Anchor | None]) -> Anchor | None:
    known = [a for a in anchors if a is not None]
    if not known:
        return None
    # Word keys are more selective than channel keys: prefer them when sizes tie.
    return min(known, key=lambda a: (len(a), any(k.startswith("c:") for k in a)))


class RuleIndex:
    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        self.rules = list(rules)
        self._by_key: dict[str, list[CompiledRule]] = defaultdict(list)
        self._by_prefix: dict[str, list[CompiledRule]] = defaultdict(list)
        self._always: list[CompiledRule] = []
        for rule in self.rules:
            keys = anchor(rule.node)
            if keys is None:
                self._always.append(rule)
                continue
            for key in keys:
                if key.startswith("p:"):
                    self._by_prefix[key[2:]].append(rule)
                else:
                    self._by_key[key].append(rule)
        self._prefix_lengths = sorted({len(p) for p in self._by_prefix})

    def __len__(self) -> int:
        return len(self.rules)

    def candidates(self, doc: Document) -> list[CompiledRule]:
        found: dict[int, CompiledRule] = {id(r): r for r in self._always}
        by_key = self._by_key
        for key in (
            f"c:{doc.channel_id}",
            *(f"s:{s}" for s in doc.stem_set),
            *(f"w:{w}" for w in doc.word_set),
        ):
            for rule in by_key.get(key, ()):
                found[id(rule)] = rule
        if self._prefix_lengths:
            by_prefix = self._by_prefix
            for word in doc.word_set:
                for length in self._prefix_lengths:
                    if length > len(word):
                        break
                    for rule in by_prefix.get(word[:length], ()):
                        found[id(rule)] = rule
        return list(found.values())

    def matching(self, doc: Document) -> list[CompiledRule]:
        """Rules whose query matches *doc*, in rule order."""
        hits = [rule for rule in self.candidates(doc) if matches(rule.node, doc)]
        return sorted(hits, key=lambda r: r.id)
