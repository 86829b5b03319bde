"""`dozor import PATH...`: load Telegram Desktop channel exports."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from rich.markup import escape

from dozor.cli.context import config_option, json_option, run_async, state
from dozor.cli.output import print_json, stderr_console
from dozor.cli.progress import progress_bar
from dozor.db import open_database
from dozor.errors import UserError
from dozor.importer import ImportReport, import_desktop_export
from dozor.storage.channels import username_of

MAX_SHOWN_WARNINGS = 20


@click.command("import")
@config_option
@json_option
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--tz",
    "zone",
    help="Time zone of the computer that made a legacy export (one without Unix times); "
    "default UTC.",
)
@click.option("--username", help="The channel's public @username (exports do not contain it).")
def import_(paths: tuple[Path, ...], zone: str | None, username: str | None, as_json: bool) -> None:
    """Import Telegram Desktop "Export chat history" JSON exports of channels.

    PATH is a result.json or the folder holding it. Importing the same export twice changes
    nothing; a later export adds new posts and records changed texts as new versions.
    """
    config = state().config()
    tz = _zone(zone or "UTC")
    if username is not None and len(paths) > 1:
        raise UserError("--username applies to one export at a time")
    bare_username = _username(username)
    console = stderr_console()
    shown = 0

    def warn(message: str) -> None:
        nonlocal shown
        shown += 1
        if shown <= MAX_SHOWN_WARNINGS:
            console.print(f"[yellow]warning:[/] {escape(message)}", markup=True, highlight=False)

    async def go() -> list[ImportReport]:
        reports = []
        async with open_database(config.database) as sessions:
            for path in paths:
                with progress_bar(f"importing {path.name}") as report_progress:
                    reports.append(
                        await import_desktop_export(
                            sessions,
                            path,
                            tz=tz,
                            username=bare_username,
                            progress=report_progress,
                            warn=warn,
                        )
                    )
        return reports

    reports = run_async(go())
    if shown > MAX_SHOWN_WARNINGS:
        console.print(f"… and {shown - MAX_SHOWN_WARNINGS} more warnings (use --json to see all)")
    if as_json:
        print_json([_report_dict(r) for r in reports])
        return
    for report in reports:
        click.echo(_summary(report, tz_given=zone is not None))


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
    line = (
        f"{report.path}: channel {report.channel_title!r} ({report.channel_id}), "
        f"{report.messages} messages: {outcome.new} new, {report.updated} updated "
        f"({outcome.edited} new versions), {outcome.unchanged} unchanged, "
        f"{report.skipped} skipped"
    )
    if report.dates_assumed_zone:
        line += (
            f"; this export has no Unix times, dates read as {report.dates_assumed_zone} (see --tz)"
        )
    elif tz_given:
        line += "; --tz was not needed: this export has Unix times"
    return line


def _report_dict(report: ImportReport) -> dict[str, object]:
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
        "dates_assumed_zone": report.dates_assumed_zone,
        "warnings": report.warnings,
    }
