"""`dozor import PATH...`: load Telegram Desktop exports and saved t.me/s pages."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from rich.markup import escape
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor.channel_refs import username_of
from dozor.cli.context import config_option, json_option, run_async, state
from dozor.cli.output import print_json, print_table, stderr_console
from dozor.cli.progress import progress_bar
from dozor.config import ArchiverConfig, Config, DatabaseConfig
from dozor.db import open_database
from dozor.errors import ImportFormatError, UserError
from dozor.importer import DesktopExport, ImportReport, import_export, read_exports
from dozor.importer.archive import is_zip, unpacked
from dozor.importer.clock import check_zone, export_evidence, offset_label, telegram_dates
from dozor.importer.desktop import ExportFile, dozor_export_format, not_reimportable
from dozor.importer.desktophtml import FORMAT as DESKTOP_HTML
from dozor.importer.desktophtml import (
    HTML_EXPORT_FILE,
    HtmlExport,
    is_html_export,
    read_html_export,
)
from dozor.importer.files import MediaPolicy
from dozor.importer.htmlimport import HtmlImport, check_html_export, import_checked_html
from dozor.importer.pages import import_web_page, in_capture_order
from dozor.importer.run import ImportOptions
from dozor.importer.webpreview import FORMAT as WEB_PREVIEW
from dozor.importer.webpreview import read_page

MAX_SHOWN_WARNINGS = 20
NEEDS_TZ = "wall clock: needs --tz"  # `--check`: an export without Unix times or offsets
T = TypeVar("T")


@click.command("import")
@config_option
@json_option
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--tz",
    "zone",
    help="Time zone of the computer that made an export without Unix times (a legacy JSON "
    "export, an HTML export), as an IANA name (Asia/Bishkek; UTC if it is not known). Such an "
    "export is not imported without it, unless its HTML names an offset.",
)
@click.option("--username", help="The channel's public @username (exports do not contain it).")
@click.option(
    "--channel",
    help="Which channel an HTML export is of (it does not say; needed unless the archive's "
    "posts show it): an archived channel's @username or title, or the channel's id (-100…).",
)
@click.option(
    "--media/--no-media",
    default=None,
    help="Keep every attachment file the export includes in the media store (--media), or "
    "none (--no-media); default: as archiver.download_media, media_types and media_max_mb say.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Only read and check the files, and list the channels they hold; write nothing.",
)
def import_(
    paths: tuple[Path, ...],
    zone: str | None,
    username: str | None,
    channel: str | None,
    media: bool | None,
    check: bool,
    as_json: bool,
) -> None:
    """Import Telegram Desktop exports of channels ("Export chat history", JSON or HTML), or
    of a whole account ("Export Telegram data", JSON: its channels are imported, other chats
    left out), and saved t.me/s/<channel> pages (from a browser or the Wayback Machine).

    PATH is a result.json or the folder holding it, an HTML export's folder (messages.html;
    --channel names its channel where the archive cannot tell), a saved page (.html) or a
    folder of them, or a zip archive of any of these. Importing the same file twice changes
    nothing; a later export adds new posts and records changed texts as new versions. Pages
    and HTML exports add posts the archive lacks and texts it has not seen, and never
    override it (README, "Importing").
    """
    if check:
        _check(paths, as_json)
        return
    config = state().config()
    tz = _zone(zone) if zone else None
    bare_username = _username(username)
    policy = _media_policy(config.archiver, media)
    with ExitStack() as stack:
        sources = _Sources(stack, paths)
        html = _Html(channel, tz)
        reports = _import_all(config.database, sources, tz, bare_username, policy, html)
    if as_json:
        print_json([report_dict(r) for r in reports])
        return
    for report in reports:
        click.echo(_summary(report, tz_given=zone is not None))


def import_folder(config: Config, folder: Path) -> list[ImportReport]:
    """Import what *folder* holds, as `dozor import FOLDER` does (pages oldest capture first)."""
    with ExitStack() as stack:
        sources = _Sources(stack, (folder,))
        policy = _media_policy(config.archiver, None)
        return _import_all(config.database, sources, None, None, policy, _Html(None, None))


def summary(report: ImportReport) -> str:
    """The line `dozor import` prints for one file it imported."""
    return _summary(report, tz_given=False)


def _check(paths: tuple[Path, ...], as_json: bool) -> None:
    """What `dozor import` would read, channel by channel, without a database."""
    console = stderr_console()
    with ExitStack() as stack:
        sources = _Sources(stack, paths)
        pages = (_page_contents(sources, page) for page in sources.pages)
        rows = [row for row in pages if row is not None]
        for path in sources.exports:
            found = read_exports(path)
            for note in found.notes:
                console.print(f"[yellow]note:[/] {escape(sources.text(note))}", highlight=False)
            rows += [_export_contents(sources, export) for export in found.exports]
        rows += [_html_contents(sources, read_html_export(path)) for path in sources.html]
    if as_json:
        print_json(rows)
        return
    headers = ["path", "format", "channel id", "title", "messages", "newest id", "dates"]
    keys = [
        "path",
        "format",
        "channel_id",
        "channel_title",
        "messages",
        "newest_message_id",
        "dates",
    ]
    print_table("what the files hold", headers, [[row[k] for k in keys] for row in rows])


def _export_contents(sources: _Sources, export: DesktopExport) -> dict[str, Any]:
    return {
        "path": sources.shown(export.path),
        "format": export.format,
        "channel_id": export.channel.id,
        "channel_title": export.channel.title,
        "messages": export.message_count,
        "newest_message_id": export.newest_message_id,
        "exact_dates": export.has_exact_dates,
        "dates": "exact" if export.has_exact_dates else NEEDS_TZ,
    }


def _html_contents(sources: _Sources, export: HtmlExport) -> dict[str, Any]:
    return {
        "path": sources.shown(export.folder),
        "format": DESKTOP_HTML,
        "channel_id": None,  # an HTML export does not say: `dozor import --channel`
        "channel_title": export.title,
        "messages": export.message_count,
        "newest_message_id": export.newest_message_id,
        "exact_dates": False,
        "dates": ", ".join(sorted(map(offset_label, export.offsets))) or NEEDS_TZ,
    }


def _page_contents(sources: _Sources, path: Path) -> dict[str, Any] | None:
    try:
        page = read_page(path)
    except ImportFormatError as exc:
        if path in sources.named:
            raise
        text = escape(sources.text(str(exc)))
        stderr_console().print(f"[yellow]note:[/] skipped {text}", highlight=False)
        return None
    return {
        "path": sources.shown(path),
        "format": WEB_PREVIEW,
        "channel_id": page.channel_id,
        "channel_title": page.title or f"@{page.username}",
        "messages": len(page.widgets),
        "newest_message_id": None,
        "exact_dates": True,
        "dates": "exact",
    }


class _Sources:
    """The paths to import, zip archives unpacked (for as long as *stack* lasts); what an
    unpacked file is called where the user can see it."""

    def __init__(self, stack: ExitStack, paths: tuple[Path, ...]) -> None:
        self.unpacked: dict[Path, Path] = {}  # temporary folder → the archive
        opened = []
        for path in paths:
            if is_zip(path):
                folder = stack.enter_context(_user_errors_shown(self, unpacked(path)))
                self.unpacked[folder] = path
                path = folder
            opened.append(path)
        self.named = {p for p in opened if p not in self.unpacked}
        try:
            self.exports, self.pages, self.html = _split(tuple(opened))
        except UserError as exc:  # naming the archive, not the temporary folder
            raise UserError(self.text(str(exc))) from None

    def shown(self, path: Path) -> Path:
        for folder, archive in self.unpacked.items():
            if path.is_relative_to(folder):
                return archive / path.relative_to(folder)
        return path

    def text(self, message: str) -> str:
        for folder, archive in self.unpacked.items():
            message = message.replace(str(folder), str(archive))
        return message


@contextmanager
def _user_errors_shown(sources: _Sources, inner: AbstractContextManager[T]) -> Iterator[T]:
    """*inner* (an unpacked archive); a user error raised while it is open names the archive,
    not the temporary folder."""
    try:
        with inner as value:
            yield value
    except UserError as exc:
        shown = sources.text(str(exc))
        if shown == str(exc):
            raise
        raise UserError(shown) from None


@dataclass(frozen=True)
class _Html:
    """What importing an HTML export needs to be told: its channel, and --tz if given."""

    channel: str | None
    zone: ZoneInfo | None


def _import_all(
    database: DatabaseConfig,
    sources: _Sources,
    tz: ZoneInfo | None,
    username: str | None,
    policy: MediaPolicy | None,
    html: _Html,
) -> list[ImportReport]:
    if username is not None and (len(sources.exports) + len(sources.html) > 1 or sources.pages):
        raise UserError(
            "--username applies to one Desktop export at a time (a page names its channel)"
        )
    if html.channel is not None and (len(sources.html) != 1 or sources.exports or sources.pages):
        raise UserError(
            "--channel names the channel of one HTML export (other exports and pages name "
            f"their own); the paths hold {len(sources.html)} HTML exports, "
            f"{len(sources.exports)} other exports and {len(sources.pages)} pages"
        )
    console = stderr_console()
    shown = 0

    def warn(message: str) -> None:
        nonlocal shown
        shown += 1
        if shown <= MAX_SHOWN_WARNINGS:
            text = escape(sources.text(message))
            console.print(f"[yellow]warning:[/] {text}", markup=True, highlight=False)

    # An export with Unix times needs no zone; one without is checked first (_zones_checked).
    options: ImportOptions = {"tz": tz or UTC, "username": username, "warn": warn, "media": policy}

    async def go() -> list[ImportReport]:
        reports = []
        async with open_database(database) as sessions:
            # Every export (its channel, its zone) and every page named is checked before any
            # is imported: a refusal leaves the archive as it was.
            htmls = [await _check_html(sessions, folder, sources, html) for folder in sources.html]
            files = [
                await _check_file(sessions, path, sources, options, tz) for path in sources.exports
            ]
            for page in sources.pages:  # one in a folder is skipped if it is not a page
                if page in sources.named:
                    await asyncio.to_thread(read_page, page)
            for checked in htmls:
                reports.append(await _import_html(sessions, checked, sources, options))
            for page in sources.pages:
                try:
                    reports.append(
                        await import_web_page(
                            sessions, page, warn=warn, shown_as=sources.shown(page)
                        )
                    )
                except ImportFormatError as exc:
                    if page in sources.named:
                        raise
                    warn(f"skipped {exc}")  # a folder of captures may hold other pages
            for found in files:
                reports += await _import_file(sessions, found, sources, options)
        return reports

    reports = run_async(go())
    if shown > MAX_SHOWN_WARNINGS:
        console.print(f"… and {shown - MAX_SHOWN_WARNINGS} more warnings (use --json to see all)")
    return reports


async def _check_file(
    sessions: async_sessionmaker[AsyncSession],
    path: Path,
    sources: _Sources,
    options: ImportOptions,
    zone: ZoneInfo | None,
) -> ExportFile:
    """The channels of one Desktop export file, once all of them can be dated."""
    with progress_bar(f"checking {sources.shown(path).name}", in_bytes=True) as checking:
        found = await asyncio.to_thread(read_exports, path, checking)
    if options.get("username") is not None and len(found.exports) > 1:
        raise UserError(
            f"--username applies to one channel; {path} holds "
            f"{len(found.exports)} (a whole-account export)"
        )
    await _zones_checked(sessions, found.exports, zone, sources)
    if any(export.loaded is not None for export in found.exports):
        # parsed whole (see read_exports): read again when imported, so that checking many
        # such files never holds them all
        return ExportFile([], [], reread=path)
    return found


async def _import_file(
    sessions: async_sessionmaker[AsyncSession],
    found: ExportFile,
    sources: _Sources,
    options: ImportOptions,
) -> list[ImportReport]:
    """Import each channel of one checked Desktop export file."""
    if found.reread is not None:
        found = await asyncio.to_thread(read_exports, found.reread)
    warn = options["warn"]
    for note in found.notes:
        if warn is not None:
            warn(note)
    return [
        await _import(sessions, export, {**options, "shown_as": sources.shown(export.path)})
        for export in found.exports
    ]


async def _zones_checked(
    sessions: async_sessionmaker[AsyncSession],
    exports: list[DesktopExport],
    zone: ZoneInfo | None,
    sources: _Sources,
) -> None:
    """Refuse exports without Unix times unless --tz says their zone, and a --tz that the
    archive's Telegram dates of their posts contradict (importer.clock)."""
    for export in exports:
        if export.has_exact_dates:
            continue
        async with sessions() as session:
            dated = await telegram_dates(session, export.channel.id, export.newest_message_id)
        found = await asyncio.to_thread(export_evidence, export, dated)
        check_zone(str(sources.shown(export.path)), zone, found)


