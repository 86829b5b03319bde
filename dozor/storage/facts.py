"""Facts about the database itself (``database_facts``): small named values."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.models import database_facts

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
