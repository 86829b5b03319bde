"""`dozor channels ...` and `dozor stats`: what the archive holds."""

from __future__ import annotations

from typing import Any

import click

from dozor.cli.context import ChannelArgsCommand, config_option, json_option, run_async, state
from dozor.cli.output import format_time, print_json, print_table
from dozor.db import open_database
from dozor.storage import ArchiveStats, ChannelSummary, archive_stats, list_channels
from dozor.storage.channels import CHANGE_FIELDS, TOLD_FIELDS, channel_history, resolve_channel


@click.group()
@config_option
def channels() -> None:
    """Archived channels."""


@channels.command("list")
@config_option
@json_option
def list_(as_json: bool) -> None:
    """Archived channels with post counts, first/last post and last sync."""
    config = state().config()

    async def go() -> list[ChannelSummary]:
        async with (
            open_database(config.database, create_if_empty=False) as sessions,
            sessions() as session,
        ):
            return await list_channels(session)

    rows = run_async(go())
    if as_json:
        print_json([{**_summary_dict(row), "link": row.link} for row in rows])
        return
    if not rows:
        click.echo("no channels archived yet: `dozor import PATH` or `dozor channels add NAME`")
        return
    print_table(
        None,
        [
            "id",
            "username",
            "title",
            "posts",
            "deleted",
            "first post",
            "last post",
            "last sync",
            "status",
        ],
        [
            [
                row.id,
                f"@{row.username}" if row.username else None,
                row.title,
                row.posts,
                row.deleted_posts,
                format_time(row.first_post_at),
                format_time(row.last_post_at),
                _sync(row),
                ("followed, " if row.tracked else "") + row.status + _labels(row.labels),
            ]
            for row in rows
        ],
    )


@channels.command("history", cls=ChannelArgsCommand)
@config_option
@json_option
@click.argument("channel")
@click.option(
    "--field",
    "fields",
    multiple=True,
    type=click.Choice(CHANGE_FIELDS),
    help="Only these fields (repeatable). Default: all but subscribers.",
)
def history(channel: str, fields: tuple[str, ...], as_json: bool) -> None:
    """How a channel's title, username, description, pinned post and Telegram's labels on it
    changed while dozor watched it, when the account lost it and got it back, and its purges
    (and, asked for, its subscriber count), oldest first."""
    config = state().config()
    wanted = fields or TOLD_FIELDS  # subscriber counts only when asked for

    async def go() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with (
            open_database(config.database, create_if_empty=False) as sessions,
            sessions() as session,
        ):
            row = await resolve_channel(session, channel)
            return row, await channel_history(session, row["id"], wanted)

    row, changes = run_async(go())
    if as_json:
        print_json({"channel_id": row["id"], "title": row["title"], "changes": changes})
        return
    name = f"{row['title']} (@{row['username']})" if row["username"] else row["title"]
    if not changes:
        click.echo(
            f"{name}: no change of {', '.join(wanted)} recorded since "
            f"{format_time(row['first_seen_at'])}, when dozor first saw it"
        )
        return
    print_table(
        f"{name}, first seen {format_time(row['first_seen_at'])}",
        ["observed", "field", "was", "now", "source"],
        [
            [
                format_time(c["observed_at"]),
                c["field"],
                c["old_value"],
                c["new_value"],
                c["source"],
            ]
            for c in changes
        ],
    )


def _summary_dict(row: ChannelSummary) -> dict[str, object]:
    return {name: getattr(row, name) for name in row.__dataclass_fields__}


def _sync(row: ChannelSummary) -> str:
    if row.last_sync_at is None:
        return "never"
    return f"{format_time(row.last_sync_at)} ({row.last_sync_source})"


@click.command()
@config_option
@json_option
def stats(as_json: bool) -> None:
    """Summary of the whole archive."""
    config = state().config()

    async def go() -> ArchiveStats:
        async with (
            open_database(config.database, create_if_empty=False) as sessions,
            sessions() as session,
        ):
            return await archive_stats(session)

    result = run_async(go())
    if as_json:
        print_json(result)
        return
    print_table(
        "dozor archive",
        ["", ""],
        [
            ["channels", f"{result.channels} ({result.tracked_channels} followed live)"],
            ["posts", f"{result.posts} ({result.service_posts} service messages)"],
            ["posts with media", result.posts_with_media],
            [
                "attachment files stored",
                f"{result.stored_files} ({result.stored_bytes / 1e6:,.1f} MB)",
            ],
            ["edited posts", result.edited_posts],
            ["deleted posts (tombstones)", result.deleted_posts],
            ["post versions", result.versions],
            ["metric samples", result.metric_samples],
            ["events (change feed)", f"{result.events} (last seq {result.last_event_seq or 0})"],
            ["imports", result.imports],
            ["first post", format_time(result.first_post_at)],
            ["last post", format_time(result.last_post_at)],
        ],
    )


def _labels(labels: str | None) -> str:
    """Telegram's labels on a channel, after its status (``ok; scam``)."""
    return f"; {labels}" if labels else ""