async def _import(
    sessions: async_sessionmaker[AsyncSession], export: DesktopExport, options: ImportOptions
) -> ImportReport:
    label = export.channel.title or export.path.parent.name
    with progress_bar(f"importing {label}") as report_progress:
        with_progress: ImportOptions = {**options, "progress": report_progress}
        return await import_export(sessions, export, **with_progress)


async def _check_html(
    sessions: async_sessionmaker[AsyncSession], folder: Path, sources: _Sources, html: _Html
) -> HtmlImport:
    export = await asyncio.to_thread(read_html_export, folder)
    return await check_html_export(sessions, export, channel=html.channel, zone=html.zone)


async def _import_html(
    sessions: async_sessionmaker[AsyncSession],
    checked: HtmlImport,
    sources: _Sources,
    options: ImportOptions,
) -> ImportReport:
    folder = checked.export.folder
    label = checked.export.title or sources.shown(folder).name
    with progress_bar(f"importing {label}") as report_progress:
        shown: ImportOptions = {
            **options,
            "progress": report_progress,
            "shown_as": sources.shown(folder),
        }
        return await import_checked_html(sessions, checked, **shown)


def _media_policy(archiver: ArchiverConfig, forced: bool | None) -> MediaPolicy | None:
    """Which attachment files an import keeps: all (--media), none (--no-media), or what the
    archiver would download."""
    if forced is True:
        return MediaPolicy(archiver.media_dir)
    if forced is False or not archiver.download_media:
        return None
    max_bytes = int(archiver.media_max_mb * 1024 * 1024)
    return MediaPolicy(archiver.media_dir, frozenset(archiver.media_types), max_bytes)


