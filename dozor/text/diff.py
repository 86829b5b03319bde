"""Word-level differences between two versions of a post's text (edit alerts, `dozor post`)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

_WORDS = re.compile(r"\s+|[^\s]+")


@dataclass(frozen=True, slots=True)
class Change:
    """A run of the texts: ``equal``, or words removed (``old``) and/or added (``new``).
    Whitespace runs are items too, so joining a side gives its text back exactly."""

    tag: str  # difflib's: equal, replace, delete, insert
    old: list[str]
    new: list[str]


def word_changes(before: str, after: str) -> list[Change]:
    old, new = _WORDS.findall(before), _WORDS.findall(after)
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    return [Change(tag, old[i1:i2], new[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes()]


@dataclass(frozen=True, slots=True)
class Piece:
    """A run of a compact diff: ``same`` text (long runs shortened to ``… ``), or words
    ``removed`` or ``added``."""

    kind: str
    text: str


def compact_diff(before: str, after: str, context: int = 4) -> list[Piece]:
    """The changes between two texts with about *context* words of unchanged text around each;
    an unchanged run longer than that is cut to its ends around " … ", and dropped at the
    text's start and end. None for equal texts."""
    pieces: list[Piece] = []
    changes = word_changes(before, after)
    if all(change.tag == "equal" for change in changes):
        return pieces
    for number, change in enumerate(changes, start=1):
        if change.tag != "equal":
            if change.old:
                pieces.append(Piece("removed", "".join(change.old)))
            if change.new:
                pieces.append(Piece("added", "".join(change.new)))
            continue
        same = change.old
        if sum(not item.isspace() for item in same) <= 2 * context:
            pieces.append(Piece("same", "".join(same)))
            continue
        # Items alternate words and spaces: 2 * context items hold about *context* words.
        head = "".join(same[: 2 * context]) if pieces else ""
        tail = "".join(same[-2 * context :]) if number < len(changes) else ""
        pieces.append(Piece("same", f"{head.rstrip()} … {tail.lstrip()}"))
    return pieces
