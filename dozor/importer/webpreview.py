"""Reading saved ``t.me/s/<channel>`` web-preview pages into dozor records (no database here).

Telegram shows the latest posts of a public channel at ``https://t.me/s/<username>``, and the
Wayback Machine has kept such pages for years: they hold posts a channel has since edited or
deleted. A page gives, per post: its number, date, text with formatting, author signature,
forward and reply links, the kind of attachment and album members, whether it was edited (not
when), and its views and reactions at the time of the capture, rounded from 1,000 up ("8.67M").

The channel's id is read from the posts' view tokens (``data-view``, base64 JSON whose ``c``
is the negated bare id). Pages without them (saved by some tools, or anonymised) name only the
username, which the importer looks up in the archive.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree, html

from dozor.channel_refs import username_of
from dozor.errors import ImportFormatError
from dozor.ids import INT32, INT64, marked_channel_id
from dozor.importer.webmedia import classes, media_of
from dozor.records import (
    Entity,
    Forward,
    Media,
    PostRecord,
    Reaction,
    ShownCounters,
    make_entity,
)

FORMAT = "web-preview"
_WAYBACK_PREFIX = re.compile(r"^(?:https?:)?(?://web\.archive\.org)?/web/\d+[a-z_]*/", re.I)
_WAYBACK_CAPTURE = re.compile(r"FILE ARCHIVED ON (\d\d:\d\d:\d\d \w{3} \d\d?, \d{4})")
_POST_HREF = re.compile(r"^(?:https?:)?//(?:www\.)?t\.me/(?:s/)?([A-Za-z0-9_]+)/([0-9]+)")
_USERNAME_HREF = re.compile(r"^(?:https?:)?//(?:www\.)?t\.me/([A-Za-z0-9_]+)/?$")
_DATA_POST = re.compile(r"^([A-Za-z0-9_]+)/([0-9]+)$")
_STYLES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
}


@dataclass(frozen=True)
class PagePost:
    record: PostRecord  # edit_time_unknown: the page marks it edited (never says when)
    counters: ShownCounters | None = None  # views and reactions, when the page shows them


@dataclass(frozen=True)
class WebPreviewPage:
    path: Path
    file_sha256: str
    username: str
    channel_id: int | None  # None when the page carries no view tokens
    title: str | None
    about: str | None
    captured_at: datetime | None  # the Wayback Machine's capture time, when it says
    widgets: list[Any]  # the readable posts' HTML elements; see posts()
    skipped: list[str]  # what could not be read, one line each

    def posts(self, channel_id: int) -> list[PagePost]:
        """The page's posts as records of *channel_id*, album members included."""
        found: list[PagePost] = []
        for widget in self.widgets:
            found += _widget_posts(widget, channel_id, self.username)
        return found


