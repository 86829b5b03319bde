"""dozor's query language: one parser and one meaning for search, alert rules and exports.

See docs/QUERY.md for the language; :func:`parse` returns the tree, :mod:`dozor.query.match`
evaluates it against a post, :mod:`dozor.search` compiles it to SQL.
"""

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
)
from dozor.query.parser import parse

__all__ = ["And", "Filter", "Node", "Not", "Or", "Phrase", "Prefix", "Regex", "Term", "parse"]
