"""Optional attachment downloads into a content-addressed store (off by default).

Files go into the content-addressed store (dozor.mediastore), written once however many posts
carry them. Telegram's file references expire: when one has, the message is fetched
again for a fresh reference and the download retried. A failed download is logged and
skipped; it never stops the archiving of text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telethon import TelegramClient, errors
from telethon.tl import types

from archiver.convert import convert_media, marked_id
from dozor.config import ArchiverConfig
from dozor.mediastore import store_bytes
from dozor.storage.media import downloaded, record_media_file

log = logging.getLogger(__name__)


class MediaDownloader:
    def __init__(
        self,
        client: TelegramClient,
        sessions: async_sessionmaker[AsyncSession],
        settings: ArchiverConfig,
        now: Callable[[], datetime],
    ) -> None:
        self.client = client
        self.sessions = sessions
        self.settings = settings
        self.now = now

    def wanted(self, message: Any) -> bool:
        try:
            media = convert_media(getattr(message, "media", None))
        except Exception:  # the post is filed as unreadable (archiver.service._records)
            return False
        if not media or media.get("type") not in self.settings.media_types:
            return False
        size = media.get("size") or 0
        return bool(size <= self.settings.media_max_mb * 1024 * 1024)

    async def fetch(self, messages: Sequence[Any]) -> int:
        """Download the wanted attachments of *messages* not stored yet; returns how many."""
        candidates = [m for m in messages if self.wanted(m)]
        if not candidates:
            return 0
        channel_id = marked_id(candidates[0].peer_id)
        async with self.sessions() as session:
            done = await downloaded(session, channel_id, [m.id for m in candidates])
        stored = 0
        for message in candidates:
            if message.id in done:
                continue
            try:
                stored += await self._fetch_one(channel_id, message)
            except Exception as exc:
                log.warning(
                    "channel %s message %s: attachment not downloaded: %s",
                    channel_id,
                    message.id,
                    exc,
                )
        return stored

    async def _fetch_one(self, channel_id: int, message: Any) -> int:
        try:
            content = await self.client.download_media(message, file=bytes)
        except (errors.FileReferenceExpiredError, errors.FilerefUpgradeNeededError):
            fresh = await self.client.get_messages(message.peer_id, ids=message.id)
            if fresh is None:
                return 0  # deleted meanwhile
            content = await self.client.download_media(fresh, file=bytes)
        if not isinstance(content, bytes):
            return 0
        mime = _mime(message)
        stored = store_bytes(self.settings.media_dir, content, mime)
        async with self.sessions.begin() as session:
            await record_media_file(
                session,
                channel_id,
                message.id,
                sha256=stored.sha256,
                size=stored.size,
                mime_type=mime,
                path=stored.path,
                at=self.now(),
            )
        return 1


def _mime(message: Any) -> str | None:
    if isinstance(message.media, types.MessageMediaPhoto):
        return "image/jpeg"
    document = getattr(message.media, "document", None)
    return getattr(document, "mime_type", None)
