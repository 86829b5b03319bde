"""The bot added back to a chat that had removed or blocked it: the rules paused then resume.

Telegram tells the bot of its own membership (``my_chat_member``): a group that adds it again,
a user who unblocks it. Delivery paused the chat's rules when Telegram refused an alert there
(bot/delivery.py) and the admins were told; nothing more is needed from anyone.
"""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.types import ChatMemberUpdated
from sqlalchemy.ext.asyncio import AsyncSession

from bot.settings import BotSettings
from dozor.rules.store import resume_rules
from dozor.storage.facts import forget_lost_chat

PRESENT = frozenset({"member", "administrator"})


async def bot_membership(
    event: ChatMemberUpdated, session: AsyncSession, settings: BotSettings, bot: Bot
) -> None:
    if event.new_chat_member.status not in PRESENT:
        return
    lost = await forget_lost_chat(session, event.chat.id)
    if lost is None:
        return
    resumed = await resume_rules(session, lost.rule_ids, now=settings.now())
    await session.commit()
    if resumed:
        rules = "1 alert rule is" if len(resumed) == 1 else f"{len(resumed)} alert rules are"
        await bot.send_message(event.chat.id, f"▶ The bot is back: {rules} active here again.")


def router() -> Router:
    """This module's handlers on a fresh Router (a Router joins one Dispatcher only)."""
    routes = Router(name="membership")
    routes.my_chat_member.register(bot_membership)
    return routes
