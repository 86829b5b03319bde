"""An in-process Telegram for archiver tests, plugged in below Telethon's client.

``FakeSender`` replaces the client's MTProto sender: ``send(request)`` returns a future that
``FakeTelegram`` answers from in-memory channels. Everything above the sender is real Telethon:
request resolution, flood-wait handling, ``iter_messages`` paging, the update MessageBox and
event building. Tests mutate channels (post, edit, delete, albums), push live updates (or
leave gaps that Telethon fills by asking for the channel's difference), and inject FloodWait,
private channels, dropped connections, a logged-out session and messages Telethon cannot read.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from telethon import errors
from telethon.crypto import AuthKey
from telethon.sessions import MemorySession
from telethon.tl import functions, types

from archiver.updates import ArchiverClient

SELF_ID = 777000111
UNKNOWN_CONSTRUCTOR = 0x1BADF00D  # a TL type "Telegram added" that Telethon does not know
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class FakeChannel:
    id: int  # bare
    title: str
    username: str | None
    access_hash: int
    about: str = ""
    subscribers: int = 1000
    private: bool = False
    group: bool = False  # a supergroup rather than a broadcast channel
    joined: bool = False  # among the account's chats (its dialogs); only these push updates
    messages: dict[int, types.Message | types.MessageService] = field(default_factory=dict)
    pts: int = 1
    log: list[tuple[int, Any]] = field(default_factory=list)  # (pts after, update)
    next_id: int = 1
    # Messages of a type newer than Telethon's schema: an answer holding one cannot be parsed.
    unreadable: set[int] = field(default_factory=set)
    # More missed updates than this, and a difference is answered "too long".
    difference_limit: int = 1000
    scam: bool = False  # Telegram's labels on the channel
    auto_delete: int | None = None  # seconds after which its posts delete themselves
    pinned: int | None = None  # the post it shows pinned (its full info's pinned_msg_id)
    restriction: list[types.RestrictionReason] = field(default_factory=list)

    def check_readable(self, messages: list[Any]) -> None:
        """Fail as Telethon's sender does when an answer holds an unknown constructor."""
        if any(getattr(m, "id", None) in self.unreadable for m in messages):
            raise errors.TypeNotFoundError(UNKNOWN_CONSTRUCTOR, b"")

    def tl(self) -> types.Channel:
        return types.Channel(
            id=self.id,
            title=self.title,
            photo=types.ChatPhotoEmpty(),
            date=T0,
            username=self.username,
            access_hash=self.access_hash,
            broadcast=not self.group,
            megagroup=self.group,
            participants_count=self.subscribers,
            left=not self.joined,
            scam=self.scam,
            restricted=bool(self.restriction),
            restriction_reason=self.restriction or None,
        )


