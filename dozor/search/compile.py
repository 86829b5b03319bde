"""Compiling a query tree to a full-text expression.

Both compilers return an expression that finds *at least* the matching posts, and say whether
it finds *exactly* them. What full text cannot express (regular expressions, date filters
below the top level, on SQLite a phrase mixing word forms with exact words) compiles to "true";
the search engine then checks the candidates with the query matcher, so the final answer is
always the matcher's.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dozor.query.ast import And, Filter, Node, Not, Or, Phrase, Prefix, Regex, Term, positive_leaves
from dozor.query.document import channel_facet
from dozor.text.analyzer import surface_prefixes

# A phrase of word forms is one FTS5 phrase per combination of its words' stems. Frequent
# Russian words have many (этот: 14, день: 18); an OR of 1,000 phrases still runs in
# milliseconds to ~0.1 s on a 1M-post index, while checking candidates one by one takes seconds.
MAX_PHRASE_VARIANTS = 1024
# ... and a query's phrases together get this many: 85 phrases of 1,008 combinations (a query
# of 2,000 characters) took 16 s and 430 MB in FTS5. Past it, phrases need their neighbours.
MAX_QUERY_VARIANTS = 4096
NEVER = "nothing"  # a facet no post has


@dataclass
class Plan:
    expression: str  # FTS5 MATCH text or tsquery text
    exact: bool
    after: datetime | None = None
    before: datetime | None = None
    notes: list[str] = field(default_factory=list)
    # PostgreSQL: what relevance is ranked on, the words of the query. ts_rank of the whole
    # expression is ~0 for every post as soon as it holds a NOT (and every default query does).
    rank_expression: str | None = None
    # Whether the expression holds a word outside a NOT. Without one, SQLite's bm25 gives every
    # hit the same score (facets weigh 0), so relevance order is newest-first order.
    ranked: bool = True


def top_level_dates(node: Node) -> tuple[Node, datetime | None, datetime | None]:
    """Pull after:/before: out of the top-level AND, where they become a key range."""
    children = node.children if isinstance(node, And) else (node,)
    after = before = None
    rest: list[Node] = []
    for child in children:
        if isinstance(child, Filter) and child.field == "after" and child.when is not None:
            after = child.when if after is None else max(after, child.when)
        elif isinstance(child, Filter) and child.field == "before" and child.when is not None:
            before = child.when if before is None else min(before, child.when)
        else:
            rest.append(child)
    if not rest:
        return Filter("is", "all"), after, before
    return (rest[0] if len(rest) == 1 else And(tuple(rest))), after, before


class _Compiler:
    """Shared shape of both dialects; subclasses spell the operators."""

    def __init__(self) -> None:
        self.exact = True
        self.ranked = False  # a word compiled outside a NOT
        self._negated = False

    def compile(self, node: Node) -> Plan:
        body, after, before = top_level_dates(node)
        expression = self.node(body)
        return Plan(expression or self.facet("all"), self.exact, after, before, ranked=self.ranked)

    def node(self, node: Node) -> str | None:  # None = "true" (not expressible)
        if isinstance(node, And):
            return self.conj(node.children)
        if isinstance(node, Or):
            ranked = self.ranked
            parts = [self.node(child) for child in node.children]
            if any(part is None for part in parts):
                self.ranked = ranked  # the words are left out with the rest
                return None
            return self.disj([p for p in parts if p is not None])
        if isinstance(node, Not):
            outer, self.exact = self.exact, True
            negated, self._negated = self._negated, not self._negated
            inner = self.node(node.child)
            self._negated = negated
            child_exact, self.exact = self.exact, outer and self.exact
            if inner is None or not child_exact:
                # The negation of a superset is a subset: candidates would be lost.
                self.exact = False
                return None
            return self.negate(inner)
        if isinstance(node, Term | Prefix | Phrase):
            self.ranked = self.ranked or not self._negated
        if isinstance(node, Term):
            return self.term(node)
        if isinstance(node, Prefix):
            return self.prefix(node.prefix)
        if isinstance(node, Phrase):
            return self.phrase(node)
        if isinstance(node, Regex):
            self.exact = False
            return None
        return self.filter(node)

    def conj(self, children: tuple[Node, ...]) -> str | None:
        parts = [p for p in (self.node(c) for c in children) if p is not None]
        return self.and_(parts) if parts else None

    def filter(self, node: Filter) -> str | None:
        if node.field == "channel":
            ids = sorted(node.channel_ids or ())
            if not ids:
                return self.facet(NEVER)
            return self.disj([self.facet(channel_facet(i)) for i in ids])
        if node.field in ("after", "before"):
            self.exact = False
            return None
        return self.facet(node.value)

    def term(self, term: Term) -> str:
        if term.exact:
            return self.word(term.word)
        return self.disj([self.stem(s) for s in term.stems])

    # dialect hooks
    def and_(self, parts: list[str]) -> str:
        raise NotImplementedError

    def disj(self, parts: list[str]) -> str:
        raise NotImplementedError

    def negate(self, inner: str) -> str:
        raise NotImplementedError

    def word(self, word: str) -> str:
        raise NotImplementedError

    def stem(self, stem: str) -> str:
        raise NotImplementedError

    def prefix(self, prefix: str) -> str:
        raise NotImplementedError

    def facet(self, facet: str) -> str:
        raise NotImplementedError

    def phrase(self, phrase: Phrase) -> str | None:
        raise NotImplementedError


def fts5_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


class Fts5Compiler(_Compiler):
    """SQLite FTS5 MATCH syntax over the columns words, stems, facets."""

    def __init__(self) -> None:
        super().__init__()
        self._variants_left = MAX_QUERY_VARIANTS

    def and_(self, parts: list[str]) -> str:
        positive = [p for p in parts if not p.startswith("NOT ")]
        negative = [p.removeprefix("NOT ") for p in parts if p.startswith("NOT ")]
        expression = " AND ".join(f"({p})" for p in positive) or self.facet("all")
        for neg in negative:
            expression = f"({expression}) NOT ({neg})"
        return expression

    def disj(self, parts: list[str]) -> str:
        resolved = [self._positive(p) for p in parts]
        return resolved[0] if len(resolved) == 1 else " OR ".join(f"({p})" for p in resolved)

    def _positive(self, part: str) -> str:
        """FTS5 has no unary NOT: inside OR, "NOT x" becomes "all NOT x"."""
        if part.startswith("NOT "):
            return f"({self.facet('all')}) NOT ({part.removeprefix('NOT ')})"
        return part

    def negate(self, inner: str) -> str:
        if inner.startswith("NOT "):  # double negation
            return inner.removeprefix("NOT ")
        return f"NOT {inner}"

    def word(self, word: str) -> str:
        return f"words : {fts5_string(word)}"

    def stem(self, stem: str) -> str:
        return f"stems : {fts5_string(stem)}"

    def prefix(self, prefix: str) -> str:
        return f"words : {fts5_string(prefix)} *"

    def facet(self, facet: str) -> str:
        return f"facets : {fts5_string(facet)}"

    def compile(self, node: Node) -> Plan:
        plan = super().compile(node)
        plan.expression = self._positive(plan.expression)
        return plan

    def phrase(self, phrase: Phrase) -> str | None:
        """One FTS5 phrase lives in one column: stems (word forms) or words (exact, prefix)."""
        parts = phrase.parts
        if all(isinstance(p, Term) and not p.exact for p in parts):
            options = [p.stems for p in parts if isinstance(p, Term)]
            if len(options) == 1 or self._afford(math.prod(map(len, options))):
                return self._stem_phrase(options)
            # Too many combinations: every pair of neighbours must still occur side by side,
            # which narrows the candidates far more than each word on its own.
            self.exact = False
            return self.and_([self._neighbours(pair) for pair in itertools.pairwise(options)])
        if all(isinstance(p, Prefix) or _in_words_column(p) for p in parts):
            # "уголовн* дел*": tokens of the words column, each a word or a prefix
            return "words : " + " + ".join(map(_words_token, parts))
        # Word forms (stems column) mixed with exact words or prefixes (words column): each run
        # of one column must occur as a phrase; the matcher checks the whole.
        self.exact = False
        runs = [list(run) for _, run in itertools.groupby(parts, key=_in_stems_column)]
        pieces = [
            self.phrase(Phrase(tuple(run))) if len(run) > 1 else self.node(run[0]) for run in runs
        ]
        if all(len(run) == 1 for run in runs):
            # No run is a phrase: alone, the pieces ask only for each word somewhere ("этот
            # ми*" in 90,000 posts). The whole phrase among the words narrows that to posts
            # where a word beginning as a form of этот is followed by one beginning with ми.
            pieces.append(self._among_words(parts))
        return self.and_([p for p in pieces if p is not None])

    def _among_words(self, parts: Sequence[Term | Prefix]) -> str | None:
        """The phrase in the words column, each word form as a prefix its words begin with
        (``surface_prefixes``): a superset of its hits. None when the combinations are too
        many."""
        options = [_word_tokens(part) for part in parts]
        if any(option is None for option in options):
            return None
        tokens = [option for option in options if option is not None]
        if not self._afford(math.prod(map(len, tokens))):
            return None
        return self.disj(["words : " + " + ".join(v) for v in itertools.product(*tokens)])

    def _neighbours(self, pair: tuple[tuple[str, ...], tuple[str, ...]]) -> str:
        if self._afford(len(pair[0]) * len(pair[1])):
            return self._stem_phrase(pair)
        return self.and_([self._stem_phrase([stems]) for stems in pair])

    def _afford(self, variants: int) -> bool:
        """Can one more phrase of this many stem combinations be spelled out?"""
        if variants > min(MAX_PHRASE_VARIANTS, self._variants_left):
            return False
        self._variants_left -= variants
        return True

    def _stem_phrase(self, options: Sequence[tuple[str, ...]]) -> str:
        """The words side by side, each by any of its stems."""
        variants = itertools.product(*options)
        return self.disj(["stems : " + fts5_string(" ".join(v)) for v in variants])


def _in_stems_column(part: Term | Prefix) -> bool:
    return isinstance(part, Term) and not part.exact


def _word_tokens(part: Term | Prefix) -> tuple[str, ...] | None:
    """The words-column tokens one of which a word matching *part* is: itself for an exact
    word or a prefix, for a word form the shortest surface prefixes of its stems (one letter
    may do: "э" * next to "ми" * is still a phrase FTS5 checks by positions)."""
    if not _in_stems_column(part):
        return (_words_token(part),)
    assert isinstance(part, Term)
    prefixes = sorted({p for stem in part.stems for p in surface_prefixes(stem)})
    if not all(prefixes):
        return None  # a word form that promises nothing of its spelling
    shortest = [p for i, p in enumerate(prefixes) if not any(p.startswith(q) for q in prefixes[:i])]
    return tuple(f"{fts5_string(p)} *" for p in shortest)


def _words_token(part: Term | Prefix) -> str:
    if isinstance(part, Prefix):
        return f"{fts5_string(part.prefix)} *"
    return fts5_string(part.word)


def _in_words_column(part: Term | Prefix) -> bool:
    """An exact word, or a token that is its own stem (hashtag, number, link)."""
    return isinstance(part, Term) and (part.exact or part.stems == (part.word,))


def tsquery_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class TsqueryCompiler(_Compiler):
    """PostgreSQL tsquery over the combined tsvector (w: words, s: stems, f: facets)."""

    def and_(self, parts: list[str]) -> str:
        return " & ".join(f"({p})" for p in parts)

    def disj(self, parts: list[str]) -> str:
        return parts[0] if len(parts) == 1 else " | ".join(f"({p})" for p in parts)

    def negate(self, inner: str) -> str:
        return f"!({inner})"

    def word(self, word: str) -> str:
        return tsquery_string("w:" + word)

    def stem(self, stem: str) -> str:
        return tsquery_string("s:" + stem)

    def prefix(self, prefix: str) -> str:
        return tsquery_string("w:" + prefix) + ":*"

    def facet(self, facet: str) -> str:
        return tsquery_string("f:" + facet)

    def phrase(self, phrase: Phrase) -> str:
        parts = [self.node(part) for part in phrase.parts]
        return " <-> ".join(f"({p})" for p in parts if p is not None)

    def compile(self, node: Node) -> Plan:
        plan = super().compile(node)
        words = [
            self.node(leaf)
            for leaf in positive_leaves(node)
            if isinstance(leaf, Term | Prefix | Phrase)
        ]
        plan.rank_expression = self.disj([w for w in words if w]) if any(words) else None
        return plan
