"""Facts about the database itself (``database_facts``): small named values."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.models import database_facts
from dozor.text import ANALYZER_VERSION

SEARCH_ANALYZER = "search_analyzer"  # version of the text analysis that built the search index
SESSION_LOGOUT = "session_logout"  # Telegram logged the archiver out: {"reason", "told"}
BOT_TOKEN_REJECTED = "bot_token_rejected"  # Telegram refused the bot's token while it ran
CHAT_MOVED = "chat_moved:"  # + a group's old id: the id of the supergroup it became
CHAT_LOST = "chat_lost:"  # + a chat's id: the bot was removed or blocked there (LostChat)


async def get_fact(session: AsyncSession, name: str) -> str | None:
    found = await fact_with_time(session, name)
    return None if found is None else found[0]


async def fact_with_time(session: AsyncSession, name: str) -> tuple[str, datetime] | None:
    """A fact's value and when it was last set."""
    result = await session.execute(
        select(database_facts.c.value, database_facts.c.updated_at).where(
            database_facts.c.name == name
        )
    )
    row = result.one_or_none()
    return None if row is None else (row.value, row.updated_at)


async def forget_fact(session: AsyncSession, name: str) -> None:
    await session.execute(delete(database_facts).where(database_facts.c.name == name))


async def set_fact(session: AsyncSession, name: str, value: str, *, now: datetime) -> None:
    found = await session.execute(
        update(database_facts)
        .where(database_facts.c.name == name)
        .values(value=value, updated_at=now)
    )
    if not found.rowcount:  # type: ignore[attr-defined]
        await session.execute(insert(database_facts).values(name=name, value=value, updated_at=now))


async def mark_index_current(session: AsyncSession, *, now: datetime) -> None:
    """Record that this dozor's text analysis built the search index."""
    await set_fact(session, SEARCH_ANALYZER, str(ANALYZER_VERSION), now=now)


@dataclass(frozen=True)
class SessionLogout:
    """Telegram logged the archiver's session out: why (its word), when, and whether the team
    has been told."""

    reason: str
    at: datetime
    told: bool


async def note_logout(session: AsyncSession, reason: str, *, now: datetime) -> None:
    await set_fact(session, SESSION_LOGOUT, json.dumps({"reason": reason, "told": False}), now=now)


async def session_logout(session: AsyncSession) -> SessionLogout | None:
    """The archiver's session logout, until the archiver reads Telegram again."""
    found = await fact_with_time(session, SESSION_LOGOUT)
    if found is None:
        return None
    value = json.loads(found[0])
    return SessionLogout(str(value["reason"]), found[1], bool(value["told"]))


async def mark_logout_told(session: AsyncSession, logout: SessionLogout) -> None:
    """Record that the team heard of *logout* (its time unchanged)."""
    await session.execute(
        update(database_facts)
        .where(database_facts.c.name == SESSION_LOGOUT, database_facts.c.updated_at == logout.at)
        .values(value=json.dumps({"reason": logout.reason, "told": True}))
    )


async def forget_logout(session: AsyncSession) -> None:
    """The archiver is logged in again."""
    await forget_fact(session, SESSION_LOGOUT)


async def token_rejected_at(session: AsyncSession) -> datetime | None:
    """When Telegram stopped accepting the bot's token, until a bot starts with one."""
    found = await fact_with_time(session, BOT_TOKEN_REJECTED)
    return None if found is None else found[1]


async def note_chat_moved(session: AsyncSession, old: int, new: int, *, now: datetime) -> None:
    await set_fact(session, f"{CHAT_MOVED}{old}", str(new), now=now)


async def moved_chats(session: AsyncSession) -> dict[int, int]:
    """Groups Telegram upgraded to supergroups: old id -> new id (a supergroup is never
    upgraded again)."""
    result = await session.execute(
        select(database_facts.c.name, database_facts.c.value).where(
            database_facts.c.name.startswith(CHAT_MOVED)
        )
    )
    return {int(name.removeprefix(CHAT_MOVED)): int(value) for name, value in result}


@dataclass(frozen=True)
class LostChat:
    """A chat that removed or blocked the bot: Telegram's words, the rules that were paused
    for it, how many queued alerts were dropped, and whether the admins have been told."""

    chat_id: int
    error: str
    rule_ids: tuple[int, ...]
    dropped: int
    told: bool


async def note_chat_lost(session: AsyncSession, lost: LostChat, *, now: datetime) -> None:
    value = {"error": lost.error, "rules": list(lost.rule_ids), "dropped": lost.dropped}
    await set_fact(
        session, f"{CHAT_LOST}{lost.chat_id}", json.dumps({**value, "told": lost.told}), now=now
    )


async def lost_chats(session: AsyncSession) -> list[LostChat]:
    result = await session.execute(
        select(database_facts.c.name, database_facts.c.value)
        .where(database_facts.c.name.startswith(CHAT_LOST))
        .order_by(database_facts.c.updated_at)
    )
    return [_lost_chat(name, value) for name, value in result]


async def mark_lost_told(session: AsyncSession, chat_id: int) -> None:
    """The admins heard of *chat_id*'s loss (unless the bot is back there meanwhile)."""
    found = await fact_with_time(session, f"{CHAT_LOST}{chat_id}")
    if found is not None:
        lost = replace(_lost_chat(f"{CHAT_LOST}{chat_id}", found[0]), told=True)
        await note_chat_lost(session, lost, now=found[1])


async def forget_lost_chat(session: AsyncSession, chat_id: int) -> LostChat | None:
    """The record of *chat_id*'s loss, removed (the bot is back there); None if there is none."""
    found = await fact_with_time(session, f"{CHAT_LOST}{chat_id}")
    if found is None:
        return None
    await forget_fact(session, f"{CHAT_LOST}{chat_id}")
    return _lost_chat(f"{CHAT_LOST}{chat_id}", found[0])


def _lost_chat(name: str, value: str) -> LostChat:
    data = json.loads(value)
    return LostChat(
        int(name.removeprefix(CHAT_LOST)),
        str(data["error"]),
        tuple(int(i) for i in data["rules"]),
        int(data["dropped"]),
        bool(data["told"]),
    )
