"""Which clock a legacy export's times are on, judged against the archive.

Telegram Desktop exports made before it wrote Unix times (``date_unixtime``) give every time
as the exporting computer's wall clock, with no zone. dozor never guesses that zone: an
import of such an export needs ``--tz``. The posts the archiver has read from Telegram carry
exact dates, so where the export and the archive share posts, the archive can tell which UTC
offset the computer was at: the hint given when ``--tz`` is missing, and the check that a
given ``--tz`` is not some other computer's zone.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.errors import ImportFormatError
from dozor.importer.desktop import DesktopExport
from dozor.models import post_versions, posts
from dozor.records import Source

MAX_EVIDENCE = 500  # posts compared at most: plenty to tell a zone
_LIVE = [source.value for source in Source if source.is_live_telegram]


@dataclass(frozen=True)
class Evidence:
    """Posts of the export that Telegram dated for the archive: (wall time, exact date)."""

    pairs: list[tuple[datetime, datetime]]

    def offsets(self) -> Counter[timedelta]:
        """The UTC offsets the exporting computer's clock showed, by how many posts show each."""
        return Counter(_to_minutes(wall - _utc_wall(exact)) for wall, exact in self.pairs)

    def misfits(self, zone: tzinfo) -> int:
        """How many posts *zone* would date otherwise than Telegram did (by a minute or more)."""
        return sum(
            abs(wall.replace(tzinfo=zone) - exact) >= timedelta(minutes=1)
            for wall, exact in self.pairs
        )


async def telegram_dates(
    session: AsyncSession, channel_id: int, newest_message_id: int
) -> dict[int, datetime]:
    """The dates of the channel's posts up to *newest_message_id* that the archiver read from
    Telegram (which sets a post's date exactly), by message id."""
    read = (
        select(post_versions.c.message_id)
        .where(post_versions.c.channel_id == channel_id, post_versions.c.source.in_(_LIVE))
        .distinct()
        .scalar_subquery()
    )
    rows = await session.execute(
        select(posts.c.message_id, posts.c.date).where(
            posts.c.channel_id == channel_id,
            posts.c.message_id <= newest_message_id,
            posts.c.message_id.in_(read),
        )
    )
    return {row.message_id: row.date for row in rows}


def evidence(messages: Iterable[Any], dated: Mapping[int, datetime]) -> Evidence:
    """Pair the wall times of the export's *messages* (raw entries) with the exact dates the
    archive has for them, up to MAX_EVIDENCE posts."""
    pairs = (_pair(raw, dated) for raw in messages)
    return Evidence(list(itertools.islice((p for p in pairs if p is not None), MAX_EVIDENCE)))


def export_evidence(export: DesktopExport, dated: Mapping[int, datetime]) -> Evidence:
    """:func:`evidence` from the messages of *export*, read one at a time, and only when the
    archive has Telegram's dates to compare them with."""
    if not dated:
        return Evidence([])
    with closing(export.messages()) as messages:
        return evidence(messages, dated)


def _pair(raw: Any, dated: Mapping[int, datetime]) -> tuple[datetime, datetime] | None:
    if not isinstance(raw, dict) or raw.get("id") not in dated:
        return None
    value = raw.get("date")
    try:
        wall = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    if wall is None or wall.tzinfo is not None:
        return None
    return wall, dated[raw["id"]]


def _utc_wall(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _to_minutes(offset: timedelta) -> timedelta:
    return timedelta(minutes=round(offset.total_seconds() / 60))


def check_zone(where: str, zone: tzinfo | None, found: Evidence) -> None:
    """Refuse to read an export's wall times without a zone, or in a zone the archive's
    Telegram dates contradict for most of the posts they share."""
    if zone is None:
        raise ImportFormatError(
            f"{where}: this export gives its times on the exporting computer's clock, without "
            "a time zone; say which zone that computer was in with --tz (an IANA name such as "
            f"Asia/Bishkek, or --tz UTC if it is not known){_hint(found)}"
        )
    misfits = found.misfits(zone)
    if misfits and misfits * 2 > len(found.pairs):
        raise ImportFormatError(
            f"{where}: --tz {zone} does not fit this export: Telegram dated {misfits} of the "
            f"{len(found.pairs)} of its posts the archiver read otherwise, and puts that "
            f"computer at {_offsets(found)}; give the zone of the computer that made the export"
        )


def _hint(found: Evidence) -> str:
    if not found.pairs:
        return ""
    return (
        f"; Telegram's dates of the {len(found.pairs)} of its posts the archiver read put "
        f"that computer at {_offsets(found)}"
    )


def _offsets(found: Evidence) -> str:
    """The offsets the posts show, the commonest first (two where the zone has summer time)."""
    return " and ".join(offset_label(offset) for offset, _ in found.offsets().most_common(3))


def offset_label(offset: timedelta) -> str:
    """UTC+06:00, UTC-03:30."""
    sign = "-" if offset < timedelta() else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