def read_page(path: Path) -> WebPreviewPage:
    """Open and check a saved t.me/s page; raises ImportFormatError if it is not one."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ImportFormatError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_page(content, path)


def parse_page(content: bytes, path: Path) -> WebPreviewPage:
    try:
        doc = html.fromstring(content, parser=_parser_for(content))
    except (etree.ParserError, ValueError) as exc:
        raise ImportFormatError(f"{path}: not an HTML page ({exc})") from None
    widgets = _with_class(doc, "tgme_widget_message")
    if not widgets:
        raise ImportFormatError(
            f"{path}: no channel posts in this page; dozor reads saved t.me/s/<channel> pages "
            "(a Telegram Desktop HTML export is imported by its folder)"
        )
    usernames = {post[0].lower() for w in widgets if (post := _data_post(w))}
    if not usernames:
        raise ImportFormatError(f"{path}: no post in this page carries its number")
    if len(usernames) > 1:
        raise ImportFormatError(f"{path}: the posts of this page are not of one channel")
    username = _page_username(doc) or next(iter(usernames))
    if username_of(username) is None:
        raise ImportFormatError(f"{path}: {username[:40]!r} is not a Telegram channel username")
    skipped = [_describe(w) for w in widgets if not _readable(w)]
    return WebPreviewPage(
        path=path,
        file_sha256=hashlib.sha256(content).hexdigest(),
        username=username,
        channel_id=_channel_id(widgets),
        title=_text_of_first(doc, "tgme_channel_info_header_title"),
        about=_text_of_first(doc, "tgme_channel_info_description"),
        captured_at=_wayback_capture(content),
        widgets=[w for w in widgets if _readable(w)],
        skipped=skipped,
    )


def _parser_for(content: bytes) -> html.HTMLParser:
    """t.me serves UTF-8, but a page saved without its ``<meta charset>`` (a fragment, a copy
    of the DOM) would be read as Latin-1 and import as mojibake: UTF-8 is assumed whenever
    the bytes are UTF-8, and only other pages go by their declaration."""
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return html.HTMLParser()
    return html.HTMLParser(encoding="utf-8")


# --- the page --------------------------------------------------------------------------


def _with_class(node: Any, name: str) -> list[Any]:
    """*node* and its descendants that have the class *name*."""
    spaced = 'concat(" ", normalize-space(@class), " ")'
    return list(node.xpath(f'descendant-or-self::*[contains({spaced}, " {name} ")]'))


def _data_post(widget: Any) -> tuple[str, int] | None:
    match = _DATA_POST.match(widget.get("data-post") or "")
    number = _number(match[2]) if match else None
    return (match[1], number) if match and number else None


def _number(digits: str) -> int | None:
    """A post number as Telegram has them (1 to 2**31 - 1); None for anything else."""
    number = int(digits)
    return number if 0 < number <= INT32 else None


def _readable(widget: Any) -> bool:
    """A post with a number and a date; service messages (channel photo changed...) are not
    read: the page does not say which action they were."""
    return (
        _data_post(widget) is not None
        and "service_message" not in classes(widget)
        and _date(widget) is not None
    )


def _describe(widget: Any) -> str:
    post = widget.get("data-post") or "a post without a number"
    if "service_message" in classes(widget):
        return f"{post}: a service message (not imported from web pages)"
    return f"{post}: no number or date in the page"


def _page_username(doc: Any) -> str | None:
    for link in _with_class(doc, "tgme_channel_info_header_username"):
        for anchor in link.iter("a"):
            match = _USERNAME_HREF.match(_unwayback(anchor.get("href") or ""))
            if match:
                return match[1]
    return None


def _channel_id(widgets: list[Any]) -> int | None:
    """The channel's marked id from the posts' view tokens, if any decodes."""
    for widget in widgets:
        token = widget.get("data-view") or ""
        try:
            view = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            continue
        peer = view.get("c") if isinstance(view, dict) else None
        if isinstance(peer, int) and 0 < -peer < INT64 // 10:
            return marked_channel_id(-peer)
    return None


def _text_of_first(doc: Any, name: str) -> str | None:
    for node in _with_class(doc, name):
        text = _render(node)[0].strip()
        if text:
            return text
    return None


def capture_time(path: Path) -> datetime | None:
    """When the Wayback Machine captured a saved page (read from its last bytes), if it says."""
    try:
        with path.open("rb") as page:
            page.seek(0, 2)
            page.seek(max(0, page.tell() - 4096))
            return _wayback_capture(page.read())
    except OSError:
        return None


def _wayback_capture(content: bytes) -> datetime | None:
    match = _WAYBACK_CAPTURE.search(content[-4096:].decode("utf-8", "replace"))
    if match is None:
        return None
    try:
        return datetime.strptime(match[1], "%H:%M:%S %b %d, %Y").replace(tzinfo=UTC)
    except ValueError:
        return None


def _unwayback(href: str) -> str:
    """A link as Telegram wrote it, not as the Wayback Machine rewrote it."""
    return _WAYBACK_PREFIX.sub("", href.strip())


# --- one post --------------------------------------------------------------------------


def _widget_posts(widget: Any, channel_id: int, username: str) -> list[PagePost]:
    post = _data_post(widget)
    assert post is not None, "only readable widgets are kept"
    message_id = post[1]
    date = _date(widget)
    assert date is not None
    own_parts = _bubble_parts(widget)
    text, entities = _message_text(own_parts)
    items = _album_items(widget)
    own = next((media for number, media in items if number == message_id), None)
    record = PostRecord(
        channel_id=channel_id,
        message_id=message_id,
        date=date,
        text=text,
        entities=entities,
        author_signature=_text_of_first(widget, "tgme_widget_message_from_author"),
        reply_to_message_id=_reply_to(widget, username),
        forward=_forward(widget),
        grouped_id=min(number for number, _ in items) if items else None,
        media=own if items else media_of(own_parts),
        edit_time_unknown="edited"
        in " ".join(
            node.text_content() for node in _with_class(widget, "tgme_widget_message_meta")
        ),
    )
    members = [
        PagePost(
            replace(
                record,
                message_id=number,
                text="",
                entities=[],
                media=media,
                edit_time_unknown=False,
            )
        )
        for number, media in items
        if number != message_id
    ]
    return [PagePost(record, _counters(own_parts)), *members]


def _date(widget: Any) -> datetime | None:
    for node in widget.xpath('.//a[contains(@class, "tgme_widget_message_date")]//time'):
        try:
            moment = datetime.fromisoformat(node.get("datetime") or "")
            return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
        except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved out of range
            continue
    return None


# "419", "2.5K", "8.67M": how a page shows a count.
_SHOWN_COUNT = re.compile(r"(\d+(?:\.\d+)?)([KMB]?)")
_SCALES = {"": 1, "K": 1_000, "M": 1_000_000, "B": 1_000_000_000}


def _counters(own_parts: list[Any]) -> ShownCounters | None:
    """The views and reactions a post's footer shows; None if it shows no views."""
    views = next(
        (
            _shown_count(node.text_content())
            for node in own_parts
            if "tgme_widget_message_views" in classes(node)
        ),
        None,
    )
    if views is None:
        return None
    read = [_reaction(node) for node in own_parts if "tgme_reaction" in classes(node)]
    # All of them or none: a list missing one would pass for what the post had.
    reactions = [r for r in read if r is not None] if read and None not in read else []
    return ShownCounters(
        views=views[0],
        reactions=[reaction for reaction, _ in reactions] or None,
        rounded=views[1] or any(rounded for _, rounded in reactions),
    )


