"""Saved t.me/s pages (real ones, tests/fixtures/tme-s) read into records and imported: a page
adds what the archive lacks and never overrides what it has."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dozor.cli.main import main
from dozor.errors import ImportFormatError
from dozor.importer.pages import import_web_page, in_capture_order
from dozor.importer.webpreview import PagePost, parse_page, read_page
from dozor.records import ChannelRecord, ShownCounters, Source, make_entity
from dozor.search import search
from dozor.storage import store_posts, upsert_channel
from tests.conftest import FIXTURES
from tests.helpers import event_log, metric_samples, post, versions

PAGES = FIXTURES / "tme-s"
DUROV_FEED = PAGES / "sherlock-tme-s-durov" / "channel_feed.html"
DUROV_LANDING = PAGES / "sherlock-tme-s-durov" / "tme_channel.html"
ANONYMISED = PAGES / "lifemodel-tme-s-anonymized" / "telegram-test-channel.html"
DUROV = -1001006503122
TEST_CHANNEL = -1001777000001
CAPTURED = datetime(2026, 8, 10, 4, 5, 6, tzinfo=UTC)


def durov_posts() -> dict[int, PagePost]:
    page = read_page(DUROV_FEED)
    return {p.record.message_id: p for p in page.posts(DUROV)}


def test_a_real_page_gives_the_channel_and_its_posts() -> None:
    page = read_page(DUROV_FEED)
    assert (page.channel_id, page.username, page.title) == (DUROV, "durov", "Pavel Durov")
    assert page.about == "Founder of Telegram."
    found = durov_posts()
    assert sorted(found) == [n for n in range(519, 540) if n != 530]
    assert found[519].record.date == datetime(2026, 5, 20, 15, 38, 10, tzinfo=UTC)
    assert [n for n, p in found.items() if p.record.edit_time_unknown] == [521, 527, 535, 538]
    assert {p.record.author_signature for p in found.values()} == {"Pavel Durov"}
    kinds = {n: (p.record.media or {}).get("type") for n, p in found.items() if p.record.media}
    # 519 has a play button and a duration; the others loop silently, as Telegram plays GIFs
    assert kinds == {
        519: "video_file",
        522: "photo",
        523: "animation",
        524: "animation",
        526: "animation",
        531: "animation",
        532: "animation",
        536: "photo",
        537: "photo",
    }
    assert found[519].record.media == {"type": "video_file", "duration": 9}


def test_text_and_formatting_are_telegram_s() -> None:
    record = durov_posts()[523].record
    assert record.text == "⌚️ A fully native Telegram app for Apple Watch is out."
    spans = [
        (e["type"], record.text[e["offset"] : e["offset"] + e["length"]]) for e in record.entities
    ]
    assert spans == [("custom_emoji", "⌚️"), ("bold", "Telegram app for Apple Watch")]
    assert record.entities[0]["document_id"] == "5389033296086709487"
    update = durov_posts()[525].record
    (link,) = [e for e in update.entities if e["type"] == "text_link"]
    assert update.text[link["offset"] : link["offset"] + link["length"]] == "new update"
    assert link["url"] == "https://telegram.org/blog/watch-apps-and-more"
    # a link preview is neither the post's attachment nor its text (Telegram refreshes it)
    preview = durov_posts()[525].record
    assert preview.media is None and "Smartwatch Apps" not in preview.text
    # emoji drawn as images are characters, not italic or bold text
    assert not any(e["type"] in ("italic", "bold") for e in durov_posts()[536].record.entities)


def test_albums_forwards_and_unviewable_posts() -> None:
    page = read_page(ANONYMISED)
    assert (page.channel_id, page.username) == (None, "test_channel")
    found = {p.record.message_id: p.record for p in page.posts(TEST_CHANNEL)}
    assert sorted(found) == [1001, 1002, 1003, 1010, 1011, 1012]
    album = [found[n] for n in (1001, 1002)]
    assert [(r.grouped_id, (r.media or {})["type"], bool(r.text)) for r in album] == [
        (1001, "photo", True),
        (1001, "photo", False),
    ]
    assert found[1003].media == {"type": "unsupported"}  # "Please open Telegram to view"
    forwarded = [found[n].forward for n in (1010, 1011, 1012)]
    assert {(f.from_name, f.message_id) for f in forwarded if f} == {("Another Channel", 500)}
    assert [e["type"] for e in found[1010].entities] == ["blockquote"]


def test_a_page_s_views_and_reactions_are_read_as_it_shows_them() -> None:
    counters = durov_posts()[519].counters
    assert counters == ShownCounters(
        views=8_670_000,  # "8.67M"
        reactions=[
            {"type": "paid", "count": 2_490},  # Telegram Stars, "2.49K"
            {"type": "custom_emoji", "count": 23_400, "document_id": "5265077361648368841"},
            {"type": "custom_emoji", "count": 7_760, "document_id": "5465587407350942612"},
            {"type": "custom_emoji", "count": 5_990, "document_id": "5399847211989246390"},
            {"type": "custom_emoji", "count": 419, "document_id": "5936157098181135162"},
            {"type": "custom_emoji", "count": 112, "document_id": "5373223594484587136"},
        ],
        rounded=True,
    )
    found = {p.record.message_id: p for p in read_page(ANONYMISED).posts(TEST_CHANNEL)}
    assert found[1001].counters == ShownCounters(
        views=2_500,
        reactions=[
            {"type": "emoji", "count": 10, "emoji": "👍"},
            {"type": "emoji", "count": 3, "emoji": "❤"},
        ],
        rounded=True,
    )
    assert found[1002].counters is None  # an album member: the album's post has them
    # no reactions shown: unknown (pages before 2022 showed none at all), not "none"
    assert found[1003].counters == ShownCounters(views=1_300, reactions=None, rounded=True)


_THUMBS = {"type": "emoji", "emoji": "👍"}
_HEART = {"type": "emoji", "count": 3, "emoji": "❤"}


@pytest.mark.parametrize(
    ("views", "reactions", "expected"),
    [
        ("950", "<b>👍</b></i>10", ShownCounters(950, [_THUMBS | {"count": 10}], rounded=False)),
        ("950", "<b>👍</b></i>1.2K", ShownCounters(950, [_THUMBS | {"count": 1200}], rounded=True)),
        ("1.5B", "<b>👍</b></i>3", ShownCounters(1_500_000_000, [_THUMBS | {"count": 3}], True)),
        ("3B", "<b>👍</b></i>3", None),  # beyond Telegram's counters: not a count
        ("many", "<b>👍</b></i>3", None),
        ("950", "<b></b></i>3", ShownCounters(950, None, rounded=False)),  # unreadable reaction
        ("950", "<b>👍</b></i>lots", ShownCounters(950, None, rounded=False)),
        # a rounded count of a reaction not kept does not make the sample rounded
        ("950", "<b></b></i>1.2K", ShownCounters(950, None, rounded=False)),
    ],
)
def test_counts_are_read_exactly_below_a_thousand_and_as_shown_above(
    views: str, reactions: str, expected: ShownCounters | None
) -> None:
    content = ANONYMISED.read_text(encoding="utf-8")
    for old, new in [
        ('message_views">2.5K<', f'message_views">{views}<'),
        ("<b>👍</b></i>10", reactions),
    ]:
        assert old in content
        content = content.replace(old, new)
    page = parse_page(content.encode(), ANONYMISED)
    found = {p.record.message_id: p for p in page.posts(TEST_CHANNEL)}
    if expected is not None and expected.reactions is not None:
        expected = replace(expected, reactions=[*expected.reactions, _HEART])
    assert found[1001].counters == expected


def wayback_capture(folder: Path, *edits: tuple[str, str]) -> Path:
    """The durov page as the Wayback Machine serves it: links rewritten, capture time noted;
    *edits* replace parts of the page first, as an older capture would show them."""
    content = DUROV_FEED.read_text(encoding="utf-8")
    for old, new in edits:
        assert old in content
        content = content.replace(old, new)
    content = re.sub(
        r'href="(https://(?:t\.me|telegram\.org)[^"]*)"',
        r'href="https://web.archive.org/web/20260810040506/\1"',
        content,
    )
    content += (
        "\n<!--\n     FILE ARCHIVED ON 04:05:06 Aug 10, 2026 AND RETRIEVED FROM THE\n"
        "     INTERNET ARCHIVE ON 10:00:00 Nov 26, 2026.\n-->\n"
    )
    path = folder / "durov-20260810040506.html"
    path.write_text(content, encoding="utf-8")
    return path


def test_wayback_captures_give_their_capture_time_and_the_original_links(tmp_path: Path) -> None:
    page = read_page(wayback_capture(tmp_path))
    assert page.captured_at == CAPTURED
    assert page.channel_id == DUROV
    update = {p.record.message_id: p.record for p in page.posts(DUROV)}[525]
    (link,) = [e for e in update.entities if e["type"] == "text_link"]
    assert link["url"] == "https://telegram.org/blog/watch-apps-and-more"
    older = tmp_path / "older.html"
    older.write_bytes(DUROV_FEED.read_bytes())
    os.utime(older, (0, 0))  # a save from 1970: before the capture
    assert in_capture_order([wayback_capture(tmp_path), older]) == [
        older,
        tmp_path / "durov-20260810040506.html",
    ]


ATTACHMENTS = {  # as t.me/s draws them (class names as Telegram's page and its scrapers use)
    1: (
        '<div class="tgme_widget_message_contact_wrap"><div class="tgme_widget_message_contact">'
        '<div class="tgme_widget_message_contact_name">Асан  Усенов</div>'
        '<div class="tgme_widget_message_contact_phone">+996 312 26 60 00</div></div></div>'
    ),
    2: (
        '<a class="tgme_widget_message_location_wrap" '
        'href="https://maps.google.com/maps?q=42.8746,74.5698&amp;ll=42.8746,74.5698&amp;z=16">'
        '<div class="tgme_widget_message_location"></div>'
        '<div class="tgme_widget_message_location_info">'
        '<div class="tgme_widget_message_location_title">ИИМ</div>'
        '<div class="tgme_widget_message_location_address">Фрунзе көч., 469</div></div></a>'
    ),
    3: '<a class="tgme_widget_message_location_wrap" href="https://maps.google.com/maps?q=x">'
    '<div class="tgme_widget_message_location"></div></a>',
    4: (
        '<a class="tgme_widget_message_document_wrap" href="https://t.me/mvd_test/4">'
        '<div class="tgme_widget_message_document_icon audio"></div>'
        '<div class="tgme_widget_message_document">'
        '<div class="tgme_widget_message_document_title">Мекеним</div>'
        '<div class="tgme_widget_message_document_extra">Оркестр</div></div></a>'
    ),
    5: (
        '<a class="tgme_widget_message_document_wrap" href="https://t.me/mvd_test/5">'
        '<div class="tgme_widget_message_document_icon"></div>'
        '<div class="tgme_widget_message_document">'
        '<div class="tgme_widget_message_document_title">отчет.pdf</div>'
        '<div class="tgme_widget_message_document_extra">1.2 MB</div></div></a>'
    ),
    6: (
        '<a class="tgme_widget_message_voice_player js-message_voice_player">'
        '<audio class="tgme_widget_message_voice" src="https://cdn.example/v.ogg"></audio>'
        '<time class="tgme_widget_message_voice_duration">1:02</time></a>'
    ),
    7: (
        '<div class="tgme_widget_message_roundvideo_player js-message_roundvideo_player">'
        '<time class="tgme_widget_message_roundvideo_duration">0:12</time></div>'
    ),
    8: (
        '<a class="tgme_widget_message_video_player js-message_video_player">'
        '<video class="tgme_widget_message_video" muted autoplay loop></video></a>'
    ),
    9: (
        '<div class="tgme_widget_message_poll"><div class="tgme_widget_message_poll_question">'
        'Кто?</div><div class="tgme_widget_message_poll_type">Anonymous poll</div>'
        '<a class="tgme_widget_message_poll_option"><div class="tgme_widget_message_poll_option_'
        'percent">60%</div><div class="tgme_widget_message_poll_option_text">Да</div></a>'
        '<a class="tgme_widget_message_poll_option"><div class="tgme_widget_message_poll_option_'
        'percent">40%</div><div class="tgme_widget_message_poll_option_text">Жок</div></a></div>'
    ),
    10: (
        '<a class="tgme_widget_message_sticker_wrap" href="https://t.me/mvd_test/10">'
        '<i class="tgme_widget_message_sticker js-sticker_image" data-webp="s.webp"></i></a>'
    ),
}


PHONE = "+996 312 26 60 00"
YES_NO = ("Да", "Жок")


def test_every_kind_of_attachment_the_page_shows() -> None:
    """The page has no ``<meta charset>``, as a saved fragment: its Cyrillic is still read."""
    posts = "".join(
        f'<div class="tgme_widget_message" data-post="mvd_test/{n}">'
        f'<div class="tgme_widget_message_bubble">{attachment}'
        '<div class="tgme_widget_message_footer"><a class="tgme_widget_message_date">'
        f'<time datetime="2024-11-{n:02}T08:00:00+00:00">x</time></a></div></div></div>'
        for n, attachment in ATTACHMENTS.items()
    )
    page = parse_page(f"<html><body>{posts}</body></html>".encode(), Path("p.html"))
    media = {p.record.message_id: p.record.media for p in page.posts(TEST_CHANNEL)}
    assert media == {
        1: {
            "type": "contact",
            "contact": {"first_name": "Асан Усенов", "phone_number": "+996 312 26 60 00"},
        },
        2: {
            "type": "venue",
            "location": {"latitude": 42.8746, "longitude": 74.5698},
            "place_name": "ИИМ",
            "address": "Фрунзе көч., 469",
        },
        3: {"type": "location"},  # no coordinates in the link
        4: {"type": "audio_file", "title": "Мекеним", "performer": "Оркестр"},
        5: {"type": "document", "file_name": "отчет.pdf"},
        6: {"type": "voice_message", "duration": 62},
        7: {"type": "video_message", "duration": 12},
        8: {"type": "animation"},
        9: {
            "type": "poll",
            "poll": {"question": "Кто?", "answers": [{"text": "Да"}, {"text": "Жок"}]},
        },
        10: {"type": "sticker"},
    }


def test_every_kind_of_formatting_the_page_shows() -> None:
    body = (
        "<b>Жирный</b> <u>подчёркнутый</u> <s>зачёркнутый</s> <tg-spoiler>тайна</tg-spoiler> "
        '<a href="?q=%23МВД">#МВД</a> <a href="?q=%24TON">$TON</a> '
        '<a href="https://t.me/mvd_kg">@mvd_kg</a> <a href="mailto:info@mvd.kg">info@mvd.kg</a> '
        '<a href="tel:+996312">+996312</a> <a href="https://mvd.kg/" target="_blank">mvd.kg/</a> '
        '<a href="https://mvd.kg/news/1">новость</a> <code>код</code>'
        '<pre><code class="language-python">print()</code></pre>'
        "<blockquote expandable>цитата</blockquote>"
    )
    post = (
        '<div class="tgme_widget_message" data-post="mvd_test/1"><div class="tgme_widget_message'
        f'_text js-message_text">{body}</div><a class="tgme_widget_message_date">'
        '<time datetime="2024-11-01T08:00:00+00:00">x</time></a></div>'
    )
    page = parse_page(f"<html><body>{post}</body></html>".encode(), Path("p.html"))
    record = page.posts(TEST_CHANNEL)[0].record
    spans = [
        (e["type"], record.text[e["offset"] : e["offset"] + e["length"]], e.get("url"))
        for e in record.entities
    ]
    assert spans == [
        ("bold", "Жирный", None),
        ("underline", "подчёркнутый", None),
        ("strikethrough", "зачёркнутый", None),
        ("spoiler", "тайна", None),
        ("hashtag", "#МВД", None),
        ("cashtag", "$TON", None),
        ("mention", "@mvd_kg", None),
        ("email", "info@mvd.kg", None),
        ("phone", "+996312", None),
        ("link", "mvd.kg/", None),
        ("text_link", "новость", "https://mvd.kg/news/1"),
        ("code", "код", None),
        ("pre", "print()", None),
        ("blockquote", "цитата", None),
    ]
    pre = next(e for e in record.entities if e["type"] == "pre")
    quote = next(e for e in record.entities if e["type"] == "blockquote")
    assert (pre["language"], quote["collapsed"]) == ("python", True)


def test_a_reply_names_the_post_it_answers_and_keeps_the_quote_out_of_the_text() -> None:
    def post(number: int, replied: str) -> str:
        return (
            f'<div class="tgme_widget_message" data-post="mvd_test/{number}">'
            f'<a class="tgme_widget_message_reply" href="{replied}">'
            '<div class="tgme_widget_message_text js-message_text">цитата</div></a>'
            '<div class="tgme_widget_message_text js-message_text">ответ</div>'
            '<a class="tgme_widget_message_date"><time datetime="2024-11-01T08:00:00+00:00">'
            "x</time></a></div>"
        )

    content = post(6, "https://t.me/mvd_test/5") + post(7, "https://t.me/other/5")
    page = parse_page(f"<html><body>{content}</body></html>".encode(), Path("p.html"))
    found = {p.record.message_id: p.record for p in page.posts(TEST_CHANNEL)}
    assert (found[6].reply_to_message_id, found[6].text) == (5, "ответ")
    assert found[7].reply_to_message_id is None  # a post of another channel is not ours


def test_a_page_in_another_declared_charset_is_read_by_its_declaration() -> None:
    post = (
        '<div class="tgme_widget_message" data-post="mvd_test/1"><div class="tgme_widget_message'
        '_text js-message_text">Задержан мигрант</div><a class="tgme_widget_message_date">'
        '<time datetime="2024-11-01T08:00:00+00:00">x</time></a></div>'
    )
    content = f'<html><head><meta charset="windows-1251"></head><body>{post}</body></html>'
    page = parse_page(content.encode("cp1251"), Path("p.html"))
    assert page.posts(TEST_CHANNEL)[0].record.text == "Задержан мигрант"


WIDGET = '<div class="tgme_widget_message" data-post="{}"></div>'


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "not an HTML page"),
        (b"<html><body>hello</body></html>", "no channel posts in this page"),
        (b"\x00\xff\xfe binary", "no channel posts in this page"),
        (DUROV_LANDING.read_bytes(), "no channel posts in this page"),
        (WIDGET.format("").encode(), "no post in this page carries its number"),
        (
            (WIDGET.format("a_one/1") + WIDGET.format("b_two/2")).encode(),
            "the posts of this page are not of one channel",
        ),
        (WIDGET.format("x" * 70 + "/1").encode(), "'x{40}' is not a Telegram channel username"),
    ],
)
def test_what_is_not_a_page_of_posts_is_refused_clearly(content: bytes, problem: str) -> None:
    with pytest.raises(ImportFormatError, match=rf"^page\.html: {problem}"):
        parse_page(content, Path("page.html"))


def test_posts_the_page_cannot_number_or_date_are_skipped_and_named() -> None:
    content = DUROV_FEED.read_bytes()
    content = content.replace(b'data-post="durov/520"', b'data-post="durov/99999999999"')
    content = content.replace(b'datetime="2026-06-09T19:33:51+00:00"', b'datetime="yesterday"')
    year_10000 = b'datetime="9999-12-31T23:00:00-05:00"'  # in UTC, a year no datetime holds
    content = content.replace(b'datetime="2026-06-01T15:46:12+00:00"', year_10000)
    page = parse_page(content, DUROV_FEED)
    assert page.skipped == [
        "durov/99999999999: no number or date in the page",
        "durov/522: no number or date in the page",
        "durov/523: no number or date in the page",
    ]
    assert len(page.posts(DUROV)) == 17


async def test_importing_a_page_adds_posts_and_a_second_time_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    report = await import_web_page(sessions, DUROV_FEED)
    assert (report.channel_title, report.outcome.new, report.skipped) == ("Pavel Durov", 20, 0)
    stored = await post(sessions, DUROV, 523)
    assert stored["text"] == "⌚️ A fully native Telegram app for Apple Watch is out."
    assert stored["views"] is None  # what a page shows is a sample, not the post's count
    assert report.counter_samples == 20  # at the file's time: the page says no capture time
    again = await import_web_page(sessions, DUROV_FEED)
    assert (again.outcome.new, again.outcome.edited, again.outcome.unchanged) == (0, 0, 20)
    assert again.counter_samples == 0


async def test_a_page_s_counters_become_samples_once_and_never_the_post_s_own(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """Telegram's exact count stays the post's; the capture's rounded one is a sample taken at
    the capture time, recorded once however often the page is imported."""
    async with sessions.begin() as session:
        await upsert_channel(
            session, ChannelRecord(DUROV, "Дуров"), observed_at=CAPTURED, source=Source.LIVE
        )
        exact = replace(durov_posts()[519].record, views=9_123_456)
        await store_posts(
            session, [exact], source=Source.LIVE, observed_at=datetime(2026, 9, 2, tzinfo=UTC)
        )
    capture = wayback_capture(tmp_path)
    report = await import_web_page(sessions, capture)
    assert (report.outcome.new, report.counter_samples) == (19, 20)
    assert (await post(sessions, DUROV, 519))["views"] == 9_123_456
    samples = await metric_samples(sessions, DUROV, 519)
    assert [(m["sampled_at"], m["views"], m["rounded"]) for m in samples] == [
        (CAPTURED, 8_670_000, True),  # the capture, though imported after Telegram's sample
        (datetime(2026, 9, 2, tzinfo=UTC), 9_123_456, False),
    ]
    assert samples[0]["reactions"][:2] == [
        {"type": "paid", "count": 2_490},
        {"type": "custom_emoji", "count": 23_400, "document_id": "5265077361648368841"},
    ]
    assert (samples[0]["forwards"], samples[0]["replies"]) == (None, None)  # not shown
    again = await import_web_page(sessions, capture)
    assert again.counter_samples == 0
    assert len(await metric_samples(sessions, DUROV, 519)) == 2
    # A later capture is a later sample.
    later = tmp_path / "later" / "durov.html"
    later.parent.mkdir()
    later.write_text(
        capture.read_text(encoding="utf-8")
        .replace("8.67M", "8.71M")
        .replace("04:05:06 Aug 10, 2026", "04:05:06 Aug 11, 2026"),
        encoding="utf-8",
    )
    assert (await import_web_page(sessions, later)).counter_samples == 20
    samples = await metric_samples(sessions, DUROV, 519)
    assert [m["views"] for m in samples] == [8_670_000, 8_710_000, 9_123_456]


async def test_a_page_without_ids_needs_the_channel_archived(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    with pytest.raises(ImportFormatError, match="does not tell @test_channel's channel id"):
        await import_web_page(sessions, ANONYMISED)
    async with sessions.begin() as session:
        record = ChannelRecord(TEST_CHANNEL, "Тест", username="Test_Channel")
        await upsert_channel(session, record, observed_at=CAPTURED, source=Source.LIVE)
    report = await import_web_page(sessions, ANONYMISED)
    assert (report.channel_id, report.channel_title, report.outcome.new) == (
        TEST_CHANNEL,
        "Тест",
        6,
    )


async def test_an_old_capture_finds_a_channel_that_changed_its_username_since(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    for username in ("test_channel", "test_channel_2024"):  # the page shows the first one
        async with sessions.begin() as session:
            record = ChannelRecord(TEST_CHANNEL, "Тест", username=username)
            await upsert_channel(session, record, observed_at=CAPTURED, source=Source.LIVE)
    report = await import_web_page(sessions, ANONYMISED)
    assert (report.channel_id, report.outcome.new) == (TEST_CHANNEL, 6)


async def test_a_capture_adds_the_text_an_edit_replaced_and_keeps_the_archive_s(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """The archive saw post 523 only after an edit; a capture from before shows the original,
    which becomes the earlier version, observed when the capture was made."""
    original = durov_posts()[523].record
    edited = replace(
        original,
        text=original.text + " Now on every watch.",
        edit_date=datetime(2026, 9, 1, tzinfo=UTC),
    )
    async with sessions.begin() as session:
        await upsert_channel(
            session, ChannelRecord(DUROV, "Дуров"), observed_at=CAPTURED, source=Source.LIVE
        )
        await store_posts(
            session, [edited], source=Source.LIVE, observed_at=datetime(2026, 9, 2, tzinfo=UTC)
        )
    report = await import_web_page(sessions, wayback_capture(tmp_path))
    assert (report.channel_title, report.outcome.new) == ("Дуров", 19)  # the title stays
    history = await versions(sessions, DUROV, 523)
    assert sorted((v["text"], v["observed_at"]) for v in history) == [
        (original.text, CAPTURED),
        (edited.text, datetime(2026, 9, 2, tzinfo=UTC)),
    ]
    assert (await post(sessions, DUROV, 523))["text"] == edited.text  # still the current one


async def test_a_page_never_invents_an_edit(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await import_web_page(sessions, DUROV_FEED)
    # The same post rendered differently, and Telegram never marked it edited: not news.
    page = wayback_capture(tmp_path, ("Apple Watch</b> is out.", "Apple Watch</b> is out!"))
    notes: list[str] = []
    report = await import_web_page(sessions, page, warn=notes.append)
    assert (report.outcome.edited, report.outcome.unchanged) == (0, 20)
    assert notes == [
        "post 523: the page renders its text differently, and Telegram never marked it "
        "edited; the archive's text is kept"
    ]
    # A page that marks a post edited, with a text the archive has not seen, is an edit.
    date_link = '<a class="tgme_widget_message_date" href="https://t.me/durov/523">'
    page = wayback_capture(
        tmp_path,
        (f"Pavel Durov</span>,&nbsp;{date_link}", f"Pavel Durov</span>,&nbsp;edited {date_link}"),
        ("Apple Watch</b> is out.", "Apple Watch</b> is out now."),
    )
    report = await import_web_page(sessions, page)
    assert report.outcome.edited == 1
    assert [v["text"] for v in await versions(sessions, DUROV, 523)] == [
        "⌚️ A fully native Telegram app for Apple Watch is out.",
        "⌚️ A fully native Telegram app for Apple Watch is out now.",
    ]


async def test_a_page_s_edit_mark_is_kept_until_telegram_tells_the_edit_time(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """A page marks 521, 527, 535 and 538 edited, without a time: the archive keeps the mark
    (``is:edited`` finds them). When the archiver reads such a post, Telegram's last edit, if
    made before the capture, is the one the page showed: its time (and exact formatting)
    complete the page's version, with no new version and no event. An edit after the capture
    is a new version."""
    await import_web_page(sessions, wayback_capture(tmp_path))
    async with sessions() as session:
        edited = (await search(session, "is:edited", limit=10)).hits
    assert sorted(hit.message_id for hit in edited) == [521, 527, 535, 538]
    stored = await post(sessions, DUROV, 521)
    assert (stored["edit_date"], stored["edit_time_unknown"]) == (None, True)
    assert [v["edit_time_unknown"] for v in await versions(sessions, DUROV, 521)] == [True]

    page = {number: found.record for number, found in durov_posts().items()}
    before, after = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC)
    bold = [make_entity("bold", 0, 1)]  # Telegram's formatting, which the page may not show
    telegram = [
        replace(page[521], entities=bold, edit_date=before, edit_time_unknown=False),
        replace(page[527], entities=bold, edit_date=after, edit_time_unknown=False),
        replace(page[535], edit_date=before, edit_time_unknown=False),  # the page's very content
    ]
    async with sessions.begin() as session:
        await store_posts(session, telegram, source=Source.LIVE, observed_at=after)
    for number in (521, 535):
        stored = await post(sessions, DUROV, number)
        assert (stored["edit_date"], stored["edit_time_unknown"]) == (before, False)
        (version,) = await versions(sessions, DUROV, number)
        assert (version["edit_date"], version["edit_time_unknown"]) == (before, False)
        assert version["observed_at"] == CAPTURED
    assert (await versions(sessions, DUROV, 521))[0]["entities"] == bold
    first, second = await versions(sessions, DUROV, 527)
    assert (first["edit_date"], first["edit_time_unknown"], first["entities"]) == (
        None,
        True,
        page[527].entities,
    )
    assert (second["edit_date"], second["edit_time_unknown"], second["entities"]) == (
        after,
        False,
        bold,
    )
    assert [kind for kind, number in await event_log(sessions) if number in (521, 527, 535)] == [
        "new",
        "new",
        "new",
        "edited",  # 527, edited after the capture
    ]
    async with sessions() as session:
        edited = (await search(session, "is:edited", limit=10)).hits
    assert sorted(hit.message_id for hit in edited) == [521, 527, 535, 538]


def test_the_import_command_reads_pages_and_folders_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("config.toml").write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/dozor.db"\n', encoding="utf-8"
    )
    assert main(["db", "upgrade"]) == 0
    assert main(["import", str(DUROV_LANDING)]) == 2  # named: an error
    assert "no channel posts in this page" in capsys.readouterr().err
    assert main(["import", str(DUROV_FEED.parent)]) == 0  # in a folder: skipped, said so
    out, err = capsys.readouterr()
    assert "channel 'Pavel Durov' (-1001006503122), 20 posts: 20 new, 0 new versions" in out
    assert out.rstrip().endswith("views and reactions of 20 posts as the page showed them")
    assert "skipped" in err and "tme_channel.html" in err
    assert main(["import", str(DUROV_FEED), "--username", "durov"]) == 2
    assert "--username applies to one Desktop export" in capsys.readouterr().err
    assert main(["search", "Apple Watch", "--json"]) == 0
    assert '"link": "https://t.me/durov/523"' in capsys.readouterr().out
    assert main(["stats", "--json"]) == 0  # the page's four marks, as is:edited counts them
    assert json.loads(capsys.readouterr().out)["edited_posts"] == 4
    assert main(["post", "https://t.me/durov/519", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["attachment"] == "video 0:09"
    assert [(m["views"], m["rounded"]) for m in record["metrics"]] == [(8_670_000, True)]
    assert main(["post", "https://t.me/durov/519"]) == 0
    out = capsys.readouterr().out
    assert "≈8,670,000" in out and "⭐ ≈2,490 · custom emoji …8841 ≈23,400 · " in out
    assert "…5162 419" in out and "…7136 112" in out  # below 1,000: exact
    assert "≈ rounded, as a saved t.me page showed it (23.4K)" in out
    assert main(["post", "durov", "523"]) == 0
    assert "· GIF ·" in capsys.readouterr().out.splitlines()[1]
    assert main(["post", "durov", "521"]) == 0  # the page marks it edited, without a time
    out = capsys.readouterr().out
    assert "· edited (a saved page did not say when) ·" in out.splitlines()[1]
    assert "version 1 · seen " in out and "(import) · edited on Telegram, time unknown" in out
    # captures kept in subfolders are found; what a browser saves beside a page is not read
    older = Path("captures") / "2026" / "durov.html"
    older.parent.mkdir(parents=True)
    older.write_bytes(DUROV_FEED.read_bytes().replace(b"Apple Watch", b"Apple Clock"))
    (Path("captures") / "2026" / "durov_files").mkdir()
    (Path("captures") / "2026" / "durov_files" / "frame.html").write_text("<html></html>")
    assert main(["import", "captures"]) == 0
    out, err = capsys.readouterr()
    assert "captures/2026/durov.html: channel 'Pavel Durov'" in out and "frame" not in err
