"""`dozor rules ...` and `dozor alerts ...`: keyword rules and the alerts they produce."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click
from sqlalchemy import select

from dozor.alerts.generator import GenerationReport, RuleCache, generate_alerts
from dozor.channel_refs import parse_channel_ref
from dozor.cli.context import config_option, json_option, query_argument, run_async, state
from dozor.cli.output import format_time, print_json, print_table
from dozor.config import EVENT_KINDS, RULE_MODES, Config
from dozor.db import open_database
from dozor.errors import UserError
from dozor.models import alerts, rules
from dozor.query import parse
from dozor.query.document import build_document
from dozor.query.match import bind_channels
from dozor.rules.explain import explain
from dozor.rules.store import (
    PAUSED,
    REMOVED,
    Rule,
    add_rule,
    find_rule,
    list_rules,
    sync_config_rules,
    unknown_channels,
    update_rule,
)
from dozor.storage.channels import channel_rows, matching_channels
from dozor.storage.history import parse_post_ref, post_history


def _history(config: Config) -> timedelta:
    return timedelta(minutes=config.alerts.history_minutes)


def _rule_json(rule: Rule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in rule.__dataclass_fields__}


@click.group("rules")
@config_option
def rules_group() -> None:
    """Keyword alert rules (query language: docs/QUERY.md)."""


@rules_group.command("add")
@config_option
@json_option
@click.argument("name")
@query_argument
@click.option(
    "--events",
    default="new,edited",
    show_default=True,
    help=f"Comma-separated: {', '.join(EVENT_KINDS)}.",
)
@click.option("--chat", "chat_id", type=int, help="Chat id for alerts (default bot.team_chat_id).")
@click.option("--mode", type=click.Choice(RULE_MODES), default="instant", show_default=True)
def add(name: str, query: str, events: str, chat_id: int | None, mode: str, as_json: bool) -> None:
    """Add a team rule NAME that alerts on QUERY."""
    config = state().config()
    chat = chat_id if chat_id is not None else config.bot.team_chat_id
    if chat is None:
        raise UserError("--chat is needed (no bot.team_chat_id in the config)")
    event_list = [e.strip() for e in events.split(",") if e.strip()]

    async def go() -> tuple[Rule, list[str]]:
        async with open_database(config.database) as sessions, sessions.begin() as session:
            rule = await add_rule(
                session,
                name=name,
                query=query,
                chat_id=chat,
                now=datetime.now(UTC),
                history=_history(config),
                events=event_list,
                mode=mode,
                origin="cli",
            )
            rows = await channel_rows(session)
            return rule, unknown_channels(query, rows)

    rule, unknown = run_async(go())
    for ref in unknown:
        click.echo(f"warning: channel:{ref} matches no archived channel yet", err=True)
    if as_json:
        print_json(_rule_json(rule))
    else:
        click.echo(
            f"rule {rule.id} {rule.name!r} added: alerts to {rule.chat_id} on "
            f"{', '.join(rule.events)} ({rule.mode})"
        )


@rules_group.command("list")
@config_option
@json_option
@click.option("--all", "show_all", is_flag=True, help="Include removed rules.")
def list_(show_all: bool, as_json: bool) -> None:
    """List alert rules."""
    config = state().config()

    async def go() -> list[Rule]:
        async with (
            open_database(config.database, create_if_empty=False) as sessions,
            sessions() as session,
        ):
            return await list_rules(session, include_removed=show_all)

    found = run_async(go())
    if as_json:
        print_json([_rule_json(r) for r in found])
        return
    if not found:
        click.echo("no rules yet: `dozor rules add NAME QUERY`")
        return
    print_table(
        None,
        ["id", "name", "query", "events", "chat", "mode", "status", "origin"],
        [
            [r.id, r.name, r.query, ",".join(r.events), r.chat_id, r.mode, r.status, r.origin]
            for r in found
        ],
    )


def _status_command(name: str, status: str, help_text: str) -> None:
    @rules_group.command(name, help=help_text)
    @config_option
    @click.argument("rule")
    def command(rule: str) -> None:
        config = state().config()

        async def go() -> Rule:
            async with open_database(config.database) as sessions, sessions.begin() as session:
                found = await find_rule(session, rule)
                return await update_rule(session, found.id, now=datetime.now(UTC), status=status)

        changed = run_async(go())
        click.echo(f"rule {changed.id} {changed.name!r} is now {changed.status}")


_status_command("remove", REMOVED, "Remove a rule (by id or name); its alerts stay on record.")
_status_command("pause", PAUSED, "Pause a rule (by id or name).")
_status_command("resume", "active", "Resume a paused rule (by id or name).")


@rules_group.command("sync")
@config_option
def sync() -> None:
    """Make the database's config rules match [[rules]] in the config file."""
    config = state().config()

    async def go() -> tuple[Any, list[tuple[str, str]]]:
        async with open_database(config.database) as sessions, sessions.begin() as session:
            report = await sync_config_rules(
                session,
                config.rules,
                default_chat=config.bot.team_chat_id,
                now=datetime.now(UTC),
                history=_history(config),
            )
            rows = await channel_rows(session)
            unknown = [
                (r.name, ref) for r in config.rules for ref in unknown_channels(r.query, rows)
            ]
            return report, unknown

    report, unknown = run_async(go())
    for name, ref in unknown:
        click.echo(
            f"warning: rule {name!r}: channel:{ref} matches no archived channel yet", err=True
        )
    click.echo(
        f"config rules: {len(report.added)} added, {len(report.changed)} changed, "
        f"{len(report.removed)} removed"
    )


