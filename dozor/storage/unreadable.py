"""Posts Telegram has that this dozor cannot read yet.

Telegram adds message types before Telethon learns them; such a message makes the whole
answer it is part of unreadable (``TypeNotFoundError``). The archiver reads around it and
files its id here, so a channel's history goes on past it, a re-read never takes it for a
deleted post, and it is asked for again: at once by a dozor or Telethon of another version
than the one that failed (``read_by``), otherwise once a day (Telegram may change what it
sends). Once read it is archived and its row goes. A message dozor's own conversion fails on
is filed the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.models import channels, unreadable_messages
from dozor.storage.bulk import insert_ignoring_duplicates

RETRY_EVERY = timedelta(days=1)  # by the same versions of dozor and Telethon


async def note_unreadable(
    session: AsyncSession,
    channel_id: int,
    reasons: dict[int, str],
    *,
    read_by: str,
    now: datetime,
) -> None:
    """File message ids (with why each could not be read); known ones are marked retried."""
    if not reasons:
        return
    known = await unreadable_ids(session, channel_id)
    await insert_ignoring_duplicates(
        session,
        unreadable_messages,
        [
            {
                "channel_id": channel_id,
                "message_id": message_id,
                "reason": reason,
                "read_by": read_by,
                "first_seen_at": now,
                "last_tried_at": now,
            }
            for message_id, reason in reasons.items()
            if message_id not in known
        ],
    )
    for message_id in sorted(known & reasons.keys()):
        await session.execute(
            update(unreadable_messages)
            .where(
                unreadable_messages.c.channel_id == channel_id,
                unreadable_messages.c.message_id == message_id,
            )
            .values(reason=reasons[message_id], read_by=read_by, last_tried_at=now)
        )


async def unreadable_ids(session: AsyncSession, channel_id: int) -> set[int]:
    result = await session.execute(
        select(unreadable_messages.c.message_id).where(
            unreadable_messages.c.channel_id == channel_id
        )
    )
    return set(result.scalars())


async def forget_unreadable(session: AsyncSession, channel_id: int, ids: Iterable[int]) -> None:
    """Drop ids that were read at last (or that Telegram no longer has)."""
    chosen = sorted(set(ids))
    for start in range(0, len(chosen), 500):
        await session.execute(
            delete(unreadable_messages).where(
                unreadable_messages.c.channel_id == channel_id,
                unreadable_messages.c.message_id.in_(chosen[start : start + 500]),
            )
        )


async def unreadable_due(
    session: AsyncSession, channel_id: int, *, read_by: str, now: datetime
) -> list[int]:
    """Filed ids worth asking for again: failed under other versions, or a day ago."""
    table = unreadable_messages.c
    result = await session.execute(
        select(table.message_id)
        .where(
            table.channel_id == channel_id,
            or_(table.read_by != read_by, table.last_tried_at <= now - RETRY_EVERY),
        )
        .order_by(table.message_id)
    )
    return list(result.scalars())


@dataclass(frozen=True)
class UnreadableNotice:
    """Posts of one channel filed as unreadable that the team has not been told of."""

    channel_id: int
    title: str
    username: str | None
    message_ids: list[int]


async def untold_unreadable(session: AsyncSession) -> list[UnreadableNotice]:
    """Per channel, the filed posts the team has not been told of, by channel and id."""
    table = unreadable_messages.c
    result = await session.execute(
        select(table.channel_id, channels.c.title, channels.c.username, table.message_id)
        .join(channels, channels.c.id == table.channel_id)
        .where(table.told_at.is_(None))
        .order_by(table.channel_id, table.message_id)
    )
    notices: dict[int, UnreadableNotice] = {}
    for channel_id, title, username, message_id in result:
        notice = notices.setdefault(channel_id, UnreadableNotice(channel_id, title, username, []))
        notice.message_ids.append(message_id)
    return list(notices.values())


async def mark_told(
    session: AsyncSession, channel_id: int, ids: Iterable[int], *, now: datetime
) -> None:
    chosen = sorted(set(ids))
    for start in range(0, len(chosen), 500):
        await session.execute(
            update(unreadable_messages)
            .where(
                unreadable_messages.c.channel_id == channel_id,
                unreadable_messages.c.message_id.in_(chosen[start : start + 500]),
            )
            .values(told_at=now)
        )
