"""Channel changes the team is told about, as the archiver saw them (``channel_changes``),
read after a persisted cursor: a channel renaming itself or rewriting its description,
pinning or unpinning a post, Telegram labelling it anew, the account losing it or getting it
back, and purges (many posts deleted at once).

Left out: subscriber counts, which change by the hour; changes an import recorded, which the
person importing brought in themselves; and first sights (a description or username learned
when the archiver starts following a channel an import brought in). The first read starts at
the newest change so far: a team that turns notices on hears of changes from then on, not of
the whole past.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.models import channel_changes, channels
from dozor.records import Source
from dozor.storage.channels import PINNED, PURGE, TOLD_FIELDS, untitled
from dozor.storage.facts import get_fact, set_fact
from dozor.storage.posts import posts_by_key
from dozor.storage.sync import ACCESS

NOTICE_CURSOR = "channel_notices_cursor"


@dataclass(frozen=True)
class ChannelChange:
    id: int
    channel_id: int
    title: str  # the channel's title now
    username: str | None  # and its username now
    field: str
    old_value: str | None
    new_value: str | None
    observed_at: datetime
    pinned_text: str | None = None  # a pin's post (an unpin's: the post unpinned), if archived


async def notice_cursor(session: AsyncSession, *, now: datetime) -> int:
    """The last change the team was told about (set to the newest one on first use)."""
    stored = await get_fact(session, NOTICE_CURSOR)
    if stored is not None:
        return int(stored)
    newest = (await session.execute(select(func.max(channel_changes.c.id)))).scalar_one()
    await set_fact(session, NOTICE_CURSOR, str(newest or 0), now=now)
    return int(newest or 0)


async def set_notice_cursor(session: AsyncSession, change_id: int, *, now: datetime) -> None:
    await set_fact(session, NOTICE_CURSOR, str(change_id), now=now)


async def changes_to_notice(
    session: AsyncSession, after: int, limit: int = 200
) -> tuple[list[ChannelChange], int]:
    """The changes worth telling (:func:`_worth_telling`) among the next *limit* logged after
    *after*, oldest first; and the id of the last change read, which the cursor may move to
    once they are told (subscriber counts and imports are passed over, not read again)."""
    query = _changes().where(channel_changes.c.id > after).order_by(channel_changes.c.id)
    rows = (await session.execute(query.limit(limit))).all()
    wanted = [ChannelChange(*row[:-1]) for row in rows if _told(row)]
    return await _with_pinned_texts(session, wanted), rows[-1].id if rows else after


async def recent_changes(
    session: AsyncSession, channel_id: int, limit: int = 10
) -> list[ChannelChange]:
    """A channel's latest *limit* changes worth telling, oldest first (the bot's /changes)."""
    query = (
        _changes()
        .where(
            channel_changes.c.channel_id == channel_id,
            channel_changes.c.field.in_(TOLD_FIELDS),
            channel_changes.c.source != Source.IMPORT.value,
        )
        .order_by(channel_changes.c.id.desc())
        .limit(limit * 4)  # a few are first sights, not told
    )
    rows = (await session.execute(query)).all()
    wanted = [ChannelChange(*row[:-1]) for row in rows if _told(row)]
    return await _with_pinned_texts(session, wanted[:limit][::-1])


def _changes() -> Select[Any]:
    """Logged changes as :class:`ChannelChange` fields, then the change's source."""
    return select(
        channel_changes.c.id,
        channel_changes.c.channel_id,
        channels.c.title,
        channels.c.username,
        channel_changes.c.field,
        channel_changes.c.old_value,
        channel_changes.c.new_value,
        channel_changes.c.observed_at,
        channel_changes.c.source,
    ).join(channels, channels.c.id == channel_changes.c.channel_id)


async def _with_pinned_texts(
    session: AsyncSession, changes: list[ChannelChange]
) -> list[ChannelChange]:
    """Pin changes with the archived text of the post they concern."""
    keys = {change.id: _pinned_post(change) for change in changes if change.field == PINNED}
    if not keys:
        return changes
    found = await posts_by_key(session, keys.values())
    texts = {key: row["text"] for key, row in found.items()}
    return [
        replace(change, pinned_text=texts.get(keys[change.id])) if change.id in keys else change
        for change in changes
    ]


def _pinned_post(change: ChannelChange) -> tuple[int, int]:
    """The post a pin change is about: the one pinned now, or the one unpinned."""
    return change.channel_id, int(change.new_value or change.old_value or 0)


def _told(row: Row[Any]) -> bool:
    return _worth_telling(row.field, row.source, row.old_value, row.channel_id)


def _worth_telling(field: str, source: str, old_value: str | None, channel_id: int) -> bool:
    """A change the archiver saw of a name, a description, the pinned post, Telegram's labels
    or the account's access, not a first sight of it (a channel first known from an import
    learns its username, description and title when the archiver follows it); and every
    purge."""
    if field not in TOLD_FIELDS or source == Source.IMPORT.value:
        return False
    if field == PURGE:
        return True
    if field in ("labels", PINNED, ACCESS):
        return old_value is not None  # labels, pinned: empty is known to have none
    return bool(old_value) and old_value != untitled(channel_id)
