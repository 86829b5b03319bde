"""/search QUERY: 5 results a page, ◀ ▶ buttons that edit the same message.

The query is not kept anywhere: the page buttons carry only the page number (callback data is
limited to 64 bytes) and the query is read back from the first line of the message.
"""

from __future__ import annotations

import math

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.edits import edit
from bot.render import SearchPage, query_of, render_search
from bot.settings import BotSettings
from dozor.ids import is_digits
from dozor.search import search

PAGE_SIZE = 5
USAGE = "Usage: /search <i>query</i>, e.g. <code>/search мигрант channel:mediamvd</code>"
STALE = "This result list is too old to page; run /search again."


async def search_command(
    message: Message, command: CommandObject, session: AsyncSession, settings: BotSettings
) -> None:
    # One line: the query is read back from the message's first line when a page is pressed.
    query = " ".join((command.args or "").split())
    if not query:
        await message.answer(USAGE)
        return
    text, keyboard = await search_page(session, query, 1, settings)
    await message.answer(text, reply_markup=keyboard)


async def page_pressed(
    callback: CallbackQuery, session: AsyncSession, settings: BotSettings
) -> None:
    message = callback.message
    query = query_of(message.text or "") if isinstance(message, Message) else None
    number = (callback.data or "")[3:]
    page = int(number) if is_digits(number) else 1
    if query is None or not isinstance(message, Message):
        await callback.answer(STALE, show_alert=True)
        return
    text, keyboard = await search_page(session, query, max(page, 1), settings)
    await edit(message, text, keyboard)
    await callback.answer()


async def search_page(
    session: AsyncSession, query: str, page: int, settings: BotSettings
) -> tuple[str, InlineKeyboardMarkup | None]:
    result = await search(session, query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    pages = max(1, math.ceil(result.total / PAGE_SIZE))
    shown = SearchPage(
        query, result.total, result.total_is_exact, page, pages, result.hits, result.checked_only
    )
    more = page < pages or (not result.total_is_exact and len(result.hits) == PAGE_SIZE)
    return render_search(shown, settings.zone), _pager(page, more)


def _pager(page: int, more: bool) -> InlineKeyboardMarkup | None:
    buttons = []
    if page > 1:
        buttons.append(InlineKeyboardButton(text="◀", callback_data=f"sp:{page - 1}"))
    if more:
        buttons.append(InlineKeyboardButton(text="▶", callback_data=f"sp:{page + 1}"))
    return InlineKeyboardMarkup(inline_keyboard=[buttons]) if buttons else None


def router() -> Router:
    """This module's handlers on a fresh Router (a Router joins one Dispatcher only)."""
    routes = Router(name="search")
    routes.message.register(search_command, Command("search"))
    routes.callback_query.register(page_pressed, F.data.startswith("sp:"))
    return routes
