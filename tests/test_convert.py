"""archiver.convert with real Telethon TL objects (a renamed field fails loudly here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telethon import utils
from telethon.tl import types

from archiver.convert import (
    channel_labels,
    channel_record,
    convert_entities,
    convert_media,
    post_record,
)
from dozor.importer import import_desktop_export
from dozor.records import Source
from dozor.storage import store_posts
from tests.conftest import DESKTOP
from tests.helpers import versions

BARE = 1525384822
PEER = types.PeerChannel(BARE)
MARKED = utils.get_peer_id(PEER)
WHEN = datetime(2024, 3, 2, 8, 0, tzinfo=UTC)


def message(**kw: object) -> types.Message:
    fields: dict[str, object] = {
        "id": 3,
        "peer_id": PEER,
        "date": WHEN,
        "message": "",
        "post": True,
    }
    fields.update(kw)
    return types.Message(**fields)


def full_info(**kw: object) -> types.ChannelFull:
    """A channel's full info (``channels.getFullChannel``) with the fields *kw* sets."""
    fields: dict[str, object] = {
        "id": BARE,
        "about": "",
        "read_inbox_max_id": 0,
        "read_outbox_max_id": 0,
        "unread_count": 0,
        "chat_photo": types.PhotoEmpty(id=0),
        "notify_settings": types.PeerNotifySettings(),
        "bot_info": [],
        "pts": 1,
    }
    return types.ChannelFull(**{**fields, **kw})


def test_channel_record_uses_marked_ids_and_full_info() -> None:
    channel = types.Channel(
        id=BARE,
        title="МВД",
        photo=types.ChatPhotoEmpty(),
        date=WHEN,
        username="mvd_test",
        broadcast=True,
        access_hash=1,
        participants_count=100,
    )
    record = channel_record(channel, full_info(about="Официальный канал", participants_count=12345))
    assert record.id == MARKED == -1001525384822
    assert (record.title, record.username, record.about, record.subscribers, record.labels) == (
        "МВД",
        "mvd_test",
        "Официальный канал",
        12345,
        "",  # known to have no label
    )


def test_the_pinned_post_comes_from_the_full_info() -> None:
    channel = types.Channel(
        id=BARE, title="МВД", photo=types.ChatPhotoEmpty(), date=WHEN, broadcast=True
    )
    assert channel_record(channel, full_info(pinned_msg_id=1234)).pinned == "1234"
    assert channel_record(channel, full_info()).pinned == ""  # known: nothing pinned
    assert channel_record(channel).pinned is None  # not known without the full info


def test_channel_labels_are_telegrams_marks_in_a_fixed_order() -> None:
    channel = types.Channel(
        id=BARE,
        title="Канал",
        photo=types.ChatPhotoEmpty(),
        date=WHEN,
        broadcast=True,
        noforwards=True,
        fake=True,
        scam=True,
        verified=True,
        restricted=True,
        restriction_reason=[
            types.RestrictionReason("ios", "porn", "This channel can't be displayed"),
            types.RestrictionReason("android", "porn", "This channel can't be displayed"),
        ],
    )
    full = full_info(ttl_period=7 * 86400)
    assert channel_record(channel, full).labels == (
        "verified, scam, fake, protected content, auto-delete after 1 week, "
        "restricted (android: porn), restricted (ios: porn)"
    )
    assert channel_record(channel).labels is None  # the timer is in the full info alone
    for seconds, period in [(86400, "1 day"), (31 * 86400, "1 month"), (5 * 3600, "5 hours")]:
        full.ttl_period = seconds
        assert channel_labels(channel, full) == (
            f"verified, scam, fake, protected content, auto-delete after {period}, "
            "restricted (android: porn), restricted (ios: porn)"
        )


def test_where_telegram_hides_a_post_is_kept() -> None:
    reasons = [
        types.RestrictionReason("ios", "porn", "This message can't be displayed"),
        types.RestrictionReason("android", "porn", "This message can't be displayed"),
    ]
    assert post_record(message(message="Пост", restriction_reason=reasons)).restriction == (
        "restricted (android: porn), restricted (ios: porn)"
    )
    assert post_record(message(message="Пост")).restriction == ""  # known: shown everywhere


def test_the_buttons_under_a_post_are_kept_with_where_they_lead() -> None:
    markup = types.ReplyInlineMarkup(
        rows=[
            types.KeyboardInlineButtonRow(
                [
                    types.KeyboardInlineButton(
                        "Читать", types.InlineButtonTypeUrl("https://mvd.kg/1")
                    )
                ]
            ),
            types.KeyboardInlineButtonRow(
                [
                    types.KeyboardInlineButton("👍", types.InlineButtonTypeCallback(b"vote:1")),
                    types.KeyboardInlineButton(
                        "Форма", types.InlineButtonTypeWebView("https://forms.example.org/")
                    ),
                ]
            ),
        ]
    )
    assert post_record(message(message="Пост", reply_markup=markup)).buttons == [
        [{"type": "url", "text": "Читать", "url": "https://mvd.kg/1"}],
        [
            {"type": "callback", "text": "👍"},  # a bot's data means nothing outside it
            {"type": "web_view", "text": "Форма", "url": "https://forms.example.org/"},
        ],
    ]
    assert post_record(message(message="Пост")).buttons == []  # known: none


