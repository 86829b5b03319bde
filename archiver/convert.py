"""Telethon objects → dozor records. The only module that reads TL types.

Conventions (see dozor.records): None means the source does not know; Telegram's UTF-16
entity offsets become code-point offsets; media and service-action names follow Telegram
Desktop's export so that a post seen by both the importer and the archiver hashes alike.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from telethon import helpers, utils
from telethon.tl import types

from dozor.records import (
    Button,
    ChannelRecord,
    Entity,
    Forward,
    Media,
    PostRecord,
    Reaction,
    make_entity,
)

_ENTITY_NAMES: dict[type, str] = {
    types.MessageEntityBold: "bold",
    types.MessageEntityItalic: "italic",
    types.MessageEntityUnderline: "underline",
    types.MessageEntityStrike: "strikethrough",
    types.MessageEntitySpoiler: "spoiler",
    types.MessageEntityCode: "code",
    types.MessageEntityPre: "pre",
    types.MessageEntityTextUrl: "text_link",
    types.MessageEntityUrl: "link",
    types.MessageEntityEmail: "email",
    types.MessageEntityMention: "mention",
    types.MessageEntityMentionName: "mention_name",
    types.InputMessageEntityMentionName: "mention_name",
    types.MessageEntityHashtag: "hashtag",
    types.MessageEntityCashtag: "cashtag",
    types.MessageEntityBotCommand: "bot_command",
    types.MessageEntityPhone: "phone",
    types.MessageEntityBankCard: "bank_card",
    types.MessageEntityCustomEmoji: "custom_emoji",
    types.MessageEntityBlockquote: "blockquote",
}
_ENTITY_EXTRAS = ("url", "language", "user_id", "document_id", "collapsed")

# Service actions under the names Telegram Desktop exports use.
_ACTION_NAMES: dict[type, str] = {
    types.MessageActionChannelCreate: "create_channel",
    types.MessageActionChatEditTitle: "edit_group_title",
    types.MessageActionChatEditPhoto: "edit_group_photo",
    types.MessageActionChatDeletePhoto: "delete_group_photo",
    types.MessageActionPinMessage: "pin_message",
    types.MessageActionChannelMigrateFrom: "migrate_from_group",
    types.MessageActionGroupCall: "group_call",
    types.MessageActionHistoryClear: "clear_history",
}


def marked_id(peer: Any) -> int:
    return int(utils.get_peer_id(peer))


def channel_record(channel: types.Channel, full: types.ChannelFull | None = None) -> ChannelRecord:
    subscribers = getattr(channel, "participants_count", None)
    if full is not None and full.participants_count is not None:
        subscribers = full.participants_count
    return ChannelRecord(
        id=marked_id(types.PeerChannel(channel.id)),
        title=channel.title,
        username=channel.username or _first_active_username(channel),
        about=full.about if full is not None else None,
        subscribers=subscribers,
        labels=channel_labels(channel, full) if full is not None else None,
        pinned=str(full.pinned_msg_id or "") if full is not None else None,
    )


_LABEL_FLAGS = (
    ("verified", "verified"),
    ("scam", "scam"),
    ("fake", "fake"),
    ("noforwards", "protected content"),
)


def channel_labels(channel: types.Channel, full: types.ChannelFull) -> str:
    """Telegram's marks on a channel, comma-separated in a fixed order (empty: none): what it
    vouches for or warns of, whether its posts can be forwarded or saved, whether they delete
    themselves, and where its apps refuse to show it (``restricted (android: porn)``). The
    full info holds the auto-delete timer: without it the labels are not known."""
    found = [label for flag, label in _LABEL_FLAGS if getattr(channel, flag, None)]
    if full.ttl_period:
        found.append(f"auto-delete after {_period(full.ttl_period)}")
    return ", ".join(found + restrictions(channel.restriction_reason))


def restrictions(reasons: list[types.TypeRestrictionReason] | None) -> list[str]:
    """Where Telegram's apps refuse to show a channel or a post, and why, in a fixed order:
    ``restricted (android: porn)``."""
    return sorted(
        f"restricted ({reason.platform}: {reason.reason})"
        for reason in reasons or ()
        if isinstance(reason, types.RestrictionReason)
    )


_PERIODS = ((31 * 86400, "month"), (7 * 86400, "week"), (86400, "day"), (3600, "hour"))


def _period(seconds: int) -> str:
    """A timer as Telegram's apps offer it: 1 day, 1 week, 1 month (31 days), 5 hours."""
    for size, unit in _PERIODS:
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} s"


