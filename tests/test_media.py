"""One line per kind of attachment, for alerts, search results, exports and `dozor post`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from dozor.media import MAX_LENGTH, attachment_snippet, describe_media, map_link
from dozor.query import parse


@pytest.mark.parametrize(
    ("media", "line"),
    [
        (
            {"type": "photo", "width": 1280, "height": 853, "size": 183244},
            "photo 1280×853 · 178.9 KB",
        ),
        (
            {"type": "video_file", "duration": 94, "width": 1920, "height": 1080},
            "video 1:34 · 1920×1080",
        ),
        ({"type": "voice_message", "duration": 3725}, "voice message 1:02:05"),
        ({"type": "animation"}, "GIF"),
        (
            {"type": "document", "file_name": "отчет  2024.pdf", "size": 1258291},
            "file отчет 2024.pdf · 1.2 MB",
        ),
        (
            {"type": "audio_file", "performer": "Оркестр", "title": "Мекеним", "duration": 200},
            "audio: Оркестр — Мекеним · 3:20",
        ),
        ({"type": "sticker", "sticker_emoji": "😀"}, "sticker 😀"),
        (
            {
                "type": "poll",
                "poll": {"question": "Кто?", "answers": [{"text": "Да"}, {"text": "Жок"}]},
            },
            "poll: Кто? — Да / Жок",
        ),
        (
            {
                "type": "venue",
                "location": {"latitude": 42.8746, "longitude": 74.5698},
                "place_name": "ИИМ",
                "address": "Фрунзе көч., 469",
            },
            "place: ИИМ, Фрунзе көч., 469 · 42.87460, 74.56980",
        ),
        (
            {"type": "location", "location": {"latitude": 42.8746, "longitude": 74.5698}},
            "location 42.87460, 74.56980",
        ),
        (
            {
                "type": "contact",
                "contact": {"first_name": "Асан", "last_name": "Усенов", "phone_number": "+996312"},
            },
            "contact: Асан Усенов +996312",
        ),
        ({"type": "dice", "dice": {"emoticon": "🎲", "value": 4}}, "dice: 🎲 4"),
        ({"type": "game"}, "game"),
        ({"type": "game", "title": "Игра"}, "game: Игра"),
        (
            {"type": "poll", "poll": "not a poll"},
            "poll",
        ),  # damaged metadata: the kind is still told
        ({"type": "location", "location": {"latitude": True, "longitude": "x"}}, "location"),
        ({"type": "video_file", "duration": -1, "size": "big"}, "video"),
        (None, None),
        ({}, None),
    ],
)
def test_each_kind_is_told_in_one_line(media: dict[str, Any] | None, line: str | None) -> None:
    assert describe_media(media) == line


def test_a_long_description_is_cut() -> None:
    poll = {"question": "вопрос " * 100, "answers": [{"text": "ответ"}]}
    line = describe_media({"type": "poll", "poll": poll})
    assert line is not None and len(line) == MAX_LENGTH and line.endswith("…")


def test_what_a_query_matched_is_marked_in_the_details_only() -> None:
    poll = {"type": "poll", "poll": {"question": "poll или рейд?", "answers": [{"text": "Да"}]}}
    snippet = attachment_snippet(parse("poll OR рейд"), poll)
    assert snippet is not None and snippet.text == "poll: poll или рейд? — Да"
    assert snippet.marked("[", "]") == "poll: [poll] или [рейд]? — Да"  # not the kind's name
    assert attachment_snippet(None, poll) == replace(snippet, spans=[])
    assert attachment_snippet(parse("рейд"), None) is None


def test_a_place_links_to_its_point_on_a_map() -> None:
    venue = {"type": "venue", "location": {"latitude": 42.8746, "longitude": 74.5698}}
    assert map_link(venue) == (
        "https://www.openstreetmap.org/?mlat=42.87460&mlon=74.56980#map=16/42.87460/74.56980"
    )
    assert map_link({"type": "location", "location": {"latitude": 91, "longitude": 0}}) is None
    assert map_link({"type": "photo"}) is None
