"""Channel references as people type them: ``name``, ``@name``, ``t.me/[s/]name``,
``t.me/c/123``, ids, titles and invite links. Parsing only; finding the channel is the
archive's (:mod:`dozor.storage.channels`) or Telegram's (the archiver's) business."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from dozor.errors import ChannelNotFound, UserError
from dozor.ids import INT64, marked_channel_id

LINK = re.compile(
    r"^(?:https?://)?(?:www\.)?(?:t|telegram)\.me/(?:s/)?(?P<name>[A-Za-z0-9_]+)/?(?:\d+/?)?$"
)
PRIVATE_LINK = re.compile(r"^(?:https?://)?(?:www\.)?(?:t|telegram)\.me/c/(?P<id>\d+)(?:/\d+)?/?$")
USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
INVITE_LINK = re.compile(
    r"^(?:https?://)?(?:www\.)?(?:t|telegram)\.me/(?:\+|joinchat/)(?P<hash>[A-Za-z0-9_-]+)/?$"
)


@dataclass(frozen=True)
class ChannelRef:
    """A parsed channel reference: exactly one of the fields is set."""

    id: int | None = None
    username: str | None = None
    name: str | None = None  # a username or a title; decided against the archive
    invite: str | None = None  # the hash of an invite link: Telegram's to resolve


def parse_channel_ref(text: str) -> ChannelRef:
    """Understand ``name``, ``@name``, ``t.me/[s/]name``, ``t.me/c/123``, ids, titles and
    invite links (``t.me/+hash``)."""
    ref = text.strip()
    if not ref:
        raise ChannelNotFound("empty channel reference")
    if match := INVITE_LINK.match(ref):
        return ChannelRef(invite=match["hash"])
    if match := PRIVATE_LINK.match(ref):
        bare = int(match["id"])
        return _by_id(marked_channel_id(bare) if bare > 0 else bare, text)
    if match := LINK.match(ref):
        return ChannelRef(username=match["name"])
    if ref.startswith("@"):
        return ChannelRef(username=ref[1:])
    if re.fullmatch(r"-?\d+", ref):
        number = int(ref)
        return _by_id(marked_channel_id(number) if number > 0 else number, text)
    return ChannelRef(name=ref)


def _by_id(channel_id: int, text: str) -> ChannelRef:
    if not -INT64 <= channel_id <= INT64:  # no channel has it, and no database column holds it
        raise ChannelNotFound(f"no archived channel matches {text.strip()!r}")
    return ChannelRef(id=channel_id)


def username_of(text: str) -> str | None:
    """The bare username in ``name``, ``@name`` or a ``t.me/name`` link; None if *text* is
    not one."""
    ref = text.strip()
    if match := LINK.match(ref):
        ref = match["name"]
    ref = ref.removeprefix("@")
    return ref if USERNAME.match(ref) else None


def requestable_problem(ref: str) -> str | None:
    """Why *ref* cannot name a channel on Telegram, or None when it can (a username, a link,
    an invite link or an id). A title can name an archived channel, but Telegram finds none
    by it."""
    try:
        parsed = parse_channel_ref(ref)
    except ChannelNotFound as exc:
        return str(exc)
    if parsed.invite is not None and parsed.invite.isdigit():
        return f"{ref!r} is a link to a phone number, not to a channel"
    if parsed.id is not None or parsed.invite is not None:
        return None
    if USERNAME.match(parsed.username or parsed.name or ""):
        return None
    return f"{ref!r} is not a channel username, t.me link or id"


def check_requestable(refs: Sequence[str]) -> None:
    """UserError unless each of *refs* can name a channel on Telegram: checked before a
    request waits for the archiver."""
    for ref in refs:
        if (problem := requestable_problem(ref)) is not None:
            raise UserError(problem)
