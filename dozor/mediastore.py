"""The store of attachment files under ``archiver.media_dir``: each content once, named by its
SHA-256 (``ab/cd/abcd….jpg``), whichever path brought it (a download, an imported export).

A file is written beside its final name and renamed into place, so a crash never leaves a
truncated file under a name that claims its hash.
"""

from __future__ import annotations

import hashlib
import mimetypes
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


class StoreFailed(OSError):
    """Writing into the store failed (a full disk, an unwritable folder): the fault is the
    store's, not the source's, and it would fail the next file too."""


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    path: str  # relative to the media folder, with "/"


def store_bytes(media_dir: Path, content: bytes, mime: str | None) -> StoredFile:
    digest = hashlib.sha256(content).hexdigest()
    relative = _relative(digest, mime)
    target = media_dir / relative
    if not target.exists():
        _write_into_place(target, lambda partial: partial.write_bytes(content))
    return StoredFile(digest, len(content), relative)


def store_copy(media_dir: Path, source: Path, mime: str | None) -> StoredFile:
    """Copy *source* into the store (unless its content is there already); raises OSError
    when *source* cannot be read, StoreFailed when the store cannot be written."""
    digest, size = _file_sha256(source)
    relative = _relative(digest, mime)
    target = media_dir / relative
    if not target.exists():
        _write_into_place(target, lambda partial: shutil.copyfile(source, partial))
    return StoredFile(digest, size, relative)


def copy_out(
    media_dir: Path | None, media: Mapping[str, Any], folder: Path, subfolder: str
) -> str | None:
    """Copy the stored file of a post's *media* into *folder*/*subfolder* (an export), unless
    there already; its path relative to *folder*, or None when the archive has no copy."""
    stored = media.get("stored")
    if media_dir is None or not isinstance(stored, str) or not media.get("sha256"):
        return None
    source = media_dir / stored
    if not source.is_file():
        return None
    relative = f"{subfolder}/{Path(stored).name}"
    target = folder / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return relative


def _relative(digest: str, mime: str | None) -> str:
    extension = mimetypes.guess_extension(mime or "") or ""
    return f"{digest[:2]}/{digest[2:4]}/{digest}{extension}"


def _write_into_place(target: Path, write: Callable[[Path], object]) -> None:
    """*write* the file beside *target*, then rename it into place. A write that fails (a
    full disk) takes its partial file with it and raises StoreFailed. For a copy, the source
    has just been read whole to hash it, so a failure here is the store's."""
    partial = target.with_suffix(target.suffix + ".part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write(partial)
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise StoreFailed(exc.errno, exc.strerror or str(exc), str(target)) from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _file_sha256(path: Path) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size
