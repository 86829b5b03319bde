"""dozor's own records: what every source (Telegram, Desktop exports) is converted into.

Convention for optional fields: ``None`` means *unknown to this source* (a Desktop export has no
view counts), so storing the record keeps whatever the archive already knows. A known-empty value
is spelled explicitly (``reactions=[]``).

Entity offsets and lengths count Unicode code points of ``text`` (Python string indices), not
Telegram's UTF-16 units; the Telethon converter translates.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

Entity = dict[str, Any]
Reaction = dict[str, Any]
Media = dict[str, Any]
Button = dict[str, Any]  # one button under a post: type, text, and url when it opens one

# Media fields that identify *which* file is attached; everything else is descriptive metadata.
MEDIA_IDENTITY_KEYS = ("type", "id")
# ``photo_not_exported``, ``file_not_exported``…: an export left that file out. A note about one
# export, not about the attachment: see storage.posts._merged_media.
NOT_EXPORTED = "_not_exported"


class Source(StrEnum):
    """Where an observation came from."""

    IMPORT = "import"
    BACKFILL = "backfill"
    LIVE = "live"
    RECONCILE = "reconcile"

    @property
    def is_live_telegram(self) -> bool:
        """Telegram itself, now: may restore tombstoned posts and samples metrics."""
        return self in _LIVE_SOURCES


_LIVE_SOURCES = frozenset({Source.BACKFILL, Source.LIVE, Source.RECONCILE})


class EventKind(StrEnum):
    NEW = "new"
    EDITED = "edited"
    DELETED = "deleted"
    MASS_DELETED = "mass_deleted"  # many posts at once: one event listing them
    EXPIRED = "expired"  # gone when its auto-delete timer said: no deletion by anyone
    RESTRICTED = "restricted"  # Telegram restricted the post, or lifted a restriction
    RESTORED = "restored"


@dataclass(frozen=True, slots=True)
class Forward:
    from_id: int | None = None
    from_name: str | None = None
    message_id: int | None = None
    date: datetime | None = None


@dataclass(frozen=True, slots=True)
class PostRecord:
    channel_id: int
    message_id: int
    date: datetime
    kind: str = "message"
    text: str = ""
    entities: list[Entity] = field(default_factory=list)
    edit_date: datetime | None = None
    # Marked edited by a source that does not say when (a saved t.me page); edit_date is None.
    edit_time_unknown: bool = False
    author_signature: str | None = None
    views: int | None = None
    forwards: int | None = None
    replies: int | None = None
    reactions: list[Reaction] | None = None
    reply_to_message_id: int | None = None
    forward: Forward | None = None
    grouped_id: int | None = None
    media: Media | None = None
    service_action: dict[str, Any] | None = None
    expires_at: datetime | None = None  # when the post deletes itself (a channel's auto-delete)
    # Where Telegram's apps refuse to show it ("restricted (ios: porn)"); "" nowhere, None unknown
    restriction: str | None = None
    # The buttons under it, by rows: {"type", "text", "url" if it opens one}; [] none, None
    # unknown (a source that does not show them)
    buttons: list[list[Button]] | None = None


@dataclass(frozen=True, slots=True)
class ShownCounters:
    """A post's counters as a rendering showed them at one moment (a saved t.me/s page).

    A page abbreviates counts from 1,000 up ("23.4K", "8.67M"): such a count is read as the
    number shown (23,400) and the sample is marked *rounded*. Reactions are None when the page
    shows none it could read in full (older pages showed no reactions at all)."""

    views: int | None
    reactions: list[Reaction] | None
    rounded: bool


def marked_edited(post: Mapping[str, Any]) -> bool:
    """Was the post (a ``posts`` row) edited: a later version, an edit time, or a page's
    edit mark with no time (``edit_time_unknown``)."""
    return (
        (post.get("current_version") or 1) > 1
        or post.get("edit_date") is not None
        or bool(post.get("edit_time_unknown"))
    )


ROUNDED_MARK = "≈"  # before a count a saved page showed only about right


def count_text(count: int, rounded: bool) -> str:
    """A count for people (8,670,000), marked where a sample marked *rounded* has it only about
    right: pages abbreviate from 1,000 up ("8.67M"); below, they show a count exactly."""
    return f"{ROUNDED_MARK if rounded and count >= 1000 else ''}{count:,}"


def reaction_label(reaction: Mapping[str, Any]) -> str:
    """How people are shown a reaction: its emoji; ⭐ for paid (Telegram Stars) reactions; a
    custom emoji, which no text can show, by the end of its id, so that a post's several
    custom emoji stay apart (the exports that are data keep the whole id)."""
    if isinstance(reaction.get("emoji"), str) and reaction["emoji"]:
        return str(reaction["emoji"])
    if reaction.get("type") == "paid":
        return "⭐"
    if reaction.get("type") == "custom_emoji":
        document_id = str(reaction.get("document_id") or "")
        return f"custom emoji …{document_id[-4:]}" if document_id else "custom emoji"
    return str(reaction.get("type") or "?")


def reactions_line(
    reactions: Sequence[Mapping[str, Any]] | None, count: Callable[[int], str] = str
) -> str:
    """A post's reactions in one line for people, ``👍 12 · ⭐ 40``; *count* writes each count."""
    return " · ".join(
        f"{reaction_label(r)} {count(int(r.get('count', 0)))}" for r in reactions or ()
    )


