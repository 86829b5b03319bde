"""`dozor events`: what channels did to their posts lately, across the archive."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.text import Text
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.cli.context import config_option, json_option, run_async, state, stop_on_signals
from dozor.cli.output import (
    beyond_words_text,
    format_time,
    print_json,
    stdout_console,
    to_jsonable,
)
from dozor.cli.when import parse_moment
from dozor.config import DatabaseConfig
from dozor.db import open_database
from dozor.edits import changes_beyond_words
from dozor.errors import UserError
from dozor.media import describe_media
from dozor.query import Node
from dozor.query.document import as_of_version, build_document
from dozor.query.match import matches
from dozor.search.engine import bind_query, post_link
from dozor.storage.channels import resolve_channel
from dozor.storage.events import last_seq
from dozor.storage.post_changes import (
    DEFAULT_KINDS,
    KINDS,
    ChangeFilter,
    Keep,
    PostChange,
    changes_after,
    post_changes,
    service_type,
)
from dozor.text import clip
from dozor.text.diff import compact_diff

FOLLOW_EVERY = 2.0  # seconds between looks at the change feed with --follow
SNIPPET = 300  # characters of a text, or of an edit's words, shown; --json has them whole
_WHITESPACE = re.compile(r"\s+")


@click.command("events")
@config_option
@json_option
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice((*KINDS, "all")),
    help=f"Only these changes (repeatable). Default: {', '.join(DEFAULT_KINDS)}.",
)
@click.option("--channel", "channels", multiple=True, help="Only this channel (repeatable).")
@click.option("--query", help="Only posts whose text before or after the change matches it.")
@click.option("--since", help="Changes made on Telegram since: a date (YYYY-MM-DD) or 24h, 7d.")
@click.option("--until", help="Changes made before this moment.")
@click.option(
    "--found-since",
    help="Changes dozor found since, whenever they were made (a daily review misses nothing).",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=50,
    show_default=True,
    help="Changes listed at most (with --follow, before it waits for new ones).",
)
@click.option(
    "--follow",
    is_flag=True,
    help="Then keep listing changes as dozor records them, until Ctrl-C (oldest first; with "
    "--json one object a line).",
)
def events(
    as_json: bool,
    kinds: tuple[str, ...],
    channels: tuple[str, ...],
    query: str | None,
    since: str | None,
    until: str | None,
    found_since: str | None,
    limit: int,
    follow: bool,
) -> None:
    """What channels did to their posts, newest first: edits with the words they changed,
    deletions with the text deleted, restrictions by Telegram, posts seen again.

    \b
      dozor events --since 24h
      dozor events --channel mvd_official_kg --kind deleted --since 2024-11-01
      dozor events --found-since 1d --query "задержан OR мигрант"
      dozor events --follow --channel mediamvd
    """
    config = state().config()
    now = datetime.now(UTC)
    wanted = ChangeFilter(
        kinds=KINDS if "all" in kinds else tuple(dict.fromkeys(kinds)) or DEFAULT_KINDS,
        since=parse_moment(since, "--since", now),
        until=parse_moment(until, "--until", now),
        found_since=parse_moment(found_since, "--found-since", now),
    )
    if wanted.since and wanted.until and wanted.since >= wanted.until:
        raise UserError(f"--since {since} is not before --until {until}: no event can match")
    if follow and wanted.until:
        raise UserError("--until and --follow do not go together: --follow waits for new events")
    if follow:
        run_async(_follow(config.database, wanted, channels, query, limit, as_json=as_json))
        return

    async def go() -> list[PostChange]:
        async with (
            open_database(config.database, create_if_empty=False) as sessions,
            sessions() as session,
        ):
            chosen, keep = await _bound(session, wanted, channels, query)
            return await post_changes(session, chosen, limit + 1, keep)

    found = run_async(go())
    more = len(found) > limit
    found = found[:limit]
    if as_json:
        print_json({"events": [_as_json(change) for change in found], "more": more})
        return
    _print_changes(stdout_console(), found, wanted, more=more, limit=limit)


async def _bound(
    session: AsyncSession, wanted: ChangeFilter, channels: tuple[str, ...], query: str | None
) -> tuple[ChangeFilter, Keep | None]:
    """The filter with its channels found in the archive, and the query as a test of a
    change (UserError for an unknown channel, QueryError for a bad query)."""
    ids = tuple([(await resolve_channel(session, ref))["id"] for ref in channels])
    node = await bind_query(session, query) if query and query.strip() else None
    return replace(wanted, channel_ids=ids), None if node is None else _matching(node)


async def _follow(
    database: DatabaseConfig,
    wanted: ChangeFilter,
    channels: tuple[str, ...],
    query: str | None,
    limit: int,
    *,
    as_json: bool,
) -> None:
    """The latest *limit* changes, oldest first, then each new one as the archiver (this
    process or another) records it, until SIGINT or SIGTERM."""
    stop = stop_on_signals()
    console = stdout_console()
    async with open_database(database, create_if_empty=False) as sessions:
        async with sessions() as session:
            chosen, keep = await _bound(session, wanted, channels, query)
            seq = await last_seq(session)
            latest = await post_changes(session, replace(chosen, up_to_seq=seq), limit, keep)
        _stream(console, latest[::-1], as_json=as_json)
        while not await _stopped(stop, FOLLOW_EVERY):
            async with sessions() as session:
                fresh, seq = await changes_after(session, chosen, seq, keep)
            _stream(console, fresh, as_json=as_json)


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    """Wait *seconds*, or less if *stop* is set meanwhile; whether it is."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


