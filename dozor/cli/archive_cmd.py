"""`dozor login`, `dozor archive`, `dozor verify`, `dozor channels add|remove`, `dozor status`."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor.channel_refs import check_requestable
from dozor.cli.channels_cmd import channels
from dozor.cli.context import (
    ChannelArgsCommand,
    config_option,
    json_option,
    run_async,
    state,
    stop_on_signals,
)
from dozor.cli.db_cmd import rebuild_if_stale
from dozor.cli.output import format_time, print_json, print_table, stderr_console
from dozor.config import Config, moved_chat_notes
from dozor.db import missing_sqlite_file, open_database
from dozor.errors import (
    TOKEN_REJECTED,
    SessionInUse,
    SessionLoggedOut,
    UserError,
    logged_out_message,
)
from dozor.runtime import settle_heap
from dozor.storage import resolve_channel
from dozor.storage.facts import (
    SessionLogout,
    forget_logout,
    moved_chats,
    note_logout,
    session_logout,
    token_rejected_at,
)
from dozor.storage.requests import (
    DONE,
    PENDING,
    ChannelRequest,
    request_channel,
    requests_by_id,
    waiting_request_count,
)
from dozor.storage.stats import (
    alert_counts,
    channel_health,
    lag_text,
    not_joined_text,
    unreadable_text,
)
from dozor.storage.sync import read_from_telegram_before, set_tracked, tracked_channels

if TYPE_CHECKING:  # Telethon is imported only by the commands that talk to Telegram
    from telethon import TelegramClient

    from archiver.service import Archiver, ChannelReport

T = TypeVar("T")
# A `--once` pass (cron) stops waiting for a lost connection after this many seconds.
ONCE_OFFLINE_SECONDS = 600.0
# How long `channels add` waits for the running archiver to follow what it handed over.
HAND_OVER_SECONDS = 60.0
log = logging.getLogger(__name__)


@click.command()
@config_option
@click.option("--check", is_flag=True, help="Only report whether the session is logged in.")
def login(check: bool) -> None:
    """Log the Telegram *user* account in (bots cannot read channel history)."""
    from archiver.client import build_client, require_telegram_keys, session_lock

    config = state().config()
    require_telegram_keys(config)
    with session_lock(config.telegram.session):
        client = build_client(config)
        click.echo(run_async(_log_in(client, config, check=check)))


async def _log_in(client: Any, config: Config, *, check: bool) -> str:
    from archiver.client import protect_session_file

    await connect(client)
    try:
        if check:
            if not await client.is_user_authorized():
                raise UserError(
                    f"session {config.telegram.session} is not logged in: run `dozor login`"
                )
            me = await client.get_me()
            return f"session {config.telegram.session} is logged in as {_who(me)}"
        await client.start(
            phone=lambda: click.prompt("Phone number (international format, +996…)"),
            code_callback=lambda: click.prompt("Login code from Telegram"),
            password=lambda: click.prompt("Two-step verification password", hide_input=True),
        )
        me = await client.get_me()
        return f"logged in as {_who(me)}; session saved to {config.telegram.session}"
    finally:
        await client.disconnect()
        protect_session_file(config.telegram.session)


def _who(me: Any) -> str:
    name = " ".join(p for p in (me.first_name, me.last_name) if p)
    return f"{name} (@{me.username})" if me.username else name


async def connect(client: Any) -> None:
    """Connect the Telethon client; a network failure is a user error that says so."""
    try:
        await client.connect()
    except asyncio.IncompleteReadError:
        # What a proxy or captive portal answering in Telegram's place looks like.
        raise UserError(
            "cannot reach Telegram: the connection closed before Telegram answered "
            "(a proxy or firewall in the way?)"
        ) from None
    except (ConnectionError, OSError) as exc:
        raise UserError(f"cannot reach Telegram: {exc}") from None


@asynccontextmanager
async def archiver_for(config: Config, **kw: Any) -> AsyncIterator[Archiver]:
    """A connected, logged-in archiver on the configured database."""
    from archiver.client import build_client, require_telegram_keys, session_lock
    from archiver.service import Archiver

    require_telegram_keys(config)
    with session_lock(config.telegram.session):
        client = build_client(config)
        async with open_database(config.database) as sessions:
            await connect(client)
            try:
                if not await client.is_user_authorized():
                    raise await _not_logged_in(client, sessions)
                async with sessions.begin() as session:
                    await forget_logout(session)  # logged in again
                yield Archiver(client, sessions, config.archiver, **kw)
            finally:
                await client.disconnect()


async def _not_logged_in(
    client: TelegramClient, sessions: async_sessionmaker[AsyncSession]
) -> UserError:
    """What to say of a session that cannot read Telegram at the start. One that archived
    into this archive before was logged out while dozor was stopped: that is recorded as a
    logout, as one while dozor runs is, so `dozor status` shows it and the team bot tells it
    (and `dozor run` keeps serving the archive). Otherwise dozor is being set up."""
    async with sessions.begin() as session:
        if (known := await session_logout(session)) is not None:
            return SessionLoggedOut(known.reason)
        if not await read_from_telegram_before(session):
            return UserError("the Telegram session is not logged in: run `dozor login`")
        from archiver.client import why_logged_out

        logged_out = SessionLoggedOut(await why_logged_out(client))
        await note_logout(session, logged_out.reason, now=datetime.now(UTC))
        return logged_out


@channels.command("add", cls=ChannelArgsCommand)
@config_option
@click.argument("refs", nargs=-1, required=True)
def add(refs: tuple[str, ...]) -> None:
    """Follow channels: REF is @name, name, t.me/name, t.me/s/name, an invite link
    (t.me/+…, joined), or an id or t.me/c/… link of a channel the account has met or joined."""
    config = state().config()
    check_requestable(refs)  # before connecting: Telegram would not know such a name either

    async def go() -> list[str]:
        problems = []
        async with archiver_for(config) as archiver:
            for ref in refs:
                try:
                    report = await archiver.add(ref)
                    click.echo(f"following {report.title!r} ({report.channel_id})")
                except Exception as exc:
                    problems.append(f"{ref}: {exc}")
        return problems

    try:
        problems = run_async(go())
    except SessionInUse as busy:
        click.echo(f"dozor (pid {busy.pid}) is archiving with this session: asking it to follow")
        problems = run_async(_hand_over(config, refs))
    for problem in problems:
        click.echo(f"dozor: {problem}", err=True)
    if problems:
        raise click.exceptions.Exit(2)


async def _hand_over(config: Config, refs: tuple[str, ...]) -> list[str]:
    """Ask the running archiver to follow *refs*, as the bot's /addchannel does, and wait
    for its answers (it looks every few seconds); returns the problems."""
    check_requestable(refs)
    async with open_database(config.database) as sessions:
        async with sessions.begin() as session:
            ids = [await request_channel(session, ref, now=datetime.now(UTC)) for ref in refs]
        deadline = time.monotonic() + HAND_OVER_SECONDS
        while True:
            async with sessions() as session:
                requests = await requests_by_id(session, ids)
            waiting = [r for r in requests if r.status == PENDING]
            if not waiting or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    for request in requests:
        if request.status == DONE:
            click.echo(f"following {request.detail!r} ({request.channel_id})")
    return [f"{r.ref}: {_not_followed(r)}" for r in requests if r.status != DONE]


def _not_followed(request: ChannelRequest) -> str:
    if request.status == PENDING:
        return "no answer yet; it stays queued (`dozor status` counts the requests waiting)"
    return request.detail or "failed"


@channels.command("remove", cls=ChannelArgsCommand)
@config_option
@click.argument("refs", nargs=-1, required=True)
def remove(refs: tuple[str, ...]) -> None:
    """Stop following channels (their archive is kept)."""
    config = state().config()

    async def go() -> list[str]:
        names = []
        async with (
            open_database(config.database, create_if_empty=False) as sessions,
            sessions.begin() as session,
        ):
            for ref in refs:
                row = await resolve_channel(session, ref)
                await set_tracked(session, row["id"], False, at=datetime.now(UTC))
                names.append(row["title"])
        return names

    for name in run_async(go()):
        click.echo(f"no longer following {name!r} (its archive is kept)")


@click.command()
@config_option
@click.option("--once", is_flag=True, help="Bring every channel up to date, then exit (cron).")
def archive(once: bool) -> int:
    """Archive the followed channels: history, live updates, periodic re-reads."""
    config = state().config()
    return report(run_async(run_archiver(config, once=once)))


async def run_archiver(
    config: Config, *, once: bool, stop: asyncio.Event | None = None
) -> list[ChannelReport]:
    """Follow the configured channels; one pass with *once*, else until *stop* is set
    (by default: until SIGINT/SIGTERM)."""
    console = stderr_console()
    async with open_database(config.database) as sessions:
        await rebuild_if_stale(sessions)  # before new posts arrive, so they alert and index alike
    give_up_after = ONCE_OFFLINE_SECONDS if once else None
    with ArchiveProgress() as progress:
        async with archiver_for(config, progress=progress, give_up_after=give_up_after) as archiver:
            for problem in await archiver.add_configured(config.archiver.channels):
                console.print(f"[yellow]warning:[/] {escape(problem)}")
            await archiver.process_requests()
            if once:
                return await archiver.sync_all(verify_due=True)
            settle_heap()
            await archiver.run_forever(stop or stop_on_signals())
            return []


@click.command(cls=ChannelArgsCommand)
@config_option
@click.argument("refs", nargs=-1, metavar="[CHANNEL]...")
def verify(refs: tuple[str, ...]) -> int:
    """Re-read the whole archive of followed channels (default: all) from Telegram now,
    finding edits and deletions of posts of any age."""
    config = state().config()
    return report(run_async(run_verification(config, refs)))


async def run_verification(config: Config, refs: tuple[str, ...]) -> list[ChannelReport]:
    """Bring each channel up to date, then re-read its whole archive."""
    async with open_database(config.database) as sessions:
        await rebuild_if_stale(sessions)
        async with sessions() as session:
            ids = [await _followed_id(session, ref) for ref in refs] or [
                row["id"] for row in await tracked_channels(session)
            ]
    if not ids:
        raise UserError("no channels followed yet: add some with `dozor channels add`")
    with ArchiveProgress() as progress:
        async with archiver_for(
            config, progress=progress, give_up_after=ONCE_OFFLINE_SECONDS
        ) as archiver:
            return [await archiver.sync(channel_id, verify=True) for channel_id in ids]


async def _followed_id(session: AsyncSession, ref: str) -> int:
    row = await resolve_channel(session, ref)
    if not row["tracked"]:
        raise UserError(f"{ref!r} is archived but not followed: `dozor channels add` it first")
    return int(row["id"])


class RateColumn(ProgressColumn):
    """Posts per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} posts/s" if speed else "")


