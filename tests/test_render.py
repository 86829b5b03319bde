"""Alert texts in Telegram's HTML: what an analyst reads, checked as Telegram would parse it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.render import (
    LIMIT,
    AlertContent,
    SearchPage,
    render_alert,
    render_channel_changes,
    render_diff,
    render_digest,
    render_post_changes,
    render_search,
    visible_length,
)
from dozor.query import parse
from dozor.storage.notices import ChannelChange
from dozor.storage.post_changes import PostChange
from tests.fakes.botapi import html_problem

BISHKEK = ZoneInfo("Asia/Bishkek")
ALERT = AlertContent(
    rule_name="Рейды",
    event_kind="new",
    channel_title="МВД",
    channel_link=None,
    post_link="https://t.me/mvd_test/10",
    date=datetime(2024, 11, 5, 8, 0, tzinfo=UTC),
    text="",
    query=None,
)


def test_an_edit_deep_in_a_long_post_is_shown_with_a_little_context() -> None:
    before = " ".join(f"слово{i}" for i in range(60)) + " задержаны трое <мигрантов> "
    before += " ".join(f"хвост{i}" for i in range(60))
    diff = render_diff(before, before.replace("трое", "пятеро"))
    assert html_problem(diff) is None
    assert diff == (
        "<i>before → after:</i>\n… слово57 слово58 слово59 задержаны <s>трое</s>"
        "<u><b>пятеро</b></u> &lt;мигрантов&gt; хвост0 хвост1 хвост2 …"
    )


def test_an_edit_that_takes_out_the_matched_words_says_so() -> None:
    before = "Задержаны двое мигрантов"
    edited = replace(ALERT, event_kind="edited", query=parse("мигрант"), previous_text=before)
    gone = render_alert(replace(edited, text="Задержаны двое граждан"), BISHKEK)
    assert html_problem(gone) is None
    assert "✂️ The edit took out the words this rule matched." in gone
    assert "<s>мигрантов</s><u><b>граждан</b></u>" in gone
    kept = render_alert(replace(edited, text="Задержаны трое мигрантов"), BISHKEK)
    assert "✂️" not in kept


def test_long_changes_are_cut_short_but_keep_their_marks() -> None:
    before = "Задержаны двое граждан"
    diff = render_diff(before, before.replace("двое", "трое") + " подробности" * 200)
    assert html_problem(diff) is None
    assert diff.startswith("<i>before → after:</i>\nЗадержаны <s>двое</s><u><b>трое</b></u>")
    assert "<u><b> подробности подробности" in diff and diff.endswith("…</b></u>")
    assert visible_length(diff) < 900
    many = " ".join(f"слово{i}" for i in range(600))  # a post as long as Telegram allows
    diff = render_diff(many, many.replace("слово1", "СЛОВО"))  # 111 changes
    assert html_problem(diff) is None
    assert diff.endswith(" …") and visible_length(diff) <= 900 + len("before → after:\n")
    assert diff.count("<s>") == diff.count("</s>") > 5


def test_a_mass_deletion_alert_says_how_many_posts_went() -> None:
    alert = replace(
        ALERT,
        rule_name="Удаления <МВД>",
        event_kind="mass_deleted",
        channel_link="https://t.me/mvd_test",
        text="Задержан мигрант",
        query=parse("мигрант"),
        deleted_count=12,
    )
    message = render_alert(alert, BISHKEK)
    assert html_problem(message) is None
    assert (
        message.splitlines()[0]
        == "🔔 <b>Удаления &lt;МВД&gt;</b> · 🗑 mass deletion (12 posts at once)"
    )
    assert "Last archived text:\nЗадержан <b>мигрант</b>" in message
    assert "2024-11-05 14:00 +06" in message


def test_an_alert_shows_the_attachment_and_what_matched_in_it() -> None:
    """The rule matched the poll's question: the post has no text, so the poll must show."""
    alert = replace(
        ALERT,
        query=parse("рейд"),
        media={
            "type": "poll",
            "poll": {"question": "Нужен ли рейд <сегодня>?", "answers": [{"text": "Да"}]},
        },
    )
    message = render_alert(alert, BISHKEK)
    assert html_problem(message) is None
    assert "📎 poll: Нужен ли <b>рейд</b> &lt;сегодня&gt;? — Да" in message.splitlines()
    album = render_alert(replace(alert, album_size=3), BISHKEK)
    assert "📎 album of 3" in album and "poll" not in album  # one line for the whole album


def test_a_digest_line_tells_the_attachment_of_a_post_without_text() -> None:
    item = {
        "id": 1,
        "event_kind": "new",
        "rule_name": "Рейды",
        "channel_id": -1001525384822,
        "channel_username": "mvd_test",
        "channel_title": "МВД",
        "message_id": 10,
        "date": datetime(2024, 11, 5, 8, 0, tzinfo=UTC),
        "post_text": "",
        "post_media": {"type": "poll", "poll": {"question": "Нужен ли рейд?", "answers": []}},
    }
    ((poll_line, ids),) = render_digest("digest_hourly", [item], BISHKEK)
    assert ids == [1] and poll_line.endswith("\n📎 poll: Нужен ли рейд?")
    ((empty, _),) = render_digest("digest_hourly", [{**item, "post_media": None}], BISHKEK)
    assert empty.endswith("\n<i>(no text)</i>")


