"""Searching the archive with the query language (SQLite FTS5 or PostgreSQL full text)."""

from dozor.search.engine import Hit, SearchResult, search

__all__ = ["Hit", "SearchResult", "search"]
