"""Who may use the bot, and the per-update database session.

Only the configured team is served. Anyone else gets one polite refusal (per process) and
nothing more — no archive content, no channel names — and the attempt is logged. Groups other
than the team chat are ignored entirely: a member's /search there would show the archive to
outsiders in that group.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiogram import BaseMiddleware, Bot
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, Update, User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger(__name__)
Role = Literal["admin", "member"]
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
REFUSAL = (
    "Sorry, this is a private bot for one team. "
    "If you should have access, ask the team's admin to add your user id."
)


@dataclass
class Team:
    admins: frozenset[int]
    members: frozenset[int]
    chat_id: int | None = None

    def role(self, user_id: int) -> Role | None:
        if user_id in self.admins:
            return "admin"
        if user_id in self.members:
            return "member"
        return None

    def chat_moved(self, old: int, new: int) -> None:
        """The team group became a supergroup (a new id): serve it there from now on."""
        if self.chat_id == old:
            self.chat_id = new

    def serves_chat(self, chat: Chat | None) -> bool:
        """Private chats, and the team chat; never other groups."""
        return chat is None or chat.type == "private" or chat.id == self.chat_id


class AccessMiddleware(BaseMiddleware):
    """Outer update middleware: puts ``role`` into the handler data or stops the update."""

    def __init__(self, team: Team) -> None:
        self.team = team
        self._refused: set[int] = set()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        # The bot's own membership is heard of in any chat and from anyone (a group removing
        # it or adding it back: bot/handlers/membership.py); commands only from the team.
        if isinstance(event, Update) and event.my_chat_member is not None:
            return await handler(event, data)
        if user is None or user.is_bot or not self.team.serves_chat(chat):
            return None
        role = self.team.role(user.id)
        if role is None:
            await self._refuse(event, user, chat, data["bot"])
            return None
        data["role"] = role
        return await handler(event, data)

    async def _refuse(self, event: TelegramObject, user: User, chat: Chat | None, bot: Bot) -> None:
        first = user.id not in self._refused
        log.warning(
            "refused user %s (@%s) in chat %s%s",
            user.id,
            user.username or "-",
            chat.id if chat else "-",
            "" if first else " again",
        )
        self._refused.add(user.id)
        update = event if isinstance(event, Update) else None
        callback: CallbackQuery | None = update.callback_query if update else None
        message: Message | None = update.message if update else None
        if callback is not None:
            await bot.answer_callback_query(callback.id, text=REFUSAL if first else None)
        elif first and message is not None and message.chat.type == "private":
            await bot.send_message(message.chat.id, REFUSAL)


class SessionMiddleware(BaseMiddleware):
    """One database transaction per update: committed when the handler returns, rolled back
    when it raises, so a failed command never leaves half its changes behind.

    A handler that changes something commits before it replies (``await session.commit()``):
    the user is never told of a change that is not yet stored, and a quick second button
    press reads the first one's result."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self.sessions() as session:
            data["session"] = session
            try:
                result = await handler(event, data)
            except BaseException:
                await session.rollback()
                raise
            await session.commit()
            return result