class FakeTelegram:
    def __init__(self) -> None:
        self.channels: dict[int, FakeChannel] = {}
        self.senders: list[FakeSender] = []
        self.requests: list[Any] = []
        self.floods: dict[type, list[int]] = defaultdict(list)
        self.clock = T0
        self.down = False
        # Called with each request before it is answered; may raise to inject a fault.
        self.before_answer: list[Callable[[Any], None]] = []
        self.files: dict[int, bytes] = {}  # photo/document id -> content
        self.authorized = True  # False: a fresh session that must log in (code: LOGIN_CODE)
        self.expired_once: set[int] = set()  # file ids whose first download finds it expired
        self._grouped = itertools.count(10**15)
        self.invites: dict[str, int] = {}  # invite link hash -> bare channel id
        # The account's own updates (its chats) hold something Telethon cannot read.
        self.account_unreadable = False
        # Joining a channel fails with this error (ChannelsTooMuchError: the account's limit).
        self.join_refusal: type[errors.RPCError] | None = None

    # --- setting up the world -----------------------------------------------------------

    def channel(self, bare_id: int, username: str | None, title: str = "Канал") -> FakeChannel:
        channel = FakeChannel(bare_id, title, username, access_hash=bare_id * 7 + 1)
        self.channels[bare_id] = channel
        return channel

    def invite(self, channel: FakeChannel, *, approval: bool = False) -> str:
        """An invite link (its hash) to *channel*; with *approval*, joining asks its admins."""
        link_hash = f"{'Req' if approval else 'AbC'}-{channel.id}"
        self.invites[link_hash] = channel.id
        return link_hash

    def tick(self, seconds: float = 60) -> datetime:
        self.clock += timedelta(seconds=seconds)
        return self.clock

    def post(
        self, channel: FakeChannel, text: str, *, push: bool = True, **kw: Any
    ) -> types.Message:
        message = types.Message(
            id=channel.next_id,
            peer_id=types.PeerChannel(channel.id),
            date=self.tick(),
            message=text,
            post=True,
            views=kw.pop("views", 1),
            **kw,
        )
        channel.next_id += 1
        channel.messages[message.id] = message
        self._record(channel, types.UpdateNewChannelMessage(message, channel.pts + 1, 1), push)
        return message

    def post_many(self, channel: FakeChannel, count: int, text: str = "пост {n}") -> None:
        for n in range(count):
            self.post(channel, text.format(n=n + 1), push=False)

    def album(self, channel: FakeChannel, texts: list[str], *, push: bool = True) -> None:
        grouped = next(self._grouped)
        for text in texts:
            self.post(channel, text, push=push, grouped_id=grouped)

    def edit(
        self,
        channel: FakeChannel,
        message_id: int,
        text: str,
        *,
        push: bool = True,
        entities: list[Any] | None = None,
        reply_markup: Any = None,
    ) -> types.Message:
        """The channel edits a post's text, and its formatting and buttons if given."""
        old = channel.messages[message_id]
        assert isinstance(old, types.Message)
        old.message = text
        if entities is not None:
            old.entities = entities
        if reply_markup is not None:
            old.reply_markup = reply_markup
        old.edit_date = self.tick()
        self._record(channel, types.UpdateEditChannelMessage(old, channel.pts + 1, 1), push)
        return old

    def delete(self, channel: FakeChannel, ids: list[int], *, push: bool = True) -> None:
        for message_id in ids:
            channel.messages.pop(message_id, None)
        update = types.UpdateDeleteChannelMessages(
            channel.id, ids, channel.pts + len(ids), len(ids)
        )
        self._record(channel, update, push)

    def pin(self, channel: FakeChannel, message_id: int | None, *, push: bool = True) -> None:
        """The channel pins *message_id* (None: unpins everything)."""
        unpinned = channel.pinned
        channel.pinned = message_id
        ids = [message_id] if message_id is not None else [unpinned] if unpinned else []
        update = types.UpdatePinnedChannelMessages(
            channel.id, ids, channel.pts + 1, 1, pinned=message_id is not None
        )
        self._record(channel, update, push)

    def rename(self, channel: FakeChannel, title: str) -> None:
        """The channel renames itself: Telegram pushes ``updateChannel`` (no pts) with it."""
        channel.title = title
        self._push(channel, types.UpdateChannel(channel.id))

    def count(self, request_type: type) -> int:
        return sum(isinstance(r, request_type) for r in self.requests)

    def photo(self, content: bytes, *, photo_id: int | None = None) -> types.MessageMediaPhoto:
        """A photo attachment whose file holds *content*."""
        photo_id = photo_id or 5_000 + len(self.files)
        self.files[photo_id] = content
        return types.MessageMediaPhoto(
            photo=types.Photo(
                id=photo_id,
                access_hash=1,
                file_reference=b"ref",
                date=self.clock,
                dc_id=2,
                sizes=[types.PhotoSize(type="x", w=800, h=600, size=len(content))],
            )
        )

    def flood(self, request_type: type, *seconds: int) -> None:
        """The next requests of this type fail with FloodWait of these many seconds."""
        self.floods[request_type].extend(seconds)

    def _record(self, channel: FakeChannel, update: Any, push: bool) -> None:
        channel.pts = update.pts
        channel.log.append((update.pts, update))
        if push:
            self._push(channel, update)

    def _push(self, channel: FakeChannel, update: Any) -> None:
        if not channel.joined:  # Telegram pushes updates of the account's own chats only
            return
        wrapped = types.Updates(
            updates=[update], users=[], chats=[channel.tl()], date=self.clock, seq=0
        )
        for sender in self.senders:
            if sender.connected:
                sender.updates_queue.put_nowait(wrapped)

    def drop_connections(self) -> None:
        """Every connected client loses its connection (pending requests fail)."""
        for sender in self.senders:
            sender.lose_connection()

    # --- answering requests -------------------------------------------------------------

    def answer(self, request: Any) -> Any:
        self.requests.append(request)
        for hook in list(self.before_answer):
            hook(request)
        if not self.authorized and not isinstance(request, _AUTH_FREE):
            raise errors.AuthKeyUnregisteredError(request=request)
        waits = self.floods.get(type(request))
        if waits:
            raise errors.FloodWaitError(request=request, capture=waits.pop(0))
        handler = _HANDLERS.get(type(request))
        if handler is None:
            raise NotImplementedError(f"FakeTelegram cannot answer {type(request).__name__}")
        return handler(self, request)

    def _channel(self, peer: Any, request: Any) -> FakeChannel:
        channel = self.channels.get(getattr(peer, "channel_id", 0))
        if channel is None:
            raise errors.ChannelInvalidError(request=request)
        if channel.private:
            raise errors.ChannelPrivateError(request=request)
        return channel


