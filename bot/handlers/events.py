"""/events [CHANNEL]: the latest edits, deletions and restrictions of posts, newest first."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.render import render_post_changes
from bot.settings import BotSettings
from dozor.storage.channels import resolve_channel
from dozor.storage.post_changes import ChangeFilter, post_changes

SHOWN = 15  # at most; fewer when they do not fit one message


async def events_command(
    message: Message, command: CommandObject, session: AsyncSession, settings: BotSettings
) -> None:
    ref = (command.args or "").strip()
    channel = await resolve_channel(session, ref) if ref else None
    wanted = ChangeFilter(channel_ids=(channel["id"],) if channel else ())
    found = await post_changes(session, wanted, SHOWN)
    await message.answer(
        render_post_changes(found, channel["title"] if channel else None, settings.zone)
    )


def router() -> Router:
    """This module's handlers on a fresh Router (a Router joins one Dispatcher only)."""
    routes = Router(name="events")
    routes.message.register(events_command, Command("events"))
    return routes
