"""Lexer and recursive-descent parser for the query language (see docs/QUERY.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from dozor.errors import QueryError
from dozor.query.ast import (
    FILTER_FIELDS,
    HAS_VALUES,
    IS_VALUES,
    And,
    Filter,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    Regex,
    Term,
)
from dozor.query.regex import RegexError, compile_regex
from dozor.text import query_stems
from dozor.text.normalize import tokenize

MAX_QUERY_LENGTH = 2000
_FILTER = re.compile(r"^([A-Za-z]+):(.*)$", re.DOTALL)
_NOT_FILTERS = frozenset({"http", "https", "tg", "mailto"})


@dataclass(frozen=True)
class _Token:
    kind: str  # word, phrase, regex, filter, lparen, rparen, or, not, minus
    text: str
    position: int
    exact: bool = False
    flags: str = ""
    field: str = ""


class _Lexer:
    def __init__(self, query: str) -> None:
        self.query = query
        self.i = 0

    def error(self, message: str, position: int | None = None) -> QueryError:
        return QueryError(message, self.query, self.i if position is None else position)

    def tokens(self) -> list[_Token]:
        out: list[_Token] = []
        q = self.query
        if "\x00" in q:  # no text holds it (posts store U+FFFD), and no database column can
            raise self.error("a query cannot hold the NUL character (U+0000)", q.index("\x00"))
        while True:
            while self.i < len(q) and q[self.i].isspace():
                self.i += 1
            if self.i >= len(q):
                return out
            out.append(self._next())

    def _next(self) -> _Token:
        q, start = self.query, self.i
        ch = q[start]
        if ch in "()":
            self.i += 1
            return _Token("lparen" if ch == "(" else "rparen", ch, start)
        if ch == "-" and start + 1 < len(q) and not q[start + 1].isspace():
            self.i += 1
            return _Token("minus", ch, start)
        if ch == '"':
            return _Token("phrase", self._quoted(), start)
        if ch == "=" and start + 1 < len(q) and q[start + 1] == '"':
            self.i += 1
            return _Token("phrase", self._quoted(), start, exact=True)
        if ch == "/":
            return self._regex()
        return self._word()

    def _quoted(self) -> str:
        start = self.i
        end = self.query.find('"', start + 1)
        if end < 0:
            raise self.error('unbalanced quote: no closing "', start)
        self.i = end + 1
        return self.query[start + 1 : end]

    def _regex(self) -> _Token:
        q, start = self.query, self.i
        i = start + 1
        while i < len(q) and q[i] != "/":
            i += 2 if q[i] == "\\" else 1
        if i >= len(q):
            raise self.error("unterminated regular expression: no closing /", start)
        j = i + 1
        while j < len(q) and q[j].isalpha():
            j += 1
        flags = q[i + 1 : j]
        if set(flags) - {"i"}:
            raise self.error(f"unknown regular expression flag(s) {flags!r}; only i", i + 1)
        self.i = j
        return _Token("regex", q[start + 1 : i], start, flags=flags)

    def _word(self) -> _Token:
        q, start = self.query, self.i
        i = start
        while i < len(q) and not q[i].isspace() and q[i] not in '()"':
            i += 1
        self.i = i
        text = q[start:i]
        if text == "OR":
            return _Token("or", text, start)
        if text == "NOT":
            return _Token("not", text, start)
        match = _FILTER.match(text)
        if match and match[1].lower() not in _NOT_FILTERS:
            field = match[1].lower()
            value = match[2]
            if not value and i < len(q) and q[i] == '"':
                value = self._quoted()
            return _Token("filter", value, start, field=field)
        if text.startswith("="):
            return _Token("word", text[1:], start, exact=True)
        return _Token("word", text, start)


MAX_NESTING = 50  # parentheses and NOTs inside each other; every walker of the tree recurses


class _Parser:
    def __init__(self, query: str, tokens: list[_Token]) -> None:
        self.query = query
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def nested(self, token: _Token) -> None:
        """Enter one more level of nesting at *token*."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"nested too deeply (at most {MAX_NESTING} levels)", token.position)

    def error(self, message: str, position: int) -> QueryError:
        return QueryError(message, self.query, position)

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def parse(self) -> Node:
        node = self.parse_or()
        extra = self.peek()
        if extra is not None:
            raise self.error("unmatched )", extra.position)
        return node

    def parse_or(self) -> Node:
        first = self.peek()
        if first is not None and first.kind == "or":
            raise self.error("OR needs a term on its left", first.position)
        children = [self.parse_and()]
        while (token := self.peek()) is not None and token.kind == "or":
            self.take()
            nxt = self.peek()
            if nxt is None or nxt.kind in ("or", "rparen"):
                raise self.error("OR needs a term on its right", token.position)
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self) -> Node:
        children = [self.parse_unary()]
        while (token := self.peek()) is not None and token.kind not in ("or", "rparen"):
            children.append(self.parse_unary())
        children = _any_of_channels(children)
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_unary(self) -> Node:
        token = self.peek()
        assert token is not None
        if token.kind in ("minus", "not"):
            self.take()
            nxt = self.peek()
            if nxt is None or nxt.kind in ("or", "rparen"):
                raise self.error(f"{token.text} needs something to exclude", token.position)
            self.nested(token)
            node = Not(self.parse_unary())
            self.depth -= 1
            return node
        return self.parse_atom()

    def parse_atom(self) -> Node:
        token = self.take()
        if token.kind == "lparen":
            nxt = self.peek()
            if nxt is None:
                raise self.error("unclosed (", token.position)
            if nxt.kind == "rparen":
                raise self.error("empty parentheses", token.position)
            self.nested(token)
            node = self.parse_or()
            closing = self.peek()
            if closing is None or closing.kind != "rparen":
                raise self.error("unclosed (", token.position)
            self.take()
            self.depth -= 1
            return node
        if token.kind == "rparen":
            raise self.error("unmatched )", token.position)
        if token.kind == "phrase":
            return self.phrase(token)
        if token.kind == "regex":
            return self.regex(token)
        if token.kind == "filter":
            return self.filter(token)
        return self.word(token)

    def word(self, token: _Token) -> Node:
        text = token.text
        if not text:
            raise self.error("= needs a word or a phrase", token.position)
        parts = self.pieces(text, token.exact, token.position)
        return parts[0] if len(parts) == 1 else Phrase(tuple(parts))

    def phrase(self, token: _Token) -> Node:
        parts: list[Term | Prefix] = []
        for piece in token.text.split():  # "уголовное =дело": =дело is exactly that form
            exact = token.exact or piece.startswith("=")
            if piece == "=":
                raise self.error("= needs a word or a phrase", token.position)
            parts += self.pieces(piece.removeprefix("="), exact, token.position)
        if not parts:
            raise self.error("empty phrase", token.position)
        return parts[0] if len(parts) == 1 else Phrase(tuple(parts))

    def pieces(self, text: str, exact: bool, position: int) -> list[Term | Prefix]:
        """The terms one whitespace-free piece of query text stands for."""
        prefix = text.endswith("*")
        body = text.rstrip("*")
        if "*" in body:
            raise self.error(f"* goes at the end of a word, as in мигра* (in {text!r})", position)
        tokens = list(tokenize(body))
        if not tokens:
            raise self.error(f"nothing to search for in {text!r}", position)
        parts: list[Term | Prefix] = [_term(t.form, t.kind, exact) for t in tokens]
        if prefix:
            last = tokens[-1].form
            if len(last) < 2:
                raise self.error(f"prefix {text!r} is too short: use at least 2 letters", position)
            parts[-1] = Prefix(last)
        return parts

    def regex(self, token: _Token) -> Regex:
        if not token.text:
            raise self.error("empty regular expression", token.position)
        try:
            compiled = compile_regex(token.text, ignore_case="i" in token.flags)
        except RegexError as exc:
            raise self.error(str(exc), token.position) from None
        return Regex(f"/{token.text}/{token.flags}", token.text, "i" in token.flags, compiled)

    def filter(self, token: _Token) -> Filter:
        field, value = token.field, token.text.strip()
        value_at = token.position + len(field) + 1
        if field not in FILTER_FIELDS:
            known = ", ".join(f"{f}:" for f in FILTER_FIELDS)
            raise self.error(f"unknown filter {field}: (known: {known})", token.position)
        if not value:
            raise self.error(f"{field}: needs a value", token.position)
        if field in ("after", "before"):
            return Filter(field, value, when=self.date(value, value_at))
        if field == "has" and value.lower() not in HAS_VALUES:
            raise self.error(f"has: takes {', '.join(HAS_VALUES)}", value_at)
        if field == "is" and value.lower() not in IS_VALUES:
            raise self.error(f"is: takes {', '.join(IS_VALUES)}", value_at)
        return Filter(field, value if field == "channel" else value.lower())

    def date(self, value: str, position: int) -> datetime:
        try:
            parsed = datetime.fromisoformat(value)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except ValueError:
            raise self.error(
                f"bad date {value!r}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM", position
            ) from None
        except OverflowError:  # year 1 or 9999 moved to UTC
            raise self.error(f"date {value!r} is out of range in UTC", position) from None


def _any_of_channels(children: list[Node]) -> list[Node]:
    """``channel:a channel:b`` means posts of a or b (repeating a channel filter widens it)."""
    channels = [c for c in children if isinstance(c, Filter) and c.field == "channel"]
    if len(channels) < 2:
        return children
    rest = [c for c in children if c not in channels]
    return [Or(tuple(channels)), *rest]


def _term(form: str, kind: str, exact: bool) -> Term:
    if kind != "word":  # hashtags, mentions, numbers, links are their own stems
        return Term(form, (form,))
    if exact:
        return Term(form, (), exact=True)
    return Term(form, query_stems(form))


def parse(query: str) -> Node:
    """Parse *query*; raises QueryError with the position of the first problem."""
    if len(query) > MAX_QUERY_LENGTH:
        raise QueryError(f"query longer than {MAX_QUERY_LENGTH} characters", query[:50], 0)
    tokens = _Lexer(query).tokens()
    if not tokens:
        raise QueryError("empty query", query, 0)
    return _Parser(query, tokens).parse()
