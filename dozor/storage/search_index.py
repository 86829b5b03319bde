"""Keeping ``post_search`` (and through it the full-text index) in step with ``posts``.

The key of a post in the index is ``unix seconds of its date * 2**22 + slot``: ordering by key
is ordering by date, so "newest first" is a reverse scan of the full-text index's own rowid
order with a LIMIT, however the posts arrived (a backfill inserts old posts late). The slot is
the message id modulo 2**22 (keeping albums in order); a taken slot moves to the next free one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.models import post_search
from dozor.query.document import Document, build_document, indexed_document
from dozor.storage.bulk import insert_rows_grouped

SLOT_BITS = 22
SLOT_MASK = (1 << SLOT_BITS) - 1
INDEXED = ("words", "stems", "facets")  # columns, in order; see indexed_document
# A post read with its index entry (search candidates, query exports): the entry's columns
# under these names, so the matcher can take the post from them (entry_document).
ENTRY_KEYS = tuple(f"index_{name}" for name in INDEXED)
ENTRY_COLUMNS = tuple(
    post_search.c[name].label(key) for name, key in zip(INDEXED, ENTRY_KEYS, strict=True)
)
_CHUNK = 500


def key_floor(moment: datetime) -> int:
    """The smallest search key of a post dated at or after *moment*."""
    return int(moment.timestamp()) << SLOT_BITS


def key_second(key: int) -> int:
    return key >> SLOT_BITS


def index_entry(post: Mapping[str, Any]) -> dict[str, Any]:
    """The post_search columns of a post (without its key)."""
    doc = build_document(post)
    return {
        "channel_id": post["channel_id"],
        "message_id": post["message_id"],
        "words": " ".join(doc.words),
        "stems": " ".join(doc.stems),
        "facets": " ".join(sorted(doc.facets)),
    }


def entry_document(row: Mapping[str, Any]) -> Document:
    """The Document of a post row read with ENTRY_COLUMNS, from its entry: not analysed again."""
    return indexed_document(row, *(row[key] for key in ENTRY_KEYS))


async def index_posts(
    session: AsyncSession, posts: Iterable[Mapping[str, Any]], *, new: bool = False
) -> int:
    """Bring the index entries of *posts* (full ``posts`` rows, current state) up to date;
    returns how many entries were written or removed.

    Service messages are not searchable and get no entry. *new* says the posts were just
    inserted, so they cannot have entries yet (saves a lookup).
    """
    rows = {(p["channel_id"], p["message_id"]): p for p in posts}
    if not rows:
        return 0
    stored = {} if new else await _stored_entries(session, rows)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    removals: list[int] = []
    for ident, post in rows.items():
        entry = stored.get(ident)
        if post["kind"] != "message":
            if entry is not None:
                removals.append(entry["search_key"])
            continue
        fresh = index_entry(post)
        if entry is None or key_second(entry["search_key"]) != _second(post["date"]):
            if entry is not None:
                removals.append(entry["search_key"])
            inserts.append({**fresh, "date": post["date"]})
        elif any(entry[c] != fresh[c] for c in INDEXED):
            updates.append({**fresh, "k_search_key": entry["search_key"]})
    await _remove(session, removals)
    await _update(session, updates)
    await _insert(session, inserts)
    return len(removals) + len(updates) + len(inserts)


async def compact_search_index(session: AsyncSession) -> None:
    """After many rewritten entries: SQLite merges the full-text index's segments into one
    (a reindex of 1M posts left queries 4x slower until then); PostgreSQL refreshes the
    statistics its planner reads."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("ANALYZE post_search"))
    else:
        await session.execute(
            text("INSERT INTO post_search_fts(post_search_fts) VALUES ('optimize')")
        )


def _second(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp())


async def _stored_entries(
    session: AsyncSession, rows: Mapping[tuple[int, int], Any]
) -> dict[tuple[int, int], dict[str, Any]]:
    by_channel: dict[int, list[int]] = {}
    for channel_id, message_id in rows:
        by_channel.setdefault(channel_id, []).append(message_id)
    stored: dict[tuple[int, int], dict[str, Any]] = {}
    for channel_id, ids in by_channel.items():
        for i in range(0, len(ids), _CHUNK):
            result = await session.execute(
                select(post_search).where(
                    post_search.c.channel_id == channel_id,
                    post_search.c.message_id.in_(ids[i : i + _CHUNK]),
                )
            )
            for row in result:
                stored[(row.channel_id, row.message_id)] = dict(row._mapping)
    return stored


async def _remove(session: AsyncSession, keys: Sequence[int]) -> None:
    for i in range(0, len(keys), _CHUNK):
        await session.execute(
            delete(post_search).where(post_search.c.search_key.in_(keys[i : i + _CHUNK]))
        )


_UPDATE = (
    update(post_search)
    .where(post_search.c.search_key == bindparam("k_search_key"))
    .values({c: bindparam(c) for c in INDEXED})
)


async def _update(session: AsyncSession, updates: Sequence[dict[str, Any]]) -> None:
    if updates:
        await session.execute(
            _UPDATE, [{k: u[k] for k in (*INDEXED, "k_search_key")} for u in updates]
        )


async def _insert(session: AsyncSession, entries: list[dict[str, Any]]) -> None:
    if not entries:
        return
    candidate = {
        id(e): (_second(e.pop("date")) << SLOT_BITS) | (e["message_id"] & SLOT_MASK)
        for e in entries
    }
    assigned: set[int] = set()
    pending = entries
    while pending:
        in_use = await _existing_keys(session, [candidate[id(e)] for e in pending]) | assigned
        retry = []
        for entry in pending:
            key = candidate[id(entry)]
            if key in in_use:  # probe the next slot of the same second
                candidate[id(entry)] = (key & ~SLOT_MASK) | ((key + 1) & SLOT_MASK)
                retry.append(entry)
            else:
                assigned.add(key)
                entry["search_key"] = key
        pending = retry
    # Grouped: FTS5 writes what it gathered at every statement (see insert_rows_grouped).
    await insert_rows_grouped(await session.connection(), post_search, entries)


async def _existing_keys(session: AsyncSession, keys: Sequence[int]) -> set[int]:
    found: set[int] = set()
    for i in range(0, len(keys), _CHUNK):
        result = await session.execute(
            select(post_search.c.search_key).where(
                post_search.c.search_key.in_(keys[i : i + _CHUNK])
            )
        )
        found.update(result.scalars())
    return found