def test_an_alert_about_a_place_links_to_the_map() -> None:
    venue = {
        "type": "venue",
        "location": {"latitude": 42.8746, "longitude": 74.5698},
        "place_name": "Пост ДПС",
    }
    alert = replace(ALERT, rule_name="ДПС", query=parse("дпс"), media=venue)
    message = render_alert(alert, BISHKEK)
    assert html_problem(message) is None
    assert (
        '📍 <a href="https://www.openstreetmap.org/?mlat=42.87460&amp;mlon=74.56980#map=16/'
        '42.87460/74.56980">place: Пост <b>ДПС</b> · 42.87460, 74.56980</a>'
    ) in message.splitlines()


def test_search_header_counts_in_words() -> None:
    def header(total: int, exact: bool) -> str:
        page = SearchPage("мигрант", total, exact, page=1, pages=1, hits=[])
        return render_search(page, ZoneInfo("Asia/Bishkek")).splitlines()[1]

    assert header(1, exact=True) == "1 result · page 1/1"
    assert header(1200, exact=True) == "1,200 results · page 1/1"
    assert header(1000, exact=False) == "at least 1,000 results · page 1/1"
    assert header(1, exact=False) == "at least 1 result · page 1/1"


def test_search_that_checked_only_part_says_so() -> None:
    zone = ZoneInfo("Asia/Bishkek")
    note = (
        "<i>only the first 200,000 candidate posts were checked (this query is checked post by "
        "post): add a word, channel:, after: or before: to reach the rest</i>"
    )
    nothing = SearchPage("/qq/", 0, False, page=1, pages=1, hits=[], checked_only=200_000)
    assert render_search(nothing, zone).splitlines()[1:] == ["No posts match.", note]
    some = SearchPage("/qq/", 7, False, page=1, pages=2, hits=[], checked_only=200_000)
    assert render_search(some, zone).splitlines()[1:3] == ["at least 7 results · page 1/2", note]


def test_changes_leave_out_the_oldest_that_would_not_fit_in_one_message() -> None:
    described = [
        ChannelChange(
            n, -1001, "МВД", "mvd_test", "about", f"{n} " + "описание " * 40, f"{n + 1} новое",
            datetime(2024, 11, 5, 8, n, tzinfo=UTC),
        )
        for n in range(30)
    ]  # fmt: skip
    text = render_channel_changes("МВД", described, BISHKEK)
    kept = int(text.split("the latest ")[1].split()[0])
    assert 1 < kept < 30 and len(text) <= LIMIT
    assert len(text) + len(render_channel_changes("МВД", described[-1:], BISHKEK)) > LIMIT
    assert "<u><b>30</b></u>" in text and "<u><b>1</b></u>" not in text  # the newest stay
    assert html_problem(text) is None


def test_events_fit_one_message_dropping_the_oldest() -> None:
    at = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    channel = {"id": -1001525384822, "title": "МВД <КР>", "username": None}

    def deleted(number: int) -> PostChange:
        version = {"version": 1, "text": f"пост {number} " + "текст & " * 60, "media": None}
        return PostChange(
            "deleted",
            at,
            at,
            "live",
            channel,
            {"message_id": number, "kind": "message"},
            version,
            None,
            {},
        )

    text, shown = render_post_changes([deleted(n) for n in range(40, 15, -1)], None, BISHKEK)
    blocks = text.split("\n\n")
    assert shown == len(blocks) - 1
    assert 5 < len(blocks) - 1 < 25  # 25 do not fit: the newest that do are shown
    assert blocks[-1].startswith(
        f'🗑 deleted <a href="https://t.me/c/1525384822/{42 - len(blocks)}"'
    )
    assert visible_length(text) <= LIMIT and html_problem(text) is None
    assert blocks[1].startswith(
        '🗑 deleted <a href="https://t.me/c/1525384822/40">#40</a> · <b>МВД &lt;КР&gt;</b> · '
        "2026-11-27 15:00 +06\nпост 40 текст &amp; текст"
    )
    assert blocks[1].endswith("…") and visible_length(blocks[1].split("\n")[1]) == 201


def test_an_event_of_a_service_message_names_its_action() -> None:
    at = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    channel = {"id": -1001525384822, "title": "МВД", "username": "mvd_test"}
    pin = {"message_id": 9, "kind": "service", "service_action": {"type": "pin_message"}}
    version = {"version": 1, "text": "", "media": None}
    change = PostChange("deleted", at, at, "live", channel, pin, version, None, {})
    text, _ = render_post_changes([change], "МВД", BISHKEK)
    assert text.endswith("\n<i>service message: pin_message</i>")
