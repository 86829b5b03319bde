"""Rules in the database: add, list, change status, sync the config's [[rules]], compile."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.channel_refs import parse_channel_ref
from dozor.config import EVENT_KINDS, RULE_MODES, RuleConfig
from dozor.errors import QueryError, UserError
from dozor.ids import INT64, is_digits
from dozor.models import channels, rules
from dozor.query import parse
from dozor.query.ast import Filter, walk
from dozor.query.match import bind_channels
from dozor.rules.index import CompiledRule
from dozor.storage.channels import channel_rows, matching_channels

ACTIVE, PAUSED, REMOVED = "active", "paused", "removed"
MAX_NAME = 100
# Team rules that people manage by name (`dozor rules remove NAME`, [[rules]] in the config)
# must not share one. The bot names rules after their queries and manages them by id.
NAMED_ORIGINS = frozenset({"cli", "config"})

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    query: str
    events: tuple[str, ...]
    chat_id: int
    owner_id: int | None
    mode: str
    status: str
    origin: str
    alert_from: datetime
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Rule:
        m = row._mapping
        return cls(
            m["id"],
            m["name"],
            m["query"],
            tuple(m["events"].split(",")),
            m["chat_id"],
            m["owner_id"],
            m["mode"],
            m["status"],
            m["origin"],
            m["alert_from"],
            m["created_at"],
        )


def check_rule(query: str, events: Sequence[str], mode: str) -> None:
    """Raise QueryError / UserError for a rule that could never work."""
    parse(query)
    unknown = sorted(set(events) - set(EVENT_KINDS))
    if unknown or not events:
        raise UserError(f"events must be some of {', '.join(EVENT_KINDS)}, not {unknown}")
    if mode not in RULE_MODES:
        raise UserError(f"mode must be one of {', '.join(RULE_MODES)}, not {mode!r}")


async def add_rule(
    session: AsyncSession,
    *,
    name: str,
    query: str,
    chat_id: int,
    now: datetime,
    history: timedelta,
    events: Sequence[str] = ("new", "edited"),
    mode: str = "instant",
    origin: str = "cli",
    owner_id: int | None = None,
) -> Rule:
    check_rule(query, events, mode)
    if not -INT64 <= chat_id <= INT64:
        raise UserError(f"{chat_id} is not a Telegram chat id")
    name = name.strip()
    if not name or len(name) > MAX_NAME or "\x00" in name:
        raise UserError(f"a rule name is 1 to {MAX_NAME} characters, none of them U+0000")
    if origin in NAMED_ORIGINS and await _team_rule_named(session, name):
        raise UserError(
            f"a rule named {name!r} already exists (see `dozor rules list`): choose another name"
        )
    result = await session.execute(
        insert(rules)
        .values(
            name=name,
            query=query,
            events=",".join(_ordered(events)),
            chat_id=chat_id,
            owner_id=owner_id,
            mode=mode,
            status=ACTIVE,
            origin=origin,
            alert_from=now - history,
            created_at=now,
            updated_at=now,
        )
        .returning(rules.c.id)
    )
    return await get_rule(session, result.scalar_one())


async def _team_rule_named(session: AsyncSession, name: str) -> bool:
    found = await session.execute(
        select(rules.c.id).where(
            rules.c.name == name, rules.c.owner_id.is_(None), rules.c.status != REMOVED
        )
    )
    return found.first() is not None


def _ordered(events: Iterable[str]) -> list[str]:
    wanted = set(events)
    return [kind for kind in EVENT_KINDS if kind in wanted]


async def get_rule(session: AsyncSession, rule_id: int) -> Rule:
    if not 0 < rule_id <= INT64:
        raise UserError(f"no rule {rule_id}")
    row = (await session.execute(select(rules).where(rules.c.id == rule_id))).first()
    if row is None:
        raise UserError(f"no rule {rule_id}")
    return Rule.from_row(row)


async def find_rule(session: AsyncSession, ref: str) -> Rule:
    """A rule by id or by name (a name shared by several rules must be given as an id)."""
    if is_digits(ref):
        return await get_rule(session, int(ref))
    found = (
        await session.execute(select(rules).where(rules.c.name == ref, rules.c.status != REMOVED))
    ).all()
    if not found:
        raise UserError(f"no rule named {ref!r} (see `dozor rules list`)")
    if len(found) > 1:
        raise UserError(f"several rules are named {ref!r}; use the id")
    return Rule.from_row(found[0])


async def list_rules(
    session: AsyncSession,
    *,
    include_removed: bool = False,
    owner_id: int | None = None,
    team_only: bool = False,
) -> list[Rule]:
    query = select(rules).order_by(rules.c.id)
    if not include_removed:
        query = query.where(rules.c.status != REMOVED)
    if owner_id is not None:
        query = query.where(rules.c.owner_id == owner_id)
    if team_only:
        query = query.where(rules.c.owner_id.is_(None))
    return [Rule.from_row(row) for row in await session.execute(query)]


async def update_rule(session: AsyncSession, rule_id: int, *, now: datetime, **values: Any) -> Rule:
    if "events" in values:
        values["events"] = ",".join(_ordered(values["events"]))
    await session.execute(
        update(rules).where(rules.c.id == rule_id).values(**values, updated_at=now)
    )
    return await get_rule(session, rule_id)


async def resume_rules(
    session: AsyncSession, rule_ids: Sequence[int], *, now: datetime
) -> list[int]:
    """Make the paused rules among *rule_ids* active again (one removed since stays removed);
    the ids resumed."""
    if not rule_ids:
        return []
    resumed = await session.execute(
        update(rules)
        .where(rules.c.id.in_(rule_ids), rules.c.status == PAUSED)
        .values(status=ACTIVE, updated_at=now)
        .returning(rules.c.id)
    )
    return sorted(resumed.scalars())


@dataclass(frozen=True)
class SyncReport:
    added: list[str]
    changed: list[str]
    removed: list[str]


async def sync_config_rules(
    session: AsyncSession,
    configured: Sequence[RuleConfig],
    *,
    default_chat: int | None,
    now: datetime,
    history: timedelta,
) -> SyncReport:
    """Make the rules with origin "config" equal the config file's [[rules]] (by name)."""
    existing = {r.name: r for r in await list_rules(session) if r.origin == "config"}
    added, changed = [], []
    for config in configured:
        chat = config.chat_id if config.chat_id is not None else default_chat
        if chat is None:
            raise UserError(f"rule {config.name!r}: set chat_id or bot.team_chat_id")
        check_rule(config.query, config.events, config.mode)
        wanted = {
            "query": config.query,
            "events": ",".join(_ordered(config.events)),
            "chat_id": chat,
            "mode": config.mode,
        }
        rule = existing.pop(config.name, None)
        if rule is None:
            await add_rule(
                session,
                name=config.name,
                query=config.query,
                chat_id=chat,
                now=now,
                history=history,
                events=config.events,
                mode=config.mode,
                origin="config",
            )
            added.append(config.name)
        elif any(getattr(rule, k) != v for k, v in _comparable(wanted).items()):
            await session.execute(
                update(rules).where(rules.c.id == rule.id).values(**wanted, updated_at=now)
            )
            changed.append(config.name)
    for rule in existing.values():
        await update_rule(session, rule.id, now=now, status=REMOVED)
    return SyncReport(added, changed, sorted(existing))


