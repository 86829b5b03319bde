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

from dozor.query.ast import And, Filter, Node, Or, Phrase, Prefix, Regex, Term
from dozor.query.document import Document
from dozor.query.match import matches
from dozor.query.regex import compile_set, set_pattern

Anchor = frozenset[str]
PREFIX_KEY = 5


def anchor_decides(node: Node) -> bool:
    """True when having an anchor key *is* matching (a word, a short prefix, an OR of them)."""
    if isinstance(node, Or):
        return all(anchor_decides(child) for child in node.children)
    return isinstance(node, Term) or (isinstance(node, Prefix) and len(node.prefix) <= PREFIX_KEY)


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
    """Keys a post must have one of to possibly match; None when there is no such set.

    Keys: ``s:`` stem, ``w:`` exact word, ``p:`` prefix, ``c:`` channel, ``r:`` regex (found
    through an RE2 Set).
    """
    if isinstance(node, Term):
        return (
            frozenset({f"w:{node.word}"}) if node.exact else frozenset(f"s:{s}" for s in node.stems)
        )
    if isinstance(node, Prefix):  # filed under at most PREFIX_KEY letters: few lengths to try
        return frozenset({f"p:{node.prefix[:PREFIX_KEY]}"})
    if isinstance(node, Phrase):
        return _smallest([anchor(part) for part in node.parts])
    if isinstance(node, Regex):
        return frozenset({f"r:{set_pattern(node.pattern, ignore_case=node.ignore_case)}"})
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
    # Fewest keys first; then longer words (rarer than short function words), then word keys
    # over channel keys.
    return min(known, key=lambda a: (len(a), -min(map(len, a)), any(k[:2] == "c:" for k in a)))


class RuleIndex:
    """Rules filed under their anchor keys; see the module docstring."""

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        # Rules are sorted by id and referred to by position in the tables.
        self.rules = sorted(rules, key=lambda r: r.id)
        # One table per kind of key: s stem, w word, c channel, p prefix, r regex.
        self._tables: dict[str, dict[str, list[int]]] = {
            kind: defaultdict(list) for kind in "swcpr"
        }
        self._always: set[int] = set()
        self._decided: set[int] = set()  # rules an anchor hit alone proves (no re-check)
        for position, rule in enumerate(self.rules):
            keys = anchor(rule.node)
            if keys is None:
                self._always.add(position)
                continue
            for key in keys:
                self._tables[key[0]][key[2:]].append(position)
            if anchor_decides(rule.node):
                self._decided.add(position)
        self._prefix_lengths = sorted({len(p) for p in self._tables["p"]})
        # Every regex anchor in one RE2 Set: one pass over a post finds which ones occur.
        self._regexes = list(self._tables["r"])
        self._regex_set = compile_set(self._regexes) if self._regexes else None

    def __len__(self) -> int:
        return len(self.rules)

    def _candidate_positions(self, doc: Document) -> set[int]:
        tables = self._tables
        found = set(self._always)
        stems, words, prefixes = tables["s"], tables["w"], tables["p"]
        for key in doc.stem_set & stems.keys():
            found.update(stems[key])
        for key in doc.word_set & words.keys():
            found.update(words[key])
        found.update(tables["c"].get(str(doc.channel_id), ()))
        for length in self._prefix_lengths:
            for key in doc.prefixes(length) & prefixes.keys():
                found.update(prefixes[key])
        if self._regex_set is not None:
            regexes = tables["r"]
            for index in self._regex_set.Match(doc.text) or ():
                found.update(regexes[self._regexes[index]])
        return found

    def candidates(self, doc: Document) -> list[CompiledRule]:
        """Rules that may match: those anchored on a key the post has, and the unanchored."""
        return [self.rules[p] for p in sorted(self._candidate_positions(doc))]

    def matching(self, doc: Document) -> list[CompiledRule]:
        """Rules whose query matches *doc*, in id order."""
        rules, decided = self.rules, self._decided
        return [
            rules[p]
            for p in sorted(self._candidate_positions(doc))
            if p in decided or matches(rules[p].node, doc)
        ]
