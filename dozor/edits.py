"""What an edit changed besides the words of the text: the attachment, where links and
buttons lead, formatting.

A word diff shows the words an edit removed and added. A channel's quiet edit is as often of
another kind: the photo swapped for another, the words "the statement" or the button under
the post pointed at another address, a name put in bold. Every place that shows an edit
(``dozor post``, ``dozor events``, the bot's alerts, history and ``/events``, the HTML
export's ``changed.html``) adds these lines under its word diff, so no change the archive
recorded is shown as "something changed".

Links are paired before they are compared, so a text edit does not read as link changes:
the same address under other words is the word diff's business, the same words leading
elsewhere are a link retargeted. Formatting that came and went with words of its own is the
word diff's too; only formatting put on, or taken off, words that both versions have is told.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from dozor.media import describe_media
from dozor.text import clip

ANCHOR = 40  # characters of the words a link or a style is on
ADDRESS = 100  # of a link's address
MOST = 6  # lines, the last of them "…and N more"

# Telegram finds links, mentions, hashtags... in the text itself: they change with it.
_FOUND_IN_TEXT = frozenset(
    {"link", "email", "mention", "hashtag", "cashtag", "bot_command", "phone", "bank_card"}
)
_TARGETS = {"text_link": "url", "mention_name": "user_id"}  # formatting that leads somewhere
_STYLE_NAMES = {
    "bold": "bold",
    "italic": "italic",
    "underline": "underline",
    "strikethrough": "strikethrough",
    "spoiler": "spoiler",
    "code": "code",
    "pre": "code block",
    "blockquote": "quote",
    "custom_emoji": "custom emoji",
}

_Link = tuple[str, str]  # the words, where they lead


def changes_beyond_words(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """One line per change *after* (a version: ``text``, ``entities``, ``media``,
    ``buttons``) made to *before* besides its words; "formatting changed" when the
    formatting changed in a way no line names; empty when nothing but words changed."""
    lines = _attachment_change(before.get("media"), after.get("media"))
    lines += _link_changes(_links(before), _links(after), "link")
    lines += _button_changes(before.get("buttons"), after.get("buttons"))
    lines += _style_changes(before, after)
    if not lines and before["text"] == after["text"] and _entities(before) != _entities(after):
        lines.append("formatting changed")
    if len(lines) > MOST:
        lines = [*lines[: MOST - 1], f"…and {len(lines) - MOST + 1} more changes"]
    return lines


def words_unchanged(changes: Sequence[str]) -> str:
    """What stands for the word diff of an edit that left the words as they were: the
    *changes* lines tell the rest, or else nothing could name it."""
    return "text unchanged" if changes else "text unchanged; the attachment or formatting changed"


def _attachment_change(old: Any, new: Any) -> list[str]:
    if _same_attachment(old, new):
        return []
    if not old:
        return [f"attachment added: {describe_media(new)}"]
    if not new:
        return [f"attachment removed: {describe_media(old)}"]
    was, now = describe_media(old), describe_media(new)
    if was == now:
        return [f"attachment replaced by another {now}"]
    return [f"attachment replaced: {was} → {now}"]


def _same_attachment(old: Any, new: Any) -> bool:
    """The same file, or no file in either; an unknown id (an export's) is not another file."""
    if not old or not new:
        return not old and not new
    if old.get("type") != new.get("type"):
        return False
    ids = old.get("id"), new.get("id")
    return None in ids or ids[0] == ids[1]


def _link_changes(old: list[_Link], new: list[_Link], noun: str) -> list[str]:
    old, new = _unpaired(old, new, key=lambda link: link)
    # Other words, the same address (a button without one, a bot's, pairs by words alone).
    old, new = _unpaired(old, new, key=lambda link: link[1] or link)
    lines = []
    for words, address in old:
        elsewhere = next((link for link in new if link[0] == words), None)
        if elsewhere is None:
            lines.append(f"{noun} removed: «{_words(words)}»{_to(address)}")
        else:
            new.remove(elsewhere)
            lines.append(
                f"{noun} «{_words(words)}» now leads to {_address(elsewhere[1])} "
                f"(was {_address(address)})"
            )
    lines += [f"{noun} added: «{_words(words)}»{_to(address)}" for words, address in new]
    return lines


def _button_changes(old: Any, new: Any) -> list[str]:
    """Buttons added, removed or leading elsewhere; none told where either version's buttons
    are not known (archived before dozor kept them, or from an export)."""
    if not isinstance(old, list) or not isinstance(new, list):
        return []
    return _link_changes(_button_links(old), _button_links(new), "button")


def _button_links(rows: list[Any]) -> list[_Link]:
    return [
        (str(button.get("text") or ""), str(button.get("url") or ""))
        for row in rows
        if isinstance(row, list)
        for button in row
        if isinstance(button, dict)
    ]


def _to(address: str) -> str:
    return f" → {_address(address)}" if address else ""


def _unpaired(old: list[_Link], new: list[_Link], *, key: Any) -> tuple[list[_Link], list[_Link]]:
    """*old* and *new* without the links of one that the other has (by *key*), pair by pair."""
    left = Counter(map(key, old)) & Counter(map(key, new))
    kept_old: list[_Link] = []
    kept_new: list[_Link] = []
    for links, kept in ((old, kept_old), (new, kept_new)):
        paired = Counter(left)
        for link in links:
            if paired[key(link)] > 0:
                paired[key(link)] -= 1
            else:
                kept.append(link)
    return kept_old, kept_new


def _style_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    old, new = Counter(_styles(before)), Counter(_styles(after))
    lines = [
        f"{_STYLE_NAMES[kind]} added on «{_words(words)}»"
        for kind, words in (new - old)
        if words.strip() and words in (before["text"] or "")
    ]
    lines += [
        f"{_STYLE_NAMES[kind]} removed from «{_words(words)}»"
        for kind, words in (old - new)
        if words.strip() and words in (after["text"] or "")
    ]
    return lines


def _links(version: Mapping[str, Any]) -> list[_Link]:
    found = []
    for entity in _entities(version):
        target = _TARGETS.get(str(entity.get("type")))
        if target is not None and entity.get(target) is not None:
            where = entity[target] if target == "url" else f"user {entity[target]}"
            found.append((_covered(version, entity), str(where)))
    return found


def _styles(version: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        (entity["type"], _covered(version, entity))
        for entity in _entities(version)
        if entity.get("type") in _STYLE_NAMES
    ]


def _entities(version: Mapping[str, Any]) -> list[dict[str, Any]]:
    entities = version.get("entities") or []
    return [e for e in entities if isinstance(e, dict) and e.get("type") not in _FOUND_IN_TEXT]


def _covered(version: Mapping[str, Any], entity: Mapping[str, Any]) -> str:
    """The words an entity is on (offsets in code points, as dozor stores them)."""
    start = entity.get("offset")
    length = entity.get("length")
    if not isinstance(start, int) or not isinstance(length, int):
        return ""
    return str(version["text"] or "")[start : start + length]


def _words(words: str) -> str:
    return clip(" ".join(words.split()), ANCHOR)


def _address(address: str) -> str:
    return clip(address, ADDRESS)