def _history(self: FakeTelegram, request: functions.messages.GetHistoryRequest) -> Any:
    channel = self._channel(request.peer, request)
    ascending = list(channel.messages)  # ids, inserted in increasing order
    total = len(ascending)
    # Telegram's window over the newest-first list: [position + add_offset, + limit), where
    # position is the number of messages with id >= offset_id; cut at the newest message.
    position = total - bisect_left(ascending, request.offset_id) if request.offset_id else 0
    start = max(0, position + request.add_offset)
    end = min(total, max(0, position + request.add_offset + request.limit))
    page = [channel.messages[ascending[total - 1 - i]] for i in range(start, end)]
    if request.max_id:
        page = [m for m in page if m.id < request.max_id]
    if request.min_id:
        page = [m for m in page if m.id > request.min_id]
    channel.check_readable(page)
    return types.messages.ChannelMessages(
        pts=channel.pts, count=total, messages=page, chats=[channel.tl()], users=[], topics=[]
    )


def _get_messages(self: FakeTelegram, request: functions.channels.GetMessagesRequest) -> Any:
    channel = self._channel(request.channel, request)
    found: list[Any] = [
        channel.messages.get(i.id)
        or types.MessageEmpty(id=i.id, peer_id=types.PeerChannel(channel.id))
        for i in request.id
    ]
    channel.check_readable(found)
    return types.messages.ChannelMessages(
        pts=channel.pts, count=len(found), messages=found, chats=[channel.tl()], users=[], topics=[]
    )


def _resolve(self: FakeTelegram, request: functions.contacts.ResolveUsernameRequest) -> Any:
    for channel in self.channels.values():
        if channel.username and channel.username.lower() == request.username.lower():
            return types.contacts.ResolvedPeer(
                peer=types.PeerChannel(channel.id), chats=[channel.tl()], users=[]
            )
    raise errors.UsernameNotOccupiedError(request=request)


def _full_channel(self: FakeTelegram, request: functions.channels.GetFullChannelRequest) -> Any:
    channel = self._channel(request.channel, request)
    full = types.ChannelFull(
        id=channel.id,
        about=channel.about,
        read_inbox_max_id=0,
        read_outbox_max_id=0,
        unread_count=0,
        chat_photo=types.PhotoEmpty(id=0),
        notify_settings=types.PeerNotifySettings(),
        bot_info=[],
        pts=channel.pts,
        participants_count=channel.subscribers,
        ttl_period=channel.auto_delete,
        pinned_msg_id=channel.pinned,
    )
    return types.messages.ChatFull(full_chat=full, chats=[channel.tl()], users=[])