def _shown_count(text: str) -> tuple[int, bool] | None:
    """(count, rounded) of a count as a page shows it; None if it is not one."""
    match = _SHOWN_COUNT.fullmatch(text.strip())
    if match is None:
        return None
    count = int(Decimal(match[1]) * _SCALES[match[2]])
    return (count, bool(match[2])) if count <= INT32 else None


def _reaction(node: Any) -> tuple[Reaction, bool] | None:
    """One reaction of a post's footer and whether its count is rounded; None if unreadable.
    The count follows the reaction's icon."""
    count = _shown_count((node[-1].tail if len(node) else node.text) or "")
    if count is None:
        return None
    reaction: Reaction
    custom = node.xpath(".//tg-emoji/@emoji-id")
    emoji = node.xpath(".//i[contains(@class, 'emoji')]/b/text()")
    if "tgme_reaction_paid" in classes(node):
        reaction = {"type": "paid", "count": count[0]}
    elif custom and str(custom[0]).isdigit():
        reaction = {"type": "custom_emoji", "count": count[0], "document_id": str(custom[0])}
    elif emoji and str(emoji[0]).strip():
        reaction = {"type": "emoji", "count": count[0], "emoji": str(emoji[0]).strip()}
    else:
        return None
    return reaction, count[1]


_NOT_THE_POST = frozenset({"tgme_widget_message_link_preview", "tgme_widget_message_reply"})


def _bubble_parts(widget: Any) -> list[Any]:
    """The widget's elements that belong to the post itself: not those of a link preview,
    nor of the post a reply quotes."""
    return [
        node
        for node in widget.iter()
        if isinstance(node.tag, str)
        and not any(classes(parent) & _NOT_THE_POST for parent in node.iterancestors())
    ]


def _message_text(own_parts: list[Any]) -> tuple[str, list[Entity]]:
    for node in own_parts:
        if "js-message_text" in classes(node) and "tgme_widget_message_text" in classes(node):
            return _render(node)
    return "", []


