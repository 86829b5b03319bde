"""/export QUERY_OR_CHANNEL [jsonl|csv|desktop|html]: the matching posts as a document.

The user sees "preparing…" at once, updated with the count as posts are written. Exports hold
deleted posts too (marked with ``deleted_at``): evidence is what an analyst exports for.
A file over Telegram's upload limit is sent as zipped parts, each a valid file on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from pathlib import Path

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import FSInputFile, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.render import esc
from bot.settings import BotSettings
from dozor.errors import ChannelNotFound, EmptyExport, UserError
from dozor.export import ExportFilter
from dozor.export.files import split_into_zips, write_export
from dozor.export.run import FORMATS, run_export
from dozor.search.engine import bind_query
from dozor.storage.channels import resolve_channel

USAGE = (
    "Usage: /export <i>query or channel</i> [jsonl|csv|desktop|html]\n"
    "e.g. <code>/export mvd_official_kg csv</code> or <code>/export мигрант after:2024-01-01</code>"
)
PROGRESS_EVERY = 2.0  # seconds between "preparing…" updates


async def export_command(
    message: Message, command: CommandObject, session: AsyncSession, settings: BotSettings
) -> None:
    words = (command.args or "").split()
    fmt = "jsonl"
    if words and words[-1].lower() in FORMATS:
        fmt = words.pop().lower()
    if not words:
        await message.answer(USAGE)
        return
    wanted, label = await _filter(session, " ".join(words))
    status = await message.answer("⏳ Preparing the export…")
    work = Path(tempfile.mkdtemp(prefix="export-", dir=settings.work_dir))
    name = f"dozor-{settings.now():%Y%m%d-%H%M%S}"
    try:
        if fmt in ("html", "desktop"):
            count, parts = await _folder(session, wanted, fmt, work / name, settings, status)
        else:
            path = work / f"{name}.{fmt}"
            count = await write_export(session, wanted, fmt, path, progress=_Progress(status))
            parts = split_into_zips(path, fmt, settings.part_bytes) if count else []
        if count == 0:
            await status.edit_text("No posts match; nothing to export.")
            return
        await _send(message, parts, count, label)
        await status.edit_text(f"✅ Exported {count:,} posts.")
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def _folder(
    session: AsyncSession,
    wanted: ExportFilter,
    fmt: str,
    folder: Path,
    settings: BotSettings,
    status: Message,
) -> tuple[int, list[Path]]:
    """A folder export (HTML site, Desktop result.json) with its manifest, zipped whole: the
    site's pages link to each other and a result.json is one document, so no parts."""
    try:
        report = await run_export(
            session,
            wanted,
            fmt,
            folder,
            media_dir=settings.media_dir,
            progress=_Progress(status),
        )
    except EmptyExport:
        return 0, []
    archive, size = await asyncio.to_thread(_zipped, folder)
    if size > settings.part_bytes:
        raise UserError(
            f"the {fmt} export of {report.posts:,} posts is {size / 2**20:,.0f} MB zipped, over "
            f"Telegram's upload limit: narrow the query, or run `dozor export --format {fmt}`"
        )
    return report.posts, [archive]


def _zipped(folder: Path) -> tuple[Path, int]:
    archive = Path(shutil.make_archive(str(folder), "zip", folder))
    return archive, archive.stat().st_size


async def _filter(session: AsyncSession, words: str) -> tuple[ExportFilter, str]:
    """A single word naming an archived channel exports that channel; anything else is a query.

    Returns the filter and how to name it in the caption."""
    if " " not in words:
        try:
            channel = await resolve_channel(session, words)
        except ChannelNotFound:
            pass
        else:
            wanted = ExportFilter(
                channels=(str(channel["id"]),), include_deleted=True, with_versions=True
            )
            return wanted, channel["title"]
    await bind_query(session, words)  # a bad query is explained before "preparing…"
    return ExportFilter(query=words, include_deleted=True, with_versions=True), words


class _Progress:
    """Edits the "preparing…" message now and then (not on every batch: rate limits)."""

    def __init__(self, status: Message) -> None:
        self.status = status
        self.last = time.monotonic()

    async def __call__(self, written: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY:
            return
        self.last = now
        with contextlib.suppress(TelegramBadRequest):
            await self.status.edit_text(f"⏳ Preparing the export… {written:,} posts")


async def _send(message: Message, parts: list[Path], count: int, label: str) -> None:
    what = esc(label if len(label) <= 200 else label[:199] + "…")
    for number, part in enumerate(parts, start=1):
        of = f" · part {number}/{len(parts)}" if len(parts) > 1 else ""
        await message.answer_document(
            FSInputFile(part, filename=part.name), caption=f"{count:,} posts · {what}{of}"
        )


def router() -> Router:
    """This module's handlers on a fresh Router (a Router joins one Dispatcher only)."""
    routes = Router(name="export")
    routes.message.register(export_command, Command("export"))
    return routes
