"""Reading one big JSON object without holding it: a scan of its top level, then its array.

A Telegram Desktop export is one JSON object whose ``messages`` array can run to gigabytes;
parsed whole, its Python objects take about four times the file's size. The scan reads the file
once through ijson's C parser, keeping only the top-level scalars, the array's length, its
highest ``id`` and its first entries; the items are then read again one at a time. A
whole-account export keeps its chats in lists: :func:`scan_lists` scans each chat like a
document of its own, and an :class:`ArrayReader` reads their messages chat after chat.

The streaming parser differs from a whole-file one in a few corners (a lone surrogate escape
becomes "?", integers beyond 64 bits are refused), and its errors do not say line and column.
:class:`ExportReader` notices surrogate escapes, and the caller parses such files, and those
the scan refuses, whole instead: the rare odd file costs memory, never its data or a clear
error message.
"""

from __future__ import annotations

import codecs
import hashlib
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeGuard

import ijson

# what the parser raises for a document it refuses (a bad byte in a string surfaces as a
# UnicodeDecodeError, not a JSONError)
REFUSED: tuple[type[Exception], ...] = (ijson.JSONError, ValueError)
_READ_SIZE = 1 << 20
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# Telegram Desktop writes a control character in a string as "\x0B", which JSON does not know
# (an escaped backslash before an x, "\\x", is left alone)
_DESKTOP_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\x([0-9A-Fa-f]{2})")
_STARTS = {"start_map": dict, "start_array": list}
_ENDS = ("end_map", "end_array")


def repair_escapes(data: bytes) -> bytes:
    """*data* with Telegram Desktop's "\\xHH" escapes written as JSON's "\\u00HH"."""
    if b"\\x" not in data:
        return data
    return _DESKTOP_ESCAPE.sub(rb"\1\\u00\2", data)


class ExportReader:
    """An export file as the parser should see it. It hashes and counts every byte read,
    skips a UTF-8 byte-order mark (Windows tools write one), repairs Desktop's ``\\x0B``
    escapes, and notices surrogate escapes (``\\ud800``), which the C parser would turn into
    "?" without a word."""

    def __init__(self, raw: BinaryIO, on_read: Callable[[int], None] | None = None) -> None:
        self._raw = raw
        self._on_read = on_read  # hears how many bytes were read so far
        self._read = 0
        self._sha = hashlib.sha256()
        self._tail = b""
        self._pending = b""  # the end of the last chunk, held back (see _repaired)
        self._started = False
        self.has_surrogate_escapes = False

    def read(self, size: int = -1) -> bytes:
        while True:
            chunk = self._raw.read(size)
            data = self._repaired(self._take_in(chunk), final=not chunk)
            if data or not chunk:  # never an empty read before the end: it would mean EOF
                return data

    def _take_in(self, chunk: bytes) -> bytes:
        """Hash, count and look through *chunk*; strip the byte-order mark."""
        self._sha.update(chunk)
        self._read += len(chunk)
        if self._on_read is not None and chunk:
            self._on_read(self._read)
        if not self.has_surrogate_escapes:
            found = _SURROGATE_ESCAPE.search(self._tail + chunk)
            self.has_surrogate_escapes = found is not None
            self._tail = chunk[-5:]
        if not self._started and chunk:  # (ijson first reads 0 bytes to learn the type)
            self._started = True
            chunk = chunk.removeprefix(codecs.BOM_UTF8)
        return chunk

    def _repaired(self, chunk: bytes, *, final: bool) -> bytes:
        """*chunk* with Desktop's escapes repaired. A run of backslashes near its end may be
        an escape cut in two: it waits for the next chunk."""
        data = self._pending + chunk
        cut = len(data)
        last = -1 if final else data.rfind(b"\\", max(0, len(data) - 4))
        if last != -1:
            cut = last
            while cut > 0 and data[cut - 1] == 0x5C:  # back to the start of the run
                cut -= 1
        data, self._pending = data[:cut], data[cut:]
        return repair_escapes(data)

    def hexdigest(self) -> str:
        """SHA-256 of the whole file, reading what the parser left unread."""
        while self.read(_READ_SIZE):
            pass
        return self._sha.hexdigest()


@dataclass
class TopLevel:
    """What the scan kept of a JSON document."""

    is_object: bool = False
    # top-level members: scalars as read, arrays and objects as an empty list or dict
    fields: dict[str, Any] = field(default_factory=dict)
    items: int = 0  # entries of the array
    first: list[Any] = field(default_factory=list)  # its first entries, whole
    highest_id: int = 0  # the highest integer ``id`` of an entry that is an object


