"""Moments given on the command line: a date, a date and time, or a span back from now."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from dozor.errors import UserError

_SPAN = re.compile(r"(\d{1,6})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(value: str | None, option: str, now: datetime) -> datetime | None:
    """``2024-11-01``, ``2024-11-01T09:30`` (UTC unless a zone is given: ``+06:00``), or a
    span back from *now*: ``90m``, ``24h``, ``7d``, ``2w``."""
    if value is None:
        return None
    span = _SPAN.fullmatch(value.strip())
    if span is not None:
        return now - timedelta(**{_UNITS[span[2]]: int(span[1])})
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        raise UserError(
            f"{option} {value!r}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM, or a span back from now "
            "such as 24h or 7d"
        ) from None
    except OverflowError:  # year 1 or 9999 moved to UTC
        raise UserError(f"{option} {value!r}: out of range in UTC") from None
