"""Archive-wide figures (`dozor stats`) and per-channel health (`dozor status`, `/status`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.models import (
    alerts,
    channels,
    events,
    imports,
    media_files,
    post_metrics,
    post_versions,
    posts,
    sync_state,
    unreadable_messages,
)


@dataclass(frozen=True)
class ArchiveStats:
    channels: int
    tracked_channels: int
    posts: int
    service_posts: int
    deleted_posts: int
    edited_posts: int
    posts_with_media: int
    stored_files: int  # attachment files in the media store (downloaded or imported)
    stored_bytes: int
    versions: int
    metric_samples: int
    events: int
    last_event_seq: int | None
    imports: int
    first_post_at: datetime | None
    last_post_at: datetime | None


# As ``is:edited`` and records.marked_edited: a later version, an edit time, or a page's mark.
EDITED = or_(posts.c.current_version > 1, posts.c.edit_date.is_not(None), posts.c.edit_time_unknown)


async def archive_stats(session: AsyncSession) -> ArchiveStats:
    channel_row = (
        await session.execute(
            select(func.count(), func.count().filter(channels.c.tracked)).select_from(channels)
        )
    ).one()
    post_row = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(posts.c.kind == "service"),
                func.count(posts.c.deleted_at),
                func.count().filter(EDITED),
                func.count(posts.c.media_type),
                func.min(posts.c.date),
                func.max(posts.c.date),
            )
        )
    ).one()
    versions = await _scalar(session, select(func.count()).select_from(post_versions))
    samples = await _scalar(session, select(func.count()).select_from(post_metrics))
    event_row = (await session.execute(select(func.count(), func.max(events.c.seq)))).one()
    import_count = await _scalar(session, select(func.count()).select_from(imports))
    files_row = (
        await session.execute(select(func.count(), func.coalesce(func.sum(media_files.c.size), 0)))
    ).one()
    return ArchiveStats(
        channels=channel_row[0],
        tracked_channels=channel_row[1],
        posts=post_row[0],
        service_posts=post_row[1],
        deleted_posts=post_row[2],
        edited_posts=post_row[3],
        posts_with_media=post_row[4],
        stored_files=files_row[0],
        stored_bytes=int(files_row[1]),
        versions=versions,
        metric_samples=samples,
        events=event_row[0],
        last_event_seq=event_row[1],
        imports=import_count,
        first_post_at=post_row[5],
        last_post_at=post_row[6],
    )


async def _scalar(session: AsyncSession, query: object) -> int:
    return int((await session.execute(query)).scalar_one())  # type: ignore[call-overload]


async def channel_health(session: AsyncSession) -> list[dict[str, Any]]:
    """Per followed channel: newest post, last sync, backfill progress, last full re-read,
    last error, why the account is not in it, and how many of its posts this dozor cannot
    read yet."""
    newest = (
        select(posts.c.channel_id, func.max(posts.c.date).label("newest_post_at"))
        .group_by(posts.c.channel_id)
        .subquery()
    )
    unreadable = (
        select(unreadable_messages.c.channel_id, func.count().label("unreadable"))
        .group_by(unreadable_messages.c.channel_id)
        .subquery()
    )
    query = (
        select(
            channels.c.id,
            channels.c.title,
            channels.c.username,
            channels.c.status,
            newest.c.newest_post_at,
            sync_state.c.last_sync_at,
            sync_state.c.oldest_message_id,
            sync_state.c.newest_message_id,
            sync_state.c.backfill_complete,
            sync_state.c.verified_at,
            sync_state.c.last_error,
            sync_state.c.not_joined,
            func.coalesce(unreadable.c.unreadable, 0).label("unreadable"),
        )
        .outerjoin(newest, newest.c.channel_id == channels.c.id)
        .outerjoin(unreadable, unreadable.c.channel_id == channels.c.id)
        .outerjoin(sync_state, sync_state.c.channel_id == channels.c.id)
        .where(channels.c.tracked.is_(True))
        .order_by(channels.c.title)
    )
    return [dict(r._mapping) for r in await session.execute(query)]


async def alert_counts(session: AsyncSession) -> dict[str, int]:
    """Alerts in the outbox by status (pending, sending, sent, failed, dropped)."""
    result = await session.execute(select(alerts.c.status, func.count()).group_by(alerts.c.status))
    return {kind: int(n) for kind, n in result}


def unreadable_posts(count: int) -> str:
    """A channel's posts filed as unreadable, in words (empty for none)."""
    if not count:
        return ""
    posts = "a post" if count == 1 else f"{count} posts"
    return f"{posts} of a kind this dozor cannot read yet"


def unreadable_text(count: int) -> str:
    """What a channel's posts filed as unreadable ask of the user (empty for none)."""
    return f"{unreadable_posts(count)}: upgrade dozor" if count else ""


def not_joined_text(reason: str | None) -> str:
    """What a followed channel the account is not in misses (empty when it is in)."""
    return f"no live updates: {reason}" if reason else ""


def lag_text(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "—"
    minutes = int((now - then).total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
