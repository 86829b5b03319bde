"""What an edit changed besides its words (dozor.edits), as every view of an edit tells it."""

from __future__ import annotations

from typing import Any

from dozor.edits import MOST, changes_beyond_words, words_unchanged
from dozor.records import make_entity

PHOTO = {"type": "photo", "id": "501", "width": 1280, "height": 720}
TEXT = "Заявление МВД читайте здесь"  # МВД at 10, здесь at 22


def version(
    text: str = TEXT, entities: list[Any] | None = None, media: Any = None
) -> dict[str, Any]:
    return {"text": text, "entities": entities, "media": media}


def link(offset: int, length: int, url: str) -> dict[str, Any]:
    return make_entity("text_link", offset, length, url=url)


def test_only_words_changed_is_nothing_more() -> None:
    assert changes_beyond_words(version(media=PHOTO), version("Заявление", media=PHOTO)) == []


def test_an_attachment_added_removed_or_replaced_is_named() -> None:
    video = {"type": "video", "id": "9", "duration": 45, "width": 640, "height": 360}
    assert changes_beyond_words(version(), version(media=PHOTO)) == [
        "attachment added: photo 1280×720"
    ]
    assert changes_beyond_words(version(media=PHOTO), version()) == [
        "attachment removed: photo 1280×720"
    ]
    assert changes_beyond_words(version(media=PHOTO), version(media=video)) == [
        "attachment replaced: photo 1280×720 → video 0:45 · 640×360"
    ]
    other_photo = {**PHOTO, "id": "502"}
    assert changes_beyond_words(version(media=PHOTO), version(media=other_photo)) == [
        "attachment replaced by another photo 1280×720"
    ]


def test_an_attachment_an_export_knew_no_id_of_is_not_another_one() -> None:
    exported = {key: value for key, value in PHOTO.items() if key != "id"}
    assert changes_beyond_words(version(media=exported), version("Другой", media=PHOTO)) == []


def test_a_link_pointed_elsewhere_added_or_removed_is_told_with_its_words() -> None:
    before = version(entities=[link(22, 5, "https://mvd.kg/1")])
    after = version(entities=[link(22, 5, "https://mvd.kg/2")])
    assert changes_beyond_words(before, after) == [
        "link «здесь» now leads to https://mvd.kg/2 (was https://mvd.kg/1)"
    ]
    assert changes_beyond_words(version(), after) == ["link added: «здесь» → https://mvd.kg/2"]
    assert changes_beyond_words(before, version()) == ["link removed: «здесь» → https://mvd.kg/1"]


def test_a_link_whose_words_were_edited_is_the_word_diffs_business() -> None:
    before = version(entities=[link(22, 5, "https://mvd.kg/1")])
    after = version("Заявление МВД читайте тут", entities=[link(22, 3, "https://mvd.kg/1")])
    assert changes_beyond_words(before, after) == []


def test_a_mention_of_a_user_is_a_link_to_that_user() -> None:
    before = version(entities=[make_entity("mention_name", 10, 3, user_id=111)])
    after = version(entities=[make_entity("mention_name", 10, 3, user_id=222)])
    assert changes_beyond_words(before, after) == [
        "link «МВД» now leads to user 222 (was user 111)"
    ]


def test_formatting_is_told_on_words_both_versions_have() -> None:
    bold = make_entity("bold", 10, 3)
    assert changes_beyond_words(version(), version(entities=[bold])) == ["bold added on «МВД»"]
    assert changes_beyond_words(version(entities=[bold]), version()) == ["bold removed from «МВД»"]
    # Words that came with the edit, bold, are the word diff's.
    added = version("Заявление МВД читайте здесь СРОЧНО", entities=[make_entity("bold", 28, 6)])
    assert changes_beyond_words(version(), added) == []


def test_formatting_no_line_names_is_still_not_nothing() -> None:
    python = version("print(1)", [make_entity("pre", 0, 8, language="python")])
    text = version("print(1)", [make_entity("pre", 0, 8, language="text")])
    assert changes_beyond_words(python, text) == ["formatting changed"]


def test_what_telegram_finds_in_the_text_itself_is_not_formatting() -> None:
    tagged = version("#МВД сообщает", [make_entity("hashtag", 0, 4)])
    assert changes_beyond_words(version("#МВД сообщает"), tagged) == []


def test_many_changes_are_cut_short_with_a_count() -> None:
    words = [(0, 9), (10, 3), (14, 7), (22, 5)]
    styled = [make_entity(kind, *span) for kind in ("bold", "italic") for span in words]
    lines = changes_beyond_words(version(media=PHOTO), version(entities=styled))
    assert len(lines) == MOST
    assert lines[0] == "attachment removed: photo 1280×720"
    assert lines[-1] == f"…and {1 + len(styled) - MOST + 1} more changes"


def test_long_words_and_addresses_are_clipped() -> None:
    text = "ы" * 100
    long_url = "https://example.org/" + "x" * 200
    lines = changes_beyond_words(version(text), version(text, [link(0, 100, long_url)]))
    assert lines == [f"link added: «{'ы' * 40}…» → {long_url[:100]}…"]


def test_buttons_added_removed_or_leading_elsewhere_are_told() -> None:
    read = {"type": "url", "text": "Читать", "url": "https://mvd.kg/1"}
    vote = {"type": "callback", "text": "Голосовать"}
    before = {**version(), "buttons": [[read], [vote]]}
    after = {**version(), "buttons": [[{**read, "url": "https://example.org/"}]]}
    assert changes_beyond_words(before, after) == [
        "button «Читать» now leads to https://example.org/ (was https://mvd.kg/1)",
        "button removed: «Голосовать»",
    ]
    closed = {**version(), "buttons": [[{"type": "callback", "text": "Голосование закрыто"}]]}
    assert changes_beyond_words({**version(), "buttons": [[vote]]}, closed) == [
        "button removed: «Голосовать»",
        "button added: «Голосование закрыто»",
    ]


def test_buttons_not_known_on_either_side_are_not_compared() -> None:
    read = [[{"type": "url", "text": "Читать", "url": "https://mvd.kg/1"}]]
    assert (
        changes_beyond_words({**version(), "buttons": None}, {**version(), "buttons": read}) == []
    )
    assert changes_beyond_words(version(), {**version(), "buttons": read}) == []


def test_an_edit_that_left_the_words_says_so_and_whether_the_lines_tell_the_rest() -> None:
    assert words_unchanged(["bold added on «МВД»"]) == "text unchanged"
    assert words_unchanged([]) == "text unchanged; the attachment or formatting changed"
