"""Telegram peer ids, the way dozor stores them.

dozor stores *marked* ids (the Bot API form): a channel with bare id ``1292077344`` is
``-1001292077344``; users keep their id; basic groups are negated. The archiver computes them with
``telethon.utils.get_peer_id``; this module does the same arithmetic for code that must not import
Telethon (the Desktop importer), and a test checks both agree.
"""

from __future__ import annotations

CHANNEL_MARK = 1_000_000_000_000

# Telegram Desktop exports written before mid-2021 encoded the peer type in high bits of integer
# ids (tdesktop's PeerId): basic groups + 2**32, channels + 2**33.
LEGACY_CHAT_SHIFT = 1 << 32
LEGACY_CHANNEL_SHIFT = 1 << 33


INT64 = 2**63 - 1  # the largest id a BIGINT column holds
INT32 = 2**31 - 1  # the largest message id (an INTEGER column; Telegram's are int32 too)


def is_digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²", which int() refuses."""
    return text.isascii() and text.isdigit()


def marked_channel_id(bare_id: int) -> int:
    """The marked id of the channel whose bare id is *bare_id*."""
    if bare_id <= 0:
        raise ValueError(f"a bare channel id is positive, got {bare_id}")
    return -(CHANNEL_MARK + bare_id)


def bare_channel_id(marked_id: int) -> int:
    """The bare id of a marked channel id (``-1001292077344`` → ``1292077344``)."""
    if not is_marked_channel_id(marked_id):
        raise ValueError(f"{marked_id} is not a marked channel id")
    return -marked_id - CHANNEL_MARK


def is_marked_channel_id(value: int) -> bool:
    return value < -CHANNEL_MARK


def unshift_legacy_channel_id(value: int) -> int:
    """Undo the 2**33 type shift old Desktop exports added to a channel's id."""
    return value - LEGACY_CHANNEL_SHIFT if value > LEGACY_CHANNEL_SHIFT else value


def parse_desktop_peer_id(value: object, *, legacy: bool) -> int | None:
    """A marked id from a Desktop export's ``from_id``-style field, or None if unusable.

    Modern exports write ``"channel1292077344"``, ``"user42"`` or ``"chat7"``; legacy exports
    write integers carrying a type shift (see module docstring). An id no 64-bit column can
    hold is no Telegram id either.
    """
    marked = _desktop_peer_id(value, legacy=legacy)
    return marked if marked is not None and -INT64 <= marked <= INT64 else None


def _desktop_peer_id(value: object, *, legacy: bool) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        for prefix, mark in (("channel", marked_channel_id), ("chat", _negate), ("user", _same)):
            digits = value.removeprefix(prefix)
            if digits != value and is_digits(digits) and int(digits) > 0:
                return mark(int(digits))
        return None
    if isinstance(value, int) and value > 0:
        if legacy and value > LEGACY_CHANNEL_SHIFT:
            return marked_channel_id(value - LEGACY_CHANNEL_SHIFT)
        if legacy and value > LEGACY_CHAT_SHIFT:
            return -(value - LEGACY_CHAT_SHIFT)
        return value
    return None


def _negate(value: int) -> int:
    return -value


def _same(value: int) -> int:
    return value
