"""Importing a Telegram Desktop HTML export (see :mod:`dozor.importer.desktophtml`).

An HTML export does not say which channel it is, and dozor's identity for a channel is its
id: the user names the channel, and the name must not merge one channel's posts into
another's. So the channel is an archived one (by username, title or id) or an id given in
full; and when the archive holds posts with the export's numbers, their dates must agree (a
post's date never changes; another channel's post N was published at another time).
"""

from __future__ import annotations

from datetime import timedelta, tzinfo
from typing import Unpack

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor.errors import ChannelNotFound, ImportFormatError
from dozor.importer.desktop import DesktopExport
from dozor.importer.desktophtml import FORMAT, HtmlExport, dates_zone
from dozor.importer.run import ImportOptions, ImportReport, import_export
from dozor.models import channels, posts
from dozor.records import ChannelRecord
from dozor.storage.channels import (
    channel_rows,
    channel_title,
    parse_channel_ref,
    resolve_channel,
)

# How far an archived post's date may be from the export's: an hour where the export names
# its offset (a computer on summer time, read without --tz), a day's zones where it does not.
_LABELLED_TOLERANCE = timedelta(hours=1)
_UNLABELLED_TOLERANCE = timedelta(hours=14)


async def import_html_export(
    sessions: async_sessionmaker[AsyncSession],
    export: HtmlExport,
    *,
    channel: str | None,
    zone: tzinfo | None = None,
    **options: Unpack[ImportOptions],
) -> ImportReport:
    """Import *export* as the posts of *channel* (a reference as ``dozor channels`` takes
    it); *zone*: the exporting computer's time zone (``--tz``), if given."""
    tz = dates_zone(export, zone)
    async with sessions() as session:
        channel_id = await _channel_id(session, export, channel)
        await _check_same_channel(session, export, channel_id, tz)
    desktop = DesktopExport(
        path=export.files[0],
        file_sha256=export.file_sha256,
        format=FORMAT,
        channel=ChannelRecord(id=channel_id, title=export.title),
        message_count=export.message_count,
        newest_message_id=export.newest_message_id,
        has_exact_dates=False,
        source=export.entries,
        rendering="HTML export",
    )
    with_zone: ImportOptions = {**options, "tz": tz}
    report = await import_export(sessions, desktop, **with_zone)
    if export.services:
        report.messages += export.services
        report.skipped += export.services
        report.note(
            f"service messages (pins, title changes…) not imported: {export.services}; an "
            "HTML export gives them no date",
            options.get("warn"),
        )
    if zone is None and export.offsets:
        report.note(
            f"dates read in {tz}, the offset the export names; Telegram Desktop names the "
            "standard offset all year, so if the computer that made it kept summer time, "
            "posts new to the archive from summer months are dated an hour late (give its "
            "zone with --tz, e.g. Europe/Berlin, when importing such an export)",
            options.get("warn"),
        )
    return report


async def _channel_id(session: AsyncSession, export: HtmlExport, channel: str | None) -> int:
    if channel is None:
        raise ImportFormatError(
            f"{export.folder}: an HTML export does not say which channel it is; name it with "
            f"--channel (its @username, or its id -100…){await _suggestion(session, export)}"
        )
    ref = parse_channel_ref(channel)
    try:
        return int((await resolve_channel(session, channel))["id"])
    except ChannelNotFound:
        if ref.id is not None:
            return ref.id  # a channel new to the archive, named by its full id
        raise ChannelNotFound(
            f"--channel {channel}: no archived channel has that username or title; follow it "
            "first (`dozor channels add`), or give the channel's id (-100…)"
        ) from None


async def _suggestion(session: AsyncSession, export: HtmlExport) -> str:
    """Archived channels with the export's title, as a hint (never taken on their own)."""
    if not export.title:
        return ""
    wanted = export.title.casefold()
    rows = await channel_rows(session)
    named = [
        row
        for row in rows
        if (row["title"] or "").casefold() == wanted
        or any(t.casefold() == wanted for t in row["former_titles"])
    ]
    if not named:
        return ""
    shown = ", ".join(f"@{r['username']}" if r["username"] else str(r["id"]) for r in named)
    return f"; archived channels titled {export.title!r}: {shown}"


async def _check_same_channel(
    session: AsyncSession, export: HtmlExport, channel_id: int, tz: tzinfo
) -> None:
    """Refuse when the archive's posts with the export's numbers were published at other
    times than the export's: the export is of another channel."""
    known = await session.execute(select(channels.c.id).where(channels.c.id == channel_id))
    if known.first() is None or not export.sample:
        return
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
    if differing * 2 > compared:
        title = await channel_title(session, channel_id)
        raise ImportFormatError(
            f"{export.folder}: this does not look like an export of {title!r} ({channel_id}): of "
            f"{compared} posts the archive has with the same numbers, {differing} were "
            "published at other times; check --channel"
        )