def _stream(console: Console, changes: list[PostChange], *, as_json: bool) -> None:
    for change in changes:
        if as_json:
            console.file.write(json.dumps(to_jsonable(_as_json(change)), ensure_ascii=False))
            console.file.write("\n")
        else:
            console.print(Text(_headline(change), style="bold"))
            console.print(_body(change, marked=console.color_system is None))
    console.file.flush()  # a pipe, a `tee`, a log file: each change as it comes


def _matching(node: Node) -> Keep:
    """A change is kept when its post, as it read before or after the change, matches."""

    def keep(change: PostChange) -> bool:
        if change.post["kind"] != "message":
            return False
        shown = [v for v in (change.before, change.after) if v is not None]
        return any(matches(node, build_document(as_of_version(change.post, v))) for v in shown)

    return keep


def _link(change: PostChange) -> str:
    channel = change.channel
    return post_link(channel["id"], channel["username"], change.message_id)


def _as_json(change: PostChange) -> dict[str, Any]:
    before, after = change.before, change.after
    return {
        "kind": change.kind,
        "occurred_at": change.occurred_at,
        "recorded_at": change.recorded_at,
        "source": change.source,
        "channel": change.channel,
        "message_id": change.message_id,
        "link": _link(change),
        "version_before": before["version"] if before else None,
        "text_before": before["text"] if before else None,
        "version_after": after["version"] if after else None,
        "text_after": after["text"] if after else None,
        # what an edit changed besides the words: the attachment, links, formatting
        "other_changes": changes_beyond_words(before, after) if before and after else [],
        **change.details,
    }


def _print_changes(
    console: Console, found: list[PostChange], wanted: ChangeFilter, *, more: bool, limit: int
) -> None:
    what = ", ".join(wanted.kinds)
    if not found:
        console.print(Text(f"no events ({what}) match"))
        return
    _stream(console, found, as_json=False)
    noun = "event" if len(found) == 1 else "events"
    shown = f"{len(found)} {noun} ({what}), newest first"
    console.print(Text(f"{shown}; older ones with --limit {limit * 2}" if more else shown))


def _headline(change: PostChange) -> str:
    channel = change.channel
    name = channel["title"] + (f" (@{channel['username']})" if channel["username"] else "")
    line = (
        f"{format_time(change.occurred_at)}  {change.kind}  {name} · post {change.message_id} · "
        f"{_link(change)}"
    )
    if change.found_late:
        line += f" · found {format_time(change.recorded_at)} ({change.source})"
    if change.details.get("deleted_at_once"):
        line += f" · one of {change.details['deleted_at_once']} deleted at once"
    return line


def _body(change: PostChange, *, marked: bool) -> Text:
    """An edit's changed words; otherwise what the post said (and a restriction's change)."""
    body = Text("  ")
    if change.kind == "restricted":
        old, new = change.details["old"] or "nowhere", change.details["new"] or "nowhere"
        body.append(f"hidden by Telegram's apps: {old} → {new}\n  ", style="yellow")
    if change.kind == "edited":
        return _edit_body(body, change, marked=marked)
    if change.post["kind"] != "message":
        return body.append(f"service message: {service_type(change.post)}", style="dim")
    version = change.before or change.after
    if version is None:
        return body.append("(the version is not in the archive)", style="dim")
    return body.append(_said(version))


def _said(version: dict[str, Any]) -> str:
    text = clip(_WHITESPACE.sub(" ", version["text"]).strip(), SNIPPET)
    attachment = describe_media(version["media"])
    if attachment:
        text = f"{text} [{attachment}]" if text else f"[{attachment}]"
    return text or "(no text)"


def _edit_body(body: Text, change: PostChange, *, marked: bool) -> Text:
    before, after = change.before, change.after
    if before is None or after is None:
        return body.append("(the versions are not in the archive)", style="dim")
    others = changes_beyond_words(before, after)
    if before["text"] == after["text"]:
        return beyond_words_text(body, others, words_changed=False, indent="  ")
    for piece in compact_diff(before["text"], after["text"]):
        text = _WHITESPACE.sub(" ", piece.text)  # one line per change
        if piece.kind != "same":
            text = clip(text, SNIPPET)
        if piece.kind == "same":
            body.append(text)
        elif piece.kind == "removed":
            body.append(f"[-{text}-]" if marked else text, style="strike red")
        else:
            body.append(f"{{+{text}+}}" if marked else text, style="bold green")
    return beyond_words_text(body, others, words_changed=True, indent="  ")
