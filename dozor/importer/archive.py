"""Exports that arrive zipped (a colleague's ChatExport.zip, the bot's `/export … desktop`):
unpacked into a temporary folder and imported from there, then removed.

zipfile drops absolute paths and ".." from member names and writes no symbolic links, so an
archive cannot write outside its folder. Files get back their time in the archive: a saved
page's time is when it was captured.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dozor.errors import ImportFormatError


def is_zip(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".zip"


@contextmanager
def unpacked(path: Path) -> Iterator[Path]:
    """The zip archive *path*, unpacked into a temporary folder that is removed afterwards."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportFormatError(f"{path}: not a readable zip archive ({exc})") from None
    with archive, tempfile.TemporaryDirectory(prefix="dozor-import-") as folder:
        _check_room(path, archive, Path(folder))
        try:
            for info in archive.infolist():
                target = archive.extract(info, folder)
                stamp = time.mktime((*info.date_time, 0, 0, -1))
                os.utime(target, (stamp, stamp))
        except (zipfile.BadZipFile, RuntimeError, OSError, ValueError) as exc:
            # RuntimeError: an encrypted member; ValueError: a bad compression method
            raise ImportFormatError(f"{path}: cannot unpack: {exc}") from None
        yield Path(folder)


def _check_room(path: Path, archive: zipfile.ZipFile, folder: Path) -> None:
    needed = sum(info.file_size for info in archive.infolist())
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise ImportFormatError(
            f"{path}: unpacked it takes {needed / 1e6:,.0f} MB, and {folder.parent} has "
            f"{free / 1e6:,.0f} MB free; set TMPDIR to a roomier folder, or unpack it yourself"
        )
