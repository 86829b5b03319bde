"""JSON Lines and CSV writers: one post per line or row, written as the posts stream by.

The JSON Lines record is lossless and versioned (``SCHEMA_VERSION``, see docs/EXPORT.md); the
CSV row flattens it for spreadsheets: ISO times in UTC, reactions as ``👍 12 · ❤ 3``, the
media file name, the number of archived versions.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, BinaryIO, Protocol

import orjson

from dozor.media import describe_media
from dozor.records import buttons_line, reactions_line
from dozor.search.engine import post_link

SCHEMA_VERSION = 1


def sorted_keys(value: Any) -> Any:
    """*value* with every object's keys in sorted order. PostgreSQL's jsonb does not keep the
    order keys were written in, and an export must not depend on the backend."""
    if isinstance(value, dict):
        return {key: sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sorted_keys(item) for item in value]
    return value


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def post_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """The documented JSON record of a post row from ``iter_posts``."""
    forwarded = row["forwarded_from_id"] is not None or row["forwarded_from_name"]
    record: dict[str, Any] = {
        "channel": {
            "id": row["channel_id"],
            "username": row["channel_username"],
            "title": row["channel_title"],
        },
        "id": row["message_id"],
        "link": post_link(row["channel_id"], row["channel_username"], row["message_id"]),
        "kind": row["kind"],
        "date": _iso(row["date"]),
        "edit_date": _iso(row["edit_date"]),
        "edit_time_unknown": row["edit_time_unknown"],
        "text": row["text"],
        "entities": sorted_keys(row["entities"] or []),
        "author_signature": row["author_signature"],
        "views": row["views"],
        "forwards": row["forwards"],
        "replies": row["replies"],
        "reactions": sorted_keys(row["reactions"]),
        "reply_to_message_id": row["reply_to_message_id"],
        "forwarded_from": {
            "id": row["forwarded_from_id"],
            "name": row["forwarded_from_name"],
            "message_id": row["forwarded_from_message_id"],
            "date": _iso(row["forwarded_from_date"]),
        }
        if forwarded
        else None,
        "grouped_id": row["grouped_id"],
        "media_type": row["media_type"],
        "media": sorted_keys(row["media"]),
        "service_action": sorted_keys(row["service_action"]),
        "version": row["current_version"],
        "content_sha256": row["content_sha256"],
        "first_seen_at": _iso(row["first_seen_at"]),
        "deleted_at": _iso(row["deleted_at"]),
        "expires_at": _iso(row["expires_at"]),
        "restriction": row["restriction"],
        "buttons": sorted_keys(row["buttons"]),
    }
    if "versions" in row:
        record["versions"] = [_version_json(v) for v in row["versions"]]
    if "metrics" in row:
        record["metrics"] = [_sample_json(m) for m in row["metrics"]]
    return record


def _sample_json(sample: Any) -> dict[str, Any]:
    """A counter sample (a row of ``iter_posts``' ``metrics``, read by attribute)."""
    return {
        "sampled_at": _iso(sample.sampled_at),
        "views": sample.views,
        "forwards": sample.forwards,
        "replies": sample.replies,
        "reactions": sorted_keys(sample.reactions),
        "rounded": sample.rounded,
    }


def _version_json(version: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "version": version["version"],
        "text": version["text"],
        "entities": sorted_keys(version["entities"] or []),
        "media": sorted_keys(version["media"]),
        "edit_date": _iso(version["edit_date"]),
        "edit_time_unknown": version["edit_time_unknown"],
        "observed_at": _iso(version["observed_at"]),
        "source": version["source"],
        "content_sha256": version["content_sha256"],
        "buttons": sorted_keys(version.get("buttons")),
    }


CSV_COLUMNS = (
    "channel_id",
    "channel_username",
    "channel_title",
    "message_id",
    "link",
    "date",
    "edit_date",
    "text",
    "views",
    "forwards",
    "replies",
    "reactions",
    "author_signature",
    "reply_to_message_id",
    "forwarded_from_id",
    "forwarded_from_name",
    "forwarded_from_message_id",
    "grouped_id",
    "media_type",
    "media_file_name",
    "attachment",
    "versions",
    "deleted_at",
    "edit_time_unknown",
    # Added later, so at the end: a tool reading columns by position still finds the others.
    "expires_at",
    "restriction",
    "buttons",
)


def post_csv_row(row: Mapping[str, Any]) -> list[Any]:
    media = row["media"] or {}
    return [
        row["channel_id"],
        row["channel_username"] or "",
        spreadsheet_text(row["channel_title"]),
        row["message_id"],
        post_link(row["channel_id"], row["channel_username"], row["message_id"]),
        _iso(row["date"]),
        _iso(row["edit_date"]) or "",
        spreadsheet_text(row["text"]),
        _blank(row["views"]),
        _blank(row["forwards"]),
        _blank(row["replies"]),
        reactions_line(row["reactions"]),
        spreadsheet_text(row["author_signature"] or ""),
        _blank(row["reply_to_message_id"]),
        _blank(row["forwarded_from_id"]),
        spreadsheet_text(row["forwarded_from_name"] or ""),
        _blank(row["forwarded_from_message_id"]),
        _blank(row["grouped_id"]),
        row["media_type"] or "",
        spreadsheet_text(media.get("file_name") or ""),
        spreadsheet_text(describe_media(media) or ""),
        len(row["versions"]) if "versions" in row else row["current_version"],
        _iso(row["deleted_at"]) or "",
        "true" if row["edit_time_unknown"] else "false",
        _iso(row["expires_at"]) or "",
        spreadsheet_text(row["restriction"] or ""),
        spreadsheet_text(buttons_line(row["buttons"])),
    ]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: str) -> str:
    """Text a spreadsheet would run as a formula (``=HYPERLINK(…)`` in a hostile channel's
    post) gets a leading apostrophe, which makes it a plain text cell (OWASP's advice)."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _blank(value: object) -> object:
    return "" if value is None else value


class ExportWriter(Protocol):
    extension: str
    columns: tuple[str, ...] | None  # posts columns it reads (None: all)

    def begin(self, out: BinaryIO) -> None: ...

    def write(self, out: BinaryIO, rows: Sequence[Mapping[str, Any]]) -> None: ...


class JsonLinesWriter:
    extension = "jsonl"
    columns: tuple[str, ...] | None = None

    def begin(self, out: BinaryIO) -> None:
        """JSON Lines has no header."""

    def write(self, out: BinaryIO, rows: Sequence[Mapping[str, Any]]) -> None:
        out.write(
            b"".join(orjson.dumps(post_json(row), option=orjson.OPT_APPEND_NEWLINE) for row in rows)
        )


class CsvWriter:
    """RFC 4180 CSV in UTF-8; *bom* makes Excel read the Cyrillic right."""

    extension = "csv"
    columns: tuple[str, ...] | None = (
        "date",
        "edit_date",
        "text",
        "views",
        "forwards",
        "replies",
        "reactions",
        "author_signature",
        "reply_to_message_id",
        "forwarded_from_id",
        "forwarded_from_name",
        "forwarded_from_message_id",
        "grouped_id",
        "media_type",
        "media",
        "current_version",
        "deleted_at",
        "edit_time_unknown",
        "expires_at",
        "restriction",
        "buttons",
    )

    def __init__(self, *, bom: bool = False) -> None:
        self.bom = bom
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\r\n")

    def begin(self, out: BinaryIO) -> None:
        if self.bom:
            out.write("\ufeff".encode())
        self.write_header(out)

    def write_header(self, out: BinaryIO) -> None:
        self._csv.writerow(CSV_COLUMNS)
        self._flush(out)

    def write(self, out: BinaryIO, rows: Sequence[Mapping[str, Any]]) -> None:
        self._csv.writerows(post_csv_row(row) for row in rows)
        self._flush(out)

    def _flush(self, out: BinaryIO) -> None:
        out.write(self._buffer.getvalue().encode())
        self._buffer.seek(0)
        self._buffer.truncate()


METRICS_CSV_COLUMNS = (
    "channel_id",
    "message_id",
    "link",
    "sampled_at",
    "views",
    "forwards",
    "replies",
    "reactions",
    "rounded",
)


class MetricsCsvWriter(CsvWriter):
    """``metrics.csv``: one row per counter sample of each post (``--with-metrics``), the
    long table a spreadsheet or a plotting tool pivots into views over time."""

    def write_header(self, out: BinaryIO) -> None:
        self._csv.writerow(METRICS_CSV_COLUMNS)
        self._flush(out)

    def write(self, out: BinaryIO, rows: Sequence[Mapping[str, Any]]) -> None:
        self._csv.writerows(
            _sample_csv_row(row, sample) for row in rows for sample in row["metrics"]
        )
        self._flush(out)


def _sample_csv_row(post: Mapping[str, Any], sample: Any) -> list[Any]:
    return [
        post["channel_id"],
        post["message_id"],
        post_link(post["channel_id"], post["channel_username"], post["message_id"]),
        _iso(sample.sampled_at),
        _blank(sample.views),
        _blank(sample.forwards),
        _blank(sample.replies),
        reactions_line(sample.reactions),
        "true" if sample.rounded else "false",
    ]


def writer_for(fmt: str, *, bom: bool = False) -> ExportWriter:
    if fmt == "jsonl":
        return JsonLinesWriter()
    if fmt == "csv":
        return CsvWriter(bom=bom)
    raise ValueError(f"unknown export format {fmt!r}")
