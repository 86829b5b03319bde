"""Matching one post against thousands of rules quickly.

Most rules need some word to be present: ``мигрант -задержан`` cannot match a post without a
form of мигрант. Each rule gets an *anchor*, a set of keys (stems, exact words, prefixes,
channels) of which a matching post must contain at least one; a post is then checked only
against the rules its own keys point at, plus the few rules with no anchor (a bare regex, a
pure exclusion). The check itself is the ordinary compiled query, so the index changes speed,
never results.

Word and prefix keys depend on the word alone, so what each word points at is worked out once,
the first time a post contains it; a post then costs a few set intersections over its distinct
words, whatever the number of prefix lengths in use.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain, compress
from operator import itemgetter

from dozor.query.ast import And, Filter, Node, Or, Phrase, Prefix, Regex, Term
from dozor.query.document import Document
from dozor.query.match import Check, compile_query
from dozor.query.regex import compile_set, set_pattern

Anchor = frozenset[str]
MAX_REMEMBERED_WORDS = 200_000


def anchor_decides(node: Node) -> bool:
    """True when having an anchor key *is* matching (a word, a prefix, an OR of them)."""
    if isinstance(node, Or):
        return all(anchor_decides(child) for child in node.children)
    return isinstance(node, Term | Prefix)


@dataclass(frozen=True, eq=False)
class CompiledRule:
    id: int
    name: str
    node: Node
    events: frozenset[str]
    chat_id: int
    mode: str
    alert_from: datetime
    check: Check = field(init=False, repr=False)  # the query compiled, once

    def __post_init__(self) -> None:
        object.__setattr__(self, "check", compile_query(self.node))


def anchor(node: Node) -> Anchor | None:
    """Keys a post must have one of to possibly match; None when there is no such set.

    Keys: ``s:`` stem, ``w:`` exact word, ``p:`` prefix, ``c:`` channel, ``r:`` regex (found
    through an RE2 Set).
    """
    if isinstance(node, Term):
        return (
            frozenset({f"w:{node.word}"}) if node.exact else frozenset(f"s:{s}" for s in node.stems)
        )
    if isinstance(node, Prefix):
        return frozenset({f"p:{node.prefix}"})
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
    # Fewest keys first (none: a channel: filter no archived channel matches, so no post can
    # match); then longer words (rarer than short function words), then word keys over channel
    # keys.
    return min(
        known,
        key=lambda a: (len(a), -min(map(len, a), default=0), any(k[:2] == "c:" for k in a)),
    )


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
        # Prefixes filed under their first letters, as many as the shortest prefix has: a word
        # is then sliced once, whatever the number of prefix lengths in use.
        stub = min(map(len, self._tables["p"]), default=1)
        self._stub_of = itemgetter(slice(stub))
        self._stubs: dict[str, list[tuple[str, list[int]]]] = defaultdict(list)
        for prefix, positions in self._tables["p"].items():
            self._stubs[prefix[:stub]].append((prefix, positions))
        # Word and prefix keys depend on the word alone: what each word a post may contain
        # points at is worked out the first time the word is seen, then looked up.
        self._seen_words: set[str] = set()
        self._word_hits: dict[str, tuple[int, ...]] = {}
        # Keys again as plain sets: set & set runs on cached hashes, set & dict view does not.
        self._hit_words: set[str] = set()
        self._stem_keys = frozenset(self._tables["s"])
        self._stem_rules = dict(self._tables["s"]).__getitem__
        # Every regex anchor in one RE2 Set: one pass over a post finds which ones occur.
        self._regexes = list(self._tables["r"])
        self._regex_set = compile_set(self._regexes) if self._regexes else None

    def __len__(self) -> int:
        return len(self.rules)

    def _candidate_positions(self, doc: Document) -> set[int]:
        tables = self._tables
        # What each key points at is gathered by map and chain, in C: a post has dozens of
        # keys with rules.
        found = set(self._always)
        found.update(chain.from_iterable(map(self._stem_rules, doc.stem_set & self._stem_keys)))
        if len(self._seen_words) > MAX_REMEMBERED_WORDS:  # a bound for a service's lifetime
            self._seen_words.clear()
            self._word_hits.clear()
            self._hit_words.clear()
        new_words = doc.word_set - self._seen_words
        if new_words:
            self._learn(new_words)
        found.update(
            chain.from_iterable(map(self._word_hits.__getitem__, doc.word_set & self._hit_words))
        )
        found.update(tables["c"].get(str(doc.channel_id), ()))
        if self._regex_set is not None:
            regexes = tables["r"]
            for index in self._regex_set.Match(doc.text) or ():
                found.update(regexes[self._regexes[index]])
        return found

    def _learn(self, words: frozenset[str]) -> None:
        """Remember which rules each new word points at through word and prefix keys.

        Slicing, set operations and selection stay in C: a post brings a dozen or so new
        words, and few of them start like some prefix.
        """
        exact = self._tables["w"]
        hits: dict[str, list[int]] = {word: list(exact[word]) for word in exact.keys() & words}
        if self._stubs:
            ordered = list(words)
            stubs = list(map(self._stub_of, ordered))
            started = self._stubs.keys() & stubs
            for word, stub in compress(
                zip(ordered, stubs, strict=True), map(started.__contains__, stubs)
            ):
                for prefix, positions in self._stubs[stub]:
                    if word.startswith(prefix):
                        hits.setdefault(word, []).extend(positions)
        self._word_hits.update((word, tuple(found)) for word, found in hits.items())
        self._hit_words.update(hits)
        self._seen_words |= words

    def matching(self, doc: Document) -> list[CompiledRule]:
        """Rules whose query matches *doc*, in id order."""
        rules, decided = self.rules, self._decided
        return [
            rules[p]
            for p in sorted(self._candidate_positions(doc))
            if p in decided or rules[p].check(doc)
        ]
