"""Telegram Desktop's channel export format (``result.json``), written as posts stream by.

The messages look like Desktop's own (text as a string or a list of parts, ``text_entities``,
``date``/``date_unixtime``, ``edited``, ``forwarded_from``, ``reply_to_message_id``,
``reactions``, media fields), so tools built for Desktop exports read them, and
``dozor import`` reads them back into the same posts. They also carry what Desktop leaves out:
``views``, ``forwards``, ``replies``, ``grouped_id``, ``forwarded_from_id``,
``forwarded_from_message_id`` and, for posts deleted on Telegram, ``deleted`` with
``deleted_unixtime``; ``full_entities`` (dozor's entity list, written only when nested
formatting could not be written as parts) and the channel's ``username`` in the header, so
``dozor import`` gets back exactly what was archived. Times in ``date``/``edited`` are UTC
(Desktop writes the exporting machine's local time; the ``*_unixtime`` fields are exact either
way).

One ``result.json`` per channel; several channels go into one folder each.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from dozor.export.writers import sorted_keys
from dozor.ids import bare_channel_id, is_marked_channel_id
from dozor.importer.desktop import ENTITY_EXTRAS, read_text_parts
from dozor.mediastore import copy_out

NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"
# Where Telegram Desktop puts each kind of file in an export
_MEDIA_FOLDERS = {
    "photo": "photos",
    "video_file": "video_files",
    "animation": "video_files",
    "video_message": "round_video_messages",
    "voice_message": "voice_messages",
    "sticker": "stickers",
}
_EXTRA_NAMES = {name: key for key, name in ENTITY_EXTRAS.items()}  # dozor's key → Desktop's
_MEDIA_TEXT_KEYS = ("file_name", "mime_type", "performer", "title", "sticker_emoji")


def desktop_peer_id(marked: int) -> str:
    """Desktop's peer id spelling: ``channel123``, ``chat7`` or ``user42``."""
    if is_marked_channel_id(marked):
        return f"channel{bare_channel_id(marked)}"
    return f"chat{-marked}" if marked < 0 else f"user{marked}"


