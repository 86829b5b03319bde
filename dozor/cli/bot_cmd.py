"""`dozor bot`: the team side — bot, alert generator, delivery, digests (no user session)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor.cli.context import config_option, credentials_message, run_async, state, stop_on_signals
from dozor.config import Config, missing_bot_keys, moved_chat_notes, with_moved_chats
from dozor.db import open_database
from dozor.errors import ConfigError
from dozor.rules.store import sync_config_rules
from dozor.runtime import settle_heap
from dozor.search.reindex import STALE_WARNING, index_is_stale
from dozor.storage.facts import moved_chats

if TYPE_CHECKING:  # aiogram is imported only by the commands that run the bot
    from bot.delivery import DeliveryReport
    from bot.service import TeamService, Webhook

log = logging.getLogger(__name__)


@click.command("bot")
@config_option
@click.option("--once", is_flag=True, help="Queue and send pending alerts once, then exit.")
def bot_command(once: bool) -> None:
    """Serve the team: the bot, alerts and digests (the archive may be filled elsewhere)."""
    cli_state = state()
    config = cli_state.config()
    require_bot_keys(config, cli_state.path)
    if once:
        report = run_async(alerts_once(config))
        click.echo(f"alerts: {report.sent} sent, {report.failed} failed, {report.dropped} dropped")
        return

    async def serve() -> None:
        await serve_team(config, stop_on_signals())

    run_async(serve())


def require_bot_keys(config: Config, path: Path) -> None:
    missing = missing_bot_keys(config)
    if missing:
        raise ConfigError(credentials_message(path, missing))


async def serve_team(config: Config, stop: asyncio.Event) -> None:
    """Run the team service until *stop* (the caller has checked the bot keys)."""
    async with open_database(config.database) as sessions:
        async with sessions() as session:
            if await index_is_stale(session):
                log.warning(STALE_WARNING)
        service = await team_service(config, sessions)
        settle_heap()
        await service.run(stop)


async def alerts_once(config: Config) -> DeliveryReport:
    """For cron: turn new events into alerts and send the instant ones, tell the channel
    changes, then return."""
    async with open_database(config.database) as sessions:
        service = await team_service(config, sessions)
        try:
            await service.check_token()
            await service.generate()
            report = await service.delivery.run_once()
            await service.report_changes()
            return report
        finally:
            await service.bot.session.close()
            await service.delivery.bot.session.close()


async def team_service(config: Config, sessions: async_sessionmaker[AsyncSession]) -> TeamService:
    from bot.app import build_bot, build_dispatcher, settings_of, team_of
    from bot.delivery import Delivery
    from bot.service import TeamService

    async with sessions() as session:
        moved = await moved_chats(session)
    for note in moved_chat_notes(config, moved):
        log.warning("%s", note)
    config = with_moved_chats(config, moved)
    async with sessions.begin() as session:
        await sync_config_rules(
            session,
            config.rules,
            default_chat=config.bot.team_chat_id,
            now=datetime.now(UTC),
            history=timedelta(minutes=config.alerts.history_minutes),
        )
    bot = build_bot(config)
    team = team_of(config)
    dispatcher = build_dispatcher(sessions, team, settings_of(config))
    delivery = Delivery(build_bot(config, retry=False), sessions, ZoneInfo(config.bot.timezone))
    return TeamService(
        bot,
        dispatcher,
        sessions,
        delivery,
        team,
        digest_hour=config.bot.digest_hour,
        webhook=webhook_of(config),
        notice_chats=notice_chats(config),
    )


def notice_chats(config: Config) -> tuple[int, ...]:
    """Where channel renames are told: the team chat, or else each admin; none if off."""
    if not config.bot.channel_notices:
        return ()
    if config.bot.team_chat_id is not None:
        return (config.bot.team_chat_id,)
    return tuple(config.bot.admins)


def webhook_of(config: Config) -> Webhook | None:
    from bot.service import Webhook

    if config.bot.webhook_url is None:
        return None
    host, port = config.bot.listen_address
    secret = config.bot.webhook_secret
    return Webhook(
        config.bot.webhook_url, host, port, secret.get_secret_value() if secret else None
    )