def _first_active_username(channel: types.Channel) -> str | None:
    for name in getattr(channel, "usernames", None) or ():
        if getattr(name, "active", False):
            return str(name.username)
    return None


def post_record(message: types.Message | types.MessageService) -> PostRecord:
    """The record of a channel message (regular or service)."""
    channel_id = marked_id(message.peer_id)
    if isinstance(message, types.MessageService):
        return PostRecord(
            channel_id=channel_id,
            message_id=message.id,
            date=_date(message.date),
            kind="service",
            service_action=_service_action(message),
            expires_at=_expiry(message),
        )
    text = message.message or ""
    return PostRecord(
        channel_id=channel_id,
        message_id=message.id,
        date=_date(message.date),
        text=text,
        entities=convert_entities(text, message.entities),
        edit_date=_date(message.edit_date) if message.edit_date else None,
        author_signature=message.post_author or None,
        views=message.views,
        forwards=message.forwards,
        replies=message.replies.replies if message.replies is not None else None,
        reactions=_reactions(message.reactions),
        reply_to_message_id=_reply_to(message, channel_id),
        forward=_forward(message.fwd_from),
        grouped_id=message.grouped_id,
        media=convert_media(message.media),
        expires_at=_expiry(message),
        restriction=", ".join(restrictions(message.restriction_reason)),
        buttons=convert_buttons(message.reply_markup),
    )


def convert_buttons(markup: Any) -> list[list[Button]]:
    """The buttons under a post, by rows ([] none): what each says and, for one that opens a
    page, where it leads. A bot's callback data is left out: it means nothing outside it."""
    if not isinstance(markup, types.ReplyInlineMarkup):
        return []
    rows = []
    for row in markup.rows:
        buttons = []
        for button in getattr(row, "buttons", None) or ():
            kind = getattr(button, "type", None)
            entry: Button = {
                "type": _BUTTON_TYPES.get(type(kind), "other"),
                "text": str(getattr(button, "text", "") or ""),
            }
            url = getattr(kind, "url", None)
            if isinstance(url, str) and url:
                entry["url"] = url
            buttons.append(entry)
        if buttons:
            rows.append(buttons)
    return rows


# Under the names Telegram Desktop's exports give them (``inline_bot_buttons``).
_BUTTON_TYPES: dict[type, str] = {
    types.InlineButtonTypeUrl: "url",
    types.InlineButtonTypeUrlAuth: "auth",
    types.InlineButtonTypeWebView: "web_view",
    types.InlineButtonTypeCallback: "callback",
    types.InlineButtonTypeSwitchInline: "switch_inline",
    types.InlineButtonTypeUserProfile: "user_profile",
    types.InlineButtonTypeCopy: "copy_text",
    types.InlineButtonTypeBuy: "buy",
    types.InlineButtonTypeGame: "game",
    types.InlineButtonTypeDisabled: "disabled",
}


def _expiry(message: types.Message | types.MessageService) -> datetime | None:
    """When a post deletes itself: the channel's auto-delete timer, set when it was posted."""
    if not message.ttl_period:
        return None
    return _date(message.date) + timedelta(seconds=message.ttl_period)


