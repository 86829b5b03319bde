"""Reading Telegram Desktop exports into records: the real samples and broken inputs."""

from __future__ import annotations

import codecs
import functools
import hashlib
import io
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dozor.errors import ImportFormatError
from dozor.importer import jsonstream
from dozor.importer.desktop import (
    Converted,
    DesktopExport,
    SkipMessage,
    _top_level_of,
    convert_message,
    convert_messages,
    read_export,
    read_exports,
)
from dozor.importer.jsonstream import array_items
from dozor.query.document import searchable_text
from tests.conftest import DESKTOP
from tests.helpers import account_export

CHANNEL = -1001292077344


def _records(export: DesktopExport) -> dict[int, Converted]:
    skipped: list[str] = []
    converted = {
        c.record.message_id: c for c in convert_messages(export, tz=UTC, on_skip=skipped.append)
    }
    assert skipped == []
    return converted


def test_2021_sample_channel_and_formats() -> None:
    export = read_export(DESKTOP / "tg2md-private-channel-2021")
    assert export.path.name == "result.json"
    assert export.format == "desktop"
    assert export.channel.id == CHANNEL
    assert export.channel.title == "test"
    assert not export.has_exact_dates
    assert export.message_count == len(list(export.messages())) == 19
    assert export.loaded is None  # streamed, not held


def test_2020_sample_maps_to_the_same_channel_despite_shifted_ids() -> None:
    export = read_export(DESKTOP / "tg2md-private-channel-2020" / "result.json")
    assert export.format == "desktop-legacy"
    assert export.channel.id == CHANNEL


def test_text_parts_become_text_and_entities_in_code_points() -> None:
    records = _records(read_export(DESKTOP / "tg2md-private-channel-2021"))
    post = records[14].record
    assert post.text == "text link\n\nexample.com\n\nexample@example.com"
    assert post.entities == [
        {"type": "text_link", "offset": 0, "length": 11, "url": "http://example.com/"},
        {"type": "link", "offset": 11, "length": 11},
        {"type": "email", "offset": 24, "length": 19},
    ]
    pre = records[5].record.entities[-1]
    assert pre == {"type": "pre", "offset": 40, "length": 9}  # empty language dropped
    assert records[5].record.text[40:49] == "monospace"


def test_media_metadata_and_dates() -> None:
    records = _records(read_export(DESKTOP / "tg2md-private-channel-2021"))
    photo = records[3].record
    assert photo.media == {
        "type": "photo",
        "file": "photos/photo_1@12-11-2020_12-57-31.jpg",
        "width": 801,
        "height": 526,
    }
    voice = records[7].record
    assert voice.media == {
        "type": "voice_message",
        "file": "voice_messages/audio_1@12-11-2020_13-01-05.ogg",
        "mime_type": "audio/ogg",
        "duration": 2,
    }
    assert records[22].record.media is not None
    assert records[22].record.media["thumbnail"] == "files/dice.svg_thumb.jpg"
    assert records[2].record.date == datetime(2020, 11, 12, 12, 54, 7, tzinfo=UTC)
    assert records[5].record.edit_date == datetime(2020, 11, 12, 13, 3, tzinfo=UTC)
    service = records[1].record
    assert service.kind == "service"
    assert service.service_action == {"type": "create_channel", "title": "test"}


def test_legacy_dates_follow_the_given_zone() -> None:
    export = read_export(DESKTOP / "tg2md-private-channel-2021")
    converted = convert_message(
        list(export.messages())[1], channel_id=CHANNEL, legacy=False, tz=ZoneInfo("Asia/Bishkek")
    )
    assert converted.record.date == datetime(2020, 11, 12, 6, 54, 7, tzinfo=UTC)


def test_current_format_fields() -> None:
    export = read_export(DESKTOP / "current-format-early")
    assert export.format == "desktop"
    assert export.has_exact_dates
    assert export.channel.id == -1001525384822
    records = _records(export)
    post = records[3].record
    assert post.date == datetime(2024, 3, 2, 8, 0, tzinfo=UTC)  # from date_unixtime, not local
    assert post.edit_date == datetime(2024, 3, 2, 8, 20, tzinfo=UTC)
    assert post.author_signature == "Пресс-служба"
    assert post.reactions == [
        {"type": "emoji", "count": 12, "emoji": "👍"},
        {"type": "custom_emoji", "count": 3, "document_id": "5368324170671202286"},
    ]
    assert post.text.startswith("Внимание! Возбуждено уголовное дело.")
    link = next(e for e in post.entities if e["type"] == "text_link")
    assert post.text[link["offset"] : link["offset"] + link["length"]] == "сайт МВД"
    video = records[5].record.media
    assert video is not None
    assert video["size"] == 2147483648
    assert video["type"] == "video_file"
    assert video["duration"] == 94
    forward = records[6].record.forward
    assert forward is not None
    assert (forward.from_id, forward.from_name) == (-1001399999999, "Пограничная служба")
    assert records[7].record.reply_to_message_id == 3
    assert records[8].record.service_action == {"type": "pin_message", "message_id": 3}


