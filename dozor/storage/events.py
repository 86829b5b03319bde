"""The change feed: an append-only log of what happened to posts, ordered by ``seq``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.models import consumer_cursors, events
from dozor.storage.bulk import insert_rows

# Any constant works; it only has to be the same for every writer.
_EVENT_LOCK_KEY = 0x646F7A6F72


async def append_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert event rows so that commit order equals ``seq`` order.

    On PostgreSQL a sequence hands out numbers at insert time, so two concurrent writers could
    commit seq 8 before seq 7 and a consumer that already read 8 would skip 7 forever. A
    transaction-scoped advisory lock serialises event writers; SQLite serialises writers anyway.
    """
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _EVENT_LOCK_KEY})
    await insert_rows(session, events, rows)


async def events_after(session: AsyncSession, seq: int, limit: int = 1000) -> list[dict[str, Any]]:
    """Events with ``seq`` greater than *seq*, oldest first."""
    result = await session.execute(
        select(events).where(events.c.seq > seq).order_by(events.c.seq).limit(limit)
    )
    return [dict(row._mapping) for row in result]


async def get_cursor(session: AsyncSession, name: str) -> int:
    """The last event seq the consumer *name* has fully processed (0 if none)."""
    result = await session.execute(
        select(consumer_cursors.c.seq).where(consumer_cursors.c.name == name)
    )
    return int(result.scalar_one_or_none() or 0)


async def set_cursor(session: AsyncSession, name: str, seq: int, *, now: datetime) -> None:
    updated = await session.execute(
        update(consumer_cursors)
        .where(consumer_cursors.c.name == name)
        .values(seq=seq, updated_at=now)
    )
    if updated.rowcount == 0:  # type: ignore[attr-defined]
        await session.execute(insert(consumer_cursors).values(name=name, seq=seq, updated_at=now))


async def last_seq(session: AsyncSession) -> int:
    result = await session.execute(select(func.max(events.c.seq)))
    return int(result.scalar_one_or_none() or 0)
