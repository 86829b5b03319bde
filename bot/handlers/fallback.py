"""Anything no other handler took: in a private chat, say what the bot understands; in a group,
stay silent (the team talks there)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import Message

from bot.render import esc

PLAIN = "Send me a command: /search <i>query</i> finds posts; /help lists the rest."


async def fallback(message: Message) -> None:
    words = (message.text or "").split(maxsplit=1)
    command = words[0] if words else ""
    if command.startswith("/"):
        await message.answer(f"I don't know {esc(command)}. /help lists what I can do.")
    else:
        await message.answer(PLAIN)


def router() -> Router:
    """This module's handlers on a fresh Router (a Router joins one Dispatcher only)."""
    routes = Router(name="fallback")
    routes.message.register(fallback, F.chat.type == "private")
    return routes