def _date(value: datetime) -> datetime:
    """Telethon gives aware UTC datetimes; make sure of it."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime from Telethon: {value!r}")
    return value


def convert_entities(text: str, entities: list[Any] | None) -> list[Entity]:
    """Telegram entities (UTF-16 offsets) as dozor entities (code-point offsets)."""
    if not entities:
        return []
    wide = helpers.add_surrogate(text)  # one Python character per UTF-16 unit
    converted = []
    for entity in entities:
        if entity.length <= 0:  # covers nothing (rounding out would make it cover a character)
            continue
        start = _code_points_before(wide, entity.offset, round_up=False)
        end = _code_points_before(wide, entity.offset + entity.length, round_up=True)
        if end <= start:
            continue
        kind = _ENTITY_NAMES.get(type(entity), "unknown")
        extras = {name: getattr(entity, name, None) for name in _ENTITY_EXTRAS}
        user = extras.get("user_id")
        if isinstance(user, types.InputUser):
            extras["user_id"] = user.user_id
        converted.append(make_entity(kind, start, end - start, **extras))
    return converted


def _code_points_before(wide: str, offset: int, *, round_up: bool) -> int:
    """How many characters of the text lie before UTF-16 *offset* of *wide* (the text with
    surrogate pairs, as Telegram counts). Telegram has sent entities that start or end inside
    an emoji's surrogate pair: such an edge moves out to take in the whole character (up for
    an end, down for a start), and an offset beyond the text stops at its end."""
    offset = min(max(offset, 0), len(wide))
    if 0 < offset < len(wide) and "\ud800" <= wide[offset - 1] <= "\udbff":
        offset += 1 if round_up else -1
    return len(helpers.del_surrogate(wide[:offset]))


def _reactions(reactions: types.MessageReactions | None) -> list[Reaction]:
    """Telegram omits reactions when there are none: that is a known empty list."""
    if reactions is None:
        return []
    out: list[Reaction] = []
    for result in reactions.results:
        reaction = result.reaction
        if isinstance(reaction, types.ReactionEmoji):
            out.append({"type": "emoji", "count": result.count, "emoji": reaction.emoticon})
        elif isinstance(reaction, types.ReactionCustomEmoji):
            out.append(
                {
                    "type": "custom_emoji",
                    "count": result.count,
                    "document_id": str(reaction.document_id),
                }
            )
        elif isinstance(reaction, types.ReactionPaid):
            out.append({"type": "paid", "count": result.count})
    return out


def _reply_to(message: types.Message, channel_id: int) -> int | None:
    header = message.reply_to
    if not isinstance(header, types.MessageReplyHeader) or header.reply_to_msg_id is None:
        return None
    if header.reply_to_peer_id is not None and marked_id(header.reply_to_peer_id) != channel_id:
        return None  # a reply to another chat's message
    return int(header.reply_to_msg_id)


def _forward(header: types.MessageFwdHeader | None) -> Forward | None:
    if header is None:
        return None
    return Forward(
        from_id=marked_id(header.from_id) if header.from_id is not None else None,
        from_name=header.from_name or header.post_author or None,
        message_id=header.channel_post,
        date=_date(header.date) if header.date else None,
    )


def convert_media(media: Any) -> Media | None:
    """Attachment metadata; link previews are not attachments (Telegram refreshes them)."""
    if media is None or isinstance(media, types.MessageMediaEmpty | types.MessageMediaWebPage):
        return None
    if isinstance(media, types.MessageMediaPhoto):
        return _photo(media)
    if isinstance(media, types.MessageMediaDocument):
        return _document(media)
    if isinstance(media, types.MessageMediaPoll):
        return _poll(media)
    if isinstance(media, types.MessageMediaVenue):
        return {
            "type": "venue",
            "location": _geo(media.geo),
            "place_name": media.title,
            "address": media.address,
        }
    if isinstance(media, types.MessageMediaGeo | types.MessageMediaGeoLive):
        return {"type": "location", "location": _geo(media.geo)}
    if isinstance(media, types.MessageMediaContact):
        return {
            "type": "contact",
            "contact": {
                "phone_number": media.phone_number,
                "first_name": media.first_name,
                "last_name": media.last_name,
            },
        }
    if isinstance(media, types.MessageMediaDice):
        return {"type": "dice", "dice": {"emoticon": media.emoticon, "value": media.value}}
    return {"type": _snake(type(media).__name__.removeprefix("MessageMedia"))}


def _photo(media: types.MessageMediaPhoto) -> Media:
    photo = media.photo
    if not isinstance(photo, types.Photo):
        return {"type": "photo", "expired": True}
    largest = max(photo.sizes, key=_size_bytes, default=None)
    return _clean(
        {
            "type": "photo",
            "id": str(photo.id),
            "width": getattr(largest, "w", None),
            "height": getattr(largest, "h", None),
            "size": _size_bytes(largest) if largest is not None else None,
            "spoiler": media.spoiler or None,
        }
    )


def _size_bytes(size: Any) -> int:
    if isinstance(size, types.PhotoSizeProgressive):
        return max(size.sizes, default=0)
    return int(getattr(size, "size", 0) or 0)


def _document(media: types.MessageMediaDocument) -> Media:
    document = media.document
    if not isinstance(document, types.Document):
        return {"type": "document", "expired": True}
    attributes = {type(a): a for a in document.attributes}
    video = attributes.get(types.DocumentAttributeVideo)
    audio = attributes.get(types.DocumentAttributeAudio)
    name = attributes.get(types.DocumentAttributeFilename)
    info: Media = {
        "type": _document_type(attributes, video, audio),
        "id": str(document.id),
        "mime_type": document.mime_type,
        "size": document.size,
        "file_name": name.file_name if name is not None else None,
        "spoiler": media.spoiler or None,
    }
    if video is not None:
        info.update(width=video.w, height=video.h, duration=int(video.duration))
    if audio is not None:
        info.update(duration=audio.duration, performer=audio.performer, title=audio.title)
    sticker = attributes.get(types.DocumentAttributeSticker)
    if sticker is not None:
        info["sticker_emoji"] = sticker.alt
    return _clean(info)


def _document_type(attributes: dict[type, Any], video: Any, audio: Any) -> str:
    if types.DocumentAttributeSticker in attributes:
        return "sticker"
    if types.DocumentAttributeAnimated in attributes:
        return "animation"
    if video is not None:
        return "video_message" if video.round_message else "video_file"
    if audio is not None:
        return "voice_message" if audio.voice else "audio_file"
    return "document"


def _poll(media: types.MessageMediaPoll) -> Media:
    poll = media.poll
    votes = {r.option: r.voters for r in (media.results.results or [])} if media.results else {}
    return {
        "type": "poll",
        "poll": {
            "question": _text_of(poll.question),
            "closed": bool(poll.closed),
            "total_voters": media.results.total_voters if media.results else None,
            "answers": [
                {"text": _text_of(a.text), "voters": votes.get(a.option)} for a in poll.answers
            ],
        },
    }


def _text_of(value: Any) -> str:
    return value.text if isinstance(value, types.TextWithEntities) else str(value)


def _geo(geo: Any) -> dict[str, float] | None:
    if isinstance(geo, types.GeoPoint):
        return {"latitude": geo.lat, "longitude": geo.long}
    return None


def _service_action(message: types.MessageService) -> dict[str, Any]:
    action = message.action
    name = _ACTION_NAMES.get(type(action)) or _snake(
        type(action).__name__.removeprefix("MessageAction")
    )
    details: dict[str, Any] = {"type": name}
    if getattr(action, "title", None):
        details["title"] = action.title
    if isinstance(action, types.MessageActionPinMessage) and message.reply_to is not None:
        details["message_id"] = message.reply_to.reply_to_msg_id
    return details


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _clean(mapping: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}
