"""Reading a Telegram Desktop channel export into dozor records (no database here).

Two eras of the format are understood (see docs/DECISIONS.md):

* legacy (Desktop before mid-2021): integer ``from_id``/``actor_id`` carrying a peer-type shift,
  local-time ``date`` strings only, text as a string or a list of parts;
* current: ``"channel123"`` peer ids, ``date_unixtime``/``edited_unixtime``, ``text_entities``,
  ``reactions``, ``forwarded_from_id`` and media sizes.

A message that cannot be read is skipped with a warning naming it; the rest still imports.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, TypeGuard

import orjson

from dozor.channel_refs import username_of
from dozor.errors import ImportFormatError
from dozor.ids import (
    CHANNEL_MARK,
    INT32,
    is_digits,
    marked_channel_id,
    parse_desktop_peer_id,
    unshift_legacy_channel_id,
)
from dozor.importer import jsonstream
from dozor.records import (
    NOT_EXPORTED,
    Button,
    ChannelRecord,
    Entity,
    Forward,
    Media,
    PostRecord,
    Reaction,
    make_entity,
)

CHANNEL_TYPES = ("public_channel", "private_channel")
ACCOUNT_LISTS = ("chats.list", "left_chats.list")  # where a whole-account export keeps chats
_MAX_INT64 = (1 << 63) - 1
# what Desktop writes instead of a file's path when the file is not in the export
# (export_output_json.cpp, pushPath; a name may come before it)
_NOT_EXPORTED = re.compile(
    r"(?:^|\s)\(File (?:not included|exceeds maximum size|unavailable)[^)]*\)$"
)
_SAMPLE_SIZE = 200  # the first messages tell the format's era
_UNREADABLE: tuple[type[Exception], ...] = (OSError, *jsonstream.REFUSED)
# Desktop type names are dozor's canonical entity names; a few extras are renamed.
ENTITY_EXTRAS = {
    "href": "url",
    "language": "language",
    "user_id": "user_id",
    "document_id": "document_id",
    "collapsed": "collapsed",
}
_SAME_NAMES = {name: name for name in ENTITY_EXTRAS.values()}  # full_entities use dozor's
_EXTRA_TYPES: dict[str, type | tuple[type, ...]] = {
    "url": str,
    "language": str,
    "user_id": (int, str),
    "document_id": (int, str),
}
_SURROGATE = re.compile("[\ud800-\udfff]")
_MEDIA_TYPE = re.compile(r"[a-z_]{1,32}")  # as posts.media_type holds
_MOJIBAKE = re.compile(r"[ÐÑ][\u0080-\u00bf€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ]")


class SkipMessage(Exception):
    """This message cannot be imported; the reason is shown to the user."""


@dataclass(frozen=True)
class DesktopExport:
    """A checked export: what was learned of it, and its messages read on demand."""

    path: Path
    file_sha256: str
    format: str  # "desktop" or "desktop-legacy"
    channel: ChannelRecord
    message_count: int  # entries of 'messages', readable or not
    newest_message_id: int  # the highest message id (0 if none): how late it shows the channel
    has_exact_dates: bool  # current exports carry Unix times; legacy ones only local times
    loaded: list[Any] | None = None  # the messages, for a file that had to be parsed whole
    # In a whole-account export, the channel's messages are the message_count entries after
    # the first `skip` of all chats' messages in its list, read by that list's reader.
    shared: jsonstream.ArrayReader | None = None
    skip: int = 0
    # The entries, made by another reader (an HTML export's files, parsed one at a time).
    source: Callable[[], Iterator[Any]] | None = None
    # What the export is when it is a rendering ("HTML export"): it then adds to the archive
    # and never overrides it (see importer.run.archive_first).
    rendering: str | None = None

    def messages(self) -> Generator[Any]:
        """The entries of 'messages', in order, one at a time (a big file is never held)."""
        if self.loaded is not None:
            yield from self.loaded
            return
        if self.source is not None:
            yield from self.source()
            return
        try:
            if self.shared is not None:
                yield from self.shared.take(self.skip, self.message_count)
                return
            with self.path.open("rb") as raw:
                yield from jsonstream.array_items(raw, "messages")
        except _UNREADABLE:
            raise ImportFormatError(
                f"{self.path}: could not be read again while importing; was it changed? "
                "Import it again: what was imported stays"
            ) from None


def locate_result_json(path: Path) -> Path:
    if path.is_dir():
        candidate = path / "result.json"
        if candidate.is_file():
            return candidate
        if (path / "messages.html").is_file():
            raise ImportFormatError(
                f"{path}: this is an HTML export; import it with `dozor import PATH --channel "
                "CHANNEL` (an HTML export does not say which channel it is)"
            )
        raise ImportFormatError(
            f"{path}: no result.json, messages.html or saved t.me/s page in this folder or below"
            f"{_dozor_export_hint(path)}"
        )
    if not path.exists():
        raise ImportFormatError(f"{path}: no such file or folder")
    return path


def _dozor_export_hint(folder: Path) -> str:
    """What to import instead when *folder* is one of dozor's own exports."""
    made = dozor_export_format(folder)
    return "" if made is None else f"; it is {not_reimportable(made)}"