def _comparable(wanted: dict[str, Any]) -> dict[str, Any]:
    return {**wanted, "events": tuple(wanted["events"].split(","))}


async def load_active_rules(session: AsyncSession) -> tuple[list[Rule], list[dict[str, Any]]]:
    """The active rules and the archived channels their ``channel:`` filters may name."""
    archived = await channel_rows(session)
    return [r for r in await list_rules(session) if r.status == ACTIVE], archived


def compile_rules(active: Iterable[Rule], channel_rows: list[dict[str, Any]]) -> list[CompiledRule]:
    """Rules parsed and bound to archived channels (unknown channels match nothing). Pure CPU
    work, no database: it may run in a worker thread.

    A stored query this dozor cannot parse (written for another version, or by hand in the
    database) is skipped with a warning: one bad rule must not silence everybody's alerts."""

    def resolve(ref: str) -> frozenset[int]:
        return frozenset(
            row["id"] for row in matching_channels(parse_channel_ref(ref), channel_rows)
        )

    compiled = []
    for rule in active:
        try:
            node = bind_channels(parse(rule.query), resolve)
        except QueryError as exc:
            log.warning("rule #%d %r skipped: %s", rule.id, rule.name, exc)
            continue
        compiled.append(
            CompiledRule(
                rule.id,
                rule.name,
                node,
                frozenset(rule.events),
                rule.chat_id,
                rule.mode,
                rule.alert_from,
            )
        )
    return compiled


async def rules_fingerprint(session: AsyncSession) -> tuple[Any, ...]:
    """Changes whenever compiled rules could change (rules or channels edited)."""
    rule_state = (
        await session.execute(
            select(func.count(), func.max(rules.c.updated_at), func.max(rules.c.id))
        )
    ).one()
    channel_state = (
        await session.execute(select(func.count(), func.max(channels.c.updated_at)))
    ).one()
    return (*rule_state, *channel_state)


def unknown_channels(query: str, channel_rows: Sequence[Any]) -> list[str]:
    """channel: references in *query* that match no archived channel (worth a warning)."""
    refs = [n.value for n in walk(parse(query)) if isinstance(n, Filter) and n.field == "channel"]
    return [r for r in refs if not matching_channels(parse_channel_ref(r), channel_rows)]
