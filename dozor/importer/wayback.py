"""Fetching a channel's t.me/s captures from the Wayback Machine, to be imported as saved pages.

The CDX API lists the captures of ``t.me/s/<channel>`` and of its older pages
(``?before=N``); identical captures are listed once. Each capture is fetched as the Wayback
Machine serves it (links rewritten, the capture time noted at the end), which is what the page
importer reads. Any server with the same API works too (pywb, which national web archives run).

Captures are fetched one at a time with a pause between requests: the Wayback Machine limits
how fast a client may ask and answers 429 beyond that, which is waited out. Each capture is kept
as a file named by its capture time (and its file time set to it), so a later run fetches only
captures it does not have, and the files remain as the evidence the archive came from.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dozor import __version__
from dozor.errors import UserError

if TYPE_CHECKING:  # aiohttp is loaded when captures are fetched: other commands start faster
    import aiohttp

log = logging.getLogger(__name__)

DEFAULT_SERVER = "https://web.archive.org"
PAUSE_SECONDS = 1.0  # between two requests to the server
RETRIES = 5  # of one request answered 429 or 5xx
CONNECT_RETRIES = 2  # of one that got no answer at all
MAX_WAIT_SECONDS = 300  # the longest Retry-After waited out
RETRY_SECONDS = 2.0  # the first wait before asking again, doubled at each further attempt
TIMEOUT_SECONDS = 120  # for one request, answer included
_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
# What a capture of a channel's page is of: t.me/s/<name>, maybe with ?before=N (older posts).
_CAPTURED = re.compile(
    r"^(?:https?://)?(?:www\.)?t\.me(?::\d+)?/s/(?P<name>[A-Za-z0-9_]+)/?"
    r"(?:\?(?P<query>[^#]*))?(?:#.*)?$",
    re.IGNORECASE,
)
_TIMESTAMP = re.compile(r"^\d{14}$")
_PAGE_QUERY = re.compile(r"(before|after)=(\d+)")


class WaybackError(UserError):
    """The archive server cannot be reached, or answers what no CDX server would."""


@dataclass(frozen=True)
class Capture:
    timestamp: str  # when it was captured: YYYYMMDDhhmmss, UTC
    original: str  # the address captured, as the archive has it

    @property
    def captured_at(self) -> datetime:
        return datetime.strptime(self.timestamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)

    @property
    def page(self) -> str:
        """Which of the channel's pages it is: ``""`` for the newest posts, ``-before-530``
        for a page of older posts, a digest of any other query (a search in the channel)."""
        match = _CAPTURED.match(self.original)
        query = (match["query"] or "") if match else ""
        page = _PAGE_QUERY.fullmatch(query)
        if page:
            return f"-{page[1]}-{page[2]}"
        return "-" + hashlib.sha256(query.encode()).hexdigest()[:12] if query else ""

    def file_name(self, username: str) -> str:
        """``durov-20240510120000.html``, ``durov-20240510120000-before-530.html``."""
        return f"{username}-{self.timestamp}{self.page}.html"


PERIODS = ("day", "week", "month")


def by_page_and_period(captures: list[Capture], period: str | None) -> list[list[Capture]]:
    """*captures* (oldest first) grouped by page and *period*, oldest first: one of each
    group is enough (the first the archive can give). A channel captured thousands of times
    is read in far fewer requests, at the risk of missing a post that lived between two
    captures of one period. Without a period, each capture is a group of its own."""
    if period is None:
        return [[capture] for capture in captures]
    groups: dict[tuple[str, tuple[int, ...]], list[Capture]] = {}
    for capture in captures:
        key = (capture.page, _period_of(capture.captured_at, period))
        groups.setdefault(key, []).append(capture)
    return list(groups.values())


def _period_of(moment: datetime, period: str) -> tuple[int, ...]:
    if period == "day":
        return (moment.year, moment.month, moment.day)
    if period == "week":
        year, week, _ = moment.isocalendar()
        return (year, week)
    return (moment.year, moment.month)


@dataclass
class FetchReport:
    listed: int = 0  # captures of the channel the server has (in the dates asked)
    chosen: int = 0  # how many of those to have (all, or one per page and period)
    fetched: list[Path] = field(default_factory=list)  # files written by this run
    kept: int = 0  # captures fetched by an earlier run
    gone: list[str] = field(default_factory=list)  # captures the server could not give

    @property
    def on_disk(self) -> int:
        """Captures the folder holds now."""
        return len(self.fetched) + self.kept

    @classmethod
    def combined(cls, reports: Iterable[FetchReport]) -> FetchReport:
        """One report of several fetches (of the usernames a channel has had)."""
        total = cls()
        for report in reports:
            total.listed += report.listed
            total.chosen += report.chosen
            total.fetched += report.fetched
            total.kept += report.kept
            total.gone += report.gone
        return total


@dataclass
class Wayback:
    """One client of one archive server; requests are spaced by *pause* seconds."""

    http: aiohttp.ClientSession
    server: str = DEFAULT_SERVER
    pause: float = PAUSE_SECONDS
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _requests: int = field(default=0, init=False)  # made so far: the first is not delayed

    async def captures(
        self, username: str, since: date | None, until: date | None
    ) -> list[Capture]:
        """The distinct captures of the channel's t.me/s pages, oldest first."""
        params = {
            "url": f"t.me/s/{username}",
            "matchType": "prefix",
            "output": "json",
            "fl": "timestamp,original",
            "filter": "statuscode:200",
            "collapse": "digest",
        }
        if since is not None:
            params["from"] = since.strftime("%Y%m%d")
        if until is not None:
            params["to"] = until.strftime("%Y%m%d")
        status, body = await self._get(f"{self.server}/cdx/search/cdx", params)
        if status != 200:
            raise WaybackError(f"{self.server}: the capture list was refused (HTTP {status})")
        return sorted(
            {c for c in _cdx_rows(body, self.server) if _of_channel(c, username)},
            key=lambda c: (c.timestamp, c.original),
        )

    async def fetch(self, capture: Capture) -> tuple[int, bytes]:
        """The capture as the archive serves it: (HTTP status, content)."""
        return await self._get(f"{self.server}/web/{capture.timestamp}/{capture.original}", {})

    async def _get(self, url: str, params: dict[str, str]) -> tuple[int, bytes]:
        import aiohttp

        for attempt in range(RETRIES + 1):
            if self._requests:
                await self.sleep(self.pause)
            self._requests += 1
            try:
                async with self.http.get(url, params=params) as response:
                    body = await response.read()
                    if response.status not in _RETRIED_STATUSES or attempt == RETRIES:
                        return response.status, body
                    wait = _retry_after(response.headers.get("Retry-After"), attempt)
                    why = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                if attempt >= CONNECT_RETRIES:
                    raise WaybackError(f"cannot reach {self.server}: {_reason(exc)}") from None
                wait, why = RETRY_SECONDS * 2.0**attempt, _reason(exc)
            log.info("%s: %s; asking again in %.0f s", self.server, why, wait)
            await self.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")