def test_a_post_under_auto_delete_knows_when_it_goes() -> None:
    assert post_record(message(message="Скоро исчезнет", ttl_period=86400)).expires_at == (
        WHEN + timedelta(days=1)
    )
    assert post_record(message(message="Останется")).expires_at is None
    pinned = types.MessageService(
        id=4,
        peer_id=PEER,
        date=WHEN,
        action=types.MessageActionPinMessage(),
        ttl_period=3600,
    )
    assert post_record(pinned).expires_at == WHEN + timedelta(hours=1)


def test_text_post_with_metrics_reply_and_signature() -> None:
    msg = message(
        message="Внимание! Возбуждено уголовное дело.",
        views=1500,
        forwards=12,
        replies=types.MessageReplies(replies=4, replies_pts=1),
        post_author="Пресс-служба",
        reply_to=types.MessageReplyHeader(reply_to_msg_id=2),
        grouped_id=None,
        edit_date=datetime(2024, 3, 2, 8, 20, tzinfo=UTC),
        reactions=types.MessageReactions(
            results=[
                types.ReactionCount(reaction=types.ReactionEmoji(emoticon="👍"), count=12),
                types.ReactionCount(reaction=types.ReactionCustomEmoji(document_id=77), count=3),
                types.ReactionCount(reaction=types.ReactionPaid(), count=1),
            ]
        ),
    )
    record = post_record(msg)
    assert (record.channel_id, record.message_id, record.date) == (MARKED, 3, WHEN)
    assert (record.views, record.forwards, record.replies) == (1500, 12, 4)
    assert record.author_signature == "Пресс-служба"
    assert record.reply_to_message_id == 2
    assert record.edit_date == datetime(2024, 3, 2, 8, 20, tzinfo=UTC)
    assert record.reactions == [
        {"type": "emoji", "count": 12, "emoji": "👍"},
        {"type": "custom_emoji", "count": 3, "document_id": "77"},
        {"type": "paid", "count": 1},
    ]
    assert post_record(message(message="x")).reactions == []  # none sent = none there


def test_entity_offsets_become_code_points() -> None:
    text = "😀 Бишкек: подробности"  # the emoji is two UTF-16 units, one code point
    entities = [
        types.MessageEntityBold(offset=3, length=6),
        types.MessageEntityTextUrl(offset=11, length=11, url="https://mvd.gov.kg/"),
        types.MessageEntityPre(offset=0, length=2, language=""),
    ]
    assert convert_entities(text, entities) == [
        {"type": "bold", "offset": 2, "length": 6},
        {"type": "text_link", "offset": 10, "length": 11, "url": "https://mvd.gov.kg/"},
        {"type": "pre", "offset": 0, "length": 1},
    ]
    assert text[2:8] == "Бишкек"


def test_entities_that_split_an_emoji_take_in_the_whole_character() -> None:
    """Offsets inside a surrogate pair (which Telegram has sent) or past the text are not a
    crash: the entity takes in the whole emoji, and stops at the text's end."""
    record = post_record(
        message(
            message="a😀b 🇰🇬",
            entities=[
                types.MessageEntityBold(offset=2, length=2),  # from inside 😀 to after b
                types.MessageEntityItalic(offset=0, length=2),  # from a to inside 😀
                types.MessageEntityUnderline(offset=6, length=99),  # inside the flag, past the end
                types.MessageEntityCode(offset=40, length=3),  # beyond the text: nothing
            ],
        )
    )
    assert record.entities == [
        {"type": "bold", "offset": 1, "length": 2},
        {"type": "italic", "offset": 0, "length": 2},
        {"type": "underline", "offset": 4, "length": 2},
    ]
    assert record.text[1:3] == "😀b" and record.text[4:6] == "🇰🇬"