def _write(tmp_path: Path, payload: Any, name: str = "result.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1, 2, 3], "top level is not an object"),
        ({"about": "x", "personal_information": {}, "chats": {"list": []}}, "whole-account export"),
        ({"name": "Bob", "type": "personal_chat", "id": 5, "messages": []}, "personal_chat"),
        ({"name": "x", "type": "public_channel", "id": 5}, "no 'messages' list"),
        ({"name": "x", "type": "public_channel", "messages": []}, "invalid channel 'id'"),
        ({"name": "x", "type": "public_channel", "id": "abc", "messages": []}, "invalid channel"),
        (  # its marked id, -(10**12 + id), would not fit a 64-bit column
            {"name": "x", "type": "public_channel", "id": 2**63 - 10, "messages": []},
            "invalid channel 'id'",
        ),
    ],
)
def test_wrong_kinds_of_json_are_refused_clearly(
    tmp_path: Path, payload: Any, message: str
) -> None:
    with pytest.raises(ImportFormatError, match=message):
        read_export(_write(tmp_path, payload))


def test_truncated_file(tmp_path: Path) -> None:
    whole = (DESKTOP / "tg2md-private-channel-2021" / "result.json").read_bytes()
    path = tmp_path / "result.json"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ImportFormatError, match="truncated at line"):
        read_export(path)


