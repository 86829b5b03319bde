"""Importing a Desktop export into the archive, batch by batch, one transaction per batch."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from contextlib import aclosing, closing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, TypedDict, TypeVar, Unpack

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor.db import write_transaction
from dozor.importer.desktop import DesktopExport, convert_messages, read_export
from dozor.importer.files import MediaPolicy, candidates, keep_files
from dozor.models import imports, post_versions, posts
from dozor.records import ChannelRecord, PostRecord, Source
from dozor.storage import mark_deleted, record_sync, store_posts, upsert_channel
from dozor.storage.channels import channel_title, newest_message_id
from dozor.storage.media import downloaded, record_media_file
from dozor.storage.posts import StoreOutcome
from dozor.text.normalize import squeeze_spaces

log = logging.getLogger(__name__)

T = TypeVar("T")
BATCH_SIZE = 2000


@dataclass
class ImportReport:
    channel_id: int
    channel_title: str
    path: Path
    format: str
    messages: int
    outcome: StoreOutcome = field(default_factory=StoreOutcome)
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)
    dates_assumed_zone: str | None = None
    deleted: int = 0  # tombstones a dozor export carried, newly recorded
    files_kept: int = 0  # attachment files the export included, newly stored
    files_missing: int = 0  # attachment files it names but does not include
    counter_samples: int = 0  # views and reactions a saved page showed, newly sampled

    @property
    def updated(self) -> int:
        return self.outcome.edited + self.outcome.refreshed

    def note(self, message: str, warn: Callable[[str], None] | None) -> None:
        """Keep a warning for the report, and tell it now through *warn*."""
        self.warnings.append(message)
        if warn is not None:
            warn(message)


ProgressCallback = Callable[[int, int], None]


class ImportOptions(TypedDict, total=False):
    """How :func:`import_export` imports (see there)."""

    tz: tzinfo
    username: str | None
    progress: ProgressCallback | None
    warn: Callable[[str], None] | None
    batch_size: int
    media: MediaPolicy | None
    shown_as: Path | None


async def import_desktop_export(
    sessions: async_sessionmaker[AsyncSession], path: Path, **options: Unpack[ImportOptions]
) -> ImportReport:
    """Import the export of one channel (see :func:`import_export`)."""
    export = await asyncio.to_thread(read_export, path)
    return await import_export(sessions, export, **options)


async def import_export(
    sessions: async_sessionmaker[AsyncSession],
    export: DesktopExport,
    *,
    tz: tzinfo = UTC,
    username: str | None = None,
    progress: ProgressCallback | None = None,
    warn: Callable[[str], None] | None = None,
    batch_size: int = BATCH_SIZE,
    media: MediaPolicy | None = None,
    shown_as: Path | None = None,
) -> ImportReport:
    """Import one channel of a checked export (:func:`read_exports`). Idempotent: the same
    file twice changes nothing. With *media*, the attachment files the export includes are
    kept in the media store. *shown_as*: what to call the file (one unpacked from an archive)
    in the report and the imports log.

    Each batch commits on its own, so an interrupted import keeps what it stored and a rerun
    completes it.
    """
    started = datetime.now(UTC)

    async def store_channel(session: AsyncSession) -> str:
        channel = export.channel
        if not await _export_is_current(session, export):
            channel = ChannelRecord(id=channel.id, title=None)  # an old name: keep the newer
        channel = replace(channel, username=username or channel.username)
        await upsert_channel(session, channel, observed_at=started, source=Source.IMPORT)
        return await channel_title(session, channel.id)

    title = await write_transaction(sessions, store_channel)
    report = ImportReport(
        channel_id=export.channel.id,
        channel_title=title,
        path=shown_as or export.path,
        format=export.format,
        messages=export.message_count,
        dates_assumed_zone=None if export.has_exact_dates else str(tz),
    )
    done = 0
    # Reading and converting batch N+1 in a worker thread while batch N is written overlaps
    # Python work with SQLite's (which releases the GIL): see bench/import.py.
    async with aclosing(_prefetched(_batches(export, tz, batch_size))) as batches:
        async for batch in batches:
            await _store(sessions, export, batch, report, warn)
            if media is not None:
                await _keep_files(sessions, export, batch.records, media, report, warn)
            done += batch.size
            if progress is not None:
                progress(done, report.messages)
    if report.files_missing:
        report.note(
            f"attachment files the export names but does not include, not kept: "
            f"{report.files_missing}",
            warn,
        )
    await write_transaction(sessions, lambda session: _finish(session, export, report, started))
    return report


async def _export_is_current(session: AsyncSession, export: DesktopExport) -> bool:
    """Does the export show the channel at least as late as the archive does?

    A Desktop export names the channel as it was when exported, and records no export time;
    its newest post tells. An export older than the newest archived post must not roll the
    channel's title back (and log a change that never happened)."""
    archived = await newest_message_id(session, export.channel.id)
    return archived is None or export.newest_message_id >= archived


