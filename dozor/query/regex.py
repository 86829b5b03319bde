"""User regular expressions, run by RE2 so that no pattern can take more than linear time.

RE2's ``\\w``, ``\\d``, ``\\s``, ``\\b`` and POSIX classes (``[[:alpha:]]``) only know ASCII; a
user writing ``/задерж\\w+/`` means Cyrillic letters too, and ``\\s`` the no-break spaces of
Russian typography. They are rewritten to Unicode classes before compiling: the escapes to
mean what they mean in Python's ``re``, the POSIX classes what ``str.isalpha()`` and its kin
say. RE2 has no look-around, so a ``\\b`` becomes "start of text or a non-word character"
before a word character, and "a non-word character or end of text" after one; that consumes
the neighbouring character, which only matters for where a match starts, not whether the
post matches.
"""

from __future__ import annotations

from typing import Any

import re2

WORD = r"\p{L}\p{N}\p{M}_"
# What Python's \s matches: RE2's own \s misses the no-break space of Russian typography
# ("г.\u00a0Бишкек", "5\u00a0000") and every other Unicode space.
SPACE = r"\s\x{0B}\x{1C}-\x{1F}\x{85}\p{Z}"
_CLASS_REWRITES = {
    "w": f"[{WORD}]",
    "W": f"[^{WORD}]",
    "d": r"\p{Nd}",
    "D": r"\P{Nd}",
    "s": f"[{SPACE}]",
    "S": f"[^{SPACE}]",
}
_IN_CLASS_REWRITES = {"w": WORD, "d": r"\p{Nd}", "s": SPACE}
# POSIX classes, ASCII-only in RE2, as Python's str methods (isalpha...) read them
_POSIX_REWRITES = {
    "[:alpha:]": r"\p{L}",
    "[:upper:]": r"\p{Lu}",
    "[:lower:]": r"\p{Ll}",
    "[:digit:]": r"\p{Nd}",
    "[:alnum:]": r"\p{L}\p{N}",
    "[:word:]": WORD,
    "[:space:]": SPACE,
    "[:punct:]": r"\p{P}\p{S}",
}


class RegexError(ValueError):
    pass


def translate(pattern: str) -> str:
    """Rewrite ASCII-only escapes and POSIX classes into Unicode-aware RE2 syntax."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append(_escape(nxt, in_class, pattern, i, out))
            i += 2
            continue
        posix = _posix_class(pattern, i) if in_class and ch == "[" else None
        if posix is not None:
            out.append(_POSIX_REWRITES[posix])
            i += len(posix)
            continue
        if ch == "[" and not in_class:
            in_class = True
        elif ch == "]" and in_class and out and out[-1] not in ("[", "[^"):
            in_class = False
        out.append(ch)
        i += 1
    return "".join(out)


def _posix_class(pattern: str, index: int) -> str | None:
    return next((p for p in _POSIX_REWRITES if pattern.startswith(p, index)), None)


def _escape(letter: str, in_class: bool, pattern: str, index: int, done: list[str]) -> str:
    if in_class:
        return _IN_CLASS_REWRITES.get(letter, "\\" + letter)
    if letter in _CLASS_REWRITES:
        return _CLASS_REWRITES[letter]
    if letter == "b":
        before_word = index + 2 < len(pattern) and pattern[index + 2] not in ")|$"
        after_word = bool(done) and done[-1] not in ("(", "|", "^")
        if after_word and not before_word:
            return f"(?:[^{WORD}]|$)"
        return f"(?:^|[^{WORD}])"
    if letter == "B":
        raise RegexError("\\B is not supported")
    return "\\" + letter


def set_pattern(pattern: str, *, ignore_case: bool) -> str:
    """The pattern as one member of an RE2 Set (which shares one set of options)."""
    return ("(?i)" if ignore_case else "") + translate(pattern)


def compile_set(patterns: list[str]) -> Any:
    """An RE2 Set searching all *patterns* (from :func:`set_pattern`) in one pass."""
    options = re2.Options()
    options.log_errors = False
    options.max_mem = 64 << 20
    regex_set = re2.Set.SearchSet(options)
    for pattern in patterns:
        regex_set.Add(pattern)
    regex_set.Compile()
    return regex_set


def compile_regex(pattern: str, *, ignore_case: bool) -> Any:
    options = re2.Options()
    options.case_sensitive = not ignore_case
    options.log_errors = False
    options.max_mem = 8 << 20
    try:
        return re2.compile(translate(pattern), options)
    except re2.error as exc:
        message = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise RegexError(f"invalid regular expression: {message}") from None