@given(
    text=st.text(st.sampled_from("aБ ё😀🇰🇬\u200d👨"), max_size=12),
    offset=st.integers(-2, 30),
    length=st.integers(-2, 30),
)
@example(text="aa🇬", offset=3, length=0)  # empty, inside a surrogate pair: no entity
def test_any_entity_offsets_give_an_entity_inside_the_text(
    text: str, offset: int, length: int
) -> None:
    """Whatever the offsets, conversion gives an entity within the text or none, and where
    both edges fall between characters, exactly the characters the UTF-16 offsets cover."""
    converted = convert_entities(text, [types.MessageEntityBold(offset=offset, length=length)])
    units = text.encode("utf-16-le")
    start, end = max(offset, 0), min(offset + length, len(units) // 2)
    exact = units[2 * start : 2 * max(start, end)]
    splits_a_pair = exact.decode("utf-16-le", "ignore").encode("utf-16-le") != exact
    if not converted:
        assert not exact or splits_a_pair
        return
    (entity,) = converted
    assert 0 <= entity["offset"] < entity["offset"] + entity["length"] <= len(text)
    if not splits_a_pair:
        covered = text[entity["offset"] : entity["offset"] + entity["length"]]
        assert covered == exact.decode("utf-16-le")


def test_forwards_from_channels_and_other_replies() -> None:
    header = types.MessageFwdHeader(
        date=WHEN, from_id=types.PeerChannel(1399999999), channel_post=812, post_author="Дежурный"
    )
    record = post_record(
        message(
            fwd_from=header,
            reply_to=types.MessageReplyHeader(
                reply_to_msg_id=5, reply_to_peer_id=types.PeerChannel(42)
            ),
        )
    )
    assert record.forward is not None
    assert (record.forward.from_id, record.forward.message_id, record.forward.from_name) == (
        -1001399999999,
        812,
        "Дежурный",
    )
    assert record.reply_to_message_id is None  # a reply to another channel's post


def _photo(photo_id: int = 5400) -> types.MessageMediaPhoto:
    return types.MessageMediaPhoto(
        photo=types.Photo(
            id=photo_id,
            access_hash=1,
            file_reference=b"x",
            date=WHEN,
            dc_id=2,
            sizes=[
                types.PhotoSize(type="m", w=320, h=213, size=20_000),
                types.PhotoSizeProgressive(type="y", w=1280, h=853, sizes=[9_000, 183_244]),
            ],
        )
    )


def _document(*attributes: object, mime: str = "video/mp4", size: int = 2**31) -> object:
    return types.MessageMediaDocument(
        document=types.Document(
            id=77,
            access_hash=1,
            file_reference=b"x",
            date=WHEN,
            mime_type=mime,
            size=size,
            dc_id=2,
            attributes=list(attributes),
        )
    )


def test_media_metadata_in_desktop_vocabulary() -> None:
    assert convert_media(_photo()) == {
        "type": "photo",
        "id": "5400",
        "width": 1280,
        "height": 853,
        "size": 183_244,
    }
    video = convert_media(
        _document(
            types.DocumentAttributeVideo(duration=94.5, w=1920, h=1080),
            types.DocumentAttributeFilename(file_name="raid.mp4"),
        )
    )
    assert video == {
        "type": "video_file",
        "id": "77",
        "mime_type": "video/mp4",
        "size": 2**31,
        "file_name": "raid.mp4",
        "width": 1920,
        "height": 1080,
        "duration": 94,
    }
    voice = convert_media(
        _document(types.DocumentAttributeAudio(duration=2, voice=True), mime="audio/ogg", size=900)
    )
    assert voice is not None and voice["type"] == "voice_message"
    round_video = convert_media(
        _document(types.DocumentAttributeVideo(duration=5, w=240, h=240, round_message=True))
    )
    assert round_video is not None and round_video["type"] == "video_message"
    sticker = convert_media(
        _document(
            types.DocumentAttributeSticker(alt="👍", stickerset=types.InputStickerSetEmpty()),
            mime="image/webp",
            size=10,
        )
    )
    assert sticker is not None and (sticker["type"], sticker["sticker_emoji"]) == ("sticker", "👍")
    assert convert_media(types.MessageMediaWebPage(webpage=types.WebPageEmpty(id=1))) is None
    poll = convert_media(
        types.MessageMediaPoll(
            poll=types.Poll(
                id=1,
                hash=0,
                question=types.TextWithEntities("Нужен ли рейд?", []),
                answers=[
                    types.PollAnswer(types.TextWithEntities("Да", []), b"0"),
                    types.PollAnswer(types.TextWithEntities("Нет", []), b"1"),
                ],
            ),
            results=types.PollResults(
                total_voters=15,
                results=[
                    types.PollAnswerVoters(option=b"0", voters=10),
                    types.PollAnswerVoters(option=b"1", voters=5),
                ],
            ),
        )
    )
    assert poll == {
        "type": "poll",
        "poll": {
            "question": "Нужен ли рейд?",
            "closed": False,
            "total_voters": 15,
            "answers": [{"text": "Да", "voters": 10}, {"text": "Нет", "voters": 5}],
        },
    }


def test_service_messages_use_desktop_action_names() -> None:
    created = post_record(
        types.MessageService(
            id=1, peer_id=PEER, date=WHEN, action=types.MessageActionChannelCreate(title="МВД")
        )
    )
    assert (created.kind, created.service_action) == (
        "service",
        {"type": "create_channel", "title": "МВД"},
    )
    pinned = post_record(
        types.MessageService(
            id=8,
            peer_id=PEER,
            date=WHEN,
            action=types.MessageActionPinMessage(),
            reply_to=types.MessageReplyHeader(reply_to_msg_id=3),
        )
    )
    assert pinned.service_action == {"type": "pin_message", "message_id": 3}


async def test_an_imported_post_seen_by_the_archiver_is_not_an_edit(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The same post from a Desktop export and from Telegram must hash alike."""
    await import_desktop_export(sessions, DESKTOP / "current-format-early")
    live = [
        message(
            id=3,
            message="Внимание! Возбуждено уголовное дело. Подробности: сайт МВД #МВД",
            entities=[
                types.MessageEntityBold(0, 9),
                types.MessageEntityTextUrl(50, 8, url="https://mvd.gov.kg/"),
                types.MessageEntityHashtag(59, 4),
            ],
            edit_date=datetime(2024, 3, 2, 8, 20, tzinfo=UTC),
            views=5000,
        ),
        message(
            id=4,
            message="Бишкекте милиция кызматкерлери мигранттарды кармады.",
            date=datetime(2024, 3, 3, 10, 30, tzinfo=UTC),
            media=_photo(),
        ),
        types.MessageService(
            id=1,
            peer_id=PEER,
            date=datetime(2024, 3, 1, 3, tzinfo=UTC),
            action=types.MessageActionChannelCreate(title="Тестовый канал МВД"),
        ),
    ]
    async with sessions.begin() as session:
        outcome = await store_posts(
            session, [post_record(m) for m in live], source=Source.BACKFILL, observed_at=WHEN
        )
    assert (outcome.edited, outcome.refreshed) == (0, 2)  # views and the photo id learned
    assert len(await versions(sessions, MARKED, 3)) == 1
    (photo_version,) = await versions(sessions, MARKED, 4)
    assert photo_version["media"]["id"] == "5400"
    assert photo_version["media"]["file"] == "photos/photo_1@03-03-2024_16-30-00.jpg"
    replaced = message(
        id=4,
        message="Бишкекте милиция кызматкерлери мигранттарды кармады.",
        date=datetime(2024, 3, 3, 10, 30, tzinfo=UTC),
        media=_photo(6000),
        edit_date=datetime(2024, 3, 5, tzinfo=UTC),
    )
    async with sessions.begin() as session:
        again = await store_posts(
            session, [post_record(replaced)], source=Source.LIVE, observed_at=WHEN
        )
    assert again.edited == 1  # a different photo is an edit


GEO = types.GeoPoint(long=74.59, lat=42.87, access_hash=1)


@pytest.mark.parametrize(
    ("media", "expected"),
    [
        (
            types.MessageMediaVenue(
                geo=GEO, title="ИИМ", address="Бишкек", provider="", venue_id="", venue_type=""
            ),
            {
                "type": "venue",
                "location": {"latitude": 42.87, "longitude": 74.59},
                "place_name": "ИИМ",
                "address": "Бишкек",
            },
        ),
        (
            types.MessageMediaGeoLive(geo=GEO, period=900),
            {"type": "location", "location": {"latitude": 42.87, "longitude": 74.59}},
        ),
        (
            types.MessageMediaGeo(geo=types.GeoPointEmpty()),
            {"type": "location", "location": None},
        ),
        (
            types.MessageMediaContact(
                phone_number="+996312000000",
                first_name="Дежурная",
                last_name="часть",
                vcard="",
                user_id=0,
            ),
            {
                "type": "contact",
                "contact": {
                    "phone_number": "+996312000000",
                    "first_name": "Дежурная",
                    "last_name": "часть",
                },
            },
        ),
        (
            types.MessageMediaDice(value=3, emoticon="🎲"),
            {"type": "dice", "dice": {"emoticon": "🎲", "value": 3}},
        ),
        (types.MessageMediaUnsupported(), {"type": "unsupported"}),
        (types.MessageMediaStory(peer=PEER, id=5), {"type": "story"}),
    ],
)
def test_places_contacts_and_other_media(media: object, expected: dict[str, object]) -> None:
    assert post_record(message(media=media)).media == expected


def test_a_channel_with_collectible_usernames_is_linked_by_its_active_one() -> None:
    channel = types.Channel(
        id=BARE,
        title="МВД",
        photo=types.ChatPhotoEmpty(),
        date=WHEN,
        broadcast=True,
        usernames=[
            types.Username(username="mvd_old", active=False),
            types.Username(username="mvd_official_kg", active=True),
        ],
    )
    assert channel_record(channel).username == "mvd_official_kg"