def _split(paths: tuple[Path, ...]) -> tuple[list[Path], list[Path], list[Path]]:
    """Desktop JSON exports, saved pages (oldest capture first) and Desktop HTML exports
    (their folders). A folder with a result.json is one export, a folder with a messages.html
    one HTML export; any other folder is searched: for exports of either kind in its
    subfolders (a multi-channel `dozor export --format desktop`, a folder of exports) and for
    saved pages."""
    exports, pages, html = [], [], []
    for named in paths:
        path = _made_by_dozor(named)
        if path.is_file() and _is_html_export_page(path):
            html.append(path.parent)
        elif path.is_file() and path.suffix.lower() in (".html", ".htm"):
            pages.append(path)
        elif path.is_dir() and is_html_export(path):
            html.append(path)
        elif path.is_dir() and _is_account_html_export(path):
            raise _account_html_export(path)
        elif path.is_dir() and not (path / "result.json").exists():
            found_exports, found_pages, found_html = _search(path)
            if not (found_exports or found_pages or found_html):
                exports.append(path)  # the Desktop importer says what is missing
            exports += found_exports
            pages += found_pages
            html += found_html
        else:
            exports.append(path / "result.json" if path.is_dir() else path)
    # A folder and what it holds may both be named (`dozor import export/*`): each once.
    return (
        list(dict.fromkeys(exports)),
        in_capture_order(list(dict.fromkeys(pages))),
        list(dict.fromkeys(html)),
    )


