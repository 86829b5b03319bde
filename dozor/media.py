"""One line saying what a post's attachment is, for people: alerts, search results, the HTML
export and ``dozor post`` describe attachments the same way.

A poll's question, a file's name, a venue's address are text a rule can match (see
``dozor.query.document.searchable_text``); an alert about a post whose only text is a poll
must show that poll, or nobody can tell why it fired.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

from dozor.query import Node
from dozor.query.highlight import Snippet, highlight_spans

_KINDS = {
    "photo": "photo",
    "video_file": "video",
    "video": "video",
    "animation": "GIF",
    "video_message": "round video",
    "round_video": "round video",
    "voice_message": "voice message",
    "voice": "voice message",
    "audio_file": "audio",
    "audio": "audio",
    "document": "file",
    "file": "file",
    "sticker": "sticker",
    "poll": "poll",
    "location": "location",
    "venue": "place",
    "contact": "contact",
    "dice": "dice",
    "unsupported": "unsupported attachment",
}
MAX_LENGTH = 300


def describe_media(media: Mapping[str, Any] | None) -> str | None:
    """``poll: Кто? — Да / Жок``, ``file отчет.pdf · 1.2 MB``, ``video 0:09 · 1920×1080``...;
    None without an attachment."""
    described = _described(media)
    return described[0] if described is not None else None


def attachment_snippet(node: Node | None, media: Mapping[str, Any] | None) -> Snippet | None:
    """The attachment's line with what *node* matches in its details marked (not in the kind's
    name: a query ``file`` has not matched every document)."""
    described = _described(media)
    if described is None:
        return None
    line, details_start = described
    spans = highlight_spans(node, line) if node is not None else []
    return Snippet(line, [span for span in spans if span[0] >= details_start])


def _described(media: Mapping[str, Any] | None) -> tuple[str, int] | None:
    """The line, and where its details begin."""
    if not media:
        return None
    kind = str(media.get("type") or "attachment")
    name = _KINDS.get(kind, kind.replace("_", " "))
    details = " · ".join(d for d in _details(kind, media) if d)
    head = f"{name}{': ' if kind in _NAMED else ' '}" if details else name
    line = head + details
    return (line if len(line) <= MAX_LENGTH else line[: MAX_LENGTH - 1] + "…"), len(head)


_NAMED = frozenset({"poll", "venue", "contact", "dice", "audio_file", "audio", "game"})


def map_link(media: Mapping[str, Any]) -> str | None:
    """An OpenStreetMap link to a location's or venue's point, if it has valid coordinates."""
    location = media.get("location")
    if _point(location) is None:
        return None
    assert isinstance(location, Mapping)
    latitude, longitude = location["latitude"], location["longitude"]
    return (
        f"https://www.openstreetmap.org/?mlat={latitude:.5f}&mlon={longitude:.5f}"
        f"#map=16/{latitude:.5f}/{longitude:.5f}"
    )


def _details(kind: str, media: Mapping[str, Any]) -> list[str | None]:
    if kind == "poll":
        return [_poll(media.get("poll"))]
    if kind in ("location", "venue"):
        place = ", ".join(_strings(media.get("place_name"), media.get("address")))
        return [place, _point(media.get("location"))]
    if kind == "contact":
        contact = media.get("contact")
        contact = contact if isinstance(contact, Mapping) else {}
        who = " ".join(_strings(contact.get("first_name"), contact.get("last_name")))
        return [" ".join(_strings(who, contact.get("phone_number")))]
    if kind == "dice":
        dice = media.get("dice")
        dice = dice if isinstance(dice, Mapping) else {}
        return [" ".join(_strings(dice.get("emoticon"), dice.get("value")))]
    if kind in ("audio_file", "audio"):
        track = " — ".join(_strings(media.get("performer"), media.get("title")))
        return [track or _string(media.get("file_name")), _duration(media.get("duration"))]
    return [
        _string(media.get("title")),  # a game's
        _string(media.get("file_name")),
        _string(media.get("sticker_emoji")),
        _duration(media.get("duration")),
        _dimensions(media),
        _size(media.get("size")),
    ]


def _poll(poll: Any) -> str | None:
    if not isinstance(poll, Mapping):
        return None
    answers = poll.get("answers")
    texts = (
        [a.get("text") for a in answers if isinstance(a, Mapping)]
        if isinstance(answers, list)
        else []
    )
    question = _string(poll.get("question")) or ""
    options = " / ".join(_strings(*texts))
    return f"{question} — {options}" if options else question or None


def _point(location: Any) -> str | None:
    """``lat, long`` of a point on Earth; None for anything else."""
    if not isinstance(location, Mapping):
        return None
    latitude, longitude = location.get("latitude"), location.get("longitude")
    if not (_is_number(latitude) and _is_number(longitude)):
        return None
    if abs(latitude) > 90 or abs(longitude) > 180:
        return None
    return f"{latitude:.5f}, {longitude:.5f}"


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _duration(seconds: Any) -> str | None:
    if not _is_number(seconds) or seconds < 0:
        return None
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02}:{rest % 60:02}" if hours else f"{rest // 60}:{rest % 60:02}"


def _dimensions(media: Mapping[str, Any]) -> str | None:
    width, height = media.get("width"), media.get("height")
    return f"{width}×{height}" if isinstance(width, int) and isinstance(height, int) else None


def _size(size: Any) -> str | None:
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return None
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _string(value: Any) -> str | None:
    return " ".join(value.split()) or None if isinstance(value, str) else None


def _strings(*values: Any) -> list[str]:
    """The values that are text (or numbers), whitespace collapsed, empty ones left out."""
    found = []
    for value in values:
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if (cleaned := _string(text)) is not None:
            found.append(cleaned)
    return found
