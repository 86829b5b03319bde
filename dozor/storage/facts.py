"""Facts about the database itself (``database_facts``): small named values."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.models import database_facts
from dozor.text import ANALYZER_VERSION

SEARCH_ANALYZER = "search_analyzer"  # version of the text analysis that built the search index


async def get_fact(session: AsyncSession, name: str) -> str | None:
    result = await session.execute(
        select(database_facts.c.value).where(database_facts.c.name == name)
    )
    return result.scalar_one_or_none()


async def set_fact(session: AsyncSession, name: str, value: str, *, now: datetime) -> None:
    found = await session.execute(
        update(database_facts)
        .where(database_facts.c.name == name)
        .values(value=value, updated_at=now)
    )
    if not found.rowcount:  # type: ignore[attr-defined]
        await session.execute(insert(database_facts).values(name=name, value=value, updated_at=now))


async def mark_index_current(session: AsyncSession, *, now: datetime) -> None:
    """Record that this dozor's text analysis built the search index."""
    await set_fact(session, SEARCH_ANALYZER, str(ANALYZER_VERSION), now=now)
