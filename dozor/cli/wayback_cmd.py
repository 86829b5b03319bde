"""`dozor wayback`: fetch a channel's t.me/s captures from the Wayback Machine and import them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from rich.markup import escape

from dozor.channel_refs import username_of
from dozor.cli import import_cmd
from dozor.cli.context import config_option, json_option, run_async, state
from dozor.cli.output import print_json, stderr_console
from dozor.cli.progress import progress_bar
from dozor.errors import UserError
from dozor.importer.run import ImportReport
from dozor.importer.wayback import (
    DEFAULT_SERVER,
    PAUSE_SECONDS,
    PERIODS,
    describe,
    fetch_captures,
)


@click.command("wayback")
@config_option
@json_option
@click.argument("channel")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder the captures are kept in (default: ./wayback-<channel>); a later run fetches "
    "only the captures it lacks.",
)
@click.option("--since", help="Captures from this date (YYYY-MM-DD).")
@click.option("--until", help="Captures up to this date, inclusive.")
@click.option(
    "--server",
    default=DEFAULT_SERVER,
    show_default=True,
    help="The archive to ask: the Wayback Machine, or another with its CDX API (pywb).",
)
@click.option(
    "--pause",
    type=click.FloatRange(min=0),
    default=PAUSE_SECONDS,
    show_default=True,
    help="Seconds between two requests (the Wayback Machine turns away faster clients).",
)
@click.option(
    "--one-per",
    "period",
    type=click.Choice(PERIODS),
    help="Fetch only the first capture of each page in each day, week or month: far fewer "
    "requests for a channel captured thousands of times, but a post that lived between two "
    "captures of one period is missed.",
)
@click.option("--no-import", is_flag=True, help="Only fetch the captures; import them later.")
def wayback(
    channel: str,
    out: Path | None,
    since: str | None,
    until: str | None,
    server: str,
    pause: float,
    period: str | None,
    no_import: bool,
    as_json: bool,
) -> None:
    """Fetch the Wayback Machine's captures of a public channel's t.me/s pages, then import
    them: posts deleted or edited before dozor watched the channel, and views over time.

    CHANNEL is a public username (mvd_official_kg, @mvd_official_kg or t.me/mvd_official_kg).
    The captures stay in --out as the evidence the archive came from."""
    username, start, end = _arguments(channel, since, until, server)
    config = state().config() if not no_import else None
    folder = out or Path(f"wayback-{username}")
    with progress_bar(f"fetching captures of t.me/s/{username}") as report:
        fetched = run_async(
            fetch_captures(
                username,
                folder,
                server=server,
                since=start,
                until=end,
                pause=pause,
                period=period,
                progress=report,
            )
        )
    reports = []
    if config is not None and fetched.on_disk > 0:
        reports = import_cmd.import_folder(config, folder)
    if as_json:
        print_json(
            {"captures": describe(fetched), "imports": [import_cmd.report_dict(r) for r in reports]}
        )
        return
    for line in fetched.gone:
        stderr_console().print(f"[yellow]warning:[/] not fetched: {escape(line)}", highlight=False)
    if not fetched.listed:
        click.echo(f"t.me/s/{username}: {server} has no captures of it{_in(since, until)}")
        return
    chosen = f", {fetched.chosen} of them one per page and {period}" if period else ""
    click.echo(
        f"t.me/s/{username}: {fetched.listed} captures at {server}{chosen}, "
        f"{len(fetched.fetched)} fetched now, {fetched.kept} fetched before, kept in {folder}"
    )
    _print_imports(reports)


def _arguments(
    channel: str, since: str | None, until: str | None, server: str
) -> tuple[str, date | None, date | None]:
    """The channel's username and the dates, checked before anything is asked."""
    username = username_of(channel)
    if username is None:
        raise UserError(
            f"{channel!r} is not a public channel's username: the Wayback Machine has t.me/s "
            "pages of public channels only"
        )
    start, end = _day(since, "--since"), _day(until, "--until")
    if start is not None and end is not None and start > end:
        raise UserError(f"--since {since} is after --until {until}: no capture can match")
    if not server.startswith(("http://", "https://")):
        raise UserError(f"--server {server!r}: give the archive's address, http(s)://…")
    return username, start, end


def _print_imports(reports: list[ImportReport]) -> None:
    """The pages that added something, then the totals (a channel may have hundreds)."""
    for report in reports:
        if report.outcome.new or report.outcome.edited or report.counter_samples:
            click.echo(import_cmd.summary(report))
    if reports:
        new = sum(r.outcome.new for r in reports)
        versions = sum(r.outcome.edited for r in reports)
        click.echo(
            f"{len(reports)} captures imported: {new} posts new to the archive, "
            f"{versions} new versions"
        )


def _in(since: str | None, until: str | None) -> str:
    if since and until:
        return f" from {since} to {until}"
    return f" from {since} on" if since else f" up to {until}" if until else ""


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option} {value!r}: use YYYY-MM-DD") from None
