"""`dozor export`: posts to JSON Lines, CSV, Telegram Desktop JSON or a static HTML site."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from dozor.cli.context import config_option, json_option, run_async, state
from dozor.cli.output import print_json
from dozor.cli.progress import progress_bar
from dozor.cli.when import parse_moment
from dozor.db import open_database
from dozor.errors import UserError
from dozor.export import ExportFilter
from dozor.export.run import FORMATS, ExportReport, run_export
from dozor.export.select import count_candidates


@click.command("export")
@config_option
@json_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True)
@click.option("--channel", "channels", multiple=True, help="Only this channel (repeatable).")
@click.option("--query", help="Only posts matching this query (docs/QUERY.md).")
@click.option(
    "--since",
    help="Posts from this date (YYYY-MM-DD, UTC unless a zone is given), or this long ago "
    "(24h, 7d).",
)
@click.option("--until", help="Posts before this date.")
@click.option("--include-deleted", is_flag=True, help="Also posts deleted on Telegram.")
@click.option("--with-versions", is_flag=True, help="Every archived version of each post.")
@click.option(
    "--with-metrics",
    is_flag=True,
    help="Every sample of each post's views, forwards and reactions (jsonl; csv: a "
    "metrics.csv). The html site always draws how views grew.",
)
@click.option("--bom", is_flag=True, help="CSV: start with a BOM so Excel reads UTF-8.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="A new (or empty) folder for the export and its manifest.json.",
)
def export(
    as_json: bool,
    fmt: str,
    channels: tuple[str, ...],
    query: str | None,
    since: str | None,
    until: str | None,
    include_deleted: bool,
    with_versions: bool,
    with_metrics: bool,
    bom: bool,
    out: Path,
) -> None:
    """Export posts, streaming, with a manifest of SHA-256 sums."""
    config = state().config()
    now = datetime.now(UTC)
    start, end = parse_moment(since, "--since", now), parse_moment(until, "--until", now)
    if start is not None and end is not None and start >= end:
        raise UserError(f"--since {since} is not before --until {until}: no post can match")
    wanted = ExportFilter(
        query=query,
        channels=channels,
        since=start,
        until=end,
        include_deleted=include_deleted,
        with_versions=with_versions,
        with_metrics=with_metrics,
    )

    async def go() -> ExportReport:
        async with (
            open_database(config.database, create_if_empty=False) as sessions,
            sessions() as session,
        ):
            total = await count_candidates(session, wanted)
            with progress_bar(f"exporting {fmt}") as draw:

                async def progress(done: int) -> None:
                    draw(done, max(total, done))

                report = await run_export(
                    session,
                    wanted,
                    fmt,
                    out,
                    media_dir=config.archiver.media_dir,
                    bom=bom,
                    progress=progress,
                )
                draw(report.posts, report.posts)
                return report

    report = run_async(go())
    if as_json:
        print_json(
            {
                "folder": str(report.folder),
                "posts": report.posts,
                "channels": report.channels,
                "files": [str(p) for p in report.files],
            }
        )
    else:
        click.echo(
            f"exported {report.posts:,} posts from {report.channels} channel(s) to {report.folder} "
            f"({len(report.files)} files, manifest.json lists their SHA-256)"
        )
