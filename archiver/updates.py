"""Keeping Telethon's live updates running past an update it cannot read, and complete.

Telegram sends new kinds of messages (a new media type, a new service action) before
Telethon's schema knows them. Telethon's sender drops a live update holding one; the channel's
next update then shows a gap, and the difference Telethon asks for to fill it
(``updates.getChannelDifference``) holds the same message and fails to parse. Telethon takes
that for a broken session and disconnects (its update loop logs "likely misusing the
session"), and on every reconnect it asks for the same difference again: one post of a new
kind would stop live updates of every channel, and cut dozor's own requests short, until
Telethon is upgraded.

:class:`ArchiverClient` answers such a request itself instead:

* a channel's difference is asked for again with half the ``limit`` until an answer can be
  read (Telethon applies it and asks on from where it ends), so every readable update around
  the unreadable one still arrives live;
* when even one update cannot be read, it is the first after the asked ``pts``: the answer is
  an empty difference that ends one ``pts`` later, and Telethon goes on past it. The post
  itself is read (or filed as unreadable) by the archiver's history reads, like any post they
  meet (``archiver.reading``), at once: the channel is named in ``missed_channels``, as is one
  whose difference Telegram answers as too long (Telethon then hands over none of it), and
  such a channel in ``gap_channels`` too: the archiver re-reads its whole archive soon, for
  the edits and deletions of older posts the gap held;
* an unreadable account difference (``updates.getDifference``: the account's own chats, never
  a channel's posts) is passed over whole: the account's state is asked for and Telethon
  resumes from it;
* every channel difference's edits and deletions are handed to the event handlers, which
  Telethon alone drops (:func:`deliver_edits_and_deletions`).
"""

from __future__ import annotations

import logging
from typing import Any

from telethon import TelegramClient
from telethon.errors import TypeNotFoundError
from telethon.tl import functions, types
from telethon.utils import get_peer_id

from archiver.reading import unreadable_reason

log = logging.getLogger(__name__)
MAX_PASSED_OVER = 20  # unreadable updates in a row passed over before the round is left


class ArchiverClient(TelegramClient):  # type: ignore[misc]  # Telethon has no type hints
    """Telethon's client, with channel differences read around what it cannot parse and
    handed over whole, as described above."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # bare channel id -> (pts the last update passed over ended at, how many in a row)
        self._passed_over: dict[int, tuple[int, int]] = {}
        # Channels (marked ids) with missed posts the updates did not hand over: Telegram
        # answered "too long", or one could not be read. The archiver catches up with them.
        self.missed_channels: set[int] = set()
        # Channels whose difference Telegram answered "too long": the edits and deletions
        # made in that gap, of posts of any age, were not handed over either.
        self.gap_channels: set[int] = set()

    async def __call__(
        self, request: Any, ordered: bool = False, flood_sleep_threshold: int | None = None
    ) -> Any:
        try:
            answer = await super().__call__(request, ordered, flood_sleep_threshold)
        except TypeNotFoundError as exc:
            if isinstance(request, functions.updates.GetChannelDifferenceRequest):
                answer = await self._channel_difference_around(request, exc)
            elif isinstance(request, functions.updates.GetDifferenceRequest):
                return await self._account_difference_passed_over(exc)
            else:
                raise
        if isinstance(request, functions.updates.GetChannelDifferenceRequest):
            deliver_edits_and_deletions(answer)
            if isinstance(answer, types.updates.ChannelDifferenceTooLong):
                # Telethon moves on to the channel's newest state and hands over nothing.
                self.missed_channels.add(_marked(request))
                self.gap_channels.add(_marked(request))
        return answer

    async def _channel_difference_around(self, request: Any, failure: TypeNotFoundError) -> Any:
        channel, pts = request.channel.channel_id, request.pts
        ended_at, in_a_row = self._passed_over.get(channel, (None, 0))
        # Right after an update passed over, the next one is likely of the same kind.
        limit = 1 if ended_at == pts else request.limit // 2
        while limit >= 1:
            try:
                return await super().__call__(_with_limit(request, limit))
            except TypeNotFoundError as exc:
                failure = exc
                limit = 0 if limit == 1 else limit // 2
        in_a_row = in_a_row + 1 if ended_at == pts else 1
        self._passed_over[channel] = (pts + 1, in_a_row)
        self.missed_channels.add(_marked(request))
        log.warning(
            "channel %s: live updates passed over an update (pts %d): %s; the archiver reads "
            "the channel's posts around it",
            _marked(request),
            pts + 1,
            unreadable_reason(failure),
        )
        if in_a_row >= MAX_PASSED_OVER:
            # Many in a row: wait for the channel's next update (or Telethon's own deadline)
            # before going on, rather than ask for them one by one.
            self._passed_over.pop(channel)
            return types.updates.ChannelDifferenceEmpty(pts=pts + 1, final=True)
        return types.updates.ChannelDifference(
            pts=pts + 1, new_messages=[], other_updates=[], chats=[], users=[], final=False
        )

    async def _account_difference_passed_over(self, failure: TypeNotFoundError) -> Any:
        state = await super().__call__(functions.updates.GetStateRequest())
        log.warning(
            "live updates: the account's own updates could not be read (%s); passed over up to "
            "now (channels' updates come on their own)",
            unreadable_reason(failure),
        )
        return types.updates.Difference(
            new_messages=[],
            new_encrypted_messages=[],
            other_updates=[],
            chats=[],
            users=[],
            state=state,
        )


def deliver_edits_and_deletions(difference: Any) -> None:
    """Have Telethon hand a channel difference's edits and deletions to the event handlers.

    Telethon (1.45) moves the channel's ``pts`` to the end of the difference before it looks
    at ``other_updates``, so it takes each of them for one it has handled already and drops
    it: an edit or a deletion made while dozor was disconnected, or lost in a gap, never
    reaches a handler (only the periodic re-read would see it). The difference is asked for
    from where the client's state ended, so none of them was handled; without a ``pts``
    Telethon passes an update on as it is."""
    if isinstance(difference, types.updates.ChannelDifference):
        for update in difference.other_updates:
            if isinstance(update, _POSTS_CHANGED):
                update.pts = 0


_POSTS_CHANGED = (types.UpdateEditChannelMessage, types.UpdateDeleteChannelMessages)


def _marked(request: Any) -> int:
    return int(get_peer_id(types.PeerChannel(request.channel.channel_id)))


def _with_limit(request: Any, limit: int) -> Any:
    return functions.updates.GetChannelDifferenceRequest(
        channel=request.channel,
        filter=request.filter,
        pts=request.pts,
        limit=limit,
        force=request.force,
    )
