"""A post as the query language sees it: tokens, stems, facets, date, text.

Built in one place from a post's stored fields, so the search index and the rule matcher can
never see a post differently.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from dozor.records import marked_edited
from dozor.text import analyze_terms

PHOTO_TYPES = frozenset({"photo"})
VIDEO_TYPES = frozenset({"video", "video_file", "video_message", "animation", "round_video"})
DOCUMENT_TYPES = frozenset({"document", "audio_file", "voice_message", "audio", "voice", "file"})
LINK_ENTITIES = frozenset({"link", "text_link", "url"})


@dataclass(frozen=True)
class Document:
    channel_id: int
    date: datetime
    text: str  # what regexes see: the post text, file name, poll
    words: tuple[str, ...]
    stems: tuple[str, ...]
    facets: frozenset[str]
    word_set: frozenset[str] = field(init=False, repr=False)
    stem_set: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "word_set", frozenset(self.words))
        object.__setattr__(self, "stem_set", frozenset(self.stems))

    @cached_property
    def sorted_words(self) -> list[str]:
        return sorted(self.word_set)

    def has_prefix(self, prefix: str) -> bool:
        """Does some word start with *prefix*? (binary search in the sorted words)"""
        words = self.sorted_words
        index = bisect_left(words, prefix)
        return index < len(words) and words[index].startswith(prefix)


def channel_facet(channel_id: int) -> str:
    return f"ch{abs(channel_id)}"


def searchable_text(text: str, media: Mapping[str, Any] | None) -> str:
    """The post text plus what else a reader sees as text: a file name, a poll."""
    parts = [text]
    if media:
        if isinstance(media.get("file_name"), str):
            parts.append(media["file_name"])
        poll = media.get("poll")
        if isinstance(poll, Mapping):
            parts.append(str(poll.get("question") or ""))
            answers = poll.get("answers")
            parts += [
                str(a.get("text") or "")
                for a in (answers if isinstance(answers, list) else ())
                if isinstance(a, Mapping)
            ]
    return "\n".join(p for p in parts if p)


def build_document(post: Mapping[str, Any]) -> Document:
    """The Document of a post row (a dict with the columns of the ``posts`` table)."""
    text = searchable_text(post["text"] or "", post.get("media"))
    analysis = analyze_terms(text)
    return Document(
        channel_id=post["channel_id"],
        date=post["date"],
        text=text,
        words=tuple(analysis.words),
        stems=tuple(analysis.stems),
        facets=frozenset(_facets(post, analysis.has_url)),
    )


def as_of_version(post: Mapping[str, Any], version: Mapping[str, Any]) -> dict[str, Any]:
    """The post row as it read in *version* (a ``post_versions`` row): its text, entities,
    attachment and buttons (where that version's are known) then, the rest as it is now."""
    media = version["media"]
    buttons = version.get("buttons")
    return {
        **post,
        "text": version["text"],
        "entities": version["entities"],
        "media": media,
        "media_type": media.get("type") if media else None,
        "buttons": post.get("buttons") if buttons is None else buttons,
        "current_version": version["version"],
    }


def indexed_document(post: Mapping[str, Any], words: str, stems: str, facets: str) -> Document:
    """The Document of a post from its search-index entry (``storage.search_index.
    index_entry`` of the same post), without analysing the text again."""
    return Document(
        channel_id=post["channel_id"],
        date=post["date"],
        text=searchable_text(post["text"] or "", post.get("media")),
        words=tuple(words.split()),
        stems=tuple(stems.split()),
        facets=frozenset(facets.split()),
    )


def _facets(post: Mapping[str, Any], has_url: bool) -> list[str]:
    facets = ["all", channel_facet(post["channel_id"])]
    media_type = post.get("media_type")
    if media_type:
        facets.append("media")
        if media_type in PHOTO_TYPES:
            facets.append("photo")
        elif media_type in VIDEO_TYPES:
            facets.append("video")
        elif media_type in DOCUMENT_TYPES:
            facets.append("document")
    entities = post.get("entities") or ()
    if has_url or any(e.get("type") in LINK_ENTITIES for e in entities) or _button_link(post):
        facets.append("link")
    if post.get("forwarded_from_id") is not None or post.get("forwarded_from_name"):
        facets.append("forward")
    if post.get("reply_to_message_id") is not None:
        facets.append("reply")
    if marked_edited(post):
        facets.append("edited")
    if post.get("deleted_at") is not None:
        facets.append("deleted")
    return facets


def _button_link(post: Mapping[str, Any]) -> bool:
    """Does a button under the post open a web page? It is a link the post gives."""
    return any(
        isinstance(button, Mapping) and bool(button.get("url"))
        for row in post.get("buttons") or ()
        if isinstance(row, list)
        for button in row
    )
