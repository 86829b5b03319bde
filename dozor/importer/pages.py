"""Importing saved t.me/s pages (live saves or Wayback Machine captures), one transaction each.

A page is an old, lossy view of a channel, so it adds to the archive and never overrides it:

* a channel the archive knows keeps its title, username and description;
* a post the archive has is left alone when the page shows a text it already holds (any
  version: a capture from before an edit is no news), or when the page differs but the post
  was never edited on Telegram (the difference is in how the page renders it);
* otherwise the page's text becomes a version, observed at the capture time, and a post the
  archive lacks (deleted before dozor watched) is added.

The views and reactions a page shows become counter samples of its posts, taken at the capture
time and marked rounded when the page abbreviates a count ("23.4K"); a post's number on the
page never replaces the exact one Telegram gave the archiver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor.channel_refs import ChannelRef
from dozor.db import write_transaction
from dozor.errors import ImportFormatError
from dozor.importer.run import ImportReport, archive_first, record_import
from dozor.importer.webpreview import FORMAT, WebPreviewPage, capture_time, read_page
from dozor.models import channels
from dozor.records import ChannelRecord, Source
from dozor.storage import store_posts, upsert_channel
from dozor.storage.channels import channel_rows, channel_title, matching_channels
from dozor.storage.metrics import add_shown_counters


def in_capture_order(paths: Iterable[Path]) -> list[Path]:
    """Pages oldest capture first (else oldest file), so later texts become later versions."""
    return sorted(paths, key=lambda p: (capture_time(p) or _saved_at(p), p.name))


async def import_web_page(
    sessions: async_sessionmaker[AsyncSession],
    path: Path,
    *,
    warn: Callable[[str], None] | None = None,
    shown_as: Path | None = None,
) -> ImportReport:
    """Import one saved t.me/s page. Idempotent: the same page twice changes nothing.
    *shown_as*: what to call the file (one unpacked from an archive) in the report and log."""
    page = await asyncio.to_thread(read_page, path)
    started = datetime.now(UTC)
    observed = page.captured_at or _saved_at(path)

    async def write(session: AsyncSession) -> ImportReport:
        channel_id = await _channel_id(session, page)
        await upsert_channel(
            session,
            await _channel_record(session, page, channel_id),
            observed_at=started,
            source=Source.IMPORT,
        )
        found = page.posts(channel_id)
        report = ImportReport(
            channel_id=channel_id,
            channel_title=await channel_title(session, channel_id),
            path=shown_as or path,
            format=FORMAT,
            messages=len(found) + len(page.skipped),
            skipped=len(page.skipped),
            warnings=list(page.skipped),
        )
        news, known = await archive_first(
            session,
            channel_id,
            [post.record for post in found],
            report.warnings,
            rendering="page",
        )
        report.outcome = await store_posts(
            session, news, source=Source.IMPORT, observed_at=observed
        )
        report.outcome.unchanged += known
        report.counter_samples = await add_shown_counters(
            session,
            channel_id,
            {post.record.message_id: post.counters for post in found if post.counters},
            observed,
        )
        await record_import(session, report, report.path, page.file_sha256, started=started)
        return report

    report = await write_transaction(sessions, write)
    if warn is not None:  # told once the page is stored, not again if it is written again
        for line in report.warnings:
            warn(line)
    return report


def _saved_at(path: Path) -> datetime:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return datetime.now(UTC)


async def _channel_id(session: AsyncSession, page: WebPreviewPage) -> int:
    """The page's own channel id, else the archived channel with the page's username (now,
    or before a rename: a capture may be years old)."""
    if page.channel_id is not None:
        return page.channel_id
    ref = ChannelRef(username=page.username)
    found = matching_channels(ref, await channel_rows(session))
    channel_id = found[0]["id"] if len(found) == 1 else None
    if channel_id is None:
        raise ImportFormatError(
            f"{page.path}: the page does not tell @{page.username}'s channel id, and no archived "
            f"channel has that username; follow it first (`dozor channels add {page.username}`) "
            "or import a page saved from t.me itself"
        )
    return int(channel_id)


async def _channel_record(
    session: AsyncSession, page: WebPreviewPage, channel_id: int
) -> ChannelRecord:
    """What the page tells of a channel new to the archive; nothing for a known one (the page
    may be years old)."""
    known = await session.execute(select(channels.c.id).where(channels.c.id == channel_id))
    if known.first() is not None:
        return ChannelRecord(id=channel_id, title=None)
    return ChannelRecord(id=channel_id, title=page.title, username=page.username, about=page.about)