class ArchiveProgress:
    """Per channel: posts archived, rate and ETA as rich bars on a terminal, log lines else."""

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._tasks: dict[tuple[int, str], TaskID] = {}
        self._logged: dict[int, float] = {}

    def __enter__(self) -> ArchiveProgress:
        if sys.stderr.isatty():
            self._bar = Progress(
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                RateColumn(),
                TimeRemainingColumn(),
                console=stderr_console(),
                transient=False,
            )
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    def __call__(self, channel_id: int, phase: str, count: int, total: int | None) -> None:
        if self._bar is None:
            now = time.monotonic()
            if now - self._logged.get(channel_id, 0) >= 10:
                self._logged[channel_id] = now
                log.info(
                    "channel %s: %s, %d posts%s",
                    channel_id,
                    phase,
                    count,
                    f" of {total}" if total else "",
                )
            return
        key = (channel_id, phase)
        if key not in self._tasks:
            self._tasks[key] = self._bar.add_task(f"{channel_id} {phase}", total=total)
        self._bar.update(self._tasks[key], completed=count, total=total)


def report(reports: list[ChannelReport]) -> int:
    """Print one line per channel; the exit status is 1 when a channel was left behind (for
    cron: what was archived is kept, and the next pass resumes)."""
    for item in reports:
        mark = "ok" if item.status == "ok" else f"{item.status}: {item.detail}"
        expired = f", {item.expired} gone by auto-delete" if item.expired else ""
        click.echo(
            f"{item.channel_id}: {item.new} new, {item.edited} edited, "
            f"{item.deleted} deleted{expired} — {mark}"
        )
    behind = sum(item.status != "ok" for item in reports)
    if behind:
        click.echo(f"dozor: {behind} of {len(reports)} channels not up to date", err=True)
    return 1 if behind else 0


