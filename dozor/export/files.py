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
from typing import IO

from sqlalchemy.ext.asyncio import AsyncSession

from dozor.export.select import ExportFilter, iter_posts
from dozor.export.writers import writer_for

ZIP_MARGIN = 1024 * 1024  # compressed bytes still buffered in zlib when a part is measured


async def write_export(
    session: AsyncSession,
    wanted: ExportFilter,
    fmt: str,
    path: Path,
    *,
    progress: Callable[[int], Awaitable[object]] | None = None,
    bom: bool = False,
) -> int:
    """Write the posts *wanted* to *path* in *fmt*; returns how many were written."""
    writer = writer_for(fmt, bom=bom)
    partial = path.with_name(f".{path.name}.partial")
    written = 0
    try:
        with partial.open("wb") as out:
            writer.begin(out)
            async for rows in iter_posts(session, wanted, columns=writer.columns):
                writer.write(out, rows)
                written += len(rows)
                if progress is not None:
                    await progress(written)
                await asyncio.sleep(0)  # let the bot and the alerts breathe between batches
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return written


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
