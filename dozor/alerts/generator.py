"""The alert generator: events after a persisted cursor → rules → alert outbox.

It is idempotent: alerts are unique per (rule, chat, post, version, event kind) and the cursor
moves in the same transaction as the alerts it produced, so a crash or a restart never loses
or doubles an alert.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.models import alerts, post_versions, posts
from dozor.query.document import Document, as_of_version, build_document
from dozor.query.highlight import highlight_spans
from dozor.rules.index import CompiledRule, RuleIndex
from dozor.rules.store import Rule, compile_rules, load_active_rules, rules_fingerprint
from dozor.storage.bulk import insert_ignoring_duplicates
from dozor.storage.events import events_after, get_cursor, set_cursor
from dozor.text import fold

log = logging.getLogger(__name__)
CURSOR = "alerts"


class RuleCache:
    """Compiled rules, rebuilt only when rules or channels changed.

    Compiling ten thousand rules takes most of a second, so it runs in a worker thread: the
    bot in the same process keeps answering meanwhile."""

    def __init__(self) -> None:
        self._fingerprint: tuple[Any, ...] | None = None
        self.index = RuleIndex(())
        # No rule alerts on what happened before this (None: no rules).
        self.earliest: datetime | None = None

    async def current(self, session: AsyncSession) -> RuleIndex:
        fingerprint = await rules_fingerprint(session)
        if fingerprint != self._fingerprint:
            active, channel_rows = await load_active_rules(session)
            self.index = await asyncio.to_thread(_build_index, active, channel_rows)
            self.earliest = min((rule.alert_from for rule in self.index.rules), default=None)
            self._fingerprint = fingerprint
            log.info("alert rules loaded: %d active", len(self.index))
        return self.index


def _build_index(active: list[Rule], channel_rows: list[dict[str, Any]]) -> RuleIndex:
    return RuleIndex(compile_rules(active, channel_rows))


@dataclass(frozen=True)
class GenerationReport:
    events: int
    alerts: int
    cursor: int


async def generate_alerts(
    session: AsyncSession, cache: RuleCache, *, now: datetime, limit: int = 1000
) -> GenerationReport:
    """Process up to *limit* events after the cursor; the caller commits."""
    cursor = await get_cursor(session, CURSOR)
    feed = await events_after(session, cursor, limit)
    if not feed:
        return GenerationReport(0, 0, cursor)
    index = await cache.current(session)
    # An event older than every rule's alert window (a backfill, an old export) can alert no
    # one: its post is neither read nor analysed.
    earliest = cache.earliest
    recent = [] if earliest is None else [e for e in feed if e["occurred_at"] >= earliest]
    rows: list[dict[str, Any]] = []
    if recent:
        states = await _post_states(session, recent)
        for event in recent:
            rows += _alerts_for(event, states, index, now)
    await insert_ignoring_duplicates(session, alerts, rows)
    last = feed[-1]["seq"]
    await set_cursor(session, CURSOR, last, now=now)
    return GenerationReport(len(feed), len(rows), last)


@dataclass
class _PostState:
    post: dict[str, Any]
    versions: dict[int, dict[str, Any]]


async def _post_states(
    session: AsyncSession, feed: Sequence[Mapping[str, Any]]
) -> dict[tuple[int, int], _PostState]:
    wanted: dict[int, set[int]] = defaultdict(set)
    for event in feed:
        wanted[event["channel_id"]].update(_message_ids(event))
    states: dict[tuple[int, int], _PostState] = {}
    for channel_id, ids in wanted.items():
        ordered = sorted(ids)
        for i in range(0, len(ordered), 500):
            chunk = ordered[i : i + 500]
            for row in await session.execute(
                select(posts).where(posts.c.channel_id == channel_id, posts.c.message_id.in_(chunk))
            ):
                states[(channel_id, row.message_id)] = _PostState(dict(row._mapping), {})
            for row in await session.execute(
                select(post_versions).where(
                    post_versions.c.channel_id == channel_id, post_versions.c.message_id.in_(chunk)
                )
            ):
                state = states.get((channel_id, row.message_id))
                if state is not None:
                    state.versions[row.version] = dict(row._mapping)
    return states


def _document(state: _PostState, version: int | None, *, deleted: bool) -> Document | None:
    """The post as it read at *version* (its current state for None)."""
    post = state.post
    if post["kind"] != "message":
        return None
    content = state.versions.get(version) if version is not None else None
    if content is None:
        return build_document(post if deleted else {**post, "deleted_at": None})
    deleted_at = post["deleted_at"] if deleted else None
    return build_document({**as_of_version(post, content), "deleted_at": deleted_at})


def _message_ids(event: Mapping[str, Any]) -> list[int]:
    if event["kind"] == "mass_deleted":
        return list((event.get("details") or {}).get("message_ids", []))
    return [] if event["message_id"] is None else [event["message_id"]]


def _alert_row(
    rule: CompiledRule, event: Mapping[str, Any], message_id: int, version: int, now: datetime
) -> dict[str, Any]:
    return {
        "rule_id": rule.id,
        "chat_id": rule.chat_id,
        "channel_id": event["channel_id"],
        "message_id": message_id,
        "version": version,
        "event_kind": event["kind"],
        "event_seq": event["seq"],
        "status": "pending",
        "created_at": now,
        "attempts": 0,
    }


def _mass_deletion_alerts(
    event: Mapping[str, Any],
    states: Mapping[tuple[int, int], _PostState],
    index: RuleIndex,
    now: datetime,
) -> list[dict[str, Any]]:
    """One alert per rule watching deletions, if any of the purged posts matched it."""
    first_match: dict[int, dict[str, Any]] = {}
    for message_id in _message_ids(event):
        state = states.get((event["channel_id"], message_id))
        doc = _document(state, None, deleted=True) if state is not None else None
        if state is None or doc is None:
            continue
        for rule in index.matching(doc):
            if "deleted" in rule.events and event["occurred_at"] >= rule.alert_from:
                version = state.post["current_version"]
                first_match.setdefault(rule.id, _alert_row(rule, event, message_id, version, now))
    return list(first_match.values())


def _alerts_for(
    event: Mapping[str, Any],
    states: Mapping[tuple[int, int], _PostState],
    index: RuleIndex,
    now: datetime,
) -> list[dict[str, Any]]:
    kind = event["kind"]
    if kind == "mass_deleted":
        return _mass_deletion_alerts(event, states, index, now)
    state = states.get((event["channel_id"], event["message_id"]))
    if state is None or kind not in ("new", "edited", "deleted"):
        return []
    doc = _document(state, event["version"], deleted=kind == "deleted")
    if doc is None:
        return []
    before = None
    if kind == "edited":
        previous = (event.get("details") or {}).get("previous_version")
        before = _document(state, previous, deleted=False) if previous else None
    if before is None:
        candidates = [(rule, True) for rule in index.matching(doc)]
    else:
        candidates = _edit_candidates(index, before, doc)
    rows = []
    for rule, match_changed in candidates:
        if kind not in rule.events or event["occurred_at"] < rule.alert_from:
            continue
        if before is not None and not match_changed and _same_words(rule, before, doc):
            continue  # an edit that left the rule matching the same words
        rows.append(_alert_row(rule, event, event["message_id"], event["version"] or 1, now))
    return rows


def _edit_candidates(
    index: RuleIndex, before: Document, after: Document
) -> list[tuple[CompiledRule, bool]]:
    """The rules an edit may concern, in id order, each with whether the edit changed its
    match: those the post matches now, and those it matched before (an edit that takes out
    the words a rule watches is what a quiet edit is). A rule whose match stayed alerts only
    if the matched words changed."""
    earlier = {rule.id: rule for rule in index.matching(before)}
    later = {rule.id: rule for rule in index.matching(after)}
    both = earlier | later
    return [(both[i], (i in earlier) != (i in later)) for i in sorted(both)]


def _same_words(rule: CompiledRule, before: Document, after: Document) -> bool:
    return _matched_words(rule, before) == _matched_words(rule, after)


def _matched_words(rule: CompiledRule, doc: Document) -> list[str]:
    return sorted(fold(doc.text[s:e]) for s, e in highlight_spans(rule.node, doc.text))


async def pending_alerts(session: AsyncSession, limit: int = 100) -> list[dict[str, Any]]:
    result = await session.execute(
        select(alerts).where(alerts.c.status == "pending").order_by(alerts.c.id).limit(limit)
    )
    return [dict(row._mapping) for row in result]