def dozor_export_format(folder: Path) -> str | None:
    """The format of the dozor export *folder* holds (its ``manifest.json`` says), if any."""
    try:
        manifest = orjson.loads((folder / "manifest.json").read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or "dozor_version" not in manifest:
        return None
    return str(manifest.get("format"))


def not_reimportable(made: str) -> str:
    return (
        f"a dozor {made} export: dozor re-imports only those made with "
        "`dozor export --format desktop`"
    )


@dataclass(frozen=True)
class ExportFile:
    """The channels a Desktop export file holds: one for a chat export, each channel of a
    whole-account export ("Export Telegram data")."""

    exports: list[DesktopExport]
    notes: list[str]  # what was left out, and why
    reread: Path | None = None  # checked, but its messages are to be read again from here


def read_export(path: Path) -> DesktopExport:
    """Open and check a Desktop export of one channel (file or folder)."""
    found = read_exports(path)
    if len(found.exports) != 1 or found.notes:
        raise ImportFormatError(f"{path}: a whole-account export; import it with `dozor import`")
    return found.exports[0]


def read_exports(path: Path, progress: Callable[[int, int], None] | None = None) -> ExportFile:
    """Open and check a Desktop export (file or folder); raises ImportFormatError if unusable.

    The file is scanned, not held: messages are read again by :meth:`DesktopExport.messages`.
    A file the streaming parser cannot take faithfully is parsed whole (see jsonstream).
    *progress* hears (bytes scanned, bytes to scan), from this thread."""
    result = locate_result_json(path)
    try:
        size = result.stat().st_size
        with result.open("rb") as raw:
            reader = jsonstream.ExportReader(raw, _scanned(progress, 0, size))
            top = _scan(reader)
            if top is None or reader.has_surrogate_escapes:
                return _read_whole(result)
            digest = reader.hexdigest()
        if _is_account(top):  # a second scan, of each chat
            chats = _scan_chats(result, _scanned(progress, size, size))
            return _account_exports(result, digest, chats)
    except OSError as exc:
        raise ImportFormatError(f"{result}: cannot read: {exc.strerror}") from None
    return ExportFile([_export(result, digest, top)], [])


def _scan(reader: jsonstream.ExportReader) -> jsonstream.TopLevel | None:
    try:
        return jsonstream.scan(reader, "messages", keep_first=_SAMPLE_SIZE)
    except jsonstream.REFUSED:
        return None  # parsed whole, which says what is wrong, line and column


def _scanned(
    progress: Callable[[int, int], None] | None, before: int, size: int
) -> Callable[[int], None] | None:
    """Bytes read by a scan, as progress: *before* bytes were scanned by an earlier pass."""
    if progress is None:
        return None
    return lambda read: progress(before + read, before + size)


def _scan_chats(
    path: Path, on_read: Callable[[int], None] | None
) -> list[tuple[str, jsonstream.TopLevel]]:
    with path.open("rb") as raw:
        reader = jsonstream.ExportReader(raw, on_read)
        return jsonstream.scan_lists(reader, ACCOUNT_LISTS, "messages", keep_first=_SAMPLE_SIZE)


def _read_whole(path: Path) -> ExportFile:
    blob = path.read_bytes()
    with ThreadPoolExecutor(1) as pool:  # hashlib releases the GIL: hash while parsing
        digest = pool.submit(lambda: hashlib.sha256(blob).hexdigest())
        data = _parse_json(path, blob)
        top = _top_level_of(data)
        if _is_account(top):
            chats = list(_account_chats(data))
            tops = [(name, _top_level_of(chat)) for name, chat in chats]
            return _account_exports(
                path, digest.result(), tops, [chat.get("messages") for _, chat in chats]
            )
        export = _export(path, digest.result(), top)
    return ExportFile([replace(export, loaded=data["messages"])], [])


def _account_chats(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(list, chat) for each chat object of a whole-account export, as scan_lists sees them."""
    for name in ACCOUNT_LISTS:
        section, _, key = name.partition(".")
        holder = data.get(section)
        chats = holder.get(key) if isinstance(holder, dict) else None
        for chat in chats if isinstance(chats, list) else []:
            if isinstance(chat, dict):
                yield name, chat


def _account_exports(
    path: Path,
    digest: str,
    chats: list[tuple[str, jsonstream.TopLevel]],
    loaded: list[Any] | None = None,
) -> ExportFile:
    """The channels of a whole-account export; other chats (people, groups, bots) are left
    out, and said so."""
    exports: list[DesktopExport] = []
    notes: list[str] = []
    others: Counter[str] = Counter()
    skip: Counter[str] = Counter()  # messages of earlier chats in each list
    totals = Counter[str]()
    for name, top in chats:
        totals[name] += top.items
    readers = {  # one per list: its chats are read one after another
        name: jsonstream.ArrayReader(path, f"{name}.item.messages", total)
        for name, total in totals.items()
    }
    for number, (name, top) in enumerate(chats):
        first, skip[name] = skip[name], skip[name] + top.items
        kind = top.fields.get("type")
        if kind not in CHANNEL_TYPES:
            others[kind if isinstance(kind, str) else "unknown"] += 1
            continue
        where = f"{path}, chat {top.fields.get('name')!r}"
        try:
            export = _export(path, digest, top, where=where)
        except ImportFormatError as exc:
            notes.append(f"{exc}; that chat is left out")
            continue
        if loaded is not None:
            export = replace(export, loaded=loaded[number])
        exports.append(replace(export, shared=readers[name], skip=first))
    if others:
        notes.append(
            f"{path}: a whole-account export; left out what is not a channel: {_kinds(others)}"
        )
    if not exports:
        raise ImportFormatError(
            f"{path}: this whole-account export holds no channels; export them too (Export "
            "Telegram data → Public channels, Private channels), or open the channel and use "
            "⋮ → Export chat history (JSON)"
        )
    return ExportFile(exports, notes)


def _kinds(counts: Counter[str]) -> str:
    """How many chats of each kind, as "1 personal chat, 2 private groups"."""
    return ", ".join(
        f"{count} {kind.replace('_', ' ')}{'s' if count > 1 else ''}"
        for kind, count in counts.items()
    )


def _is_account(top: jsonstream.TopLevel) -> bool:
    return top.is_object and ("chats" in top.fields or "personal_information" in top.fields)


def _top_level_of(data: Any) -> jsonstream.TopLevel:
    """What a scan would have kept of *data*."""
    if not isinstance(data, dict):
        return jsonstream.TopLevel()
    messages = data.get("messages")
    fields = {k: type(v)() if isinstance(v, list | dict) else v for k, v in data.items()}
    top = jsonstream.TopLevel(is_object=True, fields=fields)
    if isinstance(messages, list):
        top.items, top.first = len(messages), messages[:_SAMPLE_SIZE]
        ids = (m.get("id") for m in messages if isinstance(m, dict))
        top.highest_id = max([0, *(i for i in ids if _is_int(i))])
    return top


def _export(
    path: Path, digest: str, top: jsonstream.TopLevel, *, where: str | None = None
) -> DesktopExport:
    channel, legacy = _channel_of(where or str(path), top)
    exact = any(isinstance(m, dict) and "date_unixtime" in m for m in top.first[:50])
    return DesktopExport(
        path=path,
        file_sha256=digest,
        format="desktop-legacy" if legacy else "desktop",
        channel=channel,
        message_count=top.items,
        newest_message_id=top.highest_id,
        has_exact_dates=exact,
    )


def _parse_json(path: Path, blob: bytes) -> Any:
    blob = jsonstream.repair_escapes(blob)
    try:
        return orjson.loads(blob)
    except orjson.JSONDecodeError:
        pass  # orjson refuses lone surrogates that Desktop sometimes writes; retry leniently
    try:
        text = blob.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFormatError(
            f"{path}: not UTF-8 text (byte {exc.start}); is this a Telegram Desktop JSON export?"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        what = "truncated" if exc.pos >= len(text.rstrip()) else "not valid JSON"
        raise ImportFormatError(
            f"{path}: {what} at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None


def _channel_of(path: str, top: jsonstream.TopLevel) -> tuple[ChannelRecord, bool]:
    if not top.is_object:
        raise ImportFormatError(
            f"{path}: not a Telegram Desktop export (top level is not an object)"
        )
    data = top.fields
    kind = data.get("type")
    if kind not in CHANNEL_TYPES:
        shown = kind if isinstance(kind, str) else "an unknown kind of chat"
        raise ImportFormatError(
            f"{path}: this is an export of {shown}, not of a channel; dozor archives channels"
        )
    if not isinstance(data.get("messages"), list):
        raise ImportFormatError(f"{path}: no 'messages' list; is the export complete?")
    bare = data.get("id")
    if isinstance(bare, bool) or not isinstance(bare, int) or not 0 < bare <= _MAX_INT64:
        raise ImportFormatError(f"{path}: missing or invalid channel 'id' ({bare!r})")
    legacy = _is_legacy(top.first)
    if legacy:
        bare = unshift_legacy_channel_id(bare)
    if bare > _MAX_INT64 - CHANNEL_MARK:  # its marked id would not fit a 64-bit column
        raise ImportFormatError(f"{path}: missing or invalid channel 'id' ({data.get('id')!r})")
    name = data.get("name")
    title = name if isinstance(name, str) and name.strip() else None  # None: keep what we know
    username = data.get("username")  # only dozor's own exports have it
    username = username_of(username) if isinstance(username, str) else None
    return ChannelRecord(id=marked_channel_id(bare), title=title, username=username), legacy


def _is_legacy(messages: list[Any]) -> bool:
    """Legacy exports wrote peer ids as integers; current ones as "channel123" strings."""
    for message in messages[:_SAMPLE_SIZE]:
        if not isinstance(message, dict):
            continue
        for key in ("from_id", "actor_id"):
            value = message.get(key)
            if isinstance(value, str):
                return False
            if isinstance(value, int) and not isinstance(value, bool):
                return True
        if "date_unixtime" in message:
            return False
    return True


@dataclass(frozen=True)
class Converted:
    record: PostRecord
    warnings: list[str]
    # dozor's own exports mark posts deleted on Telegram: when the archive saw it (None: the
    # export does not say)
    deleted: bool = False
    deleted_at: datetime | None = None


def convert_messages(
    export: DesktopExport,
    *,
    tz: tzinfo,
    on_skip: Callable[[str], None],
    entries: Iterable[Any] | None = None,
    start: int = 0,
) -> Iterator[Converted]:
    """Records for the readable messages; *on_skip* hears why the others were skipped.

    *entries*: some of the export's messages, the first being entry number *start*; by default
    all of them."""
    legacy = export.format == "desktop-legacy"
    messages = export.messages() if entries is None else entries
    for index, raw in enumerate(messages, start):
        try:
            yield convert_message(raw, channel_id=export.channel.id, legacy=legacy, tz=tz)
        except SkipMessage as exc:
            on_skip(f"{_describe(raw, index)} skipped: {exc}")


def _describe(raw: Any, index: int) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("id"), int):
        return f"message {raw['id']}"
    return f"entry #{index + 1} of 'messages'"


def convert_message(raw: Any, *, channel_id: int, legacy: bool, tz: tzinfo) -> Converted:
    if not isinstance(raw, dict):
        raise SkipMessage("not an object")
    message_id = _message_id(raw.get("id"))
    if message_id is None:  # Telegram's are int32, as are the archive's columns
        raise SkipMessage(f"invalid id {raw.get('id')!r}")
    kind = raw.get("type", "message")
    if kind == "unsupported":  # all Desktop writes of a message it cannot read: its id
        raise SkipMessage("Telegram Desktop exported only its id (media Desktop cannot show)")
    if kind not in ("message", "service"):
        raise SkipMessage(f"unsupported type {kind!r}")
    warnings: list[str] = []
    date = _timestamp(raw, "date", tz)
    if date is None:
        raise SkipMessage("missing or invalid date")
    text, entities = _text_and_entities(raw, warnings)
    text = _clean_text(text, message_id, warnings)
    if "full_entities" in raw:
        entities = _full_entities(raw["full_entities"], len(text), warnings) or entities
    record = PostRecord(
        channel_id=channel_id,
        message_id=message_id,
        date=date,
        kind=kind,
        text=text,
        entities=entities,
        edit_date=_timestamp(raw, "edited", tz),
        edit_time_unknown=raw.get("edit_time_unknown") is True,  # dozor's own exports
        author_signature=_str(raw.get("author")),
        views=_count(raw, "views", warnings, INT32),  # int32 on Telegram, as in the archive
        forwards=_count(raw, "forwards", warnings, INT32),
        replies=_count(raw, "replies", warnings, INT32),
        reactions=_reactions(raw, warnings),
        reply_to_message_id=_reply_to(raw, channel_id, legacy),
        forward=_forward(raw, legacy, tz),
        grouped_id=_int(raw.get("grouped_id")),
        media=_storable(_media(raw, warnings), warnings) if kind == "message" else None,
        service_action=_storable(_service_action(raw), warnings) if kind == "service" else None,
        buttons=_buttons(raw, warnings),
    )
    deleted = raw.get("deleted") is True
    return Converted(
        record,
        [f"message {message_id}: {w}" for w in warnings],
        deleted=deleted,
        deleted_at=_timestamp(raw, "deleted", tz) if deleted else None,
    )


def _timestamp(raw: dict[str, Any], key: str, tz: tzinfo) -> datetime | None:
    unix = raw.get(f"{key}_unixtime")
    if unix is not None:
        seconds = _int(unix)
        if seconds is not None and 0 < seconds < 32_503_680_000:
            return datetime.fromtimestamp(seconds, UTC)
    value = raw.get(key)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 moved out of what a datetime holds
        return None


def _text_and_entities(raw: dict[str, Any], warnings: list[str]) -> tuple[str, list[Entity]]:
    parts = raw.get("text_entities")
    if not isinstance(parts, list):
        parts = raw.get("text", "")
    if parts is None:
        return "", []
    if isinstance(parts, str):
        return parts, []
    if not isinstance(parts, list):
        raise SkipMessage("text is neither a string nor a list of parts")
    return read_text_parts(parts, warnings)


def read_text_parts(parts: list[Any], warnings: list[str]) -> tuple[str, list[Entity]]:
    """Text and entities (offsets in code points) of Desktop's ``text_entities`` parts;
    SkipMessage for a part that cannot be read."""
    chunks: list[str] = []
    entities: list[Entity] = []
    offset = 0
    for part in parts:
        chunk, kind, extras = _text_part(part, warnings)
        if kind != "plain" and chunk:
            entities.append(make_entity(kind, offset, len(chunk), **extras))
        chunks.append(chunk)
        offset += len(chunk)
    return "".join(chunks), entities


def _full_entities(value: Any, text_length: int, warnings: list[str]) -> list[Entity] | None:
    """The complete entity list dozor's own Desktop-style export adds when formatting is nested
    (parts cannot hold it); None, with a warning, when it does not fit the text."""
    if not isinstance(value, list) or not all(_fits(e, text_length) for e in value):
        warnings.append("unreadable 'full_entities'; formatting read from the text parts")
        return None
    return [
        make_entity(e["type"], e["offset"], e["length"], **_extras(e, _SAME_NAMES, warnings))
        for e in value
    ]


def _fits(entity: Any, text_length: int) -> bool:
    if not isinstance(entity, dict) or not isinstance(entity.get("type"), str):
        return False
    offset, length = entity.get("offset"), entity.get("length")
    if not _is_int(offset) or not _is_int(length):
        return False
    return 0 <= offset < offset + length <= text_length


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _text_part(part: Any, warnings: list[str]) -> tuple[str, str, dict[str, Any]]:
    if isinstance(part, str):
        return part, "plain", {}
    if not isinstance(part, dict) or not isinstance(part.get("text"), str):
        raise SkipMessage("unreadable text part")
    kind = part.get("type")
    extras = _extras(part, ENTITY_EXTRAS, warnings) if len(part) > 2 else {}
    return str(part["text"]), kind if isinstance(kind, str) else "plain", extras


def _extras(raw: dict[str, Any], names: dict[str, str], warnings: list[str]) -> dict[str, Any]:
    """An entity's extras (*names*: the export's key -> dozor's), those of the wrong type left
    out with a warning: a link is a string, an id a string or number, ``collapsed`` a flag."""
    extras = {}
    for key in (k for k in names if k in raw):
        name, value = names[key], raw[key]
        if _valid_extra(name, value):
            extras[name] = value
        else:
            warnings.append(f"ignored invalid {key} {value!r} of a {raw.get('type')} entity")
    return extras


def _valid_extra(name: str, value: Any) -> bool:
    if name == "collapsed":
        return isinstance(value, bool)
    return isinstance(value, _EXTRA_TYPES[name]) and not isinstance(value, bool)


def _clean_text(text: str, message_id: int, warnings: list[str]) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        warnings.append("text holds invalid characters (lone surrogates); replaced with U+FFFD")
        text = _SURROGATE.sub("\ufffd", text)
    if ("Ð" in text or "Ñ" in text) and _MOJIBAKE.search(text):
        repaired = _demojibake(text)
        if repaired is not None:
            warnings.append(
                f"text looks mis-decoded ({text[:20]!r} reads as {repaired[:20]!r}); "
                "stored as found"
            )
    return text


def _demojibake(text: str) -> str | None:
    for codec in ("cp1252", "latin-1"):
        try:
            return text.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and is_digits(value.lstrip("-")):
        value = int(value)
    if isinstance(value, int) and -_MAX_INT64 <= value <= _MAX_INT64:
        return value
    return None


def _message_id(value: Any) -> int | None:
    """*value* if it can be a message id (a positive int32), else None."""
    return value if _is_int(value) and 0 < value <= INT32 else None


def _count(
    raw: dict[str, Any], key: str, warnings: list[str], maximum: int = _MAX_INT64
) -> int | None:
    """A count from 0 to *maximum*, or None (with a warning if it was present but wrong)."""
    if key not in raw:
        return None
    value = _int(raw[key])
    if value is None or not 0 <= value <= maximum:
        warnings.append(f"ignored invalid {key} {raw[key]!r}")
        return None
    return value


def _reply_to(raw: dict[str, Any], channel_id: int, legacy: bool) -> int | None:
    peer = raw.get("reply_to_peer_id")
    if peer is not None and parse_desktop_peer_id(peer, legacy=legacy) != channel_id:
        return None  # a reply to another chat's message: its id means nothing here
    return _message_id(_int(raw.get("reply_to_message_id")))


def _forward(raw: dict[str, Any], legacy: bool, tz: tzinfo) -> Forward | None:
    name = _str(raw.get("forwarded_from"))
    from_id = parse_desktop_peer_id(raw.get("forwarded_from_id"), legacy=legacy)
    message_id = _message_id(_int(raw.get("forwarded_from_message_id")))
    if name is None and from_id is None:
        return None
    return Forward(
        from_id=from_id,
        from_name=name,
        message_id=message_id,
        date=_timestamp(raw, "forwarded_date", tz),
    )


def _reactions(raw: dict[str, Any], warnings: list[str]) -> list[Reaction] | None:
    value = raw.get("reactions")
    if value is None:
        return None
    if not isinstance(value, list):
        warnings.append("ignored unreadable reactions")
        return None
    reactions: list[Reaction] = []
    for item in value:
        count = _int(item.get("count")) if isinstance(item, dict) else None
        if count is None or count < 0 or not isinstance(item.get("type"), str):
            warnings.append(f"ignored unreadable reaction {item!r}")
            continue
        reaction: Reaction = {"type": item["type"], "count": count}
        if isinstance(item.get("emoji"), str):
            reaction["emoji"] = item["emoji"]
        if item.get("document_id") is not None:
            reaction["document_id"] = str(item["document_id"])
        reactions.append(reaction)
    return reactions


def _buttons(raw: dict[str, Any], warnings: list[str]) -> list[list[Button]] | None:
    """``inline_bot_buttons``: rows of {type, text, data}, a URL button's address its data.
    Desktop writes them only under a post that has some, so their absence says nothing: None
    (not known), which never passes for buttons taken away."""
    value = raw.get("inline_bot_buttons")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(row, list) for row in value):
        warnings.append("ignored unreadable inline_bot_buttons")
        return None
    rows = []
    for line in value:
        row: list[Button] = []
        for item in line:
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                warnings.append(f"ignored unreadable button {item!r}")
                continue
            button: Button = {"type": _str(item.get("type")) or "url", "text": item["text"]}
            data = item.get("data")
            if button["type"] in _BUTTONS_WITH_ADDRESS and isinstance(data, str) and data:
                button["url"] = data
            row.append(button)
        if row:
            rows.append(row)
    return rows


_BUTTONS_WITH_ADDRESS = frozenset({"url", "auth", "web_view", "simple_web_view"})
_MEDIA_TEXT_KEYS = ("file_name", "mime_type", "performer", "title", "sticker_emoji")
_MEDIA_COUNT_KEYS = {"width": "width", "height": "height", "duration_seconds": "duration"}


def _media(raw: dict[str, Any], warnings: list[str]) -> Media | None:
    if "photo" in raw:
        media: Media = {"type": "photo", **_file_ref(raw.get("photo"), "file")}
        media["size"] = _size(raw, "photo_file_size", warnings)
    elif "file" in raw or "media_type" in raw:
        media = {
            "type": _media_type(raw.get("media_type"), warnings),
            **_file_ref(raw.get("file"), "file"),
        }
        media["size"] = _size(raw, "file_size", warnings)
        media.update(_file_ref(raw.get("thumbnail"), "thumbnail"))
        media.update({key: _str(raw.get(key)) for key in _MEDIA_TEXT_KEYS})
    else:
        other = _other_media(raw, warnings)
        if other is None:
            return None
        media = other
    for key, name in _MEDIA_COUNT_KEYS.items():
        if key in raw:
            media[name] = _count(raw, key, warnings)
    if raw.get("media_spoiler") is True:
        media["spoiler"] = True
    return {key: value for key, value in media.items() if value is not None}


def _media_type(value: Any, warnings: list[str]) -> str:
    """Desktop's kind of file (video_file, voice_message…); "document" when it names none."""
    if value is None:
        return "document"
    if isinstance(value, str) and _MEDIA_TYPE.fullmatch(value):
        return value
    warnings.append(f"unreadable media_type {value!r}; kept as a document")
    return "document"


def _file_ref(value: Any, key: str) -> dict[str, Any]:
    """The exported file's relative path, or a note that the export left it out."""
    if not isinstance(value, str) or not value:
        return {}
    if _NOT_EXPORTED.search(value):
        return {key + NOT_EXPORTED: True}
    return {key: value}


def _size(raw: dict[str, Any], key: str, warnings: list[str]) -> int | None:
    return _count(raw, key, warnings) if key in raw else None


def _other_media(raw: dict[str, Any], warnings: list[str]) -> Media | None:
    if isinstance(raw.get("poll"), dict):
        return {"type": "poll", "poll": _poll(raw["poll"], warnings)}
    if isinstance(raw.get("location_information"), dict):
        kind = "venue" if raw.get("place_name") else "location"
        return {
            "type": kind,
            "location": raw["location_information"],
            "place_name": _str(raw.get("place_name")),
            "address": _str(raw.get("address")),
        }
    if isinstance(raw.get("contact_information"), dict):
        return {"type": "contact", "contact": raw["contact_information"]}
    if isinstance(raw.get("game_title"), str):
        return {"type": "game", "title": raw["game_title"]}
    if isinstance(raw.get("invoice_information"), dict):
        return {"type": "invoice", "invoice": raw["invoice_information"]}
    if isinstance(raw.get("dice"), dict):
        return {"type": "dice", "dice": raw["dice"]}
    return None


def _poll(value: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    """A poll as Desktop writes one (question, closed, total_voters, answers of text, voters,
    chosen); what does not fit is left out, with a warning."""
    answers = value.get("answers")
    listed = answers if isinstance(answers, list) else []
    readable = [
        {
            "text": answer["text"],
            "voters": _votes(answer.get("voters")),
            "chosen": answer.get("chosen") is True,
        }
        for answer in listed
        if isinstance(answer, dict) and isinstance(answer.get("text"), str)
    ]
    question = value.get("question")
    if not isinstance(question, str) or len(readable) != len(listed) or listed is not answers:
        warnings.append("parts of an unreadable poll left out")
    return {
        "question": question if isinstance(question, str) else "",
        "closed": value.get("closed") is True,
        "total_voters": _votes(value.get("total_voters")),
        "answers": readable,
    }


def _votes(value: Any) -> int:
    return value if _is_int(value) and 0 <= value <= INT32 else 0


_SERVICE_BASE_KEYS = {
    "id",
    "type",
    "date",
    "date_unixtime",
    "actor",
    "actor_id",
    "action",
    "text",
    "text_entities",
    "edited",
    "edited_unixtime",
    # written by `dozor export --format desktop`; not part of what happened
    "deleted",
    "deleted_unixtime",
}


# Numbers the archive cannot store and read back as they were: PostgreSQL's jsonb writes 1e16
# as 10000000000000000, which reads back as an integer, and neither NaN nor infinity is JSON.
# No count, coordinate or size of Telegram's comes near.
_LARGEST_FLOAT = 1e15


def _storable(value: Any, warnings: list[str]) -> Any:
    """*value* (an attachment's or an action's details, passed on as the export has them)
    with every number the archive cannot keep exactly left out, with a warning."""
    if isinstance(value, dict):
        return {key: _storable(item, warnings) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item, warnings) for item in value]
    if isinstance(value, float) and not abs(value) < _LARGEST_FLOAT:  # NaN fails it too
        warnings.append(f"ignored the number {value!r}, beyond what the archive keeps exactly")
        return None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_INT64:
        warnings.append(f"ignored the number {value!r}, beyond what the archive keeps exactly")
        return None
    return value


def _service_action(raw: dict[str, Any]) -> dict[str, Any]:
    action = raw.get("action")
    details = {k: v for k, v in raw.items() if k not in _SERVICE_BASE_KEYS}
    return {"type": action if isinstance(action, str) else "unknown", **details}