async def _store(
    sessions: async_sessionmaker[AsyncSession],
    export: DesktopExport,
    batch: _Batch,
    report: ImportReport,
    warn: Callable[[str], None] | None,
) -> None:
    for message in batch.notes:
        report.note(message, warn)
    report.skipped += batch.skipped
    channel_id = export.channel.id
    notes: list[str] = []

    async def write(session: AsyncSession) -> tuple[StoreOutcome, int]:
        notes.clear()  # a batch written again notes again
        now = datetime.now(UTC)
        records, known = batch.records, 0
        if export.rendering is not None:
            records, known = await archive_first(
                session, channel_id, records, notes, rendering=export.rendering
            )
        outcome = await store_posts(session, records, source=Source.IMPORT, observed_at=now)
        outcome.unchanged += known
        deleted = 0
        for when, ids in batch.deleted.items():
            marked = await mark_deleted(
                session, channel_id, ids, source=Source.IMPORT, observed_at=when or now
            )
            deleted += len(marked)
        return outcome, deleted

    outcome, deleted = await write_transaction(sessions, write)
    for message in notes:
        report.note(message, warn)
    report.deleted += deleted
    report.outcome.add(outcome)


async def _keep_files(
    sessions: async_sessionmaker[AsyncSession],
    export: DesktopExport,
    records: list[PostRecord],
    media: MediaPolicy,
    report: ImportReport,
    warn: Callable[[str], None] | None,
) -> None:
    """Store the batch's attachment files not stored yet, and point their posts at them."""
    wanted = candidates(records, media)
    if not wanted:
        return
    async with sessions() as session:
        done = await downloaded(session, export.channel.id, [mid for mid, _ in wanted])
    todo = [(mid, m) for mid, m in wanted if mid not in done]
    kept = await asyncio.to_thread(keep_files, export.path.parent, todo, media)
    for problem in kept.problems:
        report.note(problem, warn)

    async def record(session: AsyncSession) -> None:
        now = datetime.now(UTC)
        for message_id, stored, mime in kept.stored:
            await record_media_file(
                session,
                export.channel.id,
                message_id,
                sha256=stored.sha256,
                size=stored.size,
                mime_type=mime,
                path=stored.path,
                at=now,
            )

    await write_transaction(sessions, record)
    report.files_kept += len(kept.stored)
    report.files_missing += kept.missing


async def _prefetched(items: Generator[T]) -> AsyncGenerator[T]:
    """*items*, each next one produced in a worker thread while the caller handles this one.

    Use it under ``contextlib.aclosing``: the thread is waited for before *items* is closed."""
    pending = asyncio.ensure_future(asyncio.to_thread(next, items, None))
    try:
        while (item := await pending) is not None:
            pending = asyncio.ensure_future(asyncio.to_thread(next, items, None))
            yield item
    finally:
        await asyncio.wait([pending])  # a generator cannot be closed while it runs
        if not pending.cancelled():
            pending.exception()  # retrieved: the caller's own error is the one to report
        items.close()


