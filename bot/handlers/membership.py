"""The bot's own membership of a chat (Telegram's ``my_chat_member``).

Removed from a group, or blocked by a user: the chat's rules are paused and the admins told at
once (bot/delivery.py's ``lose_chat``, which also runs when Telegram refuses an alert there),
rather than at the next alert, with notices lost meanwhile. Added back, or unblocked: the rules
paused then resume, and nothing more is needed from anyone.
"""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.types import ChatMemberUpdated
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import Team
from bot.delivery import lose_chat
from bot.settings import BotSettings
from dozor.rules.store import ACTIVE, list_rules, resume_rules
from dozor.storage.facts import forget_lost_chat

GONE = frozenset({"left", "kicked"})  # removed from a group; blocked by a user


async def bot_membership(
    event: ChatMemberUpdated, session: AsyncSession, settings: BotSettings, team: Team, bot: Bot
) -> None:
    chat_id, status = event.chat.id, event.new_chat_member.status
    if status in GONE:
        if chat_id == team.chat_id or await _has_active_rules(session, chat_id):
            removal = "blocked" if event.chat.type == "private" else "removed"
            await lose_chat(session, chat_id, f"the bot was {removal}", now=settings.now())
        return
    if event.old_chat_member.status not in GONE:
        return  # promoted, restricted...: still there
    lost = await forget_lost_chat(session, chat_id)
    if lost is None:
        return
    resumed = await resume_rules(session, lost.rule_ids, now=settings.now())
    await session.commit()
    if resumed:
        rules = "1 alert rule is" if len(resumed) == 1 else f"{len(resumed)} alert rules are"
        await bot.send_message(chat_id, f"▶ The bot is back: {rules} active here again.")


async def _has_active_rules(session: AsyncSession, chat_id: int) -> bool:
    return any(
        rule.chat_id == chat_id and rule.status == ACTIVE for rule in await list_rules(session)
    )


def router() -> Router:
    """This module's handlers on a fresh Router (a Router joins one Dispatcher only)."""
    routes = Router(name="membership")
    routes.my_chat_member.register(bot_membership)
    return routes
