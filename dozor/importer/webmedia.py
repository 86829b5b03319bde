"""What a ``t.me/s`` post's attachment is, from the classes of its HTML elements.

The page names the kind of attachment and shows a little of it: a duration, a document's
name, a track's title and performer, a venue's name and address, a map link with the
coordinates, a contact's name and phone. Files themselves are not on the page (only expiring
links), so records say what was there, in the same shape the archiver gives (``type`` as in
``archiver/convert.py``). A video player without a play button or duration is a GIF
(``animation``), as Telegram draws it. A contact's name is one line on the page, kept whole in
``first_name``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dozor.records import Media

_W = "tgme_widget_message_"  # the prefix of Telegram's widget classes
_DURATION = re.compile(r"\d+(:\d\d){1,2}")


def classes(node: Any) -> set[str]:
    return set((node.get("class") or "").split())


def media_of(parts: list[Any]) -> Media | None:
    """The attachment shown by *parts* (a post's own elements), or None if there is none."""
    found = set().union(*(classes(node) for node in parts)) if parts else set()
    if "tgme_widget_message_roundvideo_player" in found:
        return _with_duration({"type": "video_message"}, parts, _W + "roundvideo_duration")
    if "tgme_widget_message_video_player" in found:
        if found.isdisjoint({"message_video_play", "message_video_duration"}):
            return {"type": "animation"}
        return _with_duration({"type": "video_file"}, parts, "message_video_duration")
    if "tgme_widget_message_photo_wrap" in found:
        return {"type": "photo"}
    if "tgme_widget_message_voice_player" in found:
        return _with_duration({"type": "voice_message"}, parts, _W + "voice_duration")
    if "tgme_widget_message_sticker_wrap" in found:
        return {"type": "sticker"}
    if "tgme_widget_message_poll" in found:
        return _poll(parts)
    if "tgme_widget_message_location_wrap" in found:
        return _location(parts)
    if "tgme_widget_message_contact_wrap" in found:
        return _contact(parts)
    if "tgme_widget_message_document_wrap" in found:
        return _document(parts)
    if any(_unsupported(node) for node in parts):
        return {"type": "unsupported"}
    return None


def _unsupported(node: Any) -> bool:
    """Telegram's "Please open Telegram to view this post", when it is what the post shows
    (every post also carries a hidden copy, for browsers that cannot play its media)."""
    return "message_media_not_supported_wrap" in classes(node) and not any(
        "media_not_supported_cont" in classes(parent) for parent in node.iterancestors()
    )


def _first(parts: list[Any], name: str) -> Any | None:
    return next((node for node in parts if name in classes(node)), None)


def _text(parts: list[Any], name: str) -> str | None:
    """The text of the first element with class *name*, whitespace collapsed; None if there
    is none."""
    node = _first(parts, name)
    return (" ".join(node.text_content().split()) or None) if node is not None else None


def _with_duration(media: Media, parts: list[Any], name: str) -> Media:
    shown = _text(parts, name) or ""
    if _DURATION.fullmatch(shown):
        seconds = 0
        for part in shown.split(":"):
            seconds = seconds * 60 + int(part)
        media["duration"] = seconds
    return media


def _poll(parts: list[Any]) -> Media:
    answers = [
        {"text": node.text_content().strip()}
        for node in parts
        if "tgme_widget_message_poll_option_text" in classes(node)
    ]
    question = _text(parts, _W + "poll_question") or ""
    return {"type": "poll", "poll": {"question": question, "answers": answers}}


def _location(parts: list[Any]) -> Media:
    """A map link (``?q=lat,long``); with a title it is a venue."""
    wrap = _first(parts, "tgme_widget_message_location_wrap")
    media: Media = {"type": "location"}
    point = _coordinates(wrap.get("href") or "" if wrap is not None else "")
    if point is not None:
        media["location"] = point
    title = _text(parts, _W + "location_title")
    if title is not None:
        media.update(type="venue", place_name=title)
        if (address := _text(parts, _W + "location_address")) is not None:
            media["address"] = address
    return media


def _coordinates(href: str) -> dict[str, float] | None:
    query = parse_qs(urlsplit(href).query).get("q", [""])[0]
    try:
        latitude, longitude = (float(part) for part in query.split(","))
    except ValueError:
        return None
    if abs(latitude) > 90 or abs(longitude) > 180:
        return None
    return {"latitude": latitude, "longitude": longitude}


def _contact(parts: list[Any]) -> Media:
    name, phone = _text(parts, _W + "contact_name"), _text(parts, _W + "contact_phone")
    contact = {"first_name": name, "phone_number": phone}
    return {"type": "contact", "contact": {k: v for k, v in contact.items() if v is not None}}


def _document(parts: list[Any]) -> Media:
    """A file by its name; music (a note icon) by its title and performer."""
    title, extra = _text(parts, _W + "document_title"), _text(parts, _W + "document_extra")
    icon = _first(parts, "tgme_widget_message_document_icon")
    if icon is not None and "audio" in classes(icon):
        music: Media = {"type": "audio_file", "title": title, "performer": extra}
        return {k: v for k, v in music.items() if v is not None}
    return {"type": "document", **({"file_name": title} if title else {})}
