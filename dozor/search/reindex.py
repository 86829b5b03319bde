"""Rebuilding the search index when dozor's text analysis changed.

The index stores each post's words and stems as the analyzer of the day made them. A newer
dozor may stem differently (a better Kyrgyz stemmer, say); queries are analysed by the new code,
so an index left as it was would silently miss posts. The database records which analyzer
version built its index (``database_facts``); when it is older than :data:`ANALYZER_VERSION`
the index is rebuilt: the main job and ``dozor db upgrade`` do it on their own, ``dozor db
reindex`` on request. Rebuilding rewrites only entries that changed, a batch per transaction,
so it can be interrupted and run again, and it never touches the archive itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor.db import hold_other_writers, write_transaction
from dozor.ids import is_digits
from dozor.models import posts
from dozor.storage.facts import SEARCH_ANALYZER, get_fact, mark_index_current
from dozor.storage.search_index import compact_search_index, index_posts
from dozor.text import ANALYZER_VERSION

log = logging.getLogger(__name__)

Report = Callable[[int, int], None]
BATCH = 1000


async def index_analyzer(session: AsyncSession) -> int:
    """The analyzer version that built this database's search index."""
    value = await get_fact(session, SEARCH_ANALYZER)
    return int(value) if value is not None and is_digits(value) else 0


async def index_is_stale(session: AsyncSession) -> bool:
    return await index_analyzer(session) < ANALYZER_VERSION


STALE_WARNING = (
    "the search index was built by an older dozor; until `dozor db reindex` (or the main job) "
    "rebuilds it, some matches may be missing"
)


async def rebuild_search_index(
    sessions: async_sessionmaker[AsyncSession],
    *,
    report: Report | None = None,
    batch: int = BATCH,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Re-analyse every post and bring its index entry up to date; returns the posts read."""
    async with sessions() as session:
        total = (await session.execute(select(func.count()).select_from(posts))).scalar_one()
    done, changed, after = 0, 0, None
    while True:
        rows, written = await write_transaction(sessions, partial(_rebuild, after, batch))
        changed += written
        if not rows:
            break
        done += len(rows)
        after = (rows[-1]["channel_id"], rows[-1]["message_id"])
        if report is not None:
            report(done, total)
    async with sessions.begin() as session:
        if changed:
            log.info("compacting the search index (about half a minute per million posts)")
            await compact_search_index(session)
        await mark_index_current(session, now=now())
    log.info(
        "search index rebuilt: %d posts read, %d entries rewritten, analyzer version %d",
        done,
        changed,
        ANALYZER_VERSION,
    )
    return done


async def _rebuild(
    after: tuple[int, int] | None, limit: int, session: AsyncSession
) -> tuple[list[dict[str, Any]], int]:
    """One batch: posts read and their entries rewritten with no other writer in between. An
    edit stored after the read would otherwise get back the entry of the text it replaced.
    (Beside a running archiver, a deadlock on PostgreSQL runs the batch again.)"""
    await hold_other_writers(session)
    rows = await _batch_after(session, after, limit)
    return rows, await index_posts(session, rows)


async def archive_is_empty(session: AsyncSession) -> bool:
    return (await session.execute(select(posts.c.channel_id).limit(1))).first() is None


async def _batch_after(
    session: AsyncSession, after: tuple[int, int] | None, limit: int
) -> list[dict[str, Any]]:
    query = (
        select(posts)
        .order_by(posts.c.channel_id, posts.c.message_id)
        .limit(limit)
        .with_for_update(read=True)  # PostgreSQL: FOR SHARE (see hold_other_writers)
    )
    if after is not None:
        query = query.where(tuple_(posts.c.channel_id, posts.c.message_id) > after)
    result = await session.execute(query)
    return [dict(row._mapping) for row in result]
