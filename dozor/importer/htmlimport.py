"""Importing a Telegram Desktop HTML export (see :mod:`dozor.importer.desktophtml`).

An HTML export does not say which channel it is, and dozor's identity for a channel is its
id, so a name must not merge one channel's posts into another's. A post's date never changes,
and another channel's post N was published at another time: the archive's posts with the
export's numbers are the evidence.

* ``--channel`` names it: an archived channel (username, title, id) or a full id. When the
  archive has posts with the export's numbers, their dates must agree.
* Without it, the one archived channel that has the export's title *and* at least
  five posts with the export's numbers, nearly all of them dated alike, is taken.
  A title alone is never enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta, tzinfo
from typing import Any, Unpack

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor.channel_refs import parse_channel_ref
from dozor.errors import ChannelNotFound, ImportFormatError
from dozor.importer.desktop import DesktopExport
from dozor.importer.desktophtml import FORMAT, HtmlExport, dates_zone
from dozor.importer.run import ImportOptions, ImportReport, import_export
from dozor.models import posts
from dozor.records import ChannelRecord
from dozor.storage.channels import (
    channel_rows,
    channel_title,
    has_or_had_title,
    resolve_channel,
)

# How far an archived post's date may be from the export's: an hour where the export names
# its offset (a computer on summer time, read without --tz), a day's zones where it does not.
_LABELLED_TOLERANCE = timedelta(hours=1)
_UNLABELLED_TOLERANCE = timedelta(hours=14)
_MIN_EVIDENCE = 5  # posts whose dates agree, to take a channel by its title
_AGREEING = 0.9  # the share of them that must agree
_SERVICES_LEFT_OUT = (
    "service messages (pins, title changes…) not imported: {}; an HTML export gives them no date"
)
_LABEL_READ = (
    "dates read in {}, the offset the export names; Telegram Desktop labels every date with "
    "its zone's standard offset of today, so a post new to the archive from a time that zone "
    "had another offset (summer time; Moscow before 2014) is dated off by the difference: give "
    "the zone with --tz (e.g. Europe/Moscow, Europe/Berlin) when importing such an export"
)


@dataclass(frozen=True)
class _Evidence:
    compared: int  # archived posts with the export's numbers (of its first and last ones)
    differing: int  # of them, published at another time than the export says


@dataclass(frozen=True)
class HtmlImport:
    """An HTML export checked against the archive, ready to import: its channel and zone."""

    export: HtmlExport
    channel_id: int
    tz: tzinfo
    identified: str | None  # how the channel was told, when --channel did not name it
    zone_given: bool


async def check_html_export(
    sessions: async_sessionmaker[AsyncSession],
    export: HtmlExport,
    *,
    channel: str | None,
    zone: tzinfo | None = None,
) -> HtmlImport:
    """Which channel *export* is of (*channel*: a reference as ``dozor channels`` takes it),
    and in which zone its dates are (*zone*: the exporting computer's, ``--tz``, if given);
    raises ImportFormatError or ChannelNotFound, having written nothing."""
    tz = dates_zone(export, zone)
    async with sessions() as session:
        if channel is None:
            channel_id, identified = await _identified(session, export, tz)
        else:
            channel_id, identified = await _named(session, channel), None
            await _check_same_channel(session, export, channel_id, tz)
    return HtmlImport(export, channel_id, tz, identified, zone_given=zone is not None)


async def import_html_export(
    sessions: async_sessionmaker[AsyncSession],
    export: HtmlExport,
    *,
    channel: str | None,
    zone: tzinfo | None = None,
    **options: Unpack[ImportOptions],
) -> ImportReport:
    """Import *export* as the posts of *channel* (see :func:`check_html_export`)."""
    checked = await check_html_export(sessions, export, channel=channel, zone=zone)
    return await import_checked_html(sessions, checked, **options)


async def import_checked_html(
    sessions: async_sessionmaker[AsyncSession],
    checked: HtmlImport,
    **options: Unpack[ImportOptions],
) -> ImportReport:
    """Import an export :func:`check_html_export` has checked."""
    export = checked.export
    desktop = DesktopExport(
        path=export.files[0],
        file_sha256=export.file_sha256,
        format=FORMAT,
        channel=ChannelRecord(id=checked.channel_id, title=export.title),
        message_count=export.message_count,
        newest_message_id=export.newest_message_id,
        has_exact_dates=False,
        source=export.entries,
        rendering="HTML export",
    )
    with_zone: ImportOptions = {**options, "tz": checked.tz}
    report = await import_export(sessions, desktop, **with_zone)
    warn = options.get("warn")
    if checked.identified is not None:
        report.note(checked.identified, warn)
    if export.services:
        report.messages += export.services
        report.skipped += export.services
        report.note(_SERVICES_LEFT_OUT.format(export.services), warn)
    if not checked.zone_given and export.offsets:
        report.note(_LABEL_READ.format(checked.tz), warn)
    return report


async def _named(session: AsyncSession, channel: str) -> int:
    """The channel ``--channel`` names: an archived one, or a full id new to the archive."""
    ref = parse_channel_ref(channel)
    try:
        return int((await resolve_channel(session, channel))["id"])
    except ChannelNotFound:
        if ref.id is not None:
            return ref.id
        raise ChannelNotFound(
            f"--channel {channel}: no archived channel has that username or title; follow it "
            "first (`dozor channels add`), or give the channel's id (-100…)"
        ) from None


async def _identified(session: AsyncSession, export: HtmlExport, tz: tzinfo) -> tuple[int, str]:
    """The one archived channel titled like the export whose posts bear it out, and how it was
    told; else ImportFormatError asking for ``--channel``."""
    titled = await _titled(session, export)
    borne_out = []
    for row in titled:
        evidence = await _evidence(session, export, row["id"], tz)
        if evidence.compared >= _MIN_EVIDENCE and evidence.differing <= (
            (1 - _AGREEING) * evidence.compared
        ):
            borne_out.append((row, evidence))
    if len(borne_out) == 1:
        row, evidence = borne_out[0]
        agreeing = evidence.compared - evidence.differing
        return int(row["id"]), (
            f"channel taken to be {_shown(row)}: the export's title is its, and "
            f"{agreeing} of {evidence.compared} posts it has with the export's numbers are "
            "dated alike"
        )
    hint = ""
    if titled:
        hint = f"; archived channels titled {export.title!r}: " + ", ".join(map(_shown, titled))
    raise ImportFormatError(
        f"{export.folder}: an HTML export does not say which channel it is, and the archive "
        f"does not show it; name it with --channel (its @username, or its id -100…){hint}"
    )


async def _titled(session: AsyncSession, export: HtmlExport) -> list[dict[str, Any]]:
    """Archived channels whose title (now or before) is the export's."""
    if not export.title:
        return []
    wanted = export.title.casefold()
    return [row for row in await channel_rows(session) if has_or_had_title(row, wanted)]


def _shown(row: dict[str, Any]) -> str:
    return f"@{row['username']}" if row["username"] else str(row["id"])


async def _check_same_channel(
    session: AsyncSession, export: HtmlExport, channel_id: int, tz: tzinfo
) -> None:
    """Refuse when the archive's posts with the export's numbers were published at other
    times than the export's: the export is of another channel."""
    evidence = await _evidence(session, export, channel_id, tz)
    if evidence.differing * 2 > evidence.compared:
        title = await channel_title(session, channel_id)
        raise ImportFormatError(
            f"{export.folder}: this does not look like an export of {title!r} ({channel_id}): of "
            f"{evidence.compared} posts the archive has with the same numbers, "
            f"{evidence.differing} were published at other times; check --channel"
        )


async def _evidence(
    session: AsyncSession, export: HtmlExport, channel_id: int, tz: tzinfo
) -> _Evidence:
    """How the archive's posts with the export's numbers (of its first and last messages)
    agree."""
    if not export.sample:
        return _Evidence(0, 0)
    dates = {message_id: wall.replace(tzinfo=tz) for message_id, wall in export.sample}
    rows = await session.execute(
        select(posts.c.message_id, posts.c.date).where(
            posts.c.channel_id == channel_id, posts.c.message_id.in_(list(dates))
        )
    )
    tolerance = _LABELLED_TOLERANCE if export.offsets else _UNLABELLED_TOLERANCE
    compared = differing = 0
    for message_id, archived in rows:
        compared += 1
        if abs(archived - dates[message_id]) > tolerance:
            differing += 1
    return _Evidence(compared, differing)