def test_not_json_and_not_utf8(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not JSON")
    with pytest.raises(ImportFormatError, match="not valid JSON at line 1"):
        read_export(text)
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF")
    with pytest.raises(ImportFormatError, match="not UTF-8"):
        read_export(binary)


def test_folders(tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match=r"no result\.json"):
        read_export(tmp_path)
    (tmp_path / "messages.html").write_text("<html></html>")
    with pytest.raises(ImportFormatError, match="HTML export"):
        read_export(tmp_path)
    with pytest.raises(ImportFormatError, match="no such file"):
        read_export(tmp_path / "missing")


def test_bad_messages_are_skipped_with_reasons_and_others_kept(tmp_path: Path) -> None:
    good = {
        "id": 3,
        "type": "message",
        "date": "2024-01-01T10:00:00",
        "text": "ok",
        "from_id": "channel5",
    }
    payload = {
        "name": "x",
        "type": "public_channel",
        "id": 1000000005,
        "messages": [
            "just a string",
            {"id": "seven", "type": "message", "date": "2024-01-01T10:00:00", "text": ""},
            {"id": 1, "type": "message", "text": "no date"},
            {"id": 2, "type": "message", "date": "yesterday", "text": "bad date"},
            {"id": 7, "type": "message", "date": "0001-01-01T00:00:00+05:00", "text": "year 0"},
            {"id": 4, "type": "unsupported_thing", "date": "2024-01-01T10:00:00"},
            {"id": 6, "type": "unsupported"},
            {"id": 2**31, "type": "message", "date": "2024-01-01T10:00:00", "text": "too big"},
            {"id": 5, "type": "message", "date": "2024-01-01T10:00:00", "text": [{"type": "bold"}]},
            good,
        ],
    }
    export = read_export(_write(tmp_path, payload))
    skipped: list[str] = []
    records = list(convert_messages(export, tz=UTC, on_skip=skipped.append))
    assert [c.record.message_id for c in records] == [3]
    assert skipped == [
        "entry #1 of 'messages' skipped: not an object",
        "entry #2 of 'messages' skipped: invalid id 'seven'",
        "message 1 skipped: missing or invalid date",
        "message 2 skipped: missing or invalid date",
        "message 7 skipped: missing or invalid date",
        "message 4 skipped: unsupported type 'unsupported_thing'",
        "message 6 skipped: Telegram Desktop exported only its id (media Desktop cannot show)",
        "message 2147483648 skipped: invalid id 2147483648",  # Telegram's ids are int32
        "message 5 skipped: unreadable text part",
    ]


def _one(raw: dict[str, Any]) -> Converted:
    base = {"id": 1, "type": "message", "date": "2024-01-01T10:00:00", "text": ""}
    return convert_message({**base, **raw}, channel_id=-1001000000005, legacy=False, tz=UTC)


def test_huge_and_invalid_sizes_warn_instead_of_failing() -> None:
    two_gb = _one({"file": "a.mp4", "file_size": 2 * 1024**3, "media_type": "video_file"})
    assert two_gb.record.media is not None
    assert two_gb.record.media["size"] == 2 * 1024**3
    assert two_gb.warnings == []
    absurd = _one({"file": "a.mp4", "file_size": 10**30, "views": -4})
    assert absurd.record.media is not None
    assert "size" not in absurd.record.media
    assert absurd.record.views is None
    assert absurd.warnings == [
        "message 1: ignored invalid views -4",
        f"message 1: ignored invalid file_size {10**30}",
    ]


def test_full_entities_of_dozor_exports_win_over_parts_unless_they_do_not_fit() -> None:
    parts = [
        {"type": "italic", "text": "жаңы "},
        {"type": "text_link", "text": "мыйзам", "href": "u"},
    ]
    nested = [
        {"type": "italic", "offset": 0, "length": 11},
        {"type": "text_link", "offset": 5, "length": 6, "url": "u"},
    ]
    whole = _one({"text": parts, "full_entities": nested})
    assert whole.record.text == "жаңы мыйзам"
    assert whole.record.entities == nested
    assert whole.warnings == []
    from_parts = [
        {"type": "italic", "offset": 0, "length": 5},
        {"type": "text_link", "offset": 5, "length": 6, "url": "u"},
    ]
    unfit: list[Any] = [[{**nested[0], "length": 12}], [{"type": "b", "offset": True, "length": 1}]]
    for bad in [*unfit, {}]:
        converted = _one({"text": parts, "full_entities": bad})
        assert converted.record.entities == from_parts
        assert converted.warnings == [
            "message 1: unreadable 'full_entities'; formatting read from the text parts"
        ]


def test_entity_details_of_the_wrong_type_are_left_out_with_a_warning() -> None:
    parts = [
        {"type": "text_link", "text": "сайт", "href": {"x": 1}},
        {"type": "custom_emoji", "text": "🎉", "document_id": "5368324170671202286"},
        {"type": "blockquote", "text": "цитата", "collapsed": "yes"},
    ]
    converted = _one({"text": parts, "text_entities": parts})
    assert converted.record.entities == [
        {"type": "text_link", "offset": 0, "length": 4},
        {"type": "custom_emoji", "offset": 4, "length": 1, "document_id": "5368324170671202286"},
        {"type": "blockquote", "offset": 5, "length": 6},
    ]
    assert converted.warnings == [
        "message 1: ignored invalid href {'x': 1} of a text_link entity",
        "message 1: ignored invalid collapsed 'yes' of a blockquote entity",
    ]
    full = [{"type": "mention_name", "offset": 0, "length": 4, "user_id": True}]
    converted = _one({"text": "Асан", "full_entities": full})
    assert converted.record.entities == [{"type": "mention_name", "offset": 0, "length": 4}]
    assert converted.warnings == [
        "message 1: ignored invalid user_id True of a mention_name entity"
    ]


def test_mojibake_is_kept_as_found_with_a_warning() -> None:
    garbled = "Тест".encode().decode("latin-1")
    converted = _one({"text": garbled})
    assert converted.record.text == garbled
    assert len(converted.warnings) == 1
    assert "'Тест'" in converted.warnings[0]


def test_lone_surrogates_are_replaced_with_a_warning(tmp_path: Path) -> None:
    raw = (
        '{"name": "x", "type": "public_channel", "id": 1000000005, "messages": '
        '[{"id": 1, "type": "message", "date": "2024-01-01T10:00:00", "text": "a\\ud800b"}]}'
    )
    path = tmp_path / "result.json"
    path.write_text(raw)
    export = read_export(path)
    converted = next(convert_messages(export, tz=UTC, on_skip=pytest.fail))
    assert converted.record.text == "a\ufffdb"
    assert "lone surrogates" in converted.warnings[0]


def test_reply_to_another_chat_is_not_taken_for_a_local_reply() -> None:
    local = _one({"reply_to_message_id": 9})
    assert local.record.reply_to_message_id == 9
    foreign = _one({"reply_to_message_id": 9, "reply_to_peer_id": "channel777"})
    assert foreign.record.reply_to_message_id is None


@pytest.mark.parametrize("kind", ["x" * 40, 5, "Video File"])
def test_a_media_type_desktop_does_not_write_is_a_document(kind: object) -> None:
    """posts.media_type holds Desktop's names (video_file, voice_message…), 32 letters at most."""
    converted = _one({"file": "files/a.bin", "media_type": kind})
    assert converted.record.media is not None and converted.record.media["type"] == "document"
    assert converted.warnings == [f"message 1: unreadable media_type {kind!r}; kept as a document"]
    assert _one({"file": "f.ogg", "media_type": "voice_message"}).record.media["type"] == (  # type: ignore[index]
        "voice_message"
    )


def test_numbers_beyond_telegrams_int32_are_not_taken() -> None:
    """Message ids and counters are int32 on Telegram and in the archive's columns (on
    PostgreSQL a larger one is an error)."""
    odd = _one(
        {"reply_to_message_id": 2**31, "forwarded_from": "X", "forwarded_from_message_id": 2**40}
    )
    assert odd.record.reply_to_message_id is None
    assert odd.record.forward is not None and odd.record.forward.message_id is None
    assert _one({"reply_to_message_id": 2**31 - 1}).record.reply_to_message_id == 2**31 - 1
    counted = _one({"views": 2**31, "forwards": 2**31 - 1})
    assert (counted.record.views, counted.record.forwards) == (None, 2**31 - 1)
    assert counted.warnings == ["message 1: ignored invalid views 2147483648"]


def test_skip_message_is_an_exception_with_reason() -> None:
    with pytest.raises(SkipMessage, match="not an object"):
        convert_message(None, channel_id=1, legacy=False, tz=UTC)


# Big exports are scanned and then streamed (dozor.importer.jsonstream); a file the streaming
# parser cannot take faithfully is parsed whole. Both readers must see the same document.

_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63) + 1, 2**63 - 1)  # yajl refuses -2**63; see the test below
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=8)
)
_JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["id", "text", "type", "x"]), inner, max_size=4)
    ),
    max_leaves=12,
)
_MESSAGES = st.lists(
    st.fixed_dictionaries({"id": st.integers(-5, 10**12)}, optional={"text": _JSON_VALUES})
    | _JSON_VALUES,
    max_size=8,
)
_DOCUMENTS = st.dictionaries(
    st.sampled_from(["name", "type", "id", "messages", "username", "about", "chats"]),
    _JSON_VALUES,
    max_size=5,
) | st.fixed_dictionaries(
    {"name": _JSON_VALUES, "messages": _MESSAGES}, optional={"id": _JSON_VALUES}
)


