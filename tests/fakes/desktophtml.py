"""A Telegram Desktop *HTML* export writer for tests: renders a JSON export's messages as
Desktop's HtmlWriter does (export_output_html.cpp: pushMessage, FormatText, SerializeString,
the media pushers, messagesFile, wrapMessageLink), so that importing both must agree.

Only what dozor's fixtures hold is rendered; block tags get the writer's line breaks and
indentation, which the reader must drop again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

_TAGS = {
    "bold": "strong",
    "italic": "em",
    "code": "code",
    "pre": "pre",
    "underline": "u",
    "strikethrough": "s",
    "blockquote": "blockquote",
}


def serialize(text: str) -> str:
    """SerializeString: HTML escapes, and a newline as <br>."""
    for raw, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;")):
        text = text.replace(raw, escaped)
    return text.replace("'", "&apos;").replace("\n", "<br>")


def format_text(parts: list[Any]) -> str:
    """FormatText: each part in its own tag (flat, as Desktop's parts are)."""
    rendered = []
    for part in parts:
        if isinstance(part, str):
            rendered.append(serialize(part))
            continue
        kind, text = part.get("type", "plain"), serialize(part["text"])
        if kind in _TAGS:
            rendered.append(f"<{_TAGS[kind]}>{text}</{_TAGS[kind]}>")
        elif kind == "mention":
            rendered.append(f'<a href="https://t.me/{text[1:]}">{text}</a>')
        elif kind == "hashtag":
            quoted = serialize(f'"{part["text"][1:]}"')
            rendered.append(f'<a href="" onclick="return ShowHashtag({quoted})">{text}</a>')
        elif kind in ("link", "url"):
            rendered.append(f'<a href="{text}">{text}</a>')
        elif kind == "email":
            rendered.append(f'<a href="mailto:{text}">{text}</a>')
        elif kind == "text_link":
            rendered.append(f'<a href="{serialize(part["href"])}">{text}</a>')
        elif kind == "spoiler":
            rendered.append(
                '<span class="spoiler hidden" onclick="ShowSpoiler(this)">'
                f'<span aria-hidden="true">{text}</span></span>'
            )
        else:
            rendered.append(text)
    return "".join(rendered)


def write_html_export(
    export: dict[str, Any], folder: Path, *, offset: timedelta | None, per_file: int = 1000
) -> Path:
    """Write *export*'s messages as Desktop's HTML export into *folder*. *offset*: the
    exporting computer's UTC offset (the dates' label); None writes dates as Desktop did
    before 2023 (no label; Unix times then read as UTC wall times)."""
    folder.mkdir(parents=True, exist_ok=True)
    messages = export["messages"]
    chunks = [messages[i : i + per_file] for i in range(0, len(messages), per_file)]
    last_ids = [chunk[-1]["id"] for chunk in chunks]
    for index, chunk in enumerate(chunks):
        body = _Page(export.get("name") or "", offset, last_ids, index).render(chunk)
        (folder / _file_name(index)).write_text(body, encoding="utf-8")
    return folder


def _file_name(index: int) -> str:
    return f"messages{index + 1 if index else ''}.html"


class _Page:
    def __init__(
        self, title: str, offset: timedelta | None, last_ids: list[int], index: int
    ) -> None:
        self.title, self.offset, self.last_ids, self.index = title, offset, last_ids, index
        self.separator = 0
        self.previous: dict[str, Any] | None = None

    def render(self, messages: list[dict[str, Any]]) -> str:
        out = [
            '<!DOCTYPE html>\n<html>\n\n <head>\n\n  <meta charset="utf-8"/>\n'
            "<title>Exported Data</title>\n </head>\n\n <body>\n\n  <div "
            'class="page_wrap">\n\n   <div class="page_header">\n\n    <div class="content">'
            f'\n\n     <div class="text bold">\n{serialize(self.title)} \n     </div>\n\n'
            '    </div>\n\n   </div>\n\n   <div class="page_body chat_page">\n\n    '
            '<div class="history">\n'
        ]
        for message in messages:
            out.append(self._message(message))
        out.append("\n    </div>\n\n   </div>\n\n  </div>\n\n </body>\n\n</html>\n")
        return "".join(out)

    def _wall(self, message: dict[str, Any], key: str = "date") -> tuple[datetime, str]:
        unix = message.get(f"{key}_unixtime")
        if unix is None:  # a legacy export: local wall time only
            return datetime.fromisoformat(message[key]), ""
        moment = datetime.fromtimestamp(int(unix), UTC)
        if self.offset is None:
            return moment.replace(tzinfo=None), ""
        local = moment.astimezone(timezone(self.offset))
        minutes = int(self.offset.total_seconds()) // 60
        sign = "-" if minutes < 0 else "+"
        label = f" UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        return local.replace(tzinfo=None), label

    def _stamp(self, message: dict[str, Any], key: str = "date") -> str:
        wall, label = self._wall(message, key)
        return wall.strftime("%d.%m.%Y %H:%M:%S") + label

    def _message(self, message: dict[str, Any]) -> str:
        out = []
        wall, _ = self._wall(message)
        if self.previous is None or self._wall(self.previous)[0].date() != wall.date():
            self.separator -= 1
            out.append(
                f'\n     <div class="message service" id="message{self.separator}">\n\n'
                f'      <div class="body details">\n{wall:%d %B %Y}\n      </div>\n\n'
                "     </div>\n"
            )
        if message.get("type") == "service":
            out.append(
                f'\n     <div class="message service" id="message{message["id"]}">\n\n'
                f'      <div class="body details">\n{serialize(message.get("action", ""))}\n'
                "      </div>\n\n     </div>\n"
            )
            self.previous = None
            return "".join(out)
        joined = self._joined(message)
        self.previous = message
        cls = "message default clearfix" + (" joined" if joined else "")
        out.append(f'\n     <div class="{cls}" id="message{message["id"]}">\n')
        if not joined:
            out.append('\n      <div class="pull_left userpic_wrap">\n      </div>\n')
        out.append('\n      <div class="body">\n')
        out.append(
            f'\n       <div class="pull_right date details" title="{self._stamp(message)}">\n'
            f"{wall:%H:%M}\n       </div>\n"
        )
        if not joined:
            out.append(
                f'\n       <div class="from_name">\n{serialize(message.get("from") or "")}\n'
                "       </div>\n"
            )
        out.append(self._content(message, joined))
        out.append("\n      </div>\n\n     </div>\n")
        return "".join(out)

    def _joined(self, message: dict[str, Any]) -> bool:
        """messageNeedsWrap, reversed: same sender and forward, same day, within 15 min."""
        previous = self.previous
        if previous is None:
            return False
        then, now = self._wall(previous)[0], self._wall(message)[0]
        return (
            previous.get("from_id") == message.get("from_id")
            and then.date() == now.date()
            and previous.get("forwarded_from") == message.get("forwarded_from")
            and abs((now - then).total_seconds()) <= (1 if message.get("forwarded_from") else 900)
        )

    def _content(self, message: dict[str, Any], joined: bool) -> str:
        out = []
        forwarded = message.get("forwarded_from") is not None
        if forwarded:
            out.append('\n       <div class="forwarded body">\n')
            if not joined:
                stamp = ""
                if message.get("forwarded_date_unixtime") or message.get("forwarded_date"):
                    stamp = (
                        f'<span class="date details" title="'
                        f'{self._stamp(message, "forwarded_date")}"> ...</span>'
                    )
                out.append(
                    f'\n        <div class="from_name">\n{serialize(message["forwarded_from"])}'
                    f"{stamp}\n        </div>\n"
                )
        if message.get("reply_to_message_id"):
            out.append(
                '\n       <div class="reply_to details">\nIn reply to '
                f"{self._reply_link(message['reply_to_message_id'])}\n       </div>\n"
            )
        out.append(_media(message))
        parts = message.get("text_entities")
        if parts is None:
            text = message.get("text", "")
            parts = text if isinstance(text, list) else [text]
        if any(p if isinstance(p, str) else p.get("text") for p in parts):
            out.append(f'\n       <div class="text">\n{format_text(parts)}\n       </div>\n')
        if message.get("author"):
            out.append(
                f'\n       <div class="signature details">\n{serialize(message["author"])}\n'
                "       </div>\n"
            )
        if forwarded:
            out.append("\n       </div>\n")
        return "".join(out)

    def _reply_link(self, message_id: int) -> str:
        """wrapMessageLink: an anchor here, or in the earlier file that holds the message."""
        for index, last in enumerate(self.last_ids[: self.index]):
            if message_id <= last:
                return f'<a href="{_file_name(index)}#go_to_message{message_id}">this message</a>'
        return (
            f'<a href="#go_to_message{message_id}" onclick="return GoToMessage({message_id})">'
            "this message</a>"
        )


def _media(message: dict[str, Any]) -> str:
    inner = _media_inner(message)
    return f'\n       <div class="media_wrap clearfix">\n{inner}\n       </div>\n' if inner else ""


def _media_inner(message: dict[str, Any]) -> str:
    if "photo" in message:
        return (
            f'<a class="photo_wrap clearfix pull_left" href="{message["photo"]}">'
            f'<img class="photo" src="{message["photo"]}_thumb.jpg"/></a>'
        )
    kind = message.get("media_type")
    if kind == "video_file" and "file" in message:
        seconds = int(message.get("duration_seconds") or 0)
        return (
            f'<a class="video_file_wrap clearfix pull_left" href="{message["file"]}">'
            f'<div class="video_duration">\n{seconds // 60:02d}:{seconds % 60:02d}\n</div></a>'
        )
    if "file" in message:
        title, classes = _generic_file(message)
        return (
            f'<a class="media clearfix pull_left block_link {classes}" href="{message["file"]}">'
            f'<div class="body"><div class="title bold">\n{serialize(title)}\n</div>'
            '<div class="status details">\n00:01\n</div></div></a>'
        )
    if isinstance(message.get("poll"), dict):
        poll = message["poll"]
        answers = "".join(
            f'<div class="answer">\n- {serialize(a["text"])} <span class="details">'
            f"{a['voters']} votes</span>\n</div>"
            for a in poll["answers"]
        )
        return (
            f'<div class="media_poll"><div class="question bold">\n{serialize(poll["question"])}'
            f'\n</div><div class="details">\nAnonymous poll\n</div>{answers}'
            f'<div class="total details">\n{poll["total_voters"]} votes\n</div></div>'
        )
    return _place(message)


def _place(message: dict[str, Any]) -> str:
    """prepareMediaData's contact, location, venue and game."""
    if isinstance(message.get("contact_information"), dict):
        person = message["contact_information"]
        name = f"{person.get('first_name', '')} {person.get('last_name', '')}"
        return _generic("media_contact", None, name, None, person.get("phone_number"))
    if isinstance(message.get("location_information"), dict):
        point = message["location_information"]
        coords = f"{point['latitude']},{point['longitude']}"
        link = f"https://maps.google.com/maps?q={coords}&amp;ll={coords}&amp;z=16"
        if message.get("place_name"):
            return _generic("media_venue", link, message["place_name"], message.get("address"))
        return _generic("media_location", link, "Location", None, coords.replace(",", ", "))
    if message.get("game_title"):
        return _generic("media_game", None, message["game_title"], message.get("game_description"))
    return ""


def _generic(
    classes: str, link: str | None, title: str, description: str | None, status: str | None = None
) -> str:
    """pushGenericMedia."""
    lines = [f'<div class="title bold">\n{serialize(title)}\n</div>']
    if description:
        lines.append(f'<div class="description">\n{serialize(description)}\n</div>')
    if status:
        lines.append(f'<div class="status details">\n{serialize(status)}\n</div>')
    inner = f'<div class="fill pull_left"></div><div class="body">{"".join(lines)}</div>'
    if link is None:
        return f'<div class="media clearfix pull_left {classes}">{inner}</div>'
    return f'<a class="media clearfix pull_left block_link {classes}" href="{link}">{inner}</a>'


def _generic_file(message: dict[str, Any]) -> tuple[str, str]:
    kind = message.get("media_type")
    if kind == "voice_message":
        return "Voice message", "media_voice_message"
    if kind == "audio_file":
        if message.get("performer") and message.get("title"):
            return f"{message['performer']} \u2013 {message['title']}", "media_audio_file"
        return "Audio file", "media_audio_file"
    if kind == "sticker":
        return "Sticker", "media_photo"
    if kind in ("video_message", "animation"):
        return {"video_message": "Video message", "animation": "Animation"}[kind], "media_video"
    return message.get("file_name") or "File", "media_file"