def _reply_to(widget: Any, username: str) -> int | None:
    for node in _with_class(widget, "tgme_widget_message_reply"):
        match = _POST_HREF.match(_unwayback(node.get("href") or ""))
        if match and match[1].lower() == username.lower():
            return _number(match[2])
    return None


def _forward(widget: Any) -> Forward | None:
    for node in _with_class(widget, "tgme_widget_message_forwarded_from_name"):
        match = _POST_HREF.match(_unwayback(node.get("href") or ""))
        name = node.text_content().strip() or None
        return Forward(from_name=name, message_id=_number(match[2]) if match else None)
    return None


def _album_items(widget: Any) -> list[tuple[int, Media]]:
    """The members of an album (each a post of its own), by their ``?single`` links."""
    items = []
    for node in _with_class(widget, "grouped_media_wrap"):
        match = _POST_HREF.match(_unwayback(node.get("href") or ""))
        number = _number(match[2]) if match else None
        if number:
            items.append((number, media_of([node, *node.iter()]) or {"type": "unsupported"}))
    return items


# --- formatted text --------------------------------------------------------------------


class _Text:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0  # in code points, as dozor counts entity offsets
        self.entities: list[Entity] = []

    def add(self, text: str | None) -> None:
        if text:
            self.parts.append(text)
            self.length += len(text)

    def since(self, start: int) -> str:
        return "".join(self.parts)[start:]


def _render(root: Any) -> tuple[str, list[Entity]]:
    """Text and entities of a message's HTML, as Telegram's formatting would give them."""
    out = _Text()
    out.add(root.text)
    for child in root:
        _render_node(child, out)
    entities = sorted(out.entities, key=lambda e: (e["offset"], -e["length"]))
    return "".join(out.parts), entities


def _render_node(node: Any, out: _Text) -> None:
    if isinstance(node.tag, str):
        start = out.length
        if node.tag == "br":
            out.add("\n")
        elif node.tag == "i" and "emoji" in classes(node):
            out.add(node.text_content())  # an emoji drawn as an image: its character is inside
        else:
            out.add(node.text)
            for child in node:
                _render_node(child, out)
        entity = _entity(node, out, start) if out.length > start else None
        if entity is not None:
            kind, extras = entity
            out.entities.append(make_entity(kind, start, out.length - start, **extras))
    out.add(node.tail)


def _entity(node: Any, out: _Text, start: int) -> tuple[str, dict[str, Any]] | None:
    """The entity *node* makes of the text rendered from *start*; None if plain."""
    tag, kinds = node.tag, classes(node)
    if tag == "i" and "emoji" in kinds:
        return None
    if tag in _STYLES:
        return _STYLES[tag], {}
    if tag == "span" and "tg-spoiler" in kinds:
        return "spoiler", {}
    if tag == "tg-emoji":
        return "custom_emoji", {"document_id": node.get("emoji-id")}
    if tag == "code":
        return (
            None if node.getparent() is not None and node.getparent().tag == "pre" else ("code", {})
        )
    if tag == "pre":
        code = node.find("code")
        language = (code.get("class") or "").removeprefix("language-") if code is not None else ""
        return "pre", {"language": language}
    if tag == "blockquote":
        return "blockquote", {
            "collapsed": "expandable" in kinds or node.get("expandable") is not None
        }
    if tag == "a":
        return _link(_unwayback(node.get("href") or ""), out.since(start))
    return None


def _link(href: str, inner: str) -> tuple[str, dict[str, Any]] | None:
    if not href:
        return None
    mentioned = _USERNAME_HREF.match(href) if inner.startswith("@") else None
    if mentioned and mentioned[1].lower() == inner[1:].lower():
        return "mention", {}
    if inner.startswith("#") and "?q=%23" in href:
        return "hashtag", {}
    if inner.startswith("$") and "?q=%24" in href:
        return "cashtag", {}
    if href.startswith("mailto:"):
        return "email", {}
    if href.startswith("tel:"):
        return "phone", {}
    if href in (inner, f"http://{inner}", f"https://{inner}"):
        return "link", {}
    return "text_link", {"url": href}