@settings(max_examples=300, deadline=None)
@given(document=_DOCUMENTS | _JSON_VALUES, keep=st.integers(0, 3))
def test_the_streaming_scan_sees_what_a_whole_parse_sees(document: Any, keep: int) -> None:
    blob = json.dumps(document, ensure_ascii=False).encode()
    reader = jsonstream.ExportReader(io.BytesIO(blob))
    streamed = jsonstream.scan(reader, "messages", keep_first=keep)
    whole = _top_level_of(json.loads(blob))
    whole.first = whole.first[:keep]
    assert streamed == whole
    assert reader.hexdigest() == hashlib.sha256(blob).hexdigest()
    if whole.is_object and isinstance(document.get("messages"), list):
        items = list(jsonstream.array_items(io.BytesIO(blob), "messages"))
        assert items == document["messages"]


def _export_bytes(messages: str, prefix: bytes = b"") -> bytes:
    header = '{"name": "x", "type": "public_channel", "id": 1000000005, "messages": ['
    return prefix + (header + messages + "]}").encode()


_MESSAGE = '{"id": 1, "type": "message", "date_unixtime": "1700000000", "text": "ok"'


def test_a_byte_order_mark_is_read_past_and_hashed(tmp_path: Path) -> None:
    blob = _export_bytes(_MESSAGE + "}", prefix=codecs.BOM_UTF8)
    path = tmp_path / "result.json"
    path.write_bytes(blob)
    export = read_export(path)
    assert export.loaded is None
    assert export.file_sha256 == hashlib.sha256(blob).hexdigest()
    assert [c.record.text for c in convert_messages(export, tz=UTC, on_skip=pytest.fail)] == ["ok"]


