"""What channels did to their posts, newest first: edits, deletions, restrictions.

Read from the change feed (``events``) by when each change happened on Telegram, with the
versions it joins: an edit's text before and after, a deleted post's last text. A mass
deletion, one event in the feed, is listed as the deletion of each of its posts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.models import channels, events, post_versions
from dozor.records import EventKind
from dozor.storage.events import last_seq
from dozor.storage.posts import message_id_conditions, posts_by_key

PAGE = 500  # events read at a time, at most
FOUND_LATE = timedelta(minutes=10)
# What `dozor events` lists unless asked: changes to posts, not their arrival, nor the
# auto-delete timer of a channel that set one doing what it was told.
DEFAULT_KINDS = ("edited", "deleted", "restricted", "restored")
KINDS = ("new", "edited", "deleted", "expired", "restricted", "restored")
_FEED_KINDS = {"deleted": ("deleted", EventKind.MASS_DELETED.value)}


@dataclass(frozen=True)
class ChangeFilter:
    kinds: tuple[str, ...] = DEFAULT_KINDS
    channel_ids: tuple[int, ...] = ()  # none: every channel
    since: datetime | None = None  # happened at or after
    until: datetime | None = None  # happened before
    found_since: datetime | None = None  # recorded by dozor at or after
    up_to_seq: int | None = None  # only events up to this place in the feed


@dataclass(frozen=True)
class PostChange:
    """One change of one post. *before* and *after* are post_versions rows: an edit's two
    texts; a deleted, expired, restored or restricted post's text then as *before*; a new
    post's as *after*."""

    kind: str
    occurred_at: datetime
    recorded_at: datetime
    source: str
    channel: dict[str, Any]  # id, title, username
    post: dict[str, Any]  # the posts row as it is now
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    details: dict[str, Any]  # restricted: old, new; mass deletion: count of posts at once

    @property
    def message_id(self) -> int:
        return int(self.post["message_id"])

    @property
    def found_late(self) -> bool:
        """Found by dozor well after it was made (a re-read, an import): worth saying when."""
        return self.recorded_at - self.occurred_at > FOUND_LATE


Keep = Callable[[PostChange], bool]


def service_type(post: dict[str, Any]) -> str:
    """What a service message of the channel says happened (pin_message, channel_create...)."""
    return str((post["service_action"] or {}).get("type", "?"))


async def post_changes(
    session: AsyncSession, wanted: ChangeFilter, limit: int, keep: Keep | None = None
) -> list[PostChange]:
    """Up to *limit* changes *wanted* selects, newest first, that *keep* (a query) accepts.

    Without *keep*, only as many events, posts and versions as shown are read; with it, pages
    grow from *limit* events to PAGE, as a query may pass over many."""
    found: list[PostChange] = []
    after: tuple[datetime, int] | None = None
    size = limit
    while len(found) < limit:
        need = limit - len(found)
        page = await _events_page(session, wanted, after, need if keep is None else size)
        if not page:
            break
        after = (page[-1]["occurred_at"], page[-1]["seq"])
        entries = _entries(page)
        cut = keep is None and len(entries) > need  # a purge's posts beyond what is shown
        for change in await _changes_of(session, entries[:need] if cut else entries):
            if keep is None or keep(change):
                found.append(change)
                if len(found) == limit:
                    break
        if cut:
            break
        size = min(size * 2, PAGE)
    return found


async def changes_after(
    session: AsyncSession, wanted: ChangeFilter, seq: int, keep: Keep | None = None
) -> tuple[list[PostChange], int]:
    """The changes of the kinds and channels *wanted* names that the feed recorded after
    *seq*, in the order recorded, and the feed position to ask from next time: past the
    events of other kinds too (a backfill's thousands of new posts are read over once)."""
    top = await last_seq(session)
    where = [events.c.seq > seq, events.c.seq <= top, *_kind_and_channel(wanted)]
    query = select(events).where(*where).order_by(events.c.seq).limit(PAGE)
    page = [dict(row._mapping) for row in await session.execute(query)]
    entries = _entries(page)
    changes = [c for c in await _changes_of(session, entries) if keep is None or keep(c)]
    return changes, page[-1]["seq"] if len(page) == PAGE else top


def _kind_and_channel(wanted: ChangeFilter) -> list[ColumnElement[bool]]:
    kinds = [feed for kind in wanted.kinds for feed in _FEED_KINDS.get(kind, (kind,))]
    where: list[ColumnElement[bool]] = [
        events.c.kind.in_(kinds),
        events.c.message_id.is_not(None),
    ]
    if wanted.channel_ids:
        where.append(events.c.channel_id.in_(wanted.channel_ids))
    return where