async def fetch_captures(
    username: str,
    folder: Path,
    *,
    server: str = DEFAULT_SERVER,
    since: date | None = None,
    until: date | None = None,
    pause: float = PAUSE_SECONDS,
    period: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FetchReport:
    """Fetch into *folder* the captures of ``t.me/s/<username>`` it does not have yet; with
    a *period*, one capture of each page in each period (see :func:`by_page_and_period`)."""
    import aiohttp

    report = FetchReport()
    headers = {"User-Agent": f"dozor/{__version__} (Telegram channel archiver)"}
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout, headers=headers) as http:
        wayback = Wayback(http, server.rstrip("/"), pause)
        captures = await wayback.captures(username, since, until)
        report.listed = len(captures)
        groups = by_page_and_period(captures, period)
        report.chosen = len(groups)
        if groups:
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        for done, group in enumerate(groups, 1):
            await _have_one(wayback, group, folder, username, report)
            if progress is not None:
                progress(done, len(groups))
    return report


async def _have_one(
    wayback: Wayback, group: list[Capture], folder: Path, username: str, report: FetchReport
) -> None:
    """One capture of *group* in *folder*: one there already, else the first the archive
    gives."""
    paths = [folder / capture.file_name(username) for capture in group]
    if any(await asyncio.to_thread(lambda: [path.exists() for path in paths])):
        report.kept += 1
        return
    for capture, path in zip(group, paths, strict=True):
        if await _fetch_one(wayback, capture, path, report):
            return


async def _fetch_one(wayback: Wayback, capture: Capture, path: Path, report: FetchReport) -> bool:
    status, content = await wayback.fetch(capture)
    if status != 200:
        report.gone.append(f"{capture.timestamp} {capture.original}: HTTP {status}")
        return False
    await asyncio.to_thread(_keep, content, path, capture.captured_at)
    report.fetched.append(path)
    return True


def _keep(content: bytes, path: Path, captured_at: datetime) -> None:
    """Write the capture whole or not at all, dated when it was captured (where a server does
    not note it in the page, the importer goes by the file's time)."""
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(content)
    stamp = captured_at.timestamp()
    os.utime(partial, (stamp, stamp))
    partial.replace(path)


def _cdx_rows(body: bytes, server: str) -> list[Capture]:
    """The captures of a CDX answer in JSON: a header row, then one row per capture."""
    try:
        rows = json.loads(body) if body.strip() else []
    except ValueError:
        rows = None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise WaybackError(f"{server}: the capture list is not a CDX server's JSON")
    found = []
    for row in rows[1:]:  # the first row names the fields
        if len(row) >= 2 and _TIMESTAMP.match(str(row[0])) and isinstance(row[1], str):
            found.append(Capture(str(row[0]), row[1]))
    return found


def _of_channel(capture: Capture, username: str) -> bool:
    """Is it a capture of the channel's page (not of another channel whose name begins like
    it, which a prefix query also lists)?"""
    match = _CAPTURED.match(capture.original)
    return match is not None and match["name"].lower() == username.lower()


def _retry_after(value: str | None, attempt: int) -> float:
    """Seconds to wait before asking again: as the server says, else doubling."""
    if value is not None and value.strip().isdigit():
        return float(min(int(value.strip()), MAX_WAIT_SECONDS))
    return RETRY_SECONDS * 2.0**attempt


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def describe(report: FetchReport) -> dict[str, Any]:
    return {
        "listed": report.listed,
        "chosen": report.chosen,
        "fetched": [str(path) for path in report.fetched],
        "already_fetched": report.kept,
        "gone": report.gone,
    }
