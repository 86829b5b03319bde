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