def scan(reader: ExportReader, array: str, *, keep_first: int) -> TopLevel:
    """Scan a document; raises one of :data:`REFUSED` if the parser refuses it."""
    document = _ObjectScan(array, keep_first)
    for path, event, value in ijson.parse(reader, use_float=True, buf_size=_READ_SIZE):
        document.feed(path, event, value)
    return document.top


def scan_lists(
    reader: ExportReader, lists: tuple[str, ...], array: str, *, keep_first: int
) -> list[tuple[str, TopLevel]]:
    """Scan each object in the arrays at the paths *lists* (as "chats.list") like a document
    of its own: (its list, what was kept), in file order. Entries that are not objects are
    left out."""
    found: list[tuple[str, TopLevel]] = []
    starts = {f"{name}.item": name for name in lists}
    current: _ObjectScan | None = None
    prefix = ""
    for path, event, value in ijson.parse(reader, use_float=True, buf_size=_READ_SIZE):
        if current is None and event == "start_map" and path in starts:
            current, prefix = _ObjectScan(array, keep_first), path
            found.append((starts[path], current.top))
        if current is None:
            continue
        if path == prefix:
            current.feed("", event, value)
            current = None if event == "end_map" else current
        elif path.startswith(prefix) and path[len(prefix)] == ".":
            current.feed(path[len(prefix) + 1 :], event, value)
    return found


class _ObjectScan:
    """Keeps what :class:`TopLevel` holds of one object, fed the parser's events with paths
    relative to it ("" is the object itself, "messages.item.id" a member of an entry)."""

    def __init__(self, array: str, keep_first: int) -> None:
        self.top = TopLevel()
        self._entry, self._entry_id = f"{array}.item", f"{array}.item.id"
        self._keep_first = keep_first
        self._builder: ijson.ObjectBuilder | None = None

    def feed(self, path: str, event: str, value: Any) -> None:
        if path == self._entry_id:
            if event == "number" and _is_int(value) and value > self.top.highest_id:
                self.top.highest_id = value
        elif path == self._entry:
            self._entry_event(event, value)
        elif "." not in path:
            self._own_event(path, event, value)
        if self._builder is not None and path.startswith(self._entry):
            self._builder.event(event, value)

    def _entry_event(self, event: str, value: Any) -> None:
        """An entry of the array starts (or is a scalar) or ends."""
        top = self.top
        if event in _ENDS:
            if self._builder is not None:
                self._builder.event(event, value)
                top.first.append(self._builder.value)
                self._builder = None
        elif event != "map_key":
            top.items += 1
            if top.items > self._keep_first:
                return
            if event in _STARTS:
                self._builder = ijson.ObjectBuilder()  # fed this event by feed()
            else:
                top.first.append(value)

    def _own_event(self, path: str, event: str, value: Any) -> None:
        """An event of the object itself (path "") or of one of its members (path = its name)."""
        top = self.top
        if path == "":
            top.is_object = top.is_object or event == "start_map"
        elif not top.is_object:
            return  # the entries of an array
        elif event in _STARTS:
            top.fields[path] = _STARTS[event]()
        elif event not in _ENDS and event != "map_key":
            top.fields[path] = value


def array_items(raw: BinaryIO, array: str) -> Iterator[Any]:
    """The entries of the top-level member *array* of a file, one at a time."""
    reader = ExportReader(raw)  # for the byte-order mark and Desktop's escapes
    return ijson.items(reader, f"{array}.item", use_float=True, buf_size=_READ_SIZE)  # type: ignore[no-any-return]


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class ArrayReader:
    """The entries at *array* ("chats.list.item.messages") of a file, taken run by run by
    consumers one after another (the chats of an account export): the file is parsed once as
    long as no run starts before the previous one ended, and closed after the last of *total*."""

    def __init__(self, file: Path, array: str, total: int) -> None:
        self._file, self._array, self._total = file, array, total
        self._raw: BinaryIO | None = None
        self._entries: Iterator[Any] = iter(())
        self._position = 0

    def take(self, start: int, count: int) -> Iterator[Any]:
        """Entries start … start + count - 1; raises OSError or one of :data:`REFUSED`."""
        if self._raw is None or self._position > start:
            self._open()
        self._position += sum(1 for _ in itertools.islice(self._entries, start - self._position))
        for entry in itertools.islice(self._entries, count):
            self._position += 1
            yield entry
        if self._position >= self._total:
            self.close()

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
        self._raw, self._entries, self._position = None, iter(()), 0

    def _open(self) -> None:
        self.close()
        self._raw = self._file.open("rb")
        self._entries = array_items(self._raw, self._array)
