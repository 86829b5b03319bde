"""Printing for humans (tables) and machines (--json)."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from dozor.edits import words_unchanged


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Path):
        return str(value)
    return value


def print_json(value: Any) -> None:
    json.dump(to_jsonable(value), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def stdout_console() -> Console:
    # Piped output is not wrapped at 80 columns: whole rows are easier to grep.
    width = None if sys.stdout.isatty() else 200
    return Console(highlight=False, soft_wrap=False, width=width)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def format_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def print_table(title: str | None, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, show_lines=False, header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:  # cells are plain text: a title like "[/x]" is not Rich markup
        table.add_row(*(Text("—" if cell is None else str(cell)) for cell in row))
    stdout_console().print(table)


def beyond_words_text(
    body: Text, changes: Sequence[str], *, words_changed: bool, indent: str = ""
) -> Text:
    """*body* (an edit's word diff, if its words changed) and the edit's other changes
    (``dozor.edits.changes_beyond_words``), one a line."""
    if not words_changed:
        body.append(f"({words_unchanged(changes)})", style="dim")
    for line in changes:
        body.append(f"\n{indent}• {line}", style="yellow")
    return body
