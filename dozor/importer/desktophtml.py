"""Reading a Telegram Desktop *HTML* export of a channel (``messages.html``, ``messages2.html``…)
as the entries of a JSON export, so that one converter (:mod:`dozor.importer.desktop`) serves
both. No database here.

HTML is Desktop's default export format, so analysts hold HTML exports of channels that are
gone. It is a rendering, and lossy (the writer is ``export_output_html.cpp``):

* no channel id and no username: the archive's posts, or the user, tell the channel (see
  :mod:`dozor.importer.htmlimport`);
* dates in the exporting computer's local time. Since 2023 a label follows (``UTC+01:00``),
  which is the zone's *standard* offset all year, so wall times are kept here and the caller
  decides the zone (the label, or ``--tz``);
* no views, reactions or edit marks; service messages have no date (they are skipped);
* formatting comes as flat pieces (one style each): nested styles are lost.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

from lxml import etree, html

from dozor.errors import ImportFormatError
from dozor.ids import INT32
from dozor.importer.clock import Evidence, check_zone, offset_label

FORMAT = "desktop-html"
HTML_EXPORT_FILE = re.compile(r"^messages(\d*)\.html$")
_DATE = re.compile(
    r"^(\d\d)\.(\d\d)\.(\d{4}) (\d\d):(\d\d):(\d\d)"
    r"(?P<label> UTC(?:(?P<sign>[+-])(?P<hours>\d\d):(?P<minutes>\d\d))?)?$"
)
_MESSAGE_LINK = re.compile(r"go_to_message(\d+)$")
_DURATION = re.compile(r"^(?:(\d+):)?(\d+):(\d\d)$")
_SAMPLE_SIZE = 100  # messages kept from each end of the export, to compare with the archive
_FIRST_YEAR, _LAST_YEAR = 1970, 9998  # beyond, a wall time moved to UTC may not exist
# What Desktop's JSON writer says for a file it left out, by the HTML writer's description
# (NoFileDescription): the converter recognises these.
_NOT_EXPORTED = {
    "Not included": "(File not included. Change data exporting settings to download.)",
    "Exceeds maximum size": "(File exceeds maximum size. Change data exporting settings "
    "to download.)",
    "Unavailable": "(File unavailable, please try again later)",
}
_STYLES = {
    "strong": "bold",
    "b": "bold",
    "em": "italic",
    "i": "italic",
    "code": "code",
    "pre": "pre",
    "u": "underline",
    "s": "strikethrough",
    "blockquote": "blockquote",
}
_LINK_ACTIONS = {
    "ShowHashtag": "hashtag",
    "ShowCashtag": "cashtag",
    "ShowBotCommand": "bot_command",
    "ShowMentionName": "mention_name",
    "ShowNotLoadedEmoji": "custom_emoji",
    "ShowNotAvailableEmoji": "custom_emoji",
}


@dataclass(frozen=True)
class HtmlExport:
    """A checked HTML export: what was learned of it; its messages are read on demand."""

    folder: Path
    files: list[Path]  # messages.html, messages2.html… in order
    file_sha256: str  # of all of them, in order
    title: str | None
    message_count: int  # messages, readable or not (service messages aside)
    services: int  # service messages (pins, title changes…): undated here, so not imported
    newest_message_id: int
    offsets: frozenset[timedelta]  # the UTC offsets the dates are labelled with
    sample: list[tuple[int, datetime]]  # (id, wall time) of the first and the last messages

    def entries(self) -> Iterator[dict[str, Any]]:
        """The messages as Desktop JSON entries, one file parsed at a time."""
        forward: dict[str, Any] = {}
        for path in self.files:
            for node in _message_nodes(_parse(path)):
                entry, forward = message_entry(node, forward)
                if entry is not None:
                    yield entry


def is_html_export(folder: Path) -> bool:
    """Is *folder* a Desktop HTML export? (Its first page starts like Desktop's pages do.)"""
    first = folder / "messages.html"
    if (folder / "result.json").exists() or not first.is_file():
        return False
    try:
        with first.open("rb") as page:
            return b'class="page_header"' in page.read(16384)
    except OSError:
        return True  # read_html_export says what is wrong


def read_html_export(path: Path) -> HtmlExport:
    """Open and check the HTML export in folder *path* (or the folder of *path*, one of its
    ``messages*.html``); raises ImportFormatError if it is not one."""
    folder = path.parent if path.is_file() else path
    files = _message_files(folder)
    digest = hashlib.sha256()
    tally = _Tally()
    for file in files:
        try:
            content = file.read_bytes()
        except OSError as exc:
            raise ImportFormatError(f"{file}: cannot read: {exc.strerror}") from None
        digest.update(content)
        doc = _parse_bytes(content, file)
        tally.title = tally.title or _header_title(doc)
        for node in _message_nodes(doc):
            tally.add(node)
    if tally.count + tally.services == 0 and not tally.title:
        raise ImportFormatError(f"{folder}: no Telegram Desktop messages in messages.html")
    return HtmlExport(
        folder=folder,
        files=files,
        file_sha256=digest.hexdigest(),
        title=tally.title,
        message_count=tally.count,
        services=tally.services,
        newest_message_id=tally.newest,
        offsets=frozenset(tally.offsets),
        sample=[*tally.first, *tally.last],
    )


@dataclass
class _Tally:
    """What the check of an export's files learns, message by message."""

    title: str | None = None
    count: int = 0
    services: int = 0
    newest: int = 0
    offsets: set[timedelta] = field(default_factory=set)
    first: list[tuple[int, datetime]] = field(default_factory=list)
    # The archive may hold only the newer part of an export's history (it started later).
    last: deque[tuple[int, datetime]] = field(default_factory=lambda: deque(maxlen=_SAMPLE_SIZE))

    def add(self, node: Any) -> None:
        message_id = _message_id(node)
        if message_id is None or message_id <= 0:
            return  # a date separator (negative id)
        if "service" in _classes(node):
            self.services += 1
            return
        self.count += 1
        if message_id > INT32:
            return  # no Telegram message has it; the import skips it, saying so
        self.newest = max(self.newest, message_id)
        stamp = _date_title(node)
        if stamp is not None:
            wall, offset = stamp
            if offset is not None:
                self.offsets.add(offset)
            (self.first if len(self.first) < _SAMPLE_SIZE else self.last).append((message_id, wall))


def _message_files(folder: Path) -> list[Path]:
    numbered = []
    try:
        for entry in folder.iterdir():
            match = HTML_EXPORT_FILE.match(entry.name)
            if match and entry.is_file():
                numbered.append((int(match[1] or 1), entry))
    except OSError as exc:
        raise ImportFormatError(f"{folder}: cannot read: {exc.strerror}") from None
    if not numbered:
        raise ImportFormatError(f"{folder}: no messages.html in this folder")
    return [path for _, path in sorted(numbered)]


def _parse(path: Path) -> Any:
    try:
        return _parse_bytes(path.read_bytes(), path)
    except OSError as exc:
        raise ImportFormatError(
            f"{path}: could not be read again while importing ({exc.strerror}); "
            "import it again: what was imported stays"
        ) from None


def _parse_bytes(content: bytes, path: Path) -> Any:
    try:
        return html.fromstring(content, parser=html.HTMLParser(encoding="utf-8"))
    except (etree.ParserError, ValueError) as exc:
        raise ImportFormatError(f"{path}: not an HTML page ({exc})") from None


def _classes(node: Any) -> set[str]:
    return set((node.get("class") or "").split())


def _children(node: Any, *names: str) -> Iterator[Any]:
    """Direct child elements having every class in *names*."""
    wanted = set(names)
    for child in node:
        if isinstance(child.tag, str) and wanted <= _classes(child):
            yield child


def _first(node: Any, *names: str) -> Any | None:
    return next(_children(node, *names), None)


def _header_title(doc: Any) -> str | None:
    for header in doc.iter("div"):
        if "page_header" in _classes(header):
            for div in header.iter("div"):
                if {"text", "bold"} <= _classes(div):
                    return div.text_content().strip() or None
    return None


def _message_nodes(doc: Any) -> Iterator[Any]:
    for div in doc.iter("div"):
        if "message" in _classes(div) and (div.get("id") or "").startswith("message"):
            yield div


def _message_id(node: Any) -> int | None:
    digits = (node.get("id") or "")[len("message") :]
    try:
        return int(digits)
    except ValueError:
        return None


def _date_title(node: Any) -> tuple[datetime, timedelta | None] | None:
    body = _first(node, "body")
    label = _first(body, "date", "details") if body is not None else None
    return parse_stamp(label.get("title") if label is not None else None)


def parse_stamp(value: str | None) -> tuple[datetime, timedelta | None] | None:
    """A wall time and its offset label, from "31.12.2024 23:59:59 UTC+06:00"."""
    match = _DATE.match((value or "").strip())
    if match is None:
        return None
    day, month, year, hour, minute, second = (int(match[i]) for i in range(1, 7))
    if not _FIRST_YEAR <= year <= _LAST_YEAR:
        return None
    try:
        wall = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    if match["label"] is None:
        return wall, None
    if match["sign"] is None:  # Qt names a zero offset "UTC"
        return wall, timedelta()
    offset = timedelta(hours=int(match["hours"]), minutes=int(match["minutes"]))
    return wall, -offset if match["sign"] == "-" else offset


# --- one message ------------------------------------------------------------------------


def message_entry(
    node: Any, forward: dict[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The JSON entry of one message ``div`` (None for a date separator or a service
    message, which carries no date), and the forward it shows, for the next message: a
    message "joined" to the one before it does not repeat whom both were forwarded from."""
    message_id = _message_id(node)
    if message_id is None or message_id <= 0 or "service" in _classes(node):
        return None, {}
    entry: dict[str, Any] = {"id": message_id, "type": "message"}
    body = _first(node, "body")
    if body is None:
        return entry, {}  # no date: the converter skips it, saying so
    stamp = _date_title(node)
    if stamp is not None:
        entry["date"] = stamp[0].isoformat()
    content, forward = _forwarded(body, forward, entry)
    _reply(content, entry)
    media = _first(content, "media_wrap")
    if media is not None:
        entry.update(media_fields(media))
    text_div = _first(content, "text")
    entry["text_entities"] = text_parts(text_div) if text_div is not None else []
    signature = _first(content, "signature")
    if signature is not None:
        entry["author"] = signature.text_content().strip()
    return entry, forward


def _forwarded(
    body: Any, previous: dict[str, Any], entry: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """Where the message's content is (inside the forward's frame, if any), and its forward."""
    frame = _first(body, "forwarded", "body")
    if frame is None:
        return body, {}
    name = _first(frame, "from_name")
    if name is None:  # joined to the message before, forwarded from the same source
        forward = {"forwarded_from": previous.get("forwarded_from")}
    else:
        when = next((s for s in name if "date" in _classes(s)), None)
        stamp = parse_stamp(when.get("title") if when is not None else None)
        if when is not None:
            when.drop_tree()  # its text follows the name
        forward = {"forwarded_from": " ".join(name.text_content().split()) or None}
        if stamp is not None:
            entry["forwarded_date"] = stamp[0].isoformat()
    if forward["forwarded_from"] is not None:
        entry["forwarded_from"] = forward["forwarded_from"]
    return frame, forward


def _reply(content: Any, entry: dict[str, Any]) -> None:
    reply = _first(content, "reply_to")
    if reply is None:
        return
    for link in reply.iter("a"):
        match = _MESSAGE_LINK.search(link.get("href") or "")
        if match:
            entry["reply_to_message_id"] = int(match[1])
            return  # else "In reply to a message in another chat": its id means nothing here


# --- text -------------------------------------------------------------------------------


def text_parts(div: Any) -> list[dict[str, Any]]:
    """Desktop JSON ``text_entities`` of a message's text ``div`` (FormatText, reversed).

    A newline of the text is a ``<br>``; the line breaks and indent around the text are the
    writer's layout and are dropped."""
    parts: list[dict[str, Any]] = []
    if div.text:
        parts.append({"type": "plain", "text": div.text})
    for child in div:
        if isinstance(child.tag, str):
            parts.append(_piece(child))
        if child.tail:
            parts.append({"type": "plain", "text": child.tail})
    _trim_layout(parts)
    return [p for p in parts if p["text"]]


def _trim_layout(parts: list[dict[str, Any]]) -> None:
    if parts and parts[0]["type"] == "plain" and parts[0]["text"].startswith("\n"):
        parts[0]["text"] = parts[0]["text"][1:]
    if parts and parts[-1]["type"] == "plain":
        parts[-1]["text"] = re.sub(r"\n[ \t]*$", "", parts[-1]["text"])


def _piece(node: Any) -> dict[str, Any]:
    text = _inner_text(node)
    tag = node.tag.lower()
    if tag == "br":
        return {"type": "plain", "text": "\n"}
    if tag in _STYLES:
        return {"type": _STYLES[tag], "text": text}
    if tag == "span" and "spoiler" in _classes(node):
        return {"type": "spoiler", "text": text}
    if tag == "a":
        return _link(node, text)
    return {"type": "plain", "text": text}


def _inner_text(node: Any) -> str:
    """The text of *node*, its ``<br>`` as newlines."""
    chunks = [node.text or ""]
    for child in node:
        if isinstance(child.tag, str):
            chunks.append("\n" if child.tag.lower() == "br" else _inner_text(child))
        chunks.append(child.tail or "")
    return "".join(chunks)


def _link(node: Any, text: str) -> dict[str, Any]:
    href = (node.get("href") or "").strip()
    action = (node.get("onclick") or "").strip()
    for name, kind in _LINK_ACTIONS.items():
        if action.startswith(f"return {name}") or action.startswith(name):
            return {"type": kind, "text": text}
    if href.startswith("mailto:"):
        return {"type": "email", "text": text}
    if href.startswith("tel:"):
        return {"type": "phone", "text": text}
    if text.startswith("@") and href.rstrip("/").endswith("/" + text[1:]):
        return {"type": "mention", "text": text}
    if href == text:
        return {"type": "link", "text": text}
    if href and "://" not in href and not href.startswith(("tg:", "#")):
        return {"type": "custom_emoji", "text": text}  # a link to the emoji's file
    return {"type": "text_link", "text": text, "href": href}


# --- attachments ------------------------------------------------------------------------


def media_fields(wrap: Any) -> dict[str, Any]:
    """The JSON fields of an attachment (``media_wrap``): pushPhotoMedia, pushPoll,
    pushGenericMedia… reversed. Unknown kinds give nothing (the text still imports)."""
    for node in wrap:
        if not isinstance(node.tag, str):
            continue
        classes = _classes(node)
        href = node.get("href")
        if "photo_wrap" in classes:
            return {"photo": href}
        if "video_file_wrap" in classes:
            return {"file": href, "media_type": "video_file", **_duration_of(node)}
        if "animated_wrap" in classes:
            return {"file": href, "media_type": "animation"}
        if "sticker_wrap" in classes:
            return {"file": href, "media_type": "sticker"}
        if "media_poll" in classes:
            return {"poll": _poll(node)}
        if "media" in classes:
            return _generic(node, classes, href)
    return {}


def _generic(node: Any, classes: set[str], href: str | None) -> dict[str, Any]:
    fields = _labels(node)
    title, status = fields.get("title", ""), fields.get("status", "")
    path = href if href and "://" not in href else _not_exported(fields.get("description", ""))
    if "media_photo" in classes:
        return {"photo": path} if title != "Sticker" else {"file": path, "media_type": "sticker"}
    if "media_video" in classes:
        kind = {"Video message": "video_message", "Animation": "animation"}.get(title)
        return {"file": path, "media_type": kind or "video_file", **_duration(status)}
    if "media_voice_message" in classes:
        return {"file": path, "media_type": "voice_message", **_duration(status)}
    if "media_audio_file" in classes:
        performer, _, song = title.partition(" \u2013 ")
        names = {"performer": performer, "title": song} if song else {}
        return {"file": path, "media_type": "audio_file", **names, **_duration(status)}
    if "media_file" in classes:
        return {"file": path, **({"file_name": title} if title and title != "File" else {})}
    return _place_or_other(classes, fields, href)


def _place_or_other(classes: set[str], fields: dict[str, str], href: str | None) -> dict[str, Any]:
    title = fields.get("title", "")
    if "media_contact" in classes:
        return {"contact_information": {"first_name": title, "phone_number": fields.get("status")}}
    if classes & {"media_location", "media_live_location", "media_venue"}:
        point = _coordinates(href)
        if "media_venue" in classes:
            return {
                "location_information": point,
                "place_name": title,
                "address": fields.get("description"),
            }
        return {"location_information": point} if point else {}
    if "media_game" in classes:
        return {"game_title": title}
    if "media_invoice" in classes:
        return {"invoice_information": {"title": title, "description": fields.get("description")}}
    return {}


def _labels(node: Any) -> dict[str, str]:
    """The title, description and status lines of a generic attachment."""
    found: dict[str, str] = {}
    for div in node.iter("div"):
        for name in ("title", "description", "status"):
            if name in _classes(div) and name not in found:
                found[name] = " ".join(div.text_content().split())
    return found


def _not_exported(description: str) -> str | None:
    for start, phrase in _NOT_EXPORTED.items():
        if description.startswith(start):
            return phrase
    return None


def _duration_of(node: Any) -> dict[str, int]:
    for div in node.iter("div"):
        if "video_duration" in _classes(div):
            return _duration(div.text_content())
    return {}


def _duration(status: str) -> dict[str, int]:
    match = _DURATION.match(status.split(",")[0].strip())
    if match is None:
        return {}
    hours, minutes, seconds = int(match[1] or 0), int(match[2]), int(match[3])
    return {"duration_seconds": hours * 3600 + minutes * 60 + seconds}


def _coordinates(href: str | None) -> dict[str, float] | None:
    match = re.search(r"[?&]q=(-?[\d.]+),(-?[\d.]+)", href or "")
    if match is None:
        return None
    return {"latitude": float(match[1]), "longitude": float(match[2])}


def _poll(node: Any) -> dict[str, Any]:
    question = _first(node, "question")
    details = _first(node, "details")
    answers = []
    for answer in _children(node, "answer"):
        votes = next((s for s in answer if "details" in _classes(s)), None)
        counted = votes.text_content() if votes is not None else ""
        if votes is not None:
            votes.drop_tree()
        text = " ".join(answer.text_content().split()).removeprefix("- ")
        answers.append(
            {"text": text, "voters": _votes(counted), "chosen": "chosen vote" in counted}
        )
    total = _first(node, "total")
    return {
        "question": " ".join(question.text_content().split()) if question is not None else "",
        "closed": details is not None and "Final results" in details.text_content(),
        "total_voters": _votes(total.text_content() if total is not None else ""),
        "answers": answers,
    }


def _votes(text: str) -> int:
    match = re.search(r"(\d+) votes?", text)
    return int(match[1]) if match else 0


# --- dates ------------------------------------------------------------------------------


def dates_zone(export: HtmlExport, zone: tzinfo | None) -> tzinfo:
    """The zone the export's wall times are read in: *zone* (``--tz``) when given, else the
    offset the dates are labelled with; unlabelled dates need *zone*. A *zone* whose standard
    offset is not the label is refused: Desktop labels dates with the standard offset of the
    exporting computer's zone (as the zone has it now, even on a post from years when it had
    another: Moscow's was +04:00 in 2011–2014), so the two must agree."""
    if zone is None:
        if len(export.offsets) > 1:
            labels = ", ".join(sorted(offset_label(o) for o in export.offsets))
            raise ImportFormatError(
                f"{export.folder}: the dates are labelled with several UTC offsets ({labels}); "
                "give the exporting computer's zone with --tz"
            )
        if not export.offsets:  # an older export: wall times alone
            check_zone(str(export.folder), None, Evidence([]))
        offset = next(iter(export.offsets))
        return timezone(offset, offset_label(offset))
    standard = _standard_offset(zone, datetime.now())
    then = {_standard_offset(zone, wall) for _, wall in export.sample[:1]}
    if export.offsets and export.offsets.isdisjoint({standard, *then}):
        labels = ", ".join(sorted(offset_label(o) for o in export.offsets))
        raise ImportFormatError(
            f"--tz {zone}: its standard offset is {offset_label(standard)}, but the export's dates "
            f"say {labels}; give the zone of the computer that made the export"
        )
    return zone


def _standard_offset(zone: tzinfo, when: datetime) -> timedelta:
    local = when.replace(tzinfo=zone)
    return (local.utcoffset() or timedelta()) - (local.dst() or timedelta())