@rules_group.command("test")
@config_option
@json_option
@query_argument
@click.option("--text", "text_", help="A post text to test against.")
@click.option("--channel", help="With --text: pretend the post is in this archived channel.")
@click.option("--post", "post_ref", help="An archived post to test against (a t.me link).")
def test(
    query: str, text_: str | None, channel: str | None, post_ref: str | None, as_json: bool
) -> None:
    """Explain why a text, or an archived post, matches QUERY or not."""
    if (text_ is None) == (post_ref is None):
        raise UserError("give either --text or --post (a link to an archived post)")
    if post_ref is not None and channel is not None:
        raise UserError("--channel goes with --text; a post is in its own channel")
    config = state().config()
    node = parse(query)
    if post_ref is not None:
        row, rows = run_async(_archived_post(config, post_ref))
    else:
        assert text_ is not None
        row, rows = _pretended_post(config, text_, channel, needs_channels="channel:" in query)
    node = bind_channels(
        node,
        lambda ref: frozenset(r["id"] for r in matching_channels(parse_channel_ref(ref), rows)),
    )
    doc = build_document(row)
    lines = explain(node, doc)
    matched = lines[0].startswith("✓")
    if as_json:
        print_json(
            {
                "query": query,
                "matches": matched,
                "explanation": lines,
                "words": list(doc.words),
                "stems": list(doc.stems),
            }
        )
        return
    click.echo("MATCH" if matched else "NO MATCH")
    click.echo("\n".join(lines))


async def _archived_post(config: Config, ref: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The post's current state (text, attachment, facets: is:edited, has:photo...) and the
    archived channels."""
    channel_ref, number = parse_post_ref(ref)
    async with (
        open_database(config.database, create_if_empty=False) as sessions,
        sessions() as session,
    ):
        history = await post_history(session, channel_ref, number)
        return history.post, await channel_rows(session)


def _pretended_post(
    config: Config, text: str, channel: str | None, *, needs_channels: bool
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A post with *text*, posted now, in *channel* (an archived one) or none."""

    async def archived() -> list[dict[str, Any]]:
        async with (
            open_database(config.database, create_if_empty=False) as sessions,
            sessions() as session,
        ):
            return await channel_rows(session)

    rows = run_async(archived()) if channel or needs_channels else []
    channel_id = 0
    if channel:
        found = matching_channels(parse_channel_ref(channel), rows)
        if len(found) != 1:
            raise UserError(f"--channel {channel!r}: no single archived channel matches")
        channel_id = found[0]["id"]
    post = {
        "channel_id": channel_id,
        "message_id": 0,
        "text": text,
        "date": datetime.now(UTC),
        "media": None,
        "media_type": None,
        "entities": None,
        "current_version": 1,
    }
    return post, rows


@click.group("alerts")
@config_option
def alerts_group() -> None:
    """The alert outbox (the bot delivers it)."""


@alerts_group.command("generate")
@config_option
@json_option
def generate(as_json: bool) -> None:
    """Turn all new archive events into alerts now (the bot does this continuously)."""
    config = state().config()

    async def go() -> tuple[int, int, int]:
        cache, events, made, cursor = RuleCache(), 0, 0, 0
        async with open_database(config.database) as sessions:
            while True:
                async with sessions.begin() as session:
                    report: GenerationReport = await generate_alerts(
                        session, cache, now=datetime.now(UTC)
                    )
                events, made, cursor = events + report.events, made + report.alerts, report.cursor
                if report.events == 0:
                    return events, made, cursor

    events, made, cursor = run_async(go())
    if as_json:
        print_json({"events": events, "alerts": made, "cursor": cursor})
    else:
        click.echo(f"{events} events read, {made} alerts queued (change feed at {cursor})")


@alerts_group.command("list")
@config_option
@json_option
@click.option(
    "--status",
    type=click.Choice(["pending", "sent", "failed", "dropped", "all"]),
    default="all",
    show_default=True,
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def list_alerts(status: str, limit: int, as_json: bool) -> None:
    """Recent alerts, newest first."""
    config = state().config()

    async def go() -> list[dict[str, Any]]:
        query = (
            select(alerts, rules.c.name.label("rule_name"))
            .join(rules, rules.c.id == alerts.c.rule_id)
            .order_by(alerts.c.id.desc())
            .limit(limit)
        )
        if status != "all":
            query = query.where(alerts.c.status == status)
        async with (
            open_database(config.database, create_if_empty=False) as sessions,
            sessions() as session,
        ):
            return [dict(r._mapping) for r in await session.execute(query)]

    found = run_async(go())
    if as_json:
        print_json(found)
        return
    if not found:
        click.echo("no alerts" + ("" if status == "all" else f" with status {status}"))
        return
    print_table(
        None,
        ["id", "rule", "event", "channel", "post", "version", "status", "created"],
        [
            [
                a["id"],
                a["rule_name"],
                a["event_kind"],
                a["channel_id"],
                a["message_id"],
                a["version"],
                a["status"],
                format_time(a["created_at"]),
            ]
            for a in found
        ],
    )
