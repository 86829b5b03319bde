"""`dozor post LINK`: everything the archive knows about one post."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.text import Text

from dozor.cli.context import ChannelArgsCommand, config_option, json_option, run_async, state
from dozor.cli.output import (
    beyond_words_text,
    format_time,
    print_json,
    print_table,
    stdout_console,
)
from dozor.db import open_database
from dozor.edits import changes_beyond_words
from dozor.errors import UserError
from dozor.ids import is_digits
from dozor.media import describe_media
from dozor.records import ROUNDED_MARK, buttons_line, count_text, reactions_line
from dozor.search.engine import post_link
from dozor.storage.history import PinSpan, PostHistory, parse_post_ref, post_history
from dozor.storage.post_changes import service_type
from dozor.storage.posts import expired_by_timer
from dozor.text.diff import word_changes

METRICS_SHOWN = 12  # counter samples printed (the first and last halves); --json has all


@click.command("post", cls=ChannelArgsCommand)
@config_option
@json_option
@click.argument("ref", metavar="LINK | CHANNEL")
@click.argument("number", metavar="[POST]", required=False)
def post_(ref: str, number: str | None, as_json: bool) -> None:
    """Everything archived about one post: each version with what changed, its deletion,
    views and reactions over time, and its events.

    \b
      dozor post https://t.me/mvd_official_kg/1234
      dozor post mvd_official_kg 1234
    """
    config = state().config()
    channel_ref, message_id = _post_ref(ref, number)

    async def go() -> PostHistory:
        async with (
            open_database(config.database, create_if_empty=False) as sessions,
            sessions() as session,
        ):
            return await post_history(session, channel_ref, message_id)

    history = run_async(go())
    channel = history.channel
    link = post_link(channel["id"], channel["username"], message_id)
    if as_json:
        print_json(
            {
                "channel": {k: channel[k] for k in ("id", "title", "username")},
                "link": link,
                "post": history.post,
                "attachment": describe_media(history.post["media"]),
                "versions": history.versions,
                "metrics": history.metrics,
                "events": history.events,
                "pinned": [{"since": s.since, "until": s.until} for s in history.pinned],
            }
        )
        return
    _print_history(stdout_console(), link, history)


def _post_ref(ref: str, number: str | None) -> tuple[str, int]:
    if number is None:
        return parse_post_ref(ref)
    if not is_digits(number.strip()):
        raise UserError(f"{number!r} is not a post number")
    return ref, int(number)


def _print_history(console: Console, link: str, history: PostHistory) -> None:
    post, channel = history.post, history.channel
    name = channel["title"] + (f" (@{channel['username']})" if channel["username"] else "")
    console.print(Text(f"{name} · post {post['message_id']} · {link}", style="bold"))
    console.print(Text(" · ".join([*_facts(post), *map(_pin_fact, history.pinned)])))
    if post["deleted_at"] is not None:
        console.print(Text(_gone(post), style="bold red"))
    previous: dict[str, Any] | None = None
    for version in history.versions:
        console.print()
        console.print(Text(_version_title(version), style="cyan"))
        console.print(_version_body(previous, version, marked=console.color_system is None))
        previous = version
    _print_metrics(console, history.metrics)
    console.print()
    console.print(Text("events", style="cyan"))
    for event in history.events:
        console.print(Text(_event_line(event)))


def _gone(post: dict[str, Any]) -> str:
    seen = format_time(post["deleted_at"])
    if expired_by_timer(post, post["deleted_at"]):
        timer = format_time(post["expires_at"])
        return (
            f"gone on Telegram when its auto-delete timer ran out ({timer}), seen {seen}: "
            "nobody deleted it; the archive keeps it"
        )
    return f"deleted on Telegram, seen {seen}; the archive keeps it"


def _facts(post: dict[str, Any]) -> list[str]:
    facts = [f"posted {format_time(post['date'])}"]
    if post["edit_date"] is not None:
        facts.append(f"last edited {format_time(post['edit_date'])}")
    elif post["edit_time_unknown"]:
        facts.append("edited (a saved page did not say when)")
    if post["kind"] != "message":
        facts.append(f"service message: {service_type(post)}")
    elif (attachment := describe_media(post["media"])) is not None:
        facts.append(attachment)
    if buttons := buttons_line(post["buttons"]):
        facts.append(f"buttons: {buttons}")
    if post["author_signature"]:
        facts.append(f"signed {post['author_signature']}")
    if post["forwarded_from_name"] or post["forwarded_from_id"]:
        facts.append(f"forwarded from {post['forwarded_from_name'] or post['forwarded_from_id']}")
    if post["reply_to_message_id"]:
        facts.append(f"reply to post {post['reply_to_message_id']}")
    if post["expires_at"] is not None and post["deleted_at"] is None:
        facts.append(f"deletes itself {format_time(post['expires_at'])} (auto-delete)")
    if post["restriction"]:
        facts.append(f"hidden by Telegram's apps: {post['restriction']}")
    if post["grouped_id"]:
        facts.append(f"album {post['grouped_id']}")
    return facts


def _pin_fact(span: PinSpan) -> str:
    if span.until is None:
        return f"shown pinned since {format_time(span.since)}"
    return f"shown pinned {format_time(span.since)} to {format_time(span.until)}"


def _version_title(version: dict[str, Any]) -> str:
    title = f"version {version['version']} · seen {format_time(version['observed_at'])}"
    title += f" ({version['source']})"
    if version["edit_date"] is not None:
        title += f" · edited on Telegram {format_time(version['edit_date'])}"
    elif version["edit_time_unknown"]:
        title += " · edited on Telegram, time unknown"
    return title


def _version_body(
    previous: dict[str, Any] | None, version: dict[str, Any], *, marked: bool
) -> Text:
    """The first version whole; later ones as their changes: removed words struck through
    in red, added ones in green, or without colours ``[-removed-]{+added+}`` as in
    ``git diff --word-diff``."""
    if previous is None:
        return Text(version["text"]) if version["text"] else Text("(no text)", style="dim")
    others = changes_beyond_words(previous, version)
    if previous["text"] == version["text"]:
        return beyond_words_text(Text(), others, words_changed=False)
    body = Text()
    for change in word_changes(previous["text"], version["text"]):
        if change.tag == "equal":
            body.append("".join(change.old))
            continue
        removed, added = "".join(change.old), "".join(change.new)
        if marked:
            removed = f"[-{removed}-]" if removed else ""
            added = f"{{+{added}+}}" if added else ""
        body.append(removed, style="strike red")
        body.append(added, style="bold green")
    return beyond_words_text(body, others, words_changed=True)


def _print_metrics(console: Console, metrics: list[dict[str, Any]]) -> None:
    if not metrics:
        return
    half = METRICS_SHOWN // 2
    shown = metrics if len(metrics) <= METRICS_SHOWN else [*metrics[:half], *metrics[-half:]]
    rows: list[list[Any]] = [
        [
            format_time(m["sampled_at"]),
            _count(m["views"], m["rounded"]),
            _count(m["forwards"], m["rounded"]),
            _count(m["replies"], m["rounded"]),
            _reactions(m["reactions"], m["rounded"]),
        ]
        for m in shown
    ]
    if len(shown) < len(metrics):
        rows.insert(
            half, [f"… {len(metrics) - len(shown)} more samples (--json) …", "", "", "", ""]
        )
    print_table(
        f"counters over time ({len(metrics)} samples)",
        ["sampled", "views", "forwards", "replies", "reactions"],
        rows,
    )
    if any(m["rounded"] for m in shown):
        console.print(
            Text(f"{ROUNDED_MARK} rounded, as a saved t.me page showed it (23.4K)", style="dim")
        )


def _count(value: int | None, rounded: bool = False) -> str:
    """A count, marked where a page showed it rounded."""
    if value is None:
        return "—"
    return count_text(value, rounded)


def _reactions(reactions: list[dict[str, Any]] | None, rounded: bool = False) -> str:
    return reactions_line(reactions, lambda count: _count(count, rounded)) or "—"


def _event_line(event: dict[str, Any]) -> str:
    line = f"{format_time(event['occurred_at'])}  {event['kind']} ({event['source']})"
    if event["version"] is not None:
        line += f" · version {event['version']}"
    details = event["details"] or {}
    if event["kind"] == "mass_deleted":
        line += f" · {details.get('count', '?')} posts at once"
    if event["kind"] == "restricted":
        line += f" · {details.get('old') or 'nowhere'} → {details.get('new') or 'nowhere'}"
    return line