def _channel_difference(
    self: FakeTelegram, request: functions.updates.GetChannelDifferenceRequest
) -> Any:
    channel = self._channel(request.channel, request)
    missed = [(pts, update) for pts, update in channel.log if pts > request.pts]
    if not missed:
        return types.updates.ChannelDifferenceEmpty(pts=channel.pts, final=True, timeout=30)
    if len(missed) > channel.difference_limit:  # Telegram's answer to a long gap
        return types.updates.ChannelDifferenceTooLong(
            dialog=_dialog(channel), messages=[], chats=[channel.tl()], users=[], final=True
        )
    final = len(missed) <= request.limit
    pts, _ = missed[: request.limit][-1]
    missed = [update for _, update in missed[: request.limit]]
    channel.check_readable([getattr(u, "message", None) for u in missed])
    return types.updates.ChannelDifference(
        pts=pts,
        final=final,
        timeout=30,
        new_messages=[u.message for u in missed if isinstance(u, types.UpdateNewChannelMessage)],
        other_updates=[u for u in missed if not isinstance(u, types.UpdateNewChannelMessage)],
        chats=[channel.tl()],
        users=[],
    )


def _difference(self: FakeTelegram, request: functions.updates.GetDifferenceRequest) -> Any:
    if self.account_unreadable:
        raise errors.TypeNotFoundError(UNKNOWN_CONSTRUCTOR, b"")
    return types.updates.DifferenceEmpty(date=self.clock, seq=1)


def _get_channels(self: FakeTelegram, request: functions.channels.GetChannelsRequest) -> Any:
    found = []
    for item in request.id:
        channel = self.channels.get(getattr(item, "channel_id", 0))
        if channel is None or getattr(item, "access_hash", None) != channel.access_hash:
            raise errors.ChannelInvalidError(request=request)
        found.append(channel.tl())
    return types.messages.Chats(chats=found)


def _dialogs(self: FakeTelegram, request: functions.messages.GetDialogsRequest) -> Any:
    """The channels the account has joined, all in one answer (no paging)."""
    joined = [channel for channel in self.channels.values() if channel.joined]
    return types.messages.Dialogs(
        dialogs=[_dialog(channel) for channel in joined],
        messages=[],
        chats=[channel.tl() for channel in joined],
        users=[],
    )


def _dialog(channel: FakeChannel) -> types.Dialog:
    return types.Dialog(
        peer=types.PeerChannel(channel.id),
        top_message=channel.next_id - 1,
        read_inbox_max_id=0,
        read_outbox_max_id=0,
        unread_count=0,
        unread_mentions_count=0,
        unread_reactions_count=0,
        unread_poll_votes_count=0,
        notify_settings=types.PeerNotifySettings(),
        pts=channel.pts,
    )


def _join(self: FakeTelegram, request: functions.channels.JoinChannelRequest) -> Any:
    if self.join_refusal is not None:
        raise self.join_refusal(request=request)
    self.channels[request.channel.channel_id].joined = True
    return types.Updates(updates=[], users=[], chats=[], date=self.clock, seq=0)


def _invited(self: FakeTelegram, request: Any) -> FakeChannel:
    if request.hash not in self.invites:
        raise errors.InviteHashExpiredError(request=request)
    return self.channels[self.invites[request.hash]]


def _check_invite(self: FakeTelegram, request: functions.messages.CheckChatInviteRequest) -> Any:
    channel = _invited(self, request)
    if channel.joined:
        return types.ChatInviteAlready(chat=channel.tl())
    return types.ChatInvite(
        title=channel.title,
        photo=types.PhotoEmpty(id=0),
        participants_count=channel.subscribers,
        color=0,
        channel=True,
        broadcast=not channel.group,
        megagroup=channel.group,
        request_needed=request.hash.startswith("Req"),
    )


def _import_invite(self: FakeTelegram, request: functions.messages.ImportChatInviteRequest) -> Any:
    channel = _invited(self, request)
    if request.hash.startswith("Req"):
        raise errors.InviteRequestSentError(request=request)
    if channel.joined:
        raise errors.UserAlreadyParticipantError(request=request)
    channel.joined = True
    return types.Updates(updates=[], users=[], chats=[channel.tl()], date=self.clock, seq=0)


def _get_file(self: FakeTelegram, request: functions.upload.GetFileRequest) -> Any:
    file_id = request.location.id
    if file_id in self.expired_once:
        self.expired_once.discard(file_id)
        raise errors.FileReferenceExpiredError(request=request)
    content = self.files[file_id]
    chunk = content[request.offset : request.offset + request.limit]
    return types.upload.File(type=types.storage.FileJpeg(), mtime=0, bytes=chunk)


