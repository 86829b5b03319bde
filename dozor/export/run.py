"""`dozor export`: one export into a fresh folder, with a manifest, all or nothing.

Everything is written into a hidden sibling folder first and renamed into place at the end, so
a failed or interrupted export leaves nothing that looks like a finished one. ``manifest.json``
records the dozor version, the filters, counts, the time and the SHA-256 of every file, so a
recipient can check that nothing was altered (`sha256sum` agrees with it).
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from dozor import __version__
from dozor.errors import EmptyExport, UserError
from dozor.export.desktop import DesktopWriter
from dozor.export.files import CsvWithMetrics, Progress, SingleFile, Sink, pump
from dozor.export.html import HtmlSite
from dozor.export.select import ExportFilter
from dozor.export.writers import SCHEMA_VERSION
from dozor.storage.channels import TOLD_FIELDS, channel_histories

FORMATS = ("jsonl", "csv", "desktop", "html")
WITH_METRICS = ("jsonl", "csv", "html")  # the formats that carry counter samples


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
    if fmt == "html":  # the site shows edit histories and how the views grew
        wanted = replace(wanted, with_versions=True, with_metrics=True)
    if wanted.with_metrics and fmt not in WITH_METRICS:
        raise UserError(
            f"--with-metrics: the {fmt} format has no place for counters over time; use "
            "jsonl (a metrics list in each post), csv (a metrics.csv beside posts.csv) or html"
        )
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
    if fmt == "csv" and wanted.with_metrics:
        sink: Sink = CsvWithMetrics(folder, bom=bom)
    elif fmt in ("jsonl", "csv"):
        sink = SingleFile(fmt, folder / f"posts.{fmt}", bom=bom)
    elif fmt == "desktop":
        sink = DesktopWriter(folder, media_dir=media_dir)
    else:
        changes = await channel_histories(session, TOLD_FIELDS)
        sink = HtmlSite(folder, media_dir=media_dir, channel_changes=changes)
    return await pump(session, wanted, sink, progress)


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