async def _events_page(
    session: AsyncSession, wanted: ChangeFilter, after: tuple[datetime, int] | None, size: int
) -> list[dict[str, Any]]:
    where = _kind_and_channel(wanted)
    if wanted.since is not None:
        where.append(events.c.occurred_at >= wanted.since)
    if wanted.until is not None:
        where.append(events.c.occurred_at < wanted.until)
    if wanted.found_since is not None:
        where.append(events.c.recorded_at >= wanted.found_since)
    if wanted.up_to_seq is not None:
        where.append(events.c.seq <= wanted.up_to_seq)
    if after is not None:
        at, seq = after
        where.append(
            or_(events.c.occurred_at < at, and_(events.c.occurred_at == at, events.c.seq < seq))
        )
    query = (
        select(events)
        .where(*where)
        .order_by(events.c.occurred_at.desc(), events.c.seq.desc())
        .limit(size)
    )
    return [dict(row._mapping) for row in await session.execute(query)]


async def _changes_of(
    session: AsyncSession, entries: list[tuple[dict[str, Any], int]]
) -> list[PostChange]:
    """Events and the post each is about as changes, with their channels, posts, versions."""
    if not entries:
        return []
    keys = {(event["channel_id"], message_id) for event, message_id in entries}
    post_rows = await posts_by_key(session, keys)
    versions = await _versions(session, set(post_rows))
    channel_rows = await _channels(session, {channel_id for channel_id, _ in keys})
    changes = []
    for event, message_id in entries:
        post = post_rows.get((event["channel_id"], message_id))
        if post is None:  # a post the feed names was never stored: nothing to show
            continue
        key = (event["channel_id"], message_id)
        history = versions.get(key, {})
        before, after = _version_numbers(event, post, message_id, history)
        changes.append(
            PostChange(
                kind=_kind(event["kind"]),
                occurred_at=event["occurred_at"],
                recorded_at=event["recorded_at"],
                source=event["source"],
                channel=channel_rows[event["channel_id"]],
                post=post,
                before=None if before is None else history.get(before),
                after=None if after is None else history.get(after),
                details=_details(event),
            )
        )
    return changes


def _entries(page: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """Each event with each post it is about."""
    return [(event, message_id) for event in page for message_id in _message_ids(event)]


def _message_ids(event: dict[str, Any]) -> list[int]:
    """The posts an event is about: a mass deletion's, newest first; otherwise its one."""
    if event["kind"] == EventKind.MASS_DELETED.value:
        ids = (event["details"] or {}).get("message_ids") or [event["message_id"]]
        return sorted(ids, reverse=True)
    return [event["message_id"]]


def _kind(feed_kind: str) -> str:
    return "deleted" if feed_kind == EventKind.MASS_DELETED.value else feed_kind


def _details(event: dict[str, Any]) -> dict[str, Any]:
    details = event["details"] or {}
    if event["kind"] == EventKind.MASS_DELETED.value:
        return {"deleted_at_once": details.get("count")}
    if event["kind"] == EventKind.RESTRICTED.value:
        return {"old": details.get("old"), "new": details.get("new")}
    return {}


def _version_numbers(
    event: dict[str, Any], post: dict[str, Any], message_id: int, history: dict[int, Any]
) -> tuple[int | None, int | None]:
    """Which versions show the change: (before, after)."""
    kind = event["kind"]
    if event["message_id"] == message_id:
        version = event["version"]
    else:  # a mass deletion's other posts: the version they had when it was seen
        version = _version_then(history, event["recorded_at"]) or post["current_version"]
    if kind == EventKind.EDITED.value:
        previous = (event["details"] or {}).get("previous_version")
        return (previous if previous is not None else version - 1), version
    if kind == EventKind.NEW.value:
        return None, version
    return version, None


def _version_then(history: dict[int, Any], moment: datetime) -> int | None:
    """The newest version of a post seen by *moment* (a post restored and edited after a
    purge has newer ones)."""
    seen = [number for number, row in history.items() if row["observed_at"] <= moment]
    return max(seen, default=None)


async def _versions(
    session: AsyncSession, keys: set[tuple[int, int]]
) -> dict[tuple[int, int], dict[int, dict[str, Any]]]:
    """Every version of the posts *keys* name (a post has few), by number, read channel by
    channel through the index."""
    by_channel: dict[int, set[int]] = defaultdict(set)
    for channel_id, message_id in keys:
        by_channel[channel_id].add(message_id)
    table = post_versions.c
    found: dict[tuple[int, int], dict[int, dict[str, Any]]] = defaultdict(dict)
    for channel_id, wanted in by_channel.items():
        for condition in message_id_conditions(table.message_id, sorted(wanted)):
            query = select(post_versions).where(table.channel_id == channel_id, condition)
            for row in await session.execute(query):
                if row.message_id in wanted:
                    found[(channel_id, row.message_id)][row.version] = dict(row._mapping)
    return found


async def _channels(session: AsyncSession, ids: set[int]) -> dict[int, dict[str, Any]]:
    query = select(channels.c.id, channels.c.title, channels.c.username).where(
        channels.c.id.in_(ids)
    )
    return {row.id: dict(row._mapping) for row in await session.execute(query)}
