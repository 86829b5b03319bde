"""What handlers need besides the database session, injected by name (``settings``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

# Telegram's cloud Bot API accepts documents up to 50 MB; stay clear of it.
PART_BYTES = 45 * 1024 * 1024


@dataclass(frozen=True)
class BotSettings:
    zone: ZoneInfo
    history: timedelta  # how far back a new rule looks for its first alerts
    work_dir: Path  # where exports are prepared
    media_dir: Path | None = None  # the archiver's downloads, shown in HTML exports
    part_bytes: int = PART_BYTES
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
