"""Anything no other handler took: in a private chat, say what the bot understands; in a group,
stay silent (the team talks there). A button no handler knows (one an older dozor sent) is
answered, so the user's app stops waiting, and says why nothing happens."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message

from bot.render import esc

PLAIN = "Send me a command: /search <i>query</i> finds posts; /help lists the rest."


async def fallback(message: Message) -> None:
    words = (message.text or "").split(maxsplit=1)
    command = words[0] if words else ""
    if command.startswith("/"):
        await message.answer(f"I don't know {esc(command)}. /help lists what I can do.")
    else:
        await message.answer(PLAIN)


STALE_BUTTON = "This button no longer works; send the command again."


async def unknown_button(callback: CallbackQuery) -> None:
    await callback.answer(STALE_BUTTON)


def router() -> Router:
    """This module's handlers on a fresh Router (a Router joins one Dispatcher only)."""
    routes = Router(name="fallback")
    routes.message.register(fallback, F.chat.type == "private")
    routes.callback_query.register(unknown_button)
    return routes