def buttons_line(rows: Sequence[Any] | None) -> str:
    """The buttons under a post in one line for people, ``Читать → https://… · Голосовать``
    (what each says, and where it leads if it opens a page); empty without any."""
    return " · ".join(
        f"{button.get('text') or '?'} → {button['url']}"
        if button.get("url")
        else str(button.get("text") or "?")
        for row in rows or ()
        if isinstance(row, list)
        for button in row
        if isinstance(button, Mapping)
    )


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    id: int
    title: str | None  # None: this source does not know it (an export without a name)
    username: str | None = None
    about: str | None = None
    subscribers: int | None = None
    labels: str | None = None  # Telegram's marks, see archiver.convert.channel_labels
    pinned: str | None = None  # the post shown pinned, its id as text; "" none; None unknown


def media_identity(media: Media | None) -> dict[str, Any] | None:
    if not media:
        return None
    return {key: media.get(key) for key in MEDIA_IDENTITY_KEYS}


def without_nul(value: Any) -> Any:
    """*value* (a string, or lists and dicts of them) with U+0000 replaced by U+FFFD.

    PostgreSQL's text and jsonb cannot hold U+0000 (a text pasted with control characters
    may carry one), and SQLite stores what PostgreSQL would: one archive, two backends. One
    character for one keeps entity offsets right."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    return value


def content_sha256(
    text: str,
    entities: list[Entity] | None,
    media: Media | None,
    action: dict[str, Any] | None,
    buttons: list[list[Button]] | None = None,
) -> str:
    """Hash of what a post *says*: a new version is recorded only when this changes.

    Views, reactions and other counters are deliberately left out: they are metrics. Buttons
    count only when there are some, so a post without any hashes as it did before dozor kept
    them.
    """
    canonical: dict[str, Any] = {
        "text": text,
        "entities": entities or [],
        "media": media_identity(media),
        "action": action,
    }
    if buttons:
        canonical["buttons"] = buttons
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


def make_entity(kind: str, offset: int, length: int, **extras: Any) -> Entity:
    """An entity dict in dozor's canonical form: empty extras dropped, ids as strings.

    Both converters (Telethon, Desktop exports) build entities here, so the same formatting
    hashes the same whichever source saw it.
    """
    entity: Entity = {"type": kind, "offset": offset, "length": length}
    for key, value in extras.items():
        if value is None or value == "" or value is False:
            continue
        entity[key] = str(value) if key in ("document_id", "user_id") else value
    return entity