@click.command()
@config_option
@json_option
def status(as_json: bool) -> None:
    """Per followed channel: newest post archived, last sync, lag, last full re-read,
    problems; alert queue."""
    config = state().config()

    async def go() -> Health:
        async with open_database(config.database) as sessions, sessions() as session:
            return Health(
                await channel_health(session),
                await alert_counts(session),
                await waiting_request_count(session),
                await session_logout(session),
                await token_rejected_at(session),
                moved_chat_notes(config, await moved_chats(session)),
            )

    missing = missing_sqlite_file(config.database)  # nothing archived yet: create nothing
    health = Health([], {}, 0, None, None, []) if missing else run_async(go())
    rows, queue, requests, logout = health.rows, health.queue, health.requests, health.logout
    if as_json:
        print_json(
            {
                "channels": rows,
                "alerts": queue,
                "channel_requests_waiting": requests,
                "session_logout": logout and {"reason": logout.reason, "at": logout.at},
                "bot_token_rejected_at": health.token_rejected_at,
                "moved_chats": health.moved,
            }
        )
        return
    if missing:
        click.echo(f"no archive yet at {missing}")
    if logout is not None:
        click.echo(f"{logged_out_message(logout.reason)} (since {format_time(logout.at)})")
    if health.token_rejected_at is not None:
        click.echo(f"{TOKEN_REJECTED} (since {format_time(health.token_rejected_at)})")
    for note in health.moved:
        click.echo(note)
    if not rows:
        click.echo(_nothing_followed(config))
    else:
        _print_health(rows, datetime.now(UTC))
    queued = ", ".join(f"{n} {k}" for k, n in sorted(queue.items()))
    click.echo(f"alerts: {queued or 'none yet'}")
    if requests:
        click.echo(f"channel requests waiting for the archiver: {requests}")