def _made_by_dozor(path: Path) -> Path:
    """*path*, or the folder of the dozor export whose manifest it is. An export dozor cannot
    read back (JSON Lines, CSV, HTML) is refused here: its files are no Desktop export."""
    start = path if path.is_dir() else path.parent
    for folder in (start, start.parent):
        made = dozor_export_format(folder)
        if made is None:
            continue
        if made != "desktop":
            part = "" if path == folder else "part of "
            raise UserError(f"{path}: {part}{not_reimportable(made)}")
        return folder if path.name == "manifest.json" and path.is_file() else path
    return path


def _is_account_html_export(folder: Path) -> bool:
    return (folder / "export_results.html").is_file() and not (folder / "result.json").exists()


def _account_html_export(folder: Path) -> UserError:
    return UserError(
        f"{folder}: a whole-account HTML export, which does not say which chats are channels; "
        "import a channel's folder (chats/chat_…) on its own, or export the account again as "
        "Machine-readable JSON"
    )


def _is_html_export_page(path: Path) -> bool:
    """One of the messages*.html files of a Desktop HTML export (its folder is the export)."""
    return bool(HTML_EXPORT_FILE.match(path.name)) and is_html_export(path.parent)


def _search(folder: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """The Desktop exports (folders with a result.json), HTML exports (with a messages.html)
    and saved pages in and below *folder*. Not pages: the files a browser saves beside a page
    (``Name_files/``) and those inside an export."""
    exports: list[Path] = []
    pages: list[Path] = []
    html: list[Path] = []
    for current, folders, files in os.walk(folder):
        here = Path(current)
        if "result.json" in files:
            exports.append(here / "result.json")
            folders.clear()
            continue
        if _is_account_html_export(here):
            raise _account_html_export(here)
        made = dozor_export_format(here) if "manifest.json" in files else None
        if made not in (None, "desktop"):  # its pages are no saved t.me/s pages
            raise UserError(f"{here}: {not_reimportable(str(made))}")
        if "messages.html" in files and is_html_export(here):
            html.append(here)
            folders.clear()
            continue
        folders[:] = sorted(f for f in folders if not f.endswith("_files"))
        pages += [here / f for f in sorted(files) if Path(f).suffix.lower() in (".html", ".htm")]
    return exports, pages, html


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(
            f"--tz: unknown time zone {name!r}; use an IANA name like Asia/Bishkek"
        ) from None


def _username(value: str | None) -> str | None:
    if value is None:
        return None
    name = username_of(value)
    if name is None:
        raise UserError(
            f"--username {value!r}: not a Telegram username (letters, digits and _, "
            "e.g. mvd_official_kg)"
        )
    return name


def _summary(report: ImportReport, *, tz_given: bool) -> str:
    outcome = report.outcome
    if report.format == WEB_PREVIEW:
        return (
            f"{report.path}: channel {report.channel_title!r} ({report.channel_id}), "
            f"{report.messages} posts: {outcome.new} new, {outcome.edited} new versions, "
            f"{outcome.unchanged} already known, {report.skipped} skipped"
            + (
                f"; views and reactions of {report.counter_samples} posts as the page showed them"
                if report.counter_samples
                else ""
            )
        )
    line = (
        f"{report.path}: channel {report.channel_title!r} ({report.channel_id}), "
        f"{report.messages} messages: {outcome.new} new, {report.updated} updated "
        f"({outcome.edited} new versions), {outcome.unchanged} unchanged, "
        f"{report.skipped} skipped"
    )
    if report.deleted:
        line += f", {report.deleted} marked deleted as the export records"
    if report.files_kept:
        line += f", attachment files kept: {report.files_kept}"
    if report.dates_assumed_zone:
        line += f"; this export has no Unix times: dates read in {report.dates_assumed_zone}"
    elif tz_given:
        line += "; --tz was not needed: this export has Unix times"
    return line


def report_dict(report: ImportReport) -> dict[str, object]:
    """What `dozor import --json` gives for one file it imported."""
    return {
        "path": report.path,
        "channel_id": report.channel_id,
        "channel_title": report.channel_title,
        "format": report.format,
        "messages": report.messages,
        "new": report.outcome.new,
        "updated": report.updated,
        "new_versions": report.outcome.edited,
        "unchanged": report.outcome.unchanged,
        "skipped": report.skipped,
        "deleted": report.deleted,
        "files_kept": report.files_kept,
        "files_missing": report.files_missing,
        "counter_samples": report.counter_samples,
        "dates_assumed_zone": report.dates_assumed_zone,
        "warnings": report.warnings,
    }
