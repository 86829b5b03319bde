"""Writing an export to a file safely, and cutting a large one into zipped parts.

A file is written under a temporary name and renamed when complete: an interrupted or failed
export never leaves a half-written file that looks finished. Parts are cut between posts, so
each part is a valid file on its own (CSV parts repeat the header).
"""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from dozor.export.select import ExportFilter, iter_posts
from dozor.export.writers import MetricsCsvWriter, writer_for

Progress = Callable[[int], Awaitable[object]]  # called with the posts written so far
ZIP_MARGIN = 1024 * 1024  # compressed bytes still buffered in zlib when a part is measured


class Sink(Protocol):
    """Where an export's batches go: one file, a Desktop export, an HTML site."""

    columns: tuple[str, ...] | None  # posts columns it reads (None: all)

    def write(self, rows: list[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...


class SingleFile:
    """JSON Lines or CSV into one file."""

    def __init__(self, fmt: str, path: Path, *, bom: bool = False) -> None:
        self.writer = writer_for(fmt, bom=bom)
        self.columns = self.writer.columns
        self.out = path.open("wb")
        self.writer.begin(self.out)

    def write(self, rows: list[dict[str, Any]]) -> None:
        self.writer.write(self.out, rows)

    def close(self) -> None:
        self.out.close()


class CsvWithMetrics:
    """CSV posts and, beside them, their counter samples (``metrics.csv``)."""

    def __init__(self, folder: Path, *, bom: bool = False) -> None:
        self.posts = SingleFile("csv", folder / "posts.csv", bom=bom)
        self.columns = self.posts.columns
        self.metrics_writer = MetricsCsvWriter(bom=bom)
        self.metrics = (folder / "metrics.csv").open("wb")
        self.metrics_writer.begin(self.metrics)

    def write(self, rows: list[dict[str, Any]]) -> None:
        self.posts.write(rows)
        self.metrics_writer.write(self.metrics, rows)

    def close(self) -> None:
        self.posts.close()
        self.metrics.close()


async def pump(
    session: AsyncSession, wanted: ExportFilter, sink: Sink, progress: Progress | None = None
) -> tuple[int, int]:
    """Stream the posts *wanted* into *sink*, then close it; returns (posts, channels).

    Each batch is written in a thread while the next one is read: a pipeline, which also
    leaves the event loop free for the bot and the alerts during a long export."""
    posts, channels = 0, set[int]()
    writing: asyncio.Future[None] | None = None
    try:
        async for rows in iter_posts(session, wanted, columns=sink.columns):
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


async def write_export(
    session: AsyncSession,
    wanted: ExportFilter,
    fmt: str,
    path: Path,
    *,
    progress: Progress | None = None,
    bom: bool = False,
) -> int:
    """Write the posts *wanted* to *path* in *fmt* (jsonl, csv); returns how many."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        posts, _ = await pump(session, wanted, SingleFile(fmt, partial, bom=bom), progress)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return posts


def split_into_zips(
    path: Path, fmt: str, part_bytes: int, *, margin: int = ZIP_MARGIN
) -> list[Path]:
    """*path* itself if it fits in *part_bytes*, else zipped parts each under *part_bytes*
    (*margin*: room kept for what the compressor still holds when a part is measured)."""
    if path.stat().st_size <= part_bytes:
        return [path]
    header, records = _records(path, fmt)
    parts = _ZipParts(path, header, part_bytes - margin)
    for record in records:
        parts.write(record)
    parts.close()
    return parts.paths


class _ZipParts:
    """Zip files of about *limit* compressed bytes each, every one starting with *header*."""

    def __init__(self, path: Path, header: bytes, limit: int) -> None:
        self.path, self.header, self.limit = path, header, limit
        self.paths: list[Path] = []
        self._archive: zipfile.ZipFile | None = None
        self._entry: IO[bytes] | None = None

    def write(self, record: bytes) -> None:
        archive, entry = self._archive, self._entry
        if archive is None or entry is None or self._full(archive):
            entry = self._next_part()
        entry.write(record)

    def _full(self, archive: zipfile.ZipFile) -> bool:
        return archive.fp is not None and archive.fp.tell() > self.limit

    def _next_part(self) -> IO[bytes]:
        self.close()
        number = len(self.paths) + 1
        target = self.path.with_name(f"{self.path.stem}.part{number:03d}{self.path.suffix}.zip")
        self.paths.append(target)
        self._archive = zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6)
        entry = self._archive.open(target.name.removesuffix(".zip"), "w", force_zip64=True)
        entry.write(self.header)
        self._entry = entry
        return entry

    def close(self) -> None:
        if self._entry is not None:
            self._entry.close()
        if self._archive is not None:
            self._archive.close()
        self._archive = self._entry = None


def _records(path: Path, fmt: str) -> tuple[bytes, Iterator[bytes]]:
    """(bytes every part starts with, each post's bytes)."""
    if fmt == "csv":
        return _csv_records(path)
    return b"", _lines(path)


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as source:
        yield from source


def _csv_records(path: Path) -> tuple[bytes, Iterator[bytes]]:
    """CSV records may hold newlines inside quotes: re-read them with the csv module."""
    with path.open("rb") as peek:
        bom = "\ufeff".encode() if peek.read(3) == "\ufeff".encode() else b""
    source = path.open(encoding="utf-8-sig", newline="")
    rows = csv.reader(source)
    header = _csv_bytes(next(rows))

    def records() -> Iterator[bytes]:
        with source:
            for row in rows:
                yield _csv_bytes(row)

    return bom + header, records()


def _csv_bytes(row: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(row)
    return buffer.getvalue().encode()