LOGIN_CODE = "12345"


def _send_code(self: FakeTelegram, request: functions.auth.SendCodeRequest) -> Any:
    return types.auth.SentCode(type=types.auth.SentCodeTypeApp(length=5), phone_code_hash="hash")


def _sign_in(self: FakeTelegram, request: functions.auth.SignInRequest) -> Any:
    if request.phone_code != LOGIN_CODE:
        raise errors.PhoneCodeInvalidError(request=request)
    self.authorized = True
    return types.auth.Authorization(user=_me())


_AUTH_FREE = (
    functions.auth.SendCodeRequest,
    functions.auth.SignInRequest,
    functions.help.GetConfigRequest,
)


def _me() -> types.User:
    return types.User(id=SELF_ID, is_self=True, access_hash=1, first_name="Analyst")


_HANDLERS: dict[type, Callable[[FakeTelegram, Any], Any]] = {
    functions.messages.GetHistoryRequest: _history,
    functions.channels.GetMessagesRequest: _get_messages,
    functions.contacts.ResolveUsernameRequest: _resolve,
    functions.channels.GetFullChannelRequest: _full_channel,
    functions.channels.GetChannelsRequest: _get_channels,
    functions.upload.GetFileRequest: _get_file,
    functions.auth.SendCodeRequest: _send_code,
    functions.auth.SignInRequest: _sign_in,
    functions.updates.GetChannelDifferenceRequest: _channel_difference,
    functions.users.GetUsersRequest: lambda tg, r: [_me()],
    functions.updates.GetStateRequest: lambda tg, r: types.updates.State(
        pts=1, qts=0, date=tg.clock, seq=1, unread_count=0
    ),
    functions.updates.GetDifferenceRequest: _difference,
    functions.help.GetConfigRequest: lambda tg, r: None,
    functions.channels.JoinChannelRequest: _join,
    functions.messages.GetDialogsRequest: _dialogs,
    functions.messages.CheckChatInviteRequest: _check_invite,
    functions.messages.ImportChatInviteRequest: _import_invite,
}


class FakeSender:
    """Stands in for telethon.network.MTProtoSender."""

    def __init__(self, telegram: FakeTelegram, updates_queue: asyncio.Queue[Any]) -> None:
        self.telegram = telegram
        self.updates_queue = updates_queue
        self.auth_key = AuthKey(os.urandom(256))
        self.dc_id = 2
        self.connected = False
        self._transport_connected = lambda: self.connected
        self._connection = None
        self.disconnected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        telegram.senders.append(self)

    async def connect(self, connection: Any) -> bool:
        if self.telegram.down:
            raise ConnectionError("Telegram is unreachable")
        if self.connected:
            return False
        self.connected = True
        self.disconnected = asyncio.get_running_loop().create_future()
        return True

    def is_connected(self) -> bool:
        return self.connected

    async def disconnect(self) -> None:
        self.lose_connection()

    def lose_connection(self) -> None:
        self.connected = False
        if not self.disconnected.done():
            self.disconnected.set_result(None)

    def send(self, request: Any, ordered: bool = False) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if not self.connected:
            future.set_exception(ConnectionError("not connected"))
            return future
        while isinstance(
            request,
            functions.InvokeWithLayerRequest
            | functions.InitConnectionRequest
            | functions.InvokeWithoutUpdatesRequest,
        ):
            request = request.query
        try:
            future.set_result(self.telegram.answer(request))
        except Exception as exc:
            future.set_exception(exc)
        return future

    async def _keepalive_ping(self, rnd_id: int) -> None:
        return None


async def connected_client(telegram: FakeTelegram) -> ArchiverClient:
    """A real TelegramClient whose network is *telegram*, connected and logged in."""
    client = ArchiverClient(
        MemorySession(), api_id=1, api_hash="0" * 32, flood_sleep_threshold=0, receive_updates=True
    )
    client._sender = FakeSender(telegram, client._updates_queue)
    await client.connect()
    return client
