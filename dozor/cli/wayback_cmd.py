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
from dozor.config import Config
from dozor.db import open_database
from dozor.errors import ChannelNotFound, DatabaseNotReady, UserError
from dozor.importer.run import ImportReport
from dozor.importer.wayback import (
    DEFAULT_SERVER,
    PAUSE_SECONDS,
    PERIODS,
    FetchReport,
    describe,
    fetch_captures,
)
from dozor.storage.channels import channel_rows, resolve_channel


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

    CHANNEL is a public username (mvd_official_kg, @mvd_official_kg or t.me/mvd_official_kg),
    or any reference to an archived channel (its title, id or link): then the captures under
    every username it has had are fetched. The captures stay in --out as the evidence the
    archive came from."""
    start, end = _arguments(since, until, server)
    # The archive tells the usernames a channel had: --no-import reads it if there is one.
    config = state().config() if not no_import or state().path.exists() else None
    usernames = _usernames(channel, config)
    folder = out or Path(f"wayback-{usernames[0]}")
    fetched: dict[str, FetchReport] = {}
    for name in usernames:
        with progress_bar(f"fetching captures of t.me/s/{name}") as report:
            fetched[name] = run_async(
                fetch_captures(
                    name,
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
    if config is not None and not no_import and any(r.on_disk for r in fetched.values()):
        reports = import_cmd.import_folder(config, folder)
    if as_json:
        print_json(
            {
                "usernames": usernames,
                "captures": describe(FetchReport.combined(fetched.values())),
                "imports": [import_cmd.report_dict(r) for r in reports],
            }
        )
        return
    _print_fetched(fetched, server, period, folder, _in(since, until))
    _print_imports(reports)


def _usernames(channel: str, config: Config | None) -> list[str]:
    """The usernames to ask for: every one an archived channel has had (now first), else the
    one given."""
    username = username_of(channel)
    archived = run_async(_archived_usernames(config, channel)) if config is not None else None
    if archived is not None:
        if not archived:
            raise UserError(
                f"{channel!r}: the archived channel has never had a username, and the Wayback "
                "Machine has t.me/s pages of public channels only"
            )
        return archived
    if username is None:
        raise UserError(
            f"{channel!r} is neither a public channel's username nor an archived channel: the "
            "Wayback Machine has t.me/s pages of public channels only"
        )
    return [username]


async def _archived_usernames(config: Config, channel: str) -> list[str] | None:
    """The usernames of the archived channel *channel* means, its current one first; None
    when there is no archive yet or it holds no such channel."""
    try:
        async with (
            open_database(config.database, create_if_empty=False) as sessions,
            sessions() as session,
        ):
            found = await resolve_channel(session, channel)
            rows = await channel_rows(session)
    except (DatabaseNotReady, ChannelNotFound):
        return None
    row = next(r for r in rows if r["id"] == found["id"])
    current = [row["username"]] if row["username"] else []
    names = [*current, *reversed(row["former_usernames"])]  # the latest former one first
    return list(dict.fromkeys(names))


def _print_fetched(
    fetched: dict[str, FetchReport], server: str, period: str | None, folder: Path, dates: str
) -> None:
    for report in fetched.values():
        for line in report.gone:
            stderr_console().print(
                f"[yellow]warning:[/] not fetched: {escape(line)}", highlight=False
            )
    for name, report in fetched.items():
        if not report.listed:
            click.echo(f"t.me/s/{name}: {server} has no captures of it{dates}")
            continue
        chosen = f", {report.chosen} of them one per page and {period}" if period else ""
        click.echo(
            f"t.me/s/{name}: {report.listed} captures at {server}{chosen}, "
            f"{len(report.fetched)} fetched now, {report.kept} fetched before, kept in {folder}"
        )


def _arguments(
    since: str | None, until: str | None, server: str
) -> tuple[date | None, date | None]:
    """The dates and the server, checked before anything is asked."""
    start, end = _day(since, "--since"), _day(until, "--until")
    if start is not None and end is not None and start > end:
        raise UserError(f"--since {since} is after --until {until}: no capture can match")
    if not server.startswith(("http://", "https://")):
        raise UserError(f"--server {server!r}: give the archive's address, http(s)://…")
    return start, end


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