@dataclass(frozen=True)
class Health:
    """What `dozor status` shows."""

    rows: list[dict[str, Any]]
    queue: dict[str, int]
    requests: int  # channel requests waiting for the archiver
    logout: SessionLogout | None
    token_rejected_at: datetime | None
    moved: list[str]  # where the config names a chat Telegram has moved


def _nothing_followed(config: Config) -> str:
    configured = len(config.archiver.channels)
    if configured:
        return (
            f"no channels followed yet: `dozor archive` or `dozor run` follows the {configured} "
            "in archiver.channels"
        )
    return "no channels followed: `dozor channels add NAME`"


def _print_health(rows: list[dict[str, Any]], now: datetime) -> None:
    print_table(
        None,
        ["channel", "status", "newest post", "last sync", "lag", "history", "verified", "problem"],
        [
            [
                r["title"],
                r["status"],
                format_time(r["newest_post_at"]),
                format_time(r["last_sync_at"]),
                lag_text(now, r["last_sync_at"]),
                "complete" if r["backfill_complete"] else f"from #{r['oldest_message_id']}",
                format_time(r["verified_at"]),
                _problems(r),
            ]
            for r in rows
        ],
    )


def _problems(row: dict[str, Any]) -> str:
    found = [
        row["last_error"],
        unreadable_text(row["unreadable"]),
        not_joined_text(row["not_joined"]),
    ]
    return "; ".join(filter(None, found))