@dataclass
class _Batch:
    size: int  # messages read, readable or not
    records: list[PostRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: int = 0
    deleted: dict[datetime | None, list[int]] = field(default_factory=dict)  # when → ids


def _batches(export: DesktopExport, tz: tzinfo, size: int) -> Generator[_Batch]:
    """The export's messages converted, *size* messages a batch."""
    with closing(export.messages()) as messages:
        yield from _converted_batches(export, messages, tz, size)


def _converted_batches(
    export: DesktopExport, messages: Iterator[Any], tz: tzinfo, size: int
) -> Iterator[_Batch]:
    chunks = iter(lambda: list(itertools.islice(messages, size)), [])
    for number, entries in enumerate(chunks):
        batch = _Batch(size=len(entries))

        def skip(message: str, batch: _Batch = batch) -> None:
            batch.skipped += 1
            batch.notes.append(message)

        converted = convert_messages(
            export, tz=tz, on_skip=skip, entries=entries, start=number * size
        )
        for item in converted:
            batch.records.append(item.record)
            batch.notes.extend(item.warnings)
            if item.deleted:
                batch.deleted.setdefault(item.deleted_at, []).append(item.record.message_id)
        yield batch


async def _finish(
    session: AsyncSession, export: DesktopExport, report: ImportReport, started: datetime
) -> None:
    await record_import(session, report, report.path, export.file_sha256, started=started)


async def record_import(
    session: AsyncSession, report: ImportReport, path: Path, file_sha256: str, *, started: datetime
) -> None:
    """Note the channel's sync time and the import's outcome (the ``imports`` log)."""
    resolved = await asyncio.to_thread(path.resolve)
    finished = datetime.now(UTC)
    await record_sync(session, report.channel_id, at=finished, source=Source.IMPORT)
    await session.execute(
        insert(imports).values(
            channel_id=report.channel_id,
            path=str(resolved),
            file_sha256=file_sha256,
            file_format=report.format,
            started_at=started,
            finished_at=finished,
            new_posts=report.outcome.new,
            updated_posts=report.updated,
            unchanged_posts=report.outcome.unchanged,
            skipped_messages=report.skipped,
        )
    )


async def archive_first(
    session: AsyncSession,
    channel_id: int,
    found: list[PostRecord],
    notes: list[str],
    *,
    rendering: str,
) -> tuple[list[PostRecord], int]:
    """Of the posts a *rendering* shows (a saved page, an HTML export), those that tell the
    archive something, and how many do not. A rendering that marks a post edited does not say
    when (``edit_time_unknown``). What the user should hear of is added to *notes*.

    A rendering adds to the archive and never overrides it: a post the archive has is left
    alone when the rendering shows a text it already holds (any version: one from before an
    edit is no news), or when it differs but the post was never edited on Telegram (the
    difference is in how it renders the text)."""
    stored = await _stored_texts(session, channel_id, [record.message_id for record in found])
    news, known = [], 0
    for record in found:
        current = stored.get(record.message_id)
        if current is None:
            news.append(record)
        elif squeeze_spaces(record.text) in current["texts"]:
            known += 1
        elif not (current["edited"] or record.edit_time_unknown):
            known += 1
            notes.append(
                f"post {record.message_id}: the {rendering} renders its text differently, and "
                "Telegram never marked it edited; the archive's text is kept"
            )
        else:
            news.append(record)
    return news, known


async def _stored_texts(
    session: AsyncSession, channel_id: int, message_ids: list[int]
) -> dict[int, dict[str, Any]]:
    """Per archived post: whether it was edited and every text it has had (whitespace folded)."""
    rows = await session.execute(
        select(posts.c.message_id, posts.c.edit_date, posts.c.edit_time_unknown).where(
            posts.c.channel_id == channel_id, posts.c.message_id.in_(message_ids)
        )
    )
    stored: dict[int, dict[str, Any]] = {
        row.message_id: {
            "edited": row.edit_date is not None or row.edit_time_unknown,
            "texts": set(),
        }
        for row in rows
    }
    versions = await session.execute(
        select(post_versions.c.message_id, post_versions.c.text).where(
            post_versions.c.channel_id == channel_id,
            post_versions.c.message_id.in_(list(stored)),
        )
    )
    for row in versions:
        stored[row.message_id]["texts"].add(squeeze_spaces(row.text))
    return stored