@pytest.mark.parametrize(
    ("extra", "warning"),
    [
        (', "views": 123456789012345678901234567890', "ignored invalid views"),
        (', "author": "a\\udc00b"', None),  # a lone surrogate the C parser would make "?"
    ],
)
def test_what_the_streaming_parser_cannot_read_faithfully_is_parsed_whole(
    tmp_path: Path, extra: str, warning: str | None
) -> None:
    path = tmp_path / "result.json"
    path.write_bytes(_export_bytes(_MESSAGE + extra + "}"))
    export = read_export(path)
    assert export.loaded is not None
    assert (export.message_count, export.newest_message_id) == (1, 1)
    converted = next(convert_messages(export, tz=UTC, on_skip=pytest.fail))
    if warning is not None:
        assert converted.warnings[0].startswith(f"message 1: {warning} 1.23456789")
    else:
        assert converted.record.author_signature == "a\udc00b"


def test_an_export_changed_after_it_was_checked_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_bytes(_export_bytes(_MESSAGE + "}"))
    export = read_export(path)
    path.write_bytes(_export_bytes(_MESSAGE)[:-10])
    with pytest.raises(ImportFormatError, match="could not be read again while importing"):
        list(export.messages())


@pytest.mark.parametrize("parsed_whole", [False, True])
def test_a_whole_account_export_yields_its_channels_as_their_own_exports_would(
    tmp_path: Path, parsed_whole: bool
) -> None:
    path = account_export(tmp_path / "account", lone_surrogate=parsed_whole)
    found = read_exports(tmp_path / "account")
    assert [e.loaded is not None for e in found.exports] == [parsed_whole] * 3
    assert found.notes == [
        f"{path}: a whole-account export; left out what is not a channel: "
        "1 personal chat, 2 private groups"
    ]
    early, channel_2021, left = found.exports
    assert (early.channel.id, channel_2021.channel.id, left.channel.id) == (
        -1001525384822,
        CHANNEL,
        -1001777000001,
    )
    assert left.channel.title == "Покинутый канал"
    for export, alone in (
        (early, "current-format-early"),
        (channel_2021, "tg2md-private-channel-2021"),
        (left, "media-kinds"),
    ):
        single = read_export(DESKTOP / alone)
        assert (export.format, export.has_exact_dates, export.newest_message_id) == (
            single.format,
            single.has_exact_dates,
            single.newest_message_id,
        )
        assert export.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        ours = [c.record for c in convert_messages(export, tz=UTC, on_skip=pytest.fail)]
        theirs = [c.record for c in convert_messages(single, tz=UTC, on_skip=pytest.fail)]
        if export is left:  # the fixture, given another channel's id
            theirs = [replace(r, channel_id=left.channel.id) for r in theirs]
        assert ours == theirs


def test_a_whole_account_export_without_channels_says_what_to_do(tmp_path: Path) -> None:
    payload = {
        "personal_information": {"user_id": 42},
        "chats": {"list": [{"name": "Айбек", "type": "personal_chat", "id": 5, "messages": []}]},
    }
    with pytest.raises(ImportFormatError, match="holds no channels; export them too"):
        read_exports(_write(tmp_path, payload))


def test_the_chats_of_an_account_export_are_read_in_one_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chats = [{"messages": [1, 2]}, {"messages": [3]}, {"messages": [4, 5, 6]}]
    path = _write(tmp_path, {"chats": {"list": chats}})
    parses: list[str] = []

    def counting(raw: Any, array: str) -> Any:
        parses.append(array)
        return array_items(raw, array)

    monkeypatch.setattr(jsonstream, "array_items", counting)
    reader = jsonstream.ArrayReader(path, "chats.list.item.messages", total=6)
    assert list(reader.take(0, 2)) == [1, 2]
    assert list(reader.take(3, 3)) == [4, 5, 6]  # the chat between is passed over
    assert len(parses) == 1
    assert list(reader.take(2, 1)) == [3]  # going back parses again
    assert len(parses) == 2


def _note(seen: list[tuple[int, int]], done: int, total: int) -> None:
    seen.append((done, total))


def test_the_scans_report_their_progress_in_bytes(tmp_path: Path) -> None:
    single = DESKTOP / "current-format-early" / "result.json"
    account = account_export(tmp_path / "account")
    for path, passes in ((single, 1), (account, 2)):
        seen: list[tuple[int, int]] = []
        read_exports(path, functools.partial(_note, seen))
        size = path.stat().st_size
        assert seen[-1] == (passes * size, passes * size)
        assert [done for done, _ in seen] == sorted(done for done, _ in seen)


