"""Editing a message the bot sent, where the edit may change nothing."""

from __future__ import annotations

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardMarkup, Message


async def edit(message: Message, text: str, reply_markup: InlineKeyboardMarkup | None) -> None:
    """Show *text* and buttons in *message*. Telegram refuses an edit that changes nothing
    ("message is not modified"): a button pressed twice, or an action refused; that is fine."""
    try:
        await message.edit_text(text, reply_markup=reply_markup)
    except TelegramBadRequest as exc:
        if "message is not modified" not in exc.message:
            raise