def _local(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _unix(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def text_parts(text: str, entities: Sequence[Mapping[str, Any]] | None) -> list[Any]:
    """Desktop's parts: plain strings and ``{"type", "text", ...}`` objects.

    A part has one type, so nested formatting cannot be written as it is. Desktop keeps the
    outer entity and drops what lies inside it, a link inside italics included; here each
    stretch of text takes the innermost entity covering it (of two on the same stretch, the one
    with a link, user or emoji id), so links, mentions and custom emoji survive and only the
    outer formatting is cut around them."""
    spans = [e for e in entities or () if 0 <= e["offset"] < e["offset"] + e["length"] <= len(text)]
    starting: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for span in spans:
        starting[span["offset"]].append(span)
    cuts = sorted({0, len(text)} | starting.keys() | _ends(spans))
    parts: list[Any] = []
    covering: list[Mapping[str, Any]] = []
    previous: Mapping[str, Any] | None = None
    for start, end in itertools.pairwise(cuts):
        covering = [e for e in covering if e["offset"] + e["length"] > start] + starting[start]
        inner = min(covering, key=_innermost_then_richest, default=None)
        if inner is not None and inner is previous:
            parts[-1]["text"] += text[start:end]
        elif inner is None:
            parts.append(text[start:end])
        else:
            parts.append(_part(inner, text[start:end]))
        previous = inner
    return parts


def _innermost_then_richest(entity: Mapping[str, Any]) -> tuple[int, bool]:
    """Shorter first; of two on the same text, the one with a link, user or emoji id."""
    return entity["length"], _EXTRA_NAMES.keys().isdisjoint(entity)


def _ends(entities: Sequence[Mapping[str, Any]]) -> set[int]:
    return {e["offset"] + e["length"] for e in entities}


def _part(entity: Mapping[str, Any], text: str) -> dict[str, Any]:
    part: dict[str, Any] = {"type": entity["type"], "text": text}
    for key, name in _EXTRA_NAMES.items():
        if key in entity:
            part[name] = entity[key]
    return part


def desktop_message(row: Mapping[str, Any]) -> dict[str, Any]:
    """One post row (from ``iter_posts``) as a Desktop export message."""
    service = row["kind"] == "service"
    message: dict[str, Any] = {
        "id": row["message_id"],
        "type": "service" if service else "message",
        "date": _local(row["date"]),
        "date_unixtime": _unix(row["date"]),
    }
    sender = "actor" if service else "from"
    message[sender] = row["channel_title"]
    message[f"{sender}_id"] = desktop_peer_id(row["channel_id"])
    if row["edit_date"] is not None:
        message["edited"] = _local(row["edit_date"])
        message["edited_unixtime"] = _unix(row["edit_date"])
    elif row["edit_time_unknown"]:
        message["edit_time_unknown"] = True
    if service:
        action = sorted_keys(dict(row["service_action"] or {}))
        message["action"] = action.pop("type", "unknown")
        message.update(action)
    else:
        message.update(_message_fields(row))
    parts = text_parts(row["text"], row["entities"])
    has_format = any(isinstance(p, dict) for p in parts)
    message["text"] = parts if has_format else row["text"]
    message["text_entities"] = [
        p if isinstance(p, dict) else {"type": "plain", "text": p} for p in parts
    ]
    if row["entities"] and not _reads_back(message["text_entities"], row["entities"]):
        message["full_entities"] = [sorted_keys(dict(e)) for e in row["entities"]]
    message.update(_extras(row))
    return message


def _reads_back(parts: list[dict[str, Any]], entities: Sequence[Mapping[str, Any]]) -> bool:
    """Does `dozor import` read *entities* back from *parts* (in any order)?"""

    def key(entity: Mapping[str, Any]) -> bytes:
        return orjson.dumps(entity, option=orjson.OPT_SORT_KEYS)

    _, read = read_text_parts(parts, [])
    return sorted(map(key, read)) == sorted(map(key, entities))


def _message_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if row["author_signature"]:
        fields["author"] = row["author_signature"]
    if row["forwarded_from_name"] is not None or row["forwarded_from_id"] is not None:
        fields["forwarded_from"] = row["forwarded_from_name"]
    if row["reply_to_message_id"] is not None:
        fields["reply_to_message_id"] = row["reply_to_message_id"]
    fields.update(_media_fields(row["media"]))
    if row["reactions"]:
        fields["reactions"] = [_reaction(r) for r in row["reactions"]]
    if row["buttons"]:
        fields["inline_bot_buttons"] = [[_button(b) for b in line] for line in row["buttons"]]
    return fields


def _button(button: Mapping[str, Any]) -> dict[str, Any]:
    """A button as Desktop writes it: a URL button's address is its ``data``."""
    return {
        "type": button.get("type") or "url",
        "text": button.get("text") or "",
        "data": button.get("url") or "",
    }


def _reaction(reaction: Mapping[str, Any]) -> dict[str, Any]:
    out = {"type": reaction["type"], "count": reaction["count"]}
    for key in ("emoji", "document_id"):
        if key in reaction:
            out[key] = reaction[key]
    return out


def _media_fields(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    if not raw:
        return {}
    media = sorted_keys(raw)
    kind = media.get("type")
    fields: dict[str, Any] = {}
    if kind == "photo":
        fields["photo"] = media.get("file", NOT_INCLUDED)
        _copy(fields, media, size="photo_file_size")
    elif kind in ("poll", "location", "venue", "contact", "game", "invoice", "dice"):
        fields.update(_other_media(kind, media))
    else:
        fields["file"] = media.get("file", NOT_INCLUDED)
        _copy(fields, media, size="file_size")
        if "thumbnail" in media:
            fields["thumbnail"] = media["thumbnail"]
        if kind != "document":
            fields["media_type"] = kind
        for key in _MEDIA_TEXT_KEYS:
            if media.get(key) is not None:
                fields[key] = media[key]
    for key, name in (("width", "width"), ("height", "height"), ("duration", "duration_seconds")):
        if media.get(key) is not None:
            fields[name] = media[key]
    if media.get("spoiler"):
        fields["media_spoiler"] = True
    return fields


def _copy(fields: dict[str, Any], media: Mapping[str, Any], *, size: str) -> None:
    if media.get("size") is not None:
        fields[size] = media["size"]


def _other_media(kind: str, media: Mapping[str, Any]) -> dict[str, Any]:
    if kind == "poll":
        return {"poll": media.get("poll", {})}
    if kind in ("location", "venue"):
        fields = {"location_information": media.get("location", {})}
        for key in ("place_name", "address"):
            if media.get(key) is not None:
                fields[key] = media[key]
        return fields
    if kind == "contact":
        return {"contact_information": media.get("contact", {})}
    if kind == "game":
        return {"game_title": media.get("title", "")}
    if kind == "invoice":
        return {"invoice_information": media.get("invoice", {})}
    return {"dice": media.get("dice", {})}


def _extras(row: Mapping[str, Any]) -> dict[str, Any]:
    """What users ask Desktop for in vain."""
    extras: dict[str, Any] = {}
    for key in ("views", "forwards", "replies", "grouped_id", "forwarded_from_message_id"):
        if row[key] is not None:
            extras[key] = row[key]
    if row["forwarded_from_id"] is not None:
        extras["forwarded_from_id"] = desktop_peer_id(row["forwarded_from_id"])
    if row["forwarded_from_date"] is not None:
        extras["forwarded_date_unixtime"] = _unix(row["forwarded_from_date"])
    if row["deleted_at"] is not None:
        extras["deleted"] = True
        extras["deleted_unixtime"] = _unix(row["deleted_at"])
    return extras


class DesktopWriter:
    """Streams ``result.json`` files: one per channel, in a folder per channel when several."""

    columns: tuple[str, ...] | None = None  # every column

    def __init__(self, folder: Path, *, media_dir: Path | None = None) -> None:
        self.folder = folder
        self.media_dir = media_dir  # the archive's stored files, copied beside result.json
        self.files: list[Path] = []
        self._out: BinaryIO | None = None
        self._channel: int | None = None
        self._channel_folder = folder
        self._first = True

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for row in rows:
            out = self._out
            if out is None or row["channel_id"] != self._channel:
                out = self._start(row)
            message = desktop_message(row)
            if row["media"] and (copied := self._copy_media(row["media"])) is not None:
                message["photo" if "photo" in message else "file"] = copied
            out.write(b"" if self._first else b",")
            out.write(b"\n    " + orjson.dumps(message))
            self._first = False

    def _copy_media(self, media: Mapping[str, Any]) -> str | None:
        """Copy a stored attachment beside the channel's result.json, in the folder Desktop
        uses for its kind; its path there, or None when the archive has no copy."""
        kind_folder = _MEDIA_FOLDERS.get(str(media.get("type")), "files")
        return copy_out(self.media_dir, media, self._channel_folder, kind_folder)

    def _start(self, row: Mapping[str, Any]) -> BinaryIO:
        """Open the channel's result.json and write its header."""
        self._end_file()
        self._channel = row["channel_id"]
        folder = row["channel_username"] or str(bare_channel_id(row["channel_id"]))
        path = self.folder / folder / "result.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._channel_folder = path.parent
        self.files.append(path)
        out = self._out = path.open("wb")
        header = {
            "name": row["channel_title"],
            "type": "public_channel" if row["channel_username"] else "private_channel",
            "id": bare_channel_id(row["channel_id"]),
        }
        if row["channel_username"]:
            header["username"] = row["channel_username"]
        out.write(orjson.dumps(header)[:-1] + b',\n "messages": [')
        self._first = True
        return out

    def close(self) -> None:
        """Finish; a lone channel's result.json (and its files) moves to the top, as Desktop
        places it."""
        self._end_file()
        if len(self.files) == 1 and self.files[0].parent != self.folder:
            # out of the way first: a channel may be called "photos", as its files' folder
            channel_folder = self.files[0].parent.rename(self.folder / ".dozor-moving")
            for child in list(channel_folder.iterdir()):
                child.replace(self.folder / child.name)
            channel_folder.rmdir()
            self.files = [self.folder / "result.json"]

    def _end_file(self) -> None:
        if self._out is not None:
            self._out.write(b"\n ]\n}\n")
            self._out.close()
            self._out = None
