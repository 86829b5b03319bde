"""/events [CHANNEL]: the latest edits, deletions and restrictions of posts, newest first;
"Older ▶" edits the same message to show the ones before.

The button carries the channel's id (0: every channel) and how many changes the pages before
showed (callback data is limited to 64 bytes); the next page is read from there."""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.edits import edit
from bot.render import render_post_changes
from bot.settings import BotSettings
from dozor.errors import ChannelNotFound
from dozor.storage.channels import resolve_channel
from dozor.storage.post_changes import ChangeFilter, post_changes

SHOWN = 15  # at most; fewer when they do not fit one message
STALE = "These events cannot be paged any more; send /events again."


async def events_command(
    message: Message, command: CommandObject, session: AsyncSession, settings: BotSettings
) -> None:
    ref = (command.args or "").strip()
    channel = await resolve_channel(session, ref) if ref else None
    text, keyboard = await events_page(session, channel, 0, settings)
    await message.answer(text, reply_markup=keyboard)


async def page_pressed(
    callback: CallbackQuery, session: AsyncSession, settings: BotSettings
) -> None:
    place = _place(callback.data or "")
    message = callback.message
    if place is None or not isinstance(message, Message):
        await callback.answer(STALE, show_alert=True)
        return
    channel_id, skipped = place
    try:
        channel = await resolve_channel(session, str(channel_id)) if channel_id else None
    except ChannelNotFound:
        await callback.answer(STALE, show_alert=True)
        return
    text, keyboard = await events_page(session, channel, skipped, settings)
    await edit(message, text, keyboard)
    await callback.answer()


async def events_page(
    session: AsyncSession, channel: dict[str, Any] | None, skipped: int, settings: BotSettings
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A page of /events: the changes after the *skipped* newest, and its buttons."""
    channel_id = int(channel["id"]) if channel else 0
    wanted = ChangeFilter(channel_ids=(channel_id,) if channel else ())
    found = (await post_changes(session, wanted, skipped + SHOWN + 1))[skipped:]
    title = channel["title"] if channel else None
    text, shown = render_post_changes(found[:SHOWN], title, settings.zone, skipped=skipped)
    buttons = []
    if skipped:
        buttons.append(InlineKeyboardButton(text="⏮ Newest", callback_data=f"ev:{channel_id}:0"))
    if len(found) > shown:
        older = f"ev:{channel_id}:{skipped + shown}"
        buttons.append(InlineKeyboardButton(text="Older ▶", callback_data=older))
    return text, InlineKeyboardMarkup(inline_keyboard=[buttons]) if buttons else None


def _place(data: str) -> tuple[int, int] | None:
    """The channel id and the changes to skip in ``ev:<channel id>:<skipped>``."""
    parts = data.split(":")
    try:
        channel_id, skipped = int(parts[1]), int(parts[2])
    except (IndexError, ValueError):
        return None
    return (channel_id, skipped) if len(parts) == 3 and 0 <= skipped <= 10_000 else None


def router() -> Router:
    """This module's handlers on a fresh Router (a Router joins one Dispatcher only)."""
    routes = Router(name="events")
    routes.message.register(events_command, Command("events"))
    routes.callback_query.register(page_pressed, F.data.startswith("ev:"))
    return routes
