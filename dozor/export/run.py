"""`dozor export`: one export into a fresh folder, with a manifest, all or nothing.

Everything is written into a hidden sibling folder first and renamed into place at the end, so
a failed or interrupted export leaves nothing that looks like a finished one. ``manifest.json``
records the dozor version, the filters, counts, the time and the SHA-256 of every file, so a
recipient can check that nothing was altered (`sha256sum` agrees with it).
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from dozor import __version__
from dozor.errors import EmptyExport, UserError
from dozor.export.desktop import DesktopWriter
from dozor.export.html import HtmlSite
from dozor.export.select import ExportFilter, iter_posts
from dozor.export.writers import SCHEMA_VERSION, writer_for

FORMATS = ("jsonl", "csv", "desktop", "html")
Progress = Callable[[int], Awaitable[object]]


@dataclass(frozen=True)
class ExportReport:
    folder: Path
    posts: int
    channels: int
    files: list[Path]


def check_destination(out: Path) -> None:
    """Refuse early what would fail late: an existing non-empty folder, an unwritable place."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out}: already exists and is not an empty folder; choose another --out")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise UserError(f"{parent}: no such folder")
    probe = parent / f".{out.name}.probe"
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise UserError(f"{parent}: cannot write here ({exc.strerror})") from None


def _prepare(out: Path) -> Path:
    check_destination(out)
    partial = out.resolve().parent / f".{out.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    return partial


def _publish(partial: Path, out: Path) -> None:
    if out.exists():
        out.rmdir()  # empty, as check_destination made sure
    partial.rename(out)


async def run_export(
    session: AsyncSession,
    wanted: ExportFilter,
    fmt: str,
    out: Path,
    *,
    media_dir: Path | None = None,
    bom: bool = False,
    progress: Progress | None = None,
) -> ExportReport:
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    partial = _prepare(out)
    try:
        posts, channels = await _write(session, wanted, fmt, partial, media_dir, bom, progress)
        if posts == 0:
            raise EmptyExport("no posts match these filters; nothing exported")
        files = _write_manifest(partial, wanted, fmt, posts, channels)
        _publish(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return ExportReport(out, posts, channels, [out / f for f in files])


async def _write(
    session: AsyncSession,
    wanted: ExportFilter,
    fmt: str,
    folder: Path,
    media_dir: Path | None,
    bom: bool,
    progress: Progress | None,
) -> tuple[int, int]:
    posts, channels = 0, set[int]()
    sink = _sink(fmt, folder, wanted, media_dir, bom)
    writing: asyncio.Future[None] | None = None
    try:
        async for rows in iter_posts(session, wanted, columns=sink.columns):
            # Write this batch in a thread while the next one is read: a pipeline.
            if writing is not None:
                await writing
            writing = asyncio.ensure_future(asyncio.to_thread(sink.write, rows))
            posts += len(rows)
            channels.update(row["channel_id"] for row in rows)
            if progress is not None:
                await progress(posts)
        if writing is not None:
            await writing
    finally:
        if writing is not None and not writing.done():
            await asyncio.wait([writing])
        sink.close()
    return posts, len(channels)


class _SingleFile:
    """JSON Lines or CSV into one file."""

    def __init__(self, fmt: str, path: Path, bom: bool) -> None:
        self.writer = writer_for(fmt, bom=bom)
        self.columns = self.writer.columns
        self.out = path.open("wb")
        self.writer.begin(self.out)

    def write(self, rows: list[dict[str, Any]]) -> None:
        self.writer.write(self.out, rows)

    def close(self) -> None:
        self.out.close()


class Sink(Protocol):
    """Where an export's batches go: one file, a Desktop export, an HTML site."""

    columns: tuple[str, ...] | None  # posts columns it reads (None: all)

    def write(self, rows: list[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...


def _sink(fmt: str, folder: Path, wanted: ExportFilter, media_dir: Path | None, bom: bool) -> Sink:
    if fmt in ("jsonl", "csv"):
        return _SingleFile(fmt, folder / f"posts.{fmt}", bom)
    if fmt == "desktop":
        return DesktopWriter(folder)
    return HtmlSite(folder, media_dir=media_dir)


def _write_manifest(
    folder: Path, wanted: ExportFilter, fmt: str, posts: int, channels: int
) -> list[str]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    manifest = {
        "dozor_version": __version__,
        "format": fmt,
        "schema_version": SCHEMA_VERSION,
        "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "filters": wanted.describe(),
        "counts": {"posts": posts, "channels": channels, "files": len(files)},
        "files": [
            {
                "path": p.relative_to(folder).as_posix(),
                "size": p.stat().st_size,
                "sha256": _sha256(p),
            }
            for p in files
        ],
    }
    (folder / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return [p.relative_to(folder).as_posix() for p in files] + ["manifest.json"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
