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
    parts: list[Path] = []
    header, records = _records(path, fmt)
    archive: zipfile.ZipFile | None = None
    entry: IO[bytes] | None = None
    for record in records:
        if (
            archive is not None
            and archive.fp is not None
            and archive.fp.tell() > part_bytes - margin
        ):
            _close(archive, entry)
            archive = entry = None
        if archive is None:
            target = path.with_name(f"{path.stem}.part{len(parts) + 1:03d}{path.suffix}.zip")
            parts.append(target)
            archive = zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6)
            entry = archive.open(target.name.removesuffix(".zip"), "w", force_zip64=True)
            entry.write(header)
        assert entry is not None
        entry.write(record)
    if archive is not None:
        _close(archive, entry)
    return parts


def _close(archive: zipfile.ZipFile, entry: IO[bytes] | None) -> None:
    if entry is not None:
        entry.close()
    archive.close()


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
