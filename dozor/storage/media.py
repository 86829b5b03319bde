"""Downloaded attachments: a content-addressed record, linked from the post's media metadata."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.models import media_files, posts
from dozor.storage.bulk import insert_ignoring_duplicates

MAX_MIME = 128  # the width of media_files.mime_type


async def downloaded(session: AsyncSession, channel_id: int, message_ids: list[int]) -> set[int]:
    """Which of these posts already have their attachment stored."""
    if not message_ids:
        return set()
    result = await session.execute(
        select(posts.c.message_id, posts.c.media).where(
            posts.c.channel_id == channel_id, posts.c.message_id.in_(message_ids)
        )
    )
    return {mid for mid, media in result if media and media.get("sha256")}


async def record_media_file(
    session: AsyncSession,
    channel_id: int,
    message_id: int,
    *,
    sha256: str,
    size: int,
    mime_type: str | None,
    path: str,
    at: datetime,
) -> None:
    """Note a stored file and point the post's media metadata at it (no new post version: the
    content hash covers the attachment's identity, not where dozor keeps a copy).

    A *mime_type* longer than any real one (a client sets a document's own) is kept unknown."""
    if mime_type is not None and len(mime_type) > MAX_MIME:
        mime_type = None
    await insert_ignoring_duplicates(
        session,
        media_files,
        [
            {
                "sha256": sha256,
                "size": size,
                "mime_type": mime_type,
                "path": path,
                "first_seen_at": at,
            }
        ],
    )
    current: dict[str, Any] | None = (
        await session.execute(
            select(posts.c.media).where(
                posts.c.channel_id == channel_id, posts.c.message_id == message_id
            )
        )
    ).scalar_one_or_none()
    await session.execute(
        update(posts)
        .where(posts.c.channel_id == channel_id, posts.c.message_id == message_id)
        .values(media={**(current or {}), "sha256": sha256, "stored": path})
    )
