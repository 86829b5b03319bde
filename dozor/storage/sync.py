"""Per-channel archiving state: the backfill cursor, sync times, channel health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.models import channel_changes, channels, sync_state
from dozor.records import Source

# Statuses of a followed channel the account cannot read (any more): Telegram's refusals.
NO_ACCESS = frozenset({"private", "banned", "not_found"})
ACCESS = "access"  # the channel_changes field of a channel lost to the account, or regained


@dataclass(frozen=True)
class SyncState:
    channel_id: int
    oldest_message_id: int | None  # everything from here ...
    newest_message_id: int | None  # ... to here is archived
    backfill_complete: bool
    last_sync_at: datetime | None
    last_error: str | None
    verified_at: datetime | None = None  # the last full re-read of the whole archive


async def get_sync_state(session: AsyncSession, channel_id: int) -> SyncState:
    row = (
        await session.execute(select(sync_state).where(sync_state.c.channel_id == channel_id))
    ).first()
    if row is None:
        return SyncState(channel_id, None, None, False, None, None)
    m = row._mapping
    return SyncState(
        channel_id,
        m["oldest_message_id"],
        m["newest_message_id"],
        bool(m["backfill_complete"]),
        m["last_sync_at"],
        m["last_error"],
        m["verified_at"],
    )


async def read_from_telegram_before(session: AsyncSession) -> bool:
    """Has the archiver read any channel from Telegram into this archive (an import alone
    does not count)? Then a session that cannot read Telegram now was logged out; otherwise
    it is one being set up."""
    found = await session.execute(
        select(sync_state.c.channel_id)
        .where(
            or_(
                sync_state.c.newest_message_id.is_not(None),
                sync_state.c.backfill_complete,
                sync_state.c.last_sync_source != Source.IMPORT.value,
            )
        )
        .limit(1)
    )
    return found.first() is not None


async def save_sync_state(session: AsyncSession, channel_id: int, **values: Any) -> None:
    """Update the given sync_state columns (the row is created if needed)."""
    result = await session.execute(
        update(sync_state).where(sync_state.c.channel_id == channel_id).values(**values)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        await session.execute(
            insert(sync_state).values(
                channel_id=channel_id, **{"backfill_complete": False, **values}
            )
        )


async def set_not_joined(
    session: AsyncSession, channel_id: int, reason: str | None, retry_at: datetime | None = None
) -> None:
    """Why the account is not in a followed channel (None: it is), and when joining is tried
    again: Telegram pushes no updates of such a channel, so its new posts are polled."""
    await save_sync_state(session, channel_id, not_joined=reason, join_retry_at=retry_at)


async def postpone_channel(session: AsyncSession, channel_id: int, until: datetime) -> None:
    """A long flood wait: the channel's work waits until *until*, in later runs too."""
    await save_sync_state(session, channel_id, postponed_until=until)


@dataclass(frozen=True)
class Waits:
    """What an earlier run of the archiver was told to wait for, still running."""

    postponed_until: datetime | None  # a flood wait
    not_joined: str | None  # a refused join ...
    join_retry_at: datetime | None  # ... and when to try again


async def pending_waits(session: AsyncSession, *, now: datetime) -> dict[int, Waits]:
    """The flood waits and join refusals that have not run out by *now*, by channel."""
    result = await session.execute(
        select(
            sync_state.c.channel_id,
            sync_state.c.postponed_until,
            sync_state.c.not_joined,
            sync_state.c.join_retry_at,
        ).where(or_(sync_state.c.postponed_until > now, sync_state.c.join_retry_at > now))
    )
    return {
        row.channel_id: Waits(
            row.postponed_until if row.postponed_until and row.postponed_until > now else None,
            row.not_joined,
            row.join_retry_at if row.join_retry_at and row.join_retry_at > now else None,
        )
        for row in result
    }


async def set_channel_status(
    session: AsyncSession, channel_id: int, status: str, detail: str | None, *, at: datetime
) -> None:
    """ok, private, banned, not_found, flood_wait, error — shown by `dozor channels list`.
    A channel lost to the account or regained is logged as a channel change (``access``)."""
    before = await session.execute(select(channels.c.status).where(channels.c.id == channel_id))
    old = before.scalar_one_or_none()
    await session.execute(
        update(channels)
        .where(channels.c.id == channel_id)
        .values(status=status, status_detail=detail, updated_at=at)
    )
    if status != "ok":
        await save_sync_state(
            session, channel_id, last_error=f"{status}: {detail or ''}".strip(), last_error_at=at
        )
    if old is not None and old != status:
        await _log_access_change(session, channel_id, status, at=at)


async def _log_access_change(
    session: AsyncSession, channel_id: int, status: str, *, at: datetime
) -> None:
    """Log a channel going private, banned or gone, and its coming back, once each: the
    passing faults between (a flood wait, a lost connection) are neither, so the last logged
    access, not the last status, is what the new one is compared with."""
    last = await session.execute(
        select(channel_changes.c.new_value)
        .where(channel_changes.c.channel_id == channel_id, channel_changes.c.field == ACCESS)
        .order_by(channel_changes.c.id.desc())
        .limit(1)
    )
    known = last.scalar_one_or_none() or "ok"
    lost = status in NO_ACCESS and status != known
    regained = status == "ok" and known in NO_ACCESS
    if lost or regained:
        await session.execute(
            insert(channel_changes).values(
                channel_id=channel_id,
                field=ACCESS,
                old_value=known,
                new_value=status,
                observed_at=at,
                source=Source.LIVE.value,
            )
        )


async def set_tracked(
    session: AsyncSession, channel_id: int, tracked: bool, *, at: datetime
) -> None:
    await session.execute(
        update(channels).where(channels.c.id == channel_id).values(tracked=tracked, updated_at=at)
    )


async def tracked_channels(session: AsyncSession) -> list[dict[str, Any]]:
    result = await session.execute(
        select(channels).where(channels.c.tracked.is_(True)).order_by(channels.c.id)
    )
    return [dict(row._mapping) for row in result]


async def verification_due(session: AsyncSession, *, verified_before: datetime) -> set[int]:
    """Followed channels whose whole archive was last read from Telegram before
    *verified_before* (or never), once their first backfill is complete."""
    result = await session.execute(
        select(channels.c.id)
        .join(sync_state, sync_state.c.channel_id == channels.c.id)
        .where(
            channels.c.tracked.is_(True),
            sync_state.c.backfill_complete.is_(True),
            or_(sync_state.c.verified_at.is_(None), sync_state.c.verified_at < verified_before),
        )
    )
    return set(result.scalars())
