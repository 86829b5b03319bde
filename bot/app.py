"""Building the aiogram Bot and Dispatcher from the config (no globals: everything passed in)."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import BotCommand
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.access import AccessMiddleware, SessionMiddleware, Team
from bot.handlers import routers
from bot.retry import RetryMiddleware
from bot.settings import BotSettings
from dozor.config import Config

COMMANDS = [
    BotCommand(command="search", description="Search the archive"),
    BotCommand(command="post", description="Every version of a post, its deletion, views"),
    BotCommand(command="subscribe", description="Alert me about matching posts"),
    BotCommand(command="rules", description="My alert rules"),
    BotCommand(command="export", description="Export posts as a file"),
    BotCommand(command="channels", description="Archived channels"),
    BotCommand(command="changes", description="How a channel changed: renames, pins, purges"),
    BotCommand(command="events", description="Latest edits and deletions of posts"),
    BotCommand(command="status", description="Archiver health"),
    BotCommand(command="help", description="How to use dozor"),
]


def build_bot(config: Config, *, retry: bool = True) -> Bot:
    """The Bot, talking to ``bot.api_server`` when set (a self-hosted Bot API, or a test fake).

    With *retry*, requests wait out 429s and retry 5xx (for replies to commands); alert
    delivery uses a Bot without it, as it retries and records attempts itself."""
    token = config.bot.token.get_secret_value() if config.bot.token else ""
    server = config.bot.api_server
    session = (
        AiohttpSession(api=TelegramAPIServer.from_base(server)) if server else AiohttpSession()
    )
    if retry:
        session.middleware(RetryMiddleware())
    return Bot(
        token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def team_of(config: Config) -> Team:
    return Team(
        admins=frozenset(config.bot.admins),
        members=frozenset(config.bot.members),
        chat_id=config.bot.team_chat_id,
    )


def settings_of(config: Config) -> BotSettings:
    work_dir = config.bot.work_dir or Path(tempfile.gettempdir())
    work_dir.mkdir(parents=True, exist_ok=True)
    return BotSettings(
        zone=ZoneInfo(config.bot.timezone),
        history=timedelta(minutes=config.alerts.history_minutes),
        work_dir=work_dir,
        media_dir=config.archiver.media_dir,
    )


def build_dispatcher(
    sessions: async_sessionmaker[AsyncSession], team: Team, settings: BotSettings
) -> Dispatcher:
    """Handlers get ``session`` (one transaction per update), ``role``, ``settings``, ``team``."""
    dispatcher = Dispatcher(settings=settings, team=team)
    dispatcher.update.outer_middleware(AccessMiddleware(team))
    dispatcher.update.outer_middleware(SessionMiddleware(sessions))
    dispatcher.include_routers(*routers())
    return dispatcher
