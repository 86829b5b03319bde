"""Keeping the attachment files a Desktop export includes (``photos/``, ``files/``…) in the
archive's media store, as if the archiver had downloaded them.

Only files inside the export's folder are read: a post's ``file`` is the export's word, and a
hostile export could name ``../../.ssh/id_rsa``.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dozor.mediastore import StoredFile, StoreFailed, store_copy
from dozor.records import Media, PostRecord
from dozor.storage.media import MAX_MIME

_MISSING = "is not in the export's folder"


@dataclass(frozen=True)
class MediaPolicy:
    """Which attachments an import keeps, and where."""

    media_dir: Path
    kinds: frozenset[str] | None = None  # None: every kind
    max_bytes: int | None = None  # None: any size

    def wants(self, media: Media) -> bool:
        return self.kinds is None or str(media.get("type")) in self.kinds


@dataclass
class KeptFiles:
    stored: list[tuple[int, StoredFile, str | None]]  # message id, file, MIME type
    problems: list[str]
    missing: int = 0  # named by the export, not in its folder (an export made without them)


def candidates(records: Sequence[PostRecord], policy: MediaPolicy) -> list[tuple[int, Media]]:
    """(message id, media) of the posts whose attachment file the export may include."""
    return [
        (record.message_id, record.media)
        for record in records
        if record.media and isinstance(record.media.get("file"), str) and policy.wants(record.media)
    ]


def keep_files(folder: Path, wanted: Sequence[tuple[int, Media]], policy: MediaPolicy) -> KeptFiles:
    """Copy the wanted files found in the export *folder* into the store (blocking I/O)."""
    kept = KeptFiles([], [])
    root = folder.resolve()
    for message_id, media in wanted:
        name = str(media["file"])
        try:
            source = (root / name).resolve()
            problem = _problem(root, source, policy)
            if problem == _MISSING:
                kept.missing += 1
                continue
            if problem is None:
                mime = _mime(media, name)
                kept.stored.append((message_id, store_copy(policy.media_dir, source, mime), mime))
        except StoreFailed:
            raise  # a full disk fails every file after this one: the import stops, in one line
        except (OSError, ValueError, RuntimeError) as exc:  # a loop of links raises RuntimeError
            problem = f"cannot be read ({exc})"
        if problem is not None:
            kept.problems.append(f"message {message_id}: attachment {name!r} {problem}; not kept")
    return kept


def _problem(root: Path, source: Path, policy: MediaPolicy) -> str | None:
    if not source.is_relative_to(root):
        return "lies outside the export's folder"
    if not source.is_file():
        return _MISSING
    if policy.max_bytes is not None and source.stat().st_size > policy.max_bytes:
        return f"is larger than {policy.max_bytes / 1048576:g} MB (archiver.media_max_mb)"
    return None


def _mime(media: Media, name: str) -> str | None:
    declared = media.get("mime_type")
    if isinstance(declared, str) and 0 < len(declared) <= MAX_MIME:
        return declared
    if media.get("type") == "photo":
        return "image/jpeg"
    return mimetypes.guess_type(name)[0]
