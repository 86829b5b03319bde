"""The one write path for posts: current state, versions, events and metrics stay consistent.

Whatever brings a post in (Desktop import, backfill, live update, reconciliation) calls
:func:`store_posts` with a batch of :class:`~dozor.records.PostRecord`. It reads the stored state
of the batch in one or two queries, decides per post, then writes with executemany.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.models import post_metrics, post_versions, posts
from dozor.records import (
    NOT_EXPORTED,
    EventKind,
    Media,
    PostRecord,
    Source,
    content_sha256,
    without_nul,
)
from dozor.storage.bulk import insert_rows
from dozor.storage.channels import log_purge
from dozor.storage.events import append_events
from dozor.storage.search_index import index_posts
from dozor.text.normalize import squeeze_spaces

# Columns a record may leave as None ("unknown"): the stored value is kept then.
_KEEP_IF_UNKNOWN = (
    "edit_date",
    "author_signature",
    "views",
    "forwards",
    "replies",
    "reactions",
    "reply_to_message_id",
    "forwarded_from_id",
    "forwarded_from_message_id",
    "forwarded_from_name",
    "forwarded_from_date",
    "grouped_id",
    "expires_at",
    "restriction",
    "buttons",
)
_METRIC_COLUMNS = ("views", "forwards", "replies", "reactions")
_CONTENT_COLUMNS = ("kind", "text", "entities", "media_type", "media", "service_action")
_MUTABLE_COLUMNS = (
    "date",
    *_CONTENT_COLUMNS,
    *_KEEP_IF_UNKNOWN,
    "edit_time_unknown",
    "content_sha256",
    "current_version",
    "updated_at",
    "deleted_at",
)
_IN_CHUNK = 500
EXPIRY_SLACK = timedelta(minutes=1)  # clocks differ: a post seen gone this early has expired
_ACTION_IDENTITY_KEYS = ("type", "title", "message_id")


@dataclass(frozen=True)
class Tombstoned:
    """The posts :func:`mark_deleted` newly tombstoned: deleted by someone, or gone when
    their auto-delete timer said."""

    deleted: list[int]
    expired: list[int]

    def __len__(self) -> int:
        return len(self.deleted) + len(self.expired)


@dataclass
class StoreOutcome:
    """What a call to :func:`store_posts` did, post by post."""

    new: int = 0
    edited: int = 0  # a new version was recorded (current, or an older one discovered late)
    unchanged: int = 0
    refreshed: int = 0  # same content, other fields (views, forward name, ...) updated
    restored: int = 0
    events: int = 0

    def add(self, other: StoreOutcome) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class _Writes:
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    version_fixes: list[dict[str, Any]] = field(default_factory=list)


async def store_posts(
    session: AsyncSession,
    records: Iterable[PostRecord],
    *,
    source: Source,
    observed_at: datetime,
) -> StoreOutcome:
    """Store a batch of observed posts; the channels must already exist (see upsert_channel).

    A later record for the same (channel, message) in one batch wins.
    """
    outcome = StoreOutcome()
    for channel_id, batch in _by_channel(records).items():
        outcome.add(await _store_channel_batch(session, channel_id, batch, source, observed_at))
    return outcome


def _by_channel(records: Iterable[PostRecord]) -> dict[int, dict[int, PostRecord]]:
    grouped: dict[int, dict[int, PostRecord]] = defaultdict(dict)
    for record in records:
        grouped[record.channel_id][record.message_id] = record
    return grouped


async def _store_channel_batch(
    session: AsyncSession,
    channel_id: int,
    batch: dict[int, PostRecord],
    source: Source,
    observed_at: datetime,
) -> StoreOutcome:
    stored = await _load_posts(session, channel_id, sorted(batch))
    if not source.is_live_telegram:
        batch = {mid: _on_archive_clock(rec, stored.get(mid)) for mid, rec in batch.items()}
    candidates = {mid: _candidate_row(rec, stored.get(mid), source) for mid, rec in batch.items()}
    # Versions are read for posts whose content changed, or whose version a page marked
    # edited without a time (see _completes_an_import).
    changed = [
        mid
        for mid, row in candidates.items()
        if mid in stored
        and (
            row["content_sha256"] != stored[mid]["content_sha256"]
            or stored[mid]["edit_time_unknown"]
        )
    ]
    history = await _load_version_history(session, channel_id, changed)

    outcome, writes = StoreOutcome(), _Writes()
    for mid in sorted(batch):
        _plan_post(
            batch[mid],
            candidates[mid],
            stored.get(mid),
            history.get(mid),
            source,
            observed_at,
            outcome,
            writes,
        )
    await _apply(session, writes)
    outcome.events = len(writes.events)
    return outcome


async def _load_posts(
    session: AsyncSession, channel_id: int, message_ids: Sequence[int]
) -> dict[int, dict[str, Any]]:
    wanted = set(message_ids)
    rows: dict[int, dict[str, Any]] = {}
    for condition in message_id_conditions(posts.c.message_id, message_ids):
        result = await session.execute(
            select(posts).where(posts.c.channel_id == channel_id, condition)
        )
        for row in result:
            if row.message_id in wanted:
                rows[row.message_id] = dict(row._mapping)
    return rows


async def posts_by_key(
    session: AsyncSession, keys: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], dict[str, Any]]:
    """Posts by (channel id, message id), read channel by channel through the primary key:
    SQLite answers a row-value ``IN`` with a full scan."""
    by_channel: dict[int, set[int]] = defaultdict(set)
    for channel_id, message_id in keys:
        by_channel[channel_id].add(message_id)
    found: dict[tuple[int, int], dict[str, Any]] = {}
    for channel_id, wanted in by_channel.items():
        rows = await _load_posts(session, channel_id, sorted(wanted))
        found.update(((channel_id, message_id), row) for message_id, row in rows.items())
    return found


def message_id_conditions(column: Any, message_ids: Sequence[int]) -> list[Any]:
    """Conditions on *column* (a ``message_id``) that together select *message_ids*: a range
    scan for dense batches (the usual case), IN-lists for sparse ones. A range may select
    other ids too: callers keep the ones they asked for."""
    if not message_ids:
        return []
    low, high = min(message_ids), max(message_ids)
    if high - low < 4 * len(message_ids) + 100:
        return [column.between(low, high)]
    ids = sorted(message_ids)
    return [column.in_(ids[i : i + _IN_CHUNK]) for i in range(0, len(ids), _IN_CHUNK)]


@dataclass
class _History:
    hashes: set[str]
    last_version: int
    sources: dict[int, str] = field(default_factory=dict)  # version -> where it was first seen
    observed: dict[int, datetime] = field(default_factory=dict)  # version -> when
    texts: set[tuple[str, datetime | None]] = field(default_factory=set)  # (text, edit date)


async def _load_version_history(
    session: AsyncSession, channel_id: int, message_ids: Sequence[int]
) -> dict[int, _History]:
    history: dict[int, _History] = {}
    ids = sorted(message_ids)
    for i in range(0, len(ids), _IN_CHUNK):
        result = await session.execute(
            select(
                post_versions.c.message_id,
                post_versions.c.content_sha256,
                post_versions.c.version,
                post_versions.c.source,
                post_versions.c.text,
                post_versions.c.edit_date,
                post_versions.c.observed_at,
            ).where(
                post_versions.c.channel_id == channel_id,
                post_versions.c.message_id.in_(ids[i : i + _IN_CHUNK]),
            )
        )
        for mid, sha, version, source, text, edit_date, observed_at in result:
            entry = history.setdefault(mid, _History(set(), 0))
            entry.hashes.add(sha)
            entry.last_version = max(entry.last_version, version)
            entry.sources[version] = source
            entry.observed[version] = observed_at
            entry.texts.add((text, edit_date))
    return history


def _on_archive_clock(record: PostRecord, stored: dict[str, Any] | None) -> PostRecord:
    """An export's times may carry a guessed time zone (legacy exports). The archive keeps the
    date it has for a post, so the record's edit time moves by the same difference: otherwise
    two exports read with different --tz would leave a post edited before it was posted."""
    if stored is None or record.edit_date is None or stored["date"] == record.date:
        return record
    return replace(record, edit_date=record.edit_date + (stored["date"] - record.date))


def _candidate_row(
    record: PostRecord, stored: dict[str, Any] | None, source: Source
) -> dict[str, Any]:
    """The post row this record would produce, merged with what is stored."""
    media = without_nul(_merged_media(stored["media"] if stored else None, record.media))
    forward = record.forward
    row: dict[str, Any] = {
        "channel_id": record.channel_id,
        "message_id": record.message_id,
        "kind": record.kind,
        "date": record.date,
        "text": without_nul(record.text),
        "entities": without_nul(record.entities) or None,
        "media_type": media["type"] if media else None,
        "media": media,
        "service_action": without_nul(record.service_action),
        "edit_date": record.edit_date,
        "author_signature": without_nul(record.author_signature),
        "views": record.views,
        "forwards": record.forwards,
        "replies": record.replies,
        "reactions": without_nul(record.reactions),
        "reply_to_message_id": record.reply_to_message_id,
        "forwarded_from_id": forward.from_id if forward else None,
        "forwarded_from_message_id": forward.message_id if forward else None,
        "forwarded_from_name": without_nul(forward.from_name) if forward else None,
        "forwarded_from_date": forward.date if forward else None,
        "grouped_id": record.grouped_id,
        "expires_at": record.expires_at,
        "restriction": record.restriction,
        "buttons": without_nul(record.buttons),
    }
    if stored is not None:
        for column in _KEEP_IF_UNKNOWN:
            if row[column] is None:
                row[column] = stored[column]
        if not source.is_live_telegram:
            # A date read from an export may carry a guessed time zone; Telegram's is exact.
            row["date"] = stored["date"]
    # Edited at an unknown time (a page said so) until some source tells the time.
    row["edit_time_unknown"] = row["edit_date"] is None and (
        record.edit_time_unknown or (stored is not None and stored["edit_time_unknown"])
    )
    row["content_sha256"] = content_sha256(
        row["text"], row["entities"], row["media"], row["service_action"], row["buttons"]
    )
    return row


def _merged_media(stored: Media | None, incoming: Media | None) -> Media | None:
    """Incoming media, completed from the stored metadata when it is the same attachment.

    A Desktop export knows no file ids: an export of a post archived from Telegram must not
    look like a changed attachment just because it lacks the id. That an export left a file
    out says nothing of an attachment already archived, and a file exported now ends an
    earlier export's note that it was left out.
    """
    if incoming is None:
        return None
    if stored is None or stored.get("type") != incoming.get("type"):
        return dict(incoming)
    known = stored.get("id"), incoming.get("id")
    if None not in known and known[0] != known[1]:
        return dict(incoming)  # a different file: the attachment was replaced
    merged = dict(stored)
    merged.update(
        (key, value)
        for key, value in incoming.items()
        if value is not None and not key.endswith(NOT_EXPORTED)
    )
    return {
        key: value
        for key, value in merged.items()
        if not (key.endswith(NOT_EXPORTED) and key.removesuffix(NOT_EXPORTED) in merged)
    }


def _plan_post(
    record: PostRecord,
    row: dict[str, Any],
    stored: dict[str, Any] | None,
    history: _History | None,
    source: Source,
    observed_at: datetime,
    outcome: StoreOutcome,
    writes: _Writes,
) -> None:
    if stored is None:
        _plan_new(record, row, source, observed_at, writes)
        outcome.new += 1
        return
    content_changed = row["content_sha256"] != stored["content_sha256"]
    completes = content_changed or stored["edit_time_unknown"]  # see _completes_an_import
    if completes and _still_the_current_version(record, row, stored, history, source, writes):
        content_changed = False
    if content_changed:
        assert history is not None, "every stored post has at least one version"
        if _is_older_snapshot(record.edit_date, stored["edit_date"]):
            _plan_late_version(record, row, stored, history, source, observed_at, outcome, writes)
            return
        _plan_edit(record, row, stored, history, source, observed_at, writes)
        outcome.edited += 1
    restored = stored["deleted_at"] is not None and source.is_live_telegram
    merged = {**stored, **row, "updated_at": stored["updated_at"]}
    if stored["restriction"] is not None and row["restriction"] != stored["restriction"]:
        writes.events.append(_restricted(stored, merged, source, observed_at))
    if restored:
        merged["deleted_at"] = None
        writes.events.append(_event(EventKind.RESTORED, merged, observed_at, source, observed_at))
        outcome.restored += 1
    if any(merged[c] != stored[c] for c in _MUTABLE_COLUMNS):
        merged["updated_at"] = observed_at
        writes.updates.append(merged)
        if not content_changed and not restored:
            outcome.refreshed += 1
        _plan_metrics(row, stored, source, observed_at, writes)
    elif row["content_sha256"] == stored["content_sha256"]:
        outcome.unchanged += 1


def _restricted(
    stored: dict[str, Any], merged: dict[str, Any], source: Source, observed_at: datetime
) -> dict[str, Any]:
    """The event of Telegram hiding a post on some platform, or showing it again."""
    event = _event(EventKind.RESTRICTED, merged, observed_at, source, observed_at)
    event["details"] = {"old": stored["restriction"], "new": merged["restriction"]}
    return event


def _still_the_current_version(
    record: PostRecord,
    row: dict[str, Any],
    stored: dict[str, Any],
    history: _History | None,
    source: Source,
    writes: _Writes,
) -> bool:
    """Is a differing content the current version all the same, known better or worse? It
    is then completed (a file id learned, Telegram after an export) or kept (an export after
    the archive), and no new version is recorded."""
    if (
        _learned_media_id(row, stored)
        or _learned_buttons(row, stored)
        or _completes_an_import(record, row, stored, history, source)
    ):
        writes.version_fixes.append(row | {"current_version": stored["current_version"]})
        return True
    if _reformats_the_archived_version(record, row, stored, source):
        for column in ("entities", "service_action", "content_sha256"):
            row[column] = stored[column]
        return True
    return False


def _learned_media_id(row: dict[str, Any], stored: dict[str, Any]) -> bool:
    """Does *row* differ from *stored* only by an attachment id that was unknown before?"""
    old, new = stored["media"], row["media"]
    if not old or not new or old.get("id") is not None or new.get("id") is None:
        return False
    anonymous = {key: value for key, value in new.items() if key != "id"}
    fingerprint = content_sha256(
        row["text"], row["entities"], anonymous, row["service_action"], row["buttons"]
    )
    return bool(fingerprint == stored["content_sha256"])


def _learned_buttons(row: dict[str, Any], stored: dict[str, Any]) -> bool:
    """Is *row* the stored version with the buttons an archive made before dozor kept them
    could not know (NULL)? Telegram showing them now is no edit."""
    if stored["buttons"] is not None or not row["buttons"]:
        return False
    fingerprint = content_sha256(
        row["text"], row["entities"], row["media"], row["service_action"], None
    )
    return bool(fingerprint == stored["content_sha256"])


def _completes_an_import(
    record: PostRecord,
    row: dict[str, Any],
    stored: dict[str, Any],
    history: _History | None,
    source: Source,
) -> bool:
    """Is Telegram showing the very version an export or a page gave, exactly this time?

    Telegram marks every edit of a post with its time. When it shows the post with the edit
    state the imported copy had (never edited, or edited as long after posting) and the same
    words, that copy was of the same version, and what differs is what the export lost: a
    link nested in bold (Desktop keeps the outer style), a page's spacing. Edit delays are
    compared, not edit times, because a legacy export's times may be read in the wrong time
    zone. A page marks a post edited without a time: Telegram's last edit, if made before
    the page was captured, is the one the page showed. Other words are kept as a version of
    their own: an export that says something Telegram does not is worth seeing, not
    overwriting.
    """
    if not source.is_live_telegram or history is None:
        return False
    current = stored["current_version"]
    if history.sources.get(current) != Source.IMPORT.value:
        return False
    if squeeze_spaces(row["text"]) != squeeze_spaces(stored["text"]):
        return False
    if stored["edit_time_unknown"]:
        return record.edit_date is not None and record.edit_date <= history.observed[current]
    return _edit_delay(record.edit_date, record.date) == _edit_delay(
        stored["edit_date"], stored["date"]
    )


def _reformats_the_archived_version(
    record: PostRecord, row: dict[str, Any], stored: dict[str, Any], source: Source
) -> bool:
    """Is an export showing the archived version, only rendered otherwise? Desktop keeps only
    the outer style of nested formatting, and adds to a service message what Telegram's
    action does not carry (a new photo's file and size), so the archive's formatting and
    action (Telegram's, once the archiver has read the post) stay, as a rendering's text
    does."""
    if source.is_live_telegram or _action_identity(row) != _action_identity(stored):
        return False
    same = content_sha256(
        row["text"], stored["entities"], row["media"], stored["service_action"], row["buttons"]
    )
    return same == stored["content_sha256"] and _edit_delay(
        record.edit_date, stored["date"]
    ) == _edit_delay(stored["edit_date"], stored["date"])


def _action_identity(post: dict[str, Any]) -> dict[str, Any] | None:
    """What a service message says happened, apart from the details one source adds."""
    action = post["service_action"]
    return {key: action.get(key) for key in _ACTION_IDENTITY_KEYS} if action else None


def _edit_delay(edit_date: datetime | None, date: datetime) -> timedelta | None:
    return None if edit_date is None else edit_date - date


def _is_older_snapshot(incoming: datetime | None, current: datetime | None) -> bool:
    """True if the incoming content predates the stored current content."""
    if current is None:
        return False
    return incoming is None or incoming < current


def _plan_new(
    record: PostRecord,
    row: dict[str, Any],
    source: Source,
    observed_at: datetime,
    writes: _Writes,
) -> None:
    row.update(
        current_version=1, first_seen_at=observed_at, updated_at=observed_at, deleted_at=None
    )
    writes.inserts.append(row)
    writes.versions.append(_version(row, 1, observed_at, source))
    writes.events.append(_event(EventKind.NEW, row, record.date, source, observed_at))
    _plan_metrics(row, None, source, observed_at, writes)


def _plan_edit(
    record: PostRecord,
    row: dict[str, Any],
    stored: dict[str, Any],
    history: _History,
    source: Source,
    observed_at: datetime,
    writes: _Writes,
) -> None:
    version = history.last_version + 1
    history.last_version = version
    row["current_version"] = version
    writes.versions.append(_version(row, version, observed_at, source))
    occurred = record.edit_date or observed_at
    event = _event(EventKind.EDITED, row, occurred, source, observed_at)
    event["details"] = {"previous_version": stored["current_version"]}
    writes.events.append(event)


def _plan_late_version(
    record: PostRecord,
    row: dict[str, Any],
    stored: dict[str, Any],
    history: _History,
    source: Source,
    observed_at: datetime,
    outcome: StoreOutcome,
    writes: _Writes,
) -> None:
    """An older text than the current one (e.g. an old export imported after a newer one).

    It is kept as a version so the history is complete, but it does not become current and
    raises no event: nothing happened on Telegram just now. A version the archive holds
    already, with the same text and edit time, is no news however an export formats it.
    """
    known_text = (row["text"], record.edit_date) in history.texts
    if row["content_sha256"] in history.hashes or known_text:
        outcome.unchanged += 1
        return
    history.last_version += 1
    history.hashes.add(row["content_sha256"])
    snapshot = {  # not the current post's edit date
        **row,
        "edit_date": record.edit_date,
        "edit_time_unknown": record.edit_date is None and record.edit_time_unknown,
    }
    writes.versions.append(_version(snapshot, history.last_version, observed_at, source))
    outcome.edited += 1


def _plan_metrics(
    row: dict[str, Any],
    stored: dict[str, Any] | None,
    source: Source,
    observed_at: datetime,
    writes: _Writes,
) -> None:
    """Sample counters into the time series when Telegram reported new values."""
    if not source.is_live_telegram or all(row[c] is None for c in _METRIC_COLUMNS):
        return
    if stored is not None and all(row[c] == stored[c] for c in _METRIC_COLUMNS):
        return
    writes.metrics.append(
        {
            "channel_id": row["channel_id"],
            "message_id": row["message_id"],
            "sampled_at": observed_at,
            **{c: row[c] for c in _METRIC_COLUMNS},
            "rounded": False,
        }
    )


def _version(
    row: dict[str, Any], version: int, observed_at: datetime, source: Source
) -> dict[str, Any]:
    return {
        "channel_id": row["channel_id"],
        "message_id": row["message_id"],
        "version": version,
        "content_sha256": row["content_sha256"],
        "text": row["text"],
        "entities": row["entities"],
        "media": row["media"],
        "edit_date": row["edit_date"],
        "edit_time_unknown": row["edit_time_unknown"],
        "observed_at": observed_at,
        "source": source.value,
        "buttons": row["buttons"],
    }


def _event(
    kind: EventKind,
    row: dict[str, Any],
    occurred_at: datetime,
    source: Source,
    observed_at: datetime,
) -> dict[str, Any]:
    return {
        "kind": kind.value,
        "channel_id": row["channel_id"],
        "message_id": row["message_id"],
        "version": row["current_version"],
        "occurred_at": occurred_at,
        "recorded_at": observed_at,
        "source": source.value,
        "details": None,
    }


_UPDATE_POST = (
    update(posts)
    .where(
        and_(
            posts.c.channel_id == bindparam("k_channel_id"),
            posts.c.message_id == bindparam("k_message_id"),
        )
    )
    .values({column: bindparam(f"v_{column}") for column in _MUTABLE_COLUMNS})
)


_COMPLETE_VERSION = (
    update(post_versions)
    .where(
        and_(
            post_versions.c.channel_id == bindparam("k_channel_id"),
            post_versions.c.message_id == bindparam("k_message_id"),
            post_versions.c.version == bindparam("k_version"),
        )
    )
    .values(
        content_sha256=bindparam("v_content_sha256"),
        text=bindparam("v_text"),
        entities=bindparam("v_entities"),
        media=bindparam("v_media"),
        edit_date=bindparam("v_edit_date"),
        edit_time_unknown=bindparam("v_edit_time_unknown"),
        buttons=bindparam("v_buttons"),
    )
)


async def _apply(session: AsyncSession, writes: _Writes) -> None:
    await insert_rows(session, posts, writes.inserts)
    if writes.updates:
        params = [
            {
                "k_channel_id": row["channel_id"],
                "k_message_id": row["message_id"],
                **{f"v_{column}": row[column] for column in _MUTABLE_COLUMNS},
            }
            for row in writes.updates
        ]
        await session.execute(_UPDATE_POST, params)
    await insert_rows(session, post_versions, writes.versions)
    if writes.version_fixes:
        await session.execute(
            _COMPLETE_VERSION,
            [
                {
                    "k_channel_id": r["channel_id"],
                    "k_message_id": r["message_id"],
                    "k_version": r["current_version"],
                    "v_content_sha256": r["content_sha256"],
                    "v_text": r["text"],
                    "v_entities": r["entities"],
                    "v_media": r["media"],
                    "v_edit_date": r["edit_date"],
                    "v_edit_time_unknown": r["edit_time_unknown"],
                    "v_buttons": r["buttons"],
                }
                for r in writes.version_fixes
            ],
        )
    await insert_rows(session, post_metrics, writes.metrics)
    await index_posts(session, writes.inserts, new=True)
    await index_posts(session, writes.updates)
    await append_events(session, writes.events)


async def mark_deleted(
    session: AsyncSession,
    channel_id: int,
    message_ids: Iterable[int],
    *,
    source: Source,
    observed_at: datetime,
    summarize_from: int | None = None,
) -> Tombstoned:
    """Tombstone archived posts seen deleted; returns the ids newly marked, those deleted by
    someone apart from those gone by their auto-delete timer.

    Rows are never erased. Ids that were never archived, or are already tombstoned, are
    ignored: a deletion can only be recorded for something dozor saw. When at least
    *summarize_from* posts go at once (a channel purge), one ``mass_deleted`` event lists them
    instead of one ``deleted`` event each, so nobody is flooded, and nothing passes silently.
    A post gone when its auto-delete timer said is tombstoned too, with an ``expired`` event:
    nobody deleted it, so it neither alerts nor counts towards a purge.
    """
    stored = await _load_posts(session, channel_id, sorted(set(message_ids)))
    fresh = [row for mid, row in sorted(stored.items()) if row["deleted_at"] is None]
    if not fresh:
        return Tombstoned([], [])
    await session.execute(
        update(posts)
        .where(
            and_(
                posts.c.channel_id == bindparam("k_channel_id"),
                posts.c.message_id == bindparam("k_message_id"),
            )
        )
        .values(deleted_at=bindparam("v_deleted_at"), updated_at=bindparam("v_deleted_at")),
        [
            {
                "k_channel_id": channel_id,
                "k_message_id": row["message_id"],
                "v_deleted_at": observed_at,
            }
            for row in fresh
        ],
    )
    await index_posts(session, [{**row, "deleted_at": observed_at} for row in fresh])
    expired = [row for row in fresh if expired_by_timer(row, observed_at)]
    removed = [row for row in fresh if not expired_by_timer(row, observed_at)]
    await append_events(
        session,
        [_event(EventKind.EXPIRED, row, observed_at, source, observed_at) for row in expired],
    )
    if summarize_from is not None and len(removed) >= summarize_from:
        ids = [row["message_id"] for row in removed]
        summary = _event(EventKind.MASS_DELETED, removed[0], observed_at, source, observed_at)
        summary["details"] = {"message_ids": ids, "count": len(ids)}
        await append_events(session, [summary])
        await log_purge(session, channel_id, ids, observed_at=observed_at, source=source)
    else:
        await append_events(
            session,
            [_event(EventKind.DELETED, row, observed_at, source, observed_at) for row in removed],
        )
    return Tombstoned(
        [row["message_id"] for row in removed], [row["message_id"] for row in expired]
    )


def expired_by_timer(row: Mapping[str, Any], gone_at: datetime) -> bool:
    """Did the post (a ``posts`` row) go when its auto-delete timer said, rather than being
    deleted by someone? (Telegram's clock may run a little ahead of dozor's.)"""
    expires_at = row["expires_at"]
    return expires_at is not None and gone_at >= expires_at - EXPIRY_SLACK
