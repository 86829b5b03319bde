"""/channels, /changes, /status for the team; /addchannel and /removechannel for admins.

The bot has no Telegram user session, so it cannot resolve or join a channel itself:
/addchannel records a request that the archiver (in this process or another) carries out;
the outcome is reported back to the chat by the team service (bot/service.py).
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message, User
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import Role
from bot.render import esc, link, local_time, render_channel_changes
from bot.settings import BotSettings
from dozor.channel_refs import check_requestable
from dozor.errors import logged_out_message
from dozor.storage.channels import list_channels, resolve_channel
from dozor.storage.facts import session_logout
from dozor.storage.notices import recent_changes
from dozor.storage.requests import request_channel, waiting_request_count
from dozor.storage.stats import (
    alert_counts,
    channel_health,
    lag_text,
    not_joined_text,
    unreadable_text,
)
from dozor.storage.sync import set_tracked

MAX_LISTED = 40
ADMINS_ONLY = "Only admins can change which channels are archived."


async def list_command(message: Message, session: AsyncSession, settings: BotSettings) -> None:
    found = await list_channels(session)
    if not found:
        await message.answer("No channels archived yet.")
        return
    lines = ["<b>Archived channels</b>"]
    for ch in found[:MAX_LISTED]:
        name = link(ch.link, ch.title) if ch.link else f"<b>{esc(ch.title)}</b>"
        last = local_time(ch.last_post_at, settings.zone) if ch.last_post_at else "no posts"
        flags = "" if ch.tracked else " · not followed"
        flags += "" if ch.status == "ok" else f" · ⚠️ {esc(ch.status)}"
        lines.append(f"{name} · {ch.posts:,} posts · last {last}{flags}")
    if len(found) > MAX_LISTED:
        lines.append(f"… and {len(found) - MAX_LISTED} more (see `dozor channels list`)")
    await message.answer("\n".join(lines))


async def changes_command(
    message: Message, command: CommandObject, session: AsyncSession, settings: BotSettings
) -> None:
    ref = (command.args or "").strip()
    if not ref:
        await message.answer(
            "Usage: /changes <i>channel</i>: its latest renames, descriptions, pinned posts, "
            "Telegram's labels, access lost or regained and purges"
        )
        return
    row = await resolve_channel(session, ref)
    changes = await recent_changes(session, row["id"])
    await message.answer(render_channel_changes(row["title"], changes, settings.zone))


async def status_command(message: Message, session: AsyncSession, settings: BotSettings) -> None:
    now = settings.now()
    lines = ["<b>Archiver</b>"]
    logout = await session_logout(session)
    if logout is not None:
        lines.append(f"⛔ {esc(logged_out_message(logout.reason))}")
    rows = await channel_health(session)
    for row in rows[:MAX_LISTED]:
        state = "✅" if row["status"] == "ok" else f"⚠️ {esc(row['status'])}"
        newest = local_time(row["newest_post_at"], settings.zone) if row["newest_post_at"] else "—"
        lines.append(
            f"{state} <b>{esc(row['title'])}</b> · newest {newest} · "
            f"synced {lag_text(now, row['last_sync_at'])} ago"
        )
        if row["last_error"] and row["status"] != "ok":
            lines.append(f"    {esc(row['last_error'][:200])}")
        if row["unreadable"]:
            lines.append(f"    {esc(unreadable_text(row['unreadable']))}")
        if row["not_joined"]:
            lines.append(f"    {esc(not_joined_text(row['not_joined']))}")
    if not rows:
        lines.append("No channels followed.")
    queue = await alert_counts(session)
    waiting = queue.get("pending", 0) + queue.get("sending", 0)
    lines += ["", f"<b>Alerts</b>: {waiting} waiting · {queue.get('sent', 0)} sent"]
    if queue.get("failed") or queue.get("dropped"):
        lines.append(f"{queue.get('failed', 0)} failed · {queue.get('dropped', 0)} dropped")
    pending = await waiting_request_count(session)
    if pending:
        lines.append(f"{pending} channel request(s) waiting for the archiver")
    await message.answer("\n".join(lines))


async def add_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: BotSettings,
    role: Role,
    event_from_user: User,
) -> None:
    if role != "admin":
        await message.answer(ADMINS_ONLY)
        return
    refs = (command.args or "").split()
    if not refs:
        await message.answer("Usage: /addchannel <i>@name, t.me link or invite link</i> …")
        return
    check_requestable(refs)
    for ref in refs:
        await request_channel(
            session,
            ref,
            now=settings.now(),
            requested_by=event_from_user.id,
            chat_id=message.chat.id,
        )
    await session.commit()
    names = ", ".join(esc(ref) for ref in refs)
    await message.answer(f"⏳ Asked the archiver to follow {names}; I will report back here.")


async def remove_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: BotSettings,
    role: Role,
) -> None:
    if role != "admin":
        await message.answer(ADMINS_ONLY)
        return
    ref = (command.args or "").strip()
    if not ref:
        await message.answer("Usage: /removechannel <i>name</i>")
        return
    row = await resolve_channel(session, ref)
    await set_tracked(session, row["id"], False, at=settings.now())
    await session.commit()
    await message.answer(
        f"Stopped following <b>{esc(row['title'])}</b>. Its archive is kept and searchable."
    )


def router() -> Router:
    """This module's handlers on a fresh Router (a Router joins one Dispatcher only)."""
    routes = Router(name="channels")
    routes.message.register(list_command, Command("channels"))
    routes.message.register(changes_command, Command("changes"))
    routes.message.register(status_command, Command("status"))
    routes.message.register(add_command, Command("addchannel"))
    routes.message.register(remove_command, Command("removechannel"))
    return routes