class _Trickle(io.BytesIO):
    """A file that returns at most *step* bytes a read, to cut escapes in two."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__(data)
        self.step = step

    def read(self, size: int | None = -1) -> bytes:
        return super().read(self.step if size is None or size < 0 else min(size, self.step))


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(st.sampled_from([b"\\", b"x", b"0", b"B", b"a", b'"', b"\\x0B"])).map(b"".join),
    step=st.integers(1, 6),
)
def test_desktop_escapes_are_repaired_wherever_the_reads_cut_them(data: bytes, step: int) -> None:
    reader = jsonstream.ExportReader(_Trickle(data, step))
    out = b"".join(iter(lambda: reader.read(4), b""))
    assert out == jsonstream.repair_escapes(data)
    assert reader.hexdigest() == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("parsed_whole", [False, True])
def test_control_characters_as_desktop_writes_them_are_read(
    tmp_path: Path, parsed_whole: bool
) -> None:
    """Desktop writes U+000B (a line break pasted from Word) as "\\x0B", which is not JSON."""
    text = "Сводка\\x0Bза сутки \\\\x41"  # the second is a backslash and "x41"
    author = ', "author": "a\\udc00b"' if parsed_whole else ""
    path = tmp_path / "result.json"
    path.write_bytes(_export_bytes(_MESSAGE.replace('"ok"', f'"{text}"') + author + "}"))
    export = read_export(path)
    assert (export.loaded is not None) == parsed_whole
    (converted,) = convert_messages(export, tz=UTC, on_skip=pytest.fail)
    assert converted.record.text == "Сводка\x0bза сутки \\x41"


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("(File not included. Change data exporting settings to download.)", False),
        ("(File exceeds maximum size. Change data exporting settings to download.)", False),
        ("(File unavailable, please try again later)", False),
        ("report.pdf (File not included. Change data exporting settings to download.)", False),
        ("files/(File unavailable) copy.pdf", True),  # a file's own odd name
        ("files/report.pdf", True),
    ],
)
def test_every_way_desktop_says_a_file_is_not_in_the_export(value: str, kept: bool) -> None:
    media = _one({"file": value, "media_type": "video_file"}).record.media
    assert media is not None
    assert (media.get("file"), media.get("file_not_exported")) == (
        (value, None) if kept else (None, True)
    )


def test_escapes_cut_by_many_small_reads_still_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The C parser over the reader, with reads of 97 bytes: escapes and backslash runs fall
    on read boundaries all through the file."""
    monkeypatch.setattr(jsonstream, "_READ_SIZE", 97)
    texts = [f"строка {n}\\\\n" + "\\\\" * (n % 5) + "\\x0Bконец" for n in range(300)]
    messages = ",".join(
        f'{{"id": {n + 1}, "type": "message", "date_unixtime": "1700000000", "text": "{t}"}}'
        for n, t in enumerate(texts)
    )
    path = tmp_path / "result.json"
    path.write_bytes(_export_bytes(messages))
    export = read_export(path)
    assert (export.loaded, export.message_count) == (None, 300)
    got = [c.record.text for c in convert_messages(export, tz=UTC, on_skip=pytest.fail)]
    assert got == [json.loads(f'"{t}"'.replace("\\x0B", "\\u000B")) for t in texts]


def test_an_unreadable_poll_keeps_what_it_can() -> None:
    converted = _one(
        {
            "poll": {
                "question": 5,
                "closed": True,
                "total_voters": "many",
                "answers": [{"text": "Да", "voters": 3, "chosen": True}, {"voters": 1}, "Нет"],
            }
        }
    )
    assert converted.record.media == {
        "type": "poll",
        "poll": {
            "question": "",
            "closed": True,
            "total_voters": 0,
            "answers": [{"text": "Да", "voters": 3, "chosen": True}],
        },
    }
    assert converted.warnings == ["message 1: parts of an unreadable poll left out"]
    no_answers = _one({"poll": {"question": "Кто?", "answers": None}})
    assert no_answers.record.media is not None
    assert no_answers.record.media["poll"]["answers"] == []


def test_a_poll_an_older_dozor_stored_unchecked_is_still_searchable() -> None:

    assert (
        searchable_text("x", {"type": "poll", "poll": {"question": None, "answers": None}}) == "x"
    )
