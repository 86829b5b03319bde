"""Importing a Desktop export into the archive, batch by batch, one transaction per batch."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TypeVar

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor.importer.desktop import DesktopExport, convert_messages, read_export
from dozor.models import imports
from dozor.records import ChannelRecord, PostRecord, Source
from dozor.storage import mark_deleted, record_sync, store_posts, upsert_channel
from dozor.storage.channels import channel_title, newest_message_id
from dozor.storage.posts import StoreOutcome

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

    @property
    def updated(self) -> int:
        return self.outcome.edited + self.outcome.refreshed

    def note(self, message: str, warn: Callable[[str], None] | None) -> None:
        """Keep a warning for the report, and tell it now through *warn*."""
        self.warnings.append(message)
        if warn is not None:
            warn(message)


ProgressCallback = Callable[[int, int], None]


async def import_desktop_export(
    sessions: async_sessionmaker[AsyncSession],
    path: Path,
    *,
    tz: tzinfo = UTC,
    username: str | None = None,
    progress: ProgressCallback | None = None,
    warn: Callable[[str], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Import one channel export. Idempotent: the same file twice changes nothing.

    Each batch commits on its own, so an interrupted import keeps what it stored and a rerun
    completes it.
    """
    export = await asyncio.to_thread(read_export, path)
    started = datetime.now(UTC)
    async with sessions.begin() as session:
        channel = export.channel
        if not await _export_is_current(session, export):
            channel = ChannelRecord(id=channel.id, title=None)  # an old name: keep the newer
        channel = replace(channel, username=username or channel.username)
        await upsert_channel(session, channel, observed_at=started, source=Source.IMPORT)
        title = await channel_title(session, channel.id)
    report = ImportReport(
        channel_id=export.channel.id,
        channel_title=title,
        path=export.path,
        format=export.format,
        messages=len(export.messages),
        dates_assumed_zone=None if export.has_exact_dates else str(tz),
    )

    # Converting batch N+1 in a worker thread while batch N is written overlaps Python work
    # with SQLite's (which releases the GIL): see bench/import.py.
    starts = range(0, len(export.messages), batch_size)
    pending = asyncio.create_task(asyncio.to_thread(_convert, export, tz, 0, batch_size))
    for start in starts:
        batch = await pending
        if start + batch_size < len(export.messages):
            pending = asyncio.create_task(
                asyncio.to_thread(_convert, export, tz, start + batch_size, start + 2 * batch_size)
            )
        for message in batch.notes:
            report.note(message, warn)
        report.skipped += batch.skipped
        async with sessions.begin() as session:
            now = datetime.now(UTC)
            outcome = await store_posts(
                session, batch.records, source=Source.IMPORT, observed_at=now
            )
            for when, ids in batch.deleted.items():
                marked = await mark_deleted(
                    session, export.channel.id, ids, source=Source.IMPORT, observed_at=when or now
                )
                report.deleted += len(marked)
        report.outcome.add(outcome)
        if progress is not None:
            progress(min(start + batch_size, report.messages), report.messages)
    async with sessions.begin() as session:
        await _finish(session, export, report, started)
    return report


async def _export_is_current(session: AsyncSession, export: DesktopExport) -> bool:
    """Does the export show the channel at least as late as the archive does?

    A Desktop export names the channel as it was when exported, and records no export time;
    its newest post tells. An export older than the newest archived post must not roll the
    channel's title back (and log a change that never happened)."""
    archived = await newest_message_id(session, export.channel.id)
    return archived is None or export.newest_message_id >= archived


@dataclass
class _Batch:
    records: list[PostRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: int = 0
    deleted: dict[datetime | None, list[int]] = field(default_factory=dict)  # when → ids


def _convert(export: DesktopExport, tz: tzinfo, start: int, stop: int) -> _Batch:
    batch = _Batch()

    def skip(message: str) -> None:
        batch.skipped += 1
        batch.notes.append(message)

    for converted in convert_messages(export, tz=tz, on_skip=skip, start=start, stop=stop):
        batch.records.append(converted.record)
        batch.notes.extend(converted.warnings)
        if converted.deleted:
            batch.deleted.setdefault(converted.deleted_at, []).append(converted.record.message_id)
    return batch


async def _finish(
    session: AsyncSession, export: DesktopExport, report: ImportReport, started: datetime
) -> None:
    await record_import(session, report, export.path, export.file_sha256, started=started)


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
