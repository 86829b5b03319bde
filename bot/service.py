"""The team side of dozor in one place: bot polling, alert generation, delivery, digests, and
reports on channel requests. Needs no Telegram user session; any number of archivers may fill
the same database from elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.access import Team
from bot.app import COMMANDS
from bot.delivery import Delivery, lose_chat
from bot.render import (
    esc,
    render_channel_change,
    render_logout,
    render_lost_chat,
    render_unreadable,
)
from dozor.alerts.generator import RuleCache, generate_alerts
from dozor.errors import BotTokenRejected, ConfigError
from dozor.failures import log_failure
from dozor.storage.facts import (
    BOT_TOKEN_REJECTED,
    forget_fact,
    lost_chats,
    mark_logout_told,
    mark_lost_told,
    session_logout,
    set_fact,
)
from dozor.storage.notices import changes_to_notice, notice_cursor, set_notice_cursor
from dozor.storage.requests import mark_reported, unreported_outcomes
from dozor.storage.unreadable import mark_told, untold_unreadable

log = logging.getLogger(__name__)
GENERATE_EVERY = 0.25  # seconds between looks at the change feed: the floor of alert latency
REQUESTS_EVERY = 5.0


@dataclass(frozen=True)
class Webhook:
    """Receive updates at *url* (Telegram → reverse proxy → host:port) instead of polling."""

    url: str
    host: str
    port: int
    secret: str | None = None


class TokenWatch(BaseRequestMiddleware):
    """Notices Telegram refusing the bot's token (401) on any request. Nothing else would:
    aiogram's polling retries a failed getUpdates for ever (logging each), and delivery would
    try every second."""

    def __init__(self) -> None:
        self.rejected = asyncio.Event()

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            return await make_request(bot, method)
        except TelegramUnauthorizedError:
            self.rejected.set()
            raise


@dataclass
class TeamService:
    bot: Bot
    dispatcher: Dispatcher
    sessions: async_sessionmaker[AsyncSession]
    delivery: Delivery
    team: Team  # who the dispatcher serves: follows the team group's moves
    digest_hour: int = 8
    polling_timeout: int = 10
    webhook: Webhook | None = None
    requests_every: float = REQUESTS_EVERY
    notice_chats: tuple[int, ...] = ()  # told when a channel renames itself; none: nobody
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _cache: RuleCache = field(default_factory=RuleCache)
    _token_watch: TokenWatch = field(default_factory=TokenWatch)

    def __post_init__(self) -> None:
        self.delivery.on_move = self._follow_move

    async def run(self, stop: asyncio.Event) -> None:
        """Serve the team until *stop* is set; a worker that fails for good (a webhook port
        that cannot be bound) ends the service with its error."""
        try:
            await self.check_token()
        except BaseException:
            await self._close_clients()
            raise
        for bot in (self.bot, self.delivery.bot):
            bot.session.middleware(self._token_watch)
        scheduler = self._digest_scheduler()
        scheduler.start()
        workers = [
            asyncio.create_task(self._until_token_rejected(), name="bot-token"),
            asyncio.create_task(self._receive(), name="bot-updates"),
            asyncio.create_task(self._every(GENERATE_EVERY, self.generate, stop), name="alerts"),
            asyncio.create_task(self.delivery.run_forever(stop, self._wake), name="delivery"),
            asyncio.create_task(self._every(self.requests_every, self.report_requests, stop)),
            asyncio.create_task(self._every(self.requests_every, self.report_changes, stop)),
        ]
        stopped = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([stopped, *workers], return_when=asyncio.FIRST_COMPLETED)
            failed = [t.exception() for t in done if t is not stopped and not t.cancelled()]
        finally:
            scheduler.shutdown(wait=False)
            if self.webhook is None:
                with contextlib.suppress(RuntimeError):  # polling never started
                    await self.dispatcher.stop_polling()
            for task in (stopped, *workers):
                task.cancel()
            await asyncio.gather(stopped, *workers, return_exceptions=True)
            await self._close_clients()
        error = next((e for e in failed if e is not None), None)
        if error is not None:
            raise error

    async def _close_clients(self) -> None:
        await self.bot.session.close()
        await self.delivery.bot.session.close()

    async def check_token(self) -> None:
        """Check the token before anything else, and publish the command menu."""
        try:
            me = await self.bot.get_me()
            await self.bot.set_my_commands(COMMANDS)
        except TelegramUnauthorizedError:
            raise ConfigError("bot.token: Telegram rejects this token (see @BotFather)") from None
        except (TelegramNetworkError, TelegramServerError) as exc:
            log.warning("Bot API not reachable yet (%s); polling will keep trying", exc)
        else:
            log.info("team bot @%s is up", me.username)
            async with self.sessions.begin() as session:
                await forget_fact(session, BOT_TOKEN_REJECTED)
            await self._check_team_chat()

    async def _check_team_chat(self) -> None:
        """A team chat Telegram does not know for this bot (a group's id without its -100, a
        group the bot was never added to) would lose every team alert and notice, and the
        team's commands there would go unanswered: refused at the start."""
        chat_id = self.team.chat_id
        if chat_id is None:
            return
        try:
            await self.bot.get_chat_member_count(chat_id)  # the lightest question of a chat
        except TelegramMigrateToChat as moved:
            await self.delivery.follow_move(chat_id, moved.migrate_to_chat_id)
        except TelegramBadRequest as exc:
            if "chat not found" in exc.message.lower():
                raise ConfigError(
                    f"bot.team_chat_id: Telegram knows no chat {chat_id} for this bot: add the "
                    "bot to the team's group (a supergroup's id starts with -100)"
                ) from None
            log.warning("could not check bot.team_chat_id %s: %s", chat_id, exc)
        except (TelegramForbiddenError, TelegramNetworkError, TelegramServerError) as exc:
            log.warning("could not check bot.team_chat_id %s: %s", chat_id, exc)

    async def _until_token_rejected(self) -> None:
        """End the service once Telegram refuses the token it accepted at the start."""
        await self._token_watch.rejected.wait()
        log.error("%s", BotTokenRejected())
        async with self.sessions.begin() as session:  # for `dozor status`
            await set_fact(session, BOT_TOKEN_REJECTED, "", now=self.now())
        raise BotTokenRejected

    async def _receive(self) -> None:
        if self.webhook is not None:
            await self._serve_webhook(self.webhook)
            return
        try:  # a webhook left set would make polling fail; pending updates are kept
            await self.bot.delete_webhook(drop_pending_updates=False)
        except TelegramAPIError as exc:
            log.warning("could not remove a webhook (%s); polling anyway", exc)
        await self.dispatcher.start_polling(
            self.bot,
            polling_timeout=self.polling_timeout,
            handle_signals=False,
            close_bot_session=False,
        )

    async def _serve_webhook(self, hook: Webhook) -> None:
        app = web.Application()
        handler = SimpleRequestHandler(self.dispatcher, self.bot, secret_token=hook.secret)
        handler.register(app, path=urlsplit(hook.url).path or "/")
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            try:
                await web.TCPSite(runner, hook.host, hook.port).start()
            except OSError as exc:
                raise ConfigError(
                    f"bot.webhook_listen: cannot listen on {hook.host}:{hook.port} ({exc.strerror})"
                ) from None
            await self._register_webhook(hook)
            log.info("webhook %s → %s:%s", hook.url, hook.host, hook.port)
            await asyncio.Event().wait()  # serve until cancelled
        finally:
            await runner.cleanup()

    async def _register_webhook(self, hook: Webhook) -> None:
        """Tell Telegram where to post updates, retrying while the Bot API is unreachable."""
        delay = 1.0
        while True:
            try:
                await self.bot.set_webhook(
                    hook.url,
                    secret_token=hook.secret,
                    allowed_updates=self.dispatcher.resolve_used_update_types(),
                )
                return
            except (TelegramNetworkError, TelegramServerError) as exc:
                log.warning("could not set the webhook (%s); retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)

    def _digest_scheduler(self) -> AsyncIOScheduler:
        zone = self.delivery.timezone
        scheduler = AsyncIOScheduler(timezone=zone)
        scheduler.add_job(
            self.delivery.send_digests, "cron", minute=0, args=["digest_hourly"], id="hourly"
        )
        scheduler.add_job(
            self.delivery.send_digests,
            "cron",
            hour=self.digest_hour,
            minute=0,
            args=["digest_daily"],
            id="daily",
        )
        return scheduler

    async def _every(
        self, seconds: float, job: Callable[[], Awaitable[object]], stop: asyncio.Event
    ) -> None:
        while not stop.is_set():
            try:
                await job()
            except Exception as exc:
                log_failure(log, exc, "%s failed; retrying", getattr(job, "__name__", job))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), seconds)

    async def generate(self) -> int:
        """Turn every new archive event into alerts; wake delivery when some were made."""
        made = 0
        while True:
            async with self.sessions.begin() as session:
                report = await generate_alerts(session, self._cache, now=self.now())
            made += report.alerts
            if report.events == 0:
                break
        if made:
            self._wake.set()
        return made

    async def report_requests(self) -> None:
        """Tell whoever asked for a channel (/addchannel) what the archiver made of it."""
        async with self.sessions() as session:
            outcomes = await unreported_outcomes(session)
        for request in outcomes:
            if request.chat_id is None:
                continue
            if request.status == "done":
                text = f"✅ Now archiving <b>{esc(request.detail or request.ref)}</b>."
            else:
                text = f"❌ Could not follow {esc(request.ref)}: {esc(request.detail or '')}"
            try:
                await self._send(request.chat_id, text)
            except (TelegramRetryAfter, TelegramServerError, TelegramNetworkError):
                return  # Telegram is busy or away: the next round tries again
            except TelegramAPIError as exc:
                log.warning("could not report channel request %s: %s", request.id, exc)
            async with self.sessions.begin() as session:
                await mark_reported(session, request.id, now=self.now())

    async def _report_unreadable(self) -> None:
        async with self.sessions() as session:
            notices = await untold_unreadable(session)
        for notice in notices:
            if not await self._tell_team(render_unreadable(notice), "unreadable posts"):
                return  # Telegram is busy or away: the next round tells it
            async with self.sessions.begin() as session:
                await mark_told(session, notice.channel_id, notice.message_ids, now=self.now())

    async def _report_lost_chats(self) -> None:
        """Tell the admins, privately, of a chat that removed or blocked the bot: its rules
        are paused, and a team that relied on them would otherwise hear nothing."""
        async with self.sessions() as session:
            untold = [lost for lost in await lost_chats(session) if not lost.told]
        for lost in untold:
            for admin in sorted(self.team.admins - {lost.chat_id}):
                await self.delivery.limiter.wait(admin)
                try:
                    await self._send(admin, render_lost_chat(lost))
                except (TelegramRetryAfter, TelegramServerError, TelegramNetworkError):
                    return  # Telegram is busy or away: the next round tells it
                except TelegramAPIError as exc:
                    log.warning("could not tell admin %s of chat %s: %s", admin, lost.chat_id, exc)
            async with self.sessions.begin() as session:
                await mark_lost_told(session, lost.chat_id)

    async def _report_logout(self) -> None:
        async with self.sessions() as session:
            logout = await session_logout(session)
        if logout is None or logout.told:
            return
        if await self._tell_team(render_logout(logout), "the archiver's logout"):
            async with self.sessions.begin() as session:
                await mark_logout_told(session, logout)

    async def _tell_team(self, text: str, what: str) -> bool:
        """Send *text* to every notice chat; False when Telegram is busy or away."""
        for chat_id in self.notice_chats:
            await self.delivery.limiter.wait(chat_id)
            try:
                await self._send(chat_id, text)
            except (TelegramRetryAfter, TelegramServerError, TelegramNetworkError):
                return False
            except TelegramAPIError as exc:
                log.warning("could not tell chat %s of %s: %s", chat_id, what, exc)
        return True

    async def _send(self, chat_id: int, text: str) -> None:
        """Send *text* to *chat_id*, or to the supergroup Telegram says the group became."""
        try:
            await self.bot.send_message(chat_id, text)
        except TelegramMigrateToChat as moved:
            await self.delivery.follow_move(chat_id, moved.migrate_to_chat_id)  # see _follow_move
            await self.bot.send_message(moved.migrate_to_chat_id, text)
        except TelegramForbiddenError as exc:  # the chat removed or blocked the bot
            async with self.sessions.begin() as session:
                if not any(lost.chat_id == chat_id for lost in await lost_chats(session)):
                    await lose_chat(session, chat_id, exc.message, now=self.now())
            raise

    def _follow_move(self, old: int, new: int) -> None:
        """A group became a supergroup: notices and the team's commands follow it too."""
        self.notice_chats = tuple(new if chat == old else chat for chat in self.notice_chats)
        self.team.chat_moved(old, new)

    async def report_changes(self) -> None:
        """Tell the team when a channel renamed itself or rewrote its description, of posts
        the archiver could not read (no rule can alert on them), and when Telegram logged the
        archiver out (nothing is archived until someone logs it in again)."""
        await self._report_lost_chats()
        if not self.notice_chats:
            return
        await self._report_logout()
        await self._report_unreadable()
        async with self.sessions.begin() as session:
            cursor = await notice_cursor(session, now=self.now())
            changes, read_up_to = await changes_to_notice(session, cursor)
        for change in changes:
            text = render_channel_change(change, self.delivery.timezone)
            if not await self._tell_team(text, "a channel change"):
                return  # Telegram is busy or away: the next round tells it again
            async with self.sessions.begin() as session:
                await set_notice_cursor(session, change.id, now=self.now())
        if read_up_to > cursor:
            async with self.sessions.begin() as session:
                await set_notice_cursor(session, read_up_to, now=self.now())
