"""/post LINK: everything archived about one post, in one message."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.render import render_post_history
from bot.settings import BotSettings
from dozor.search.engine import post_link
from dozor.storage.history import parse_post_ref, post_history

USAGE = (
    "Usage: /post <i>link</i>, e.g. <code>/post https://t.me/mvd_official_kg/1234</code>: "
    "every version of the post, its deletion and its views"
)


async def post_command(
    message: Message, command: CommandObject, session: AsyncSession, settings: BotSettings
) -> None:
    ref = " ".join((command.args or "").split())
    if not ref:
        await message.answer(USAGE)
        return
    channel_ref, message_id = parse_post_ref(ref.replace(" ", "/", 1) if " " in ref else ref)
    history = await post_history(session, channel_ref, message_id)
    channel = history.channel
    url = post_link(channel["id"], channel["username"], message_id)
    await message.answer(render_post_history(history, url, settings.zone))


def router() -> Router:
    """This module's handlers on a fresh Router (a Router joins one Dispatcher only)."""
    routes = Router(name="post")
    routes.message.register(post_command, Command("post"))
    return routes
