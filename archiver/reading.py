"""Reading a channel's messages around the ones this Telethon cannot read.

Telegram gives new kinds of messages (a new media type, a new service action) to clients
before Telethon's schema knows them. One such message makes the whole answer that holds it
fail to parse (``TypeNotFoundError``): without care, a page of history that holds it fails on
every pass, and the channel's archive stops there for good.

So a failed listing is read again in parts: the longest readable run of its first messages
(found by halving ``limit``), then the ids next to that run, 100 at a time
(``channels.getMessages`` answers per id, and a failing batch of ids is halved until each
unreadable one is alone), up to a batch that holds an unreadable one. The caller stores what
was read, files the unreadable ids (``dozor.storage.unreadable``), and goes on from the
lowest (or highest) id read. A few requests more, only when something could not be read.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

import telethon
from telethon import TelegramClient, functions
from telethon.errors import TypeNotFoundError
from telethon.tl import types
from telethon.tl.alltlobjects import LAYER

log = logging.getLogger(__name__)
Call = Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]
IDS_PER_REQUEST = 100  # channels.getMessages takes at most 100 ids
PROBE_REQUESTS = 10  # ids asked for, 100 at a time, before the search for one is given up
PROBE_SPAN = IDS_PER_REQUEST * PROBE_REQUESTS
MAX_SKIP = 1024  # how far below the top a readable message is looked for


@dataclass
class Listing:
    """What one history request gave: the messages read, and the ids that could not be."""

    messages: list[Any]
    unreadable: dict[int, str] = field(default_factory=dict)  # found now: message id -> why
    filed: set[int] = field(default_factory=set)  # filed before, passed over
    total: int | None = None  # Telegram's count of the channel's messages

    @property
    def ids(self) -> list[int]:
        return [m.id for m in self.messages] + list(self.unreadable) + list(self.filed)

    @property
    def partial(self) -> bool:
        """Read around posts that cannot be read: it may end before *limit* did."""
        return bool(self.unreadable or self.filed)

    def __len__(self) -> int:  # as many entries as Telegram listed
        return len(self.messages) + len(self.unreadable) + len(self.filed)


def unreadable_reason(exc: TypeNotFoundError) -> str:
    return (
        f"Telethon {telethon.__version__} (layer {LAYER}) does not know its type "
        f"{exc.invalid_constructor_id:08x}: upgrade dozor"
    )


def messages_of(listing: Sequence[Any]) -> list[Any]:
    """The messages of a listing (not the empty placeholders of deleted ones)."""
    return [m for m in listing if isinstance(m, types.Message | types.MessageService)]


@dataclass
class Reader:
    client: TelegramClient
    call: Call  # runs a request with the archiver's flood-wait and reconnection handling

    async def listing(
        self,
        entity: Any,
        *,
        limit: int,
        offset_id: int = 0,
        min_id: int = 0,
        reverse: bool = False,
        known: AbstractSet[int] = frozenset(),
    ) -> Listing:
        """Up to *limit* messages of the history (newest first from *offset_id*, or oldest
        first above *min_id* with *reverse*); when one cannot be read, those before it and
        the ids next to them (messages, unreadable ids, ids filed before). *known*: the ids
        filed as unreadable before, passed over rather than asked for again."""
        options = {"offset_id": offset_id, "min_id": min_id, "reverse": reverse}
        try:
            page = await self._history(entity, limit, **options)
        except TypeNotFoundError as exc:
            if not reverse and not min_id:
                shortcut = await self._down_to_known(entity, limit, offset_id, known)
                if shortcut is not None:
                    return shortcut
            return await self._around(entity, limit, exc, options, known)
        return Listing(messages_of(page), total=getattr(page, "total", None))

    async def _down_to_known(
        self,
        entity: Any,
        limit: int,
        offset_id: int,
        known: AbstractSet[int],
    ) -> Listing | None:
        """A newest-first listing that fails on a message filed before is read down to it in
        one request (a re-read meets the same message on every pass until it is read), and
        passes over the filed ids right below it too."""
        below = [i for i in known if not offset_id or i < offset_id]
        if not below:
            return None
        culprit = max(below)
        # Telethon filters min_id itself, after asking for the whole page: the raw request
        # has Telegram leave out the culprit and everything below it.
        request = functions.messages.GetHistoryRequest(
            peer=entity,
            offset_id=offset_id,
            offset_date=None,
            add_offset=0,
            limit=limit,
            max_id=0,
            min_id=culprit,
            hash=0,
        )

        async def ask() -> Any:
            return await self.client(request)

        try:
            page = (await self.call(ask)).messages
        except TypeNotFoundError:
            return None  # another one, not filed yet
        messages = messages_of(page)
        if len(page) >= limit:
            return Listing(messages)
        filed = {culprit}
        while culprit - len(filed) in known:  # a run of them: posts of a new kind since…
            filed.add(culprit - len(filed))
        return Listing(messages, filed=filed)

    async def by_ids(
        self, entity: Any, ids: Sequence[int]
    ) -> tuple[dict[int, Any], dict[int, str]]:
        """Messages by id (None for those Telegram does not have), and the ids that cannot
        be read, with why."""
        found: dict[int, Any] = {}
        unreadable: dict[int, str] = {}
        for start in range(0, len(ids), IDS_PER_REQUEST):
            chunk = list(ids[start : start + IDS_PER_REQUEST])
            await self._read_ids(entity, chunk, found, unreadable)
        return found, unreadable

    async def _history(self, entity: Any, limit: int, **options: Any) -> Any:
        async def request() -> Any:
            return await self.client.get_messages(entity, limit=limit, **options)

        return await self.call(request)

    async def _read_ids(
        self, entity: Any, ids: list[int], found: dict[int, Any], unreadable: dict[int, str]
    ) -> None:
        async def request() -> Any:
            return await self.client.get_messages(entity, ids=ids)

        try:
            messages = await self.call(request)
        except TypeNotFoundError as exc:
            if len(ids) == 1:
                unreadable[ids[0]] = unreadable_reason(exc)
                return
            half = len(ids) // 2
            await self._read_ids(entity, ids[:half], found, unreadable)
            await self._read_ids(entity, ids[half:], found, unreadable)
            return
        found.update(zip(ids, messages, strict=True))

    async def _around(
        self,
        entity: Any,
        limit: int,
        failure: TypeNotFoundError,
        options: dict[str, Any],
        known: AbstractSet[int],
    ) -> Listing:
        """The listing's readable first messages, then the ids next to them asked for, 100
        at a time, until a batch holds the unreadable one: every id of those batches is
        read (a channel whose posts are all of a new kind costs under 3 requests a post,
        not a search each). Ids filed before are passed over, not asked for."""
        first = await self._readable_run(entity, limit, options)
        ids = [m.id for m in first]
        if options["reverse"]:  # oldest first: the unreadable one is further up
            after = max(ids, default=options["min_id"])
            span = range(after + 1, after + 1 + PROBE_SPAN)
        elif ids or options["offset_id"]:  # newest first: further down
            before = min(ids) if ids else options["offset_id"]
            span = range(before - 1, max(before - 1 - PROBE_SPAN, 0), -1)
        else:  # the newest message is the unreadable one
            span = await self._above_the_next(entity, failure)
        found, unreadable, filed = await self._batches_until_unreadable(entity, span, known)
        if not unreadable and not filed:
            log.warning("a message Telethon cannot read was not found among the ids asked for")
            raise failure
        if unreadable:
            log.warning(
                "messages %s cannot be read (%s); reading around them",
                ", ".join(map(str, sorted(unreadable))),
                next(iter(unreadable.values())),
            )
        return Listing(first + messages_of(list(found.values())), unreadable, filed)

    async def _readable_run(self, entity: Any, limit: int, options: dict[str, Any]) -> list[Any]:
        """The listing's longest run of first messages that parses: *limit* halved until
        the answer parses, then grown back towards the unreadable message."""
        readable: list[Any] = []
        good, bad = 0, limit  # the first *good* messages parse, the first *bad* do not
        while bad - good > 1:
            size = (good + bad) // 2
            try:
                page = await self._history(entity, size, **options)
            except TypeNotFoundError:
                bad = size
            else:
                readable, good = messages_of(page), size
        return readable

    async def _above_the_next(self, entity: Any, failure: TypeNotFoundError) -> range:
        """Ids above a readable message near the top, when the newest one cannot be read:
        messages are read one by position, 1, 2, 4… from the top, until one parses (the
        newest posts may all be of a new kind). Ids above it not read now are read by the
        next catch-up."""
        skip = 1
        while skip <= MAX_SKIP:
            try:
                page = await self._history(entity, 1, add_offset=skip)
            except TypeNotFoundError:
                skip *= 2
                continue
            below = messages_of(page)
            start = below[0].id if below else 0
            return range(start + 1, start + 1 + PROBE_SPAN)
        raise failure

    async def _batches_until_unreadable(
        self, entity: Any, span: range, known: AbstractSet[int]
    ) -> tuple[dict[int, Any], dict[int, str], set[int]]:
        """The messages, unreadable ids and ids filed before (*known*, not asked for again)
        of *span*, read 100 ids at a time up to the first batch that holds an unreadable or
        filed one."""
        found: dict[int, Any] = {}
        unreadable: dict[int, str] = {}
        filed: set[int] = set()
        for start in range(0, len(span), IDS_PER_REQUEST):
            batch = span[start : start + IDS_PER_REQUEST]
            filed.update(i for i in batch if i in known)
            wanted = [i for i in batch if i not in known]
            if wanted:
                await self._read_ids(entity, wanted, found, unreadable)
            if unreadable or filed:
                break
        return found, unreadable, filed
