"""A static, self-contained archive site: open ``index.html`` from a disk or a USB stick.

Layout: ``index.html`` (channels) → ``<channel>/index.html`` (months) → ``<channel>/YYYY-MM.html``
(posts, oldest first; a month of more than PAGE_POSTS posts goes on to ``YYYY-MM-2.html`` and
so on, and every page links to the one before and after). Posts keep their formatting and
links; a reply links to the post it answers, on whichever page that is, or on Telegram when the
export does not hold it. Attachments downloaded by the archiver are copied into ``media/`` and
photos shown; edits are listed under the post and deleted posts are marked.

``search.html`` searches every exported post in the browser, with no server: the index is a
set of ``<script>`` files (browsers refuse ``fetch`` on ``file://``), text is folded the way
dozor folds it (case, ё = е) and each query word matches the start of a word, so ``мигрант``
finds мигранты and мигрантов.

Pages are written as the posts stream by; memory holds two pages of posts at most (a page is
written once the name of the next is known), and 8 bytes per exported post, to find the page
of a post a reply answers.
"""

from __future__ import annotations

import html
import itertools
import json
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dozor.edits import changes_beyond_words, words_unchanged
from dozor.ids import bare_channel_id
from dozor.media import describe_media, map_link
from dozor.mediastore import copy_out
from dozor.query.document import searchable_text
from dozor.records import count_text, reaction_label
from dozor.search.engine import post_link
from dozor.storage.channels import PINNED, PURGE
from dozor.storage.sync import ACCESS
from dozor.text import clip, fold
from dozor.text.diff import compact_diff

SHARD_POSTS = 5000  # posts per search-index script
PAGE_POSTS = 1000  # posts per page at most, as in Telegram Desktop's own HTML export
TAGS = {
    "bold": ("<b>", "</b>"),
    "italic": ("<i>", "</i>"),
    "underline": ("<u>", "</u>"),
    "strikethrough": ("<s>", "</s>"),
    "code": ("<code>", "</code>"),
    "pre": ("<pre>", "</pre>"),
    "spoiler": ('<span class="spoiler">', "</span>"),
    "blockquote": ("<blockquote>", "</blockquote>"),
}


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def formatted(text: str, entities: Sequence[Mapping[str, Any]] | None) -> str:
    """*text* as HTML with its formatting entities (nested ones included), escaped."""
    entities = [clipped for e in entities or () if (clipped := _within(e, len(text)))]
    cuts = sorted({0, len(text)} | {e["offset"] for e in entities} | _ends(entities))
    out: list[str] = []
    for start, end in itertools.pairwise(cuts):
        piece = esc(text[start:end])
        for entity in entities:
            if entity["offset"] <= start and end <= entity["offset"] + entity["length"]:
                piece = _wrap(piece, entity, text)
        out.append(piece)
    return "".join(out).replace("\r\n", "\n").replace("\n", "<br>")


def _within(entity: Mapping[str, Any], size: int) -> Mapping[str, Any] | None:
    """*entity* cut to the text (Telegram has sent offsets past it after edits); None if
    nothing of it is left."""
    start = max(0, int(entity.get("offset", 0)))
    end = min(size, int(entity.get("offset", 0)) + int(entity.get("length", 0)))
    if start >= end:
        return None
    return {**entity, "offset": start, "length": end - start}


def _ends(entities: Sequence[Mapping[str, Any]]) -> set[int]:
    return {e["offset"] + e["length"] for e in entities}


def _wrap(piece: str, entity: Mapping[str, Any], text: str) -> str:
    kind = entity["type"]
    if kind in TAGS:
        opening, closing = TAGS[kind]
        return f"{opening}{piece}{closing}"
    target = _target(kind, entity, text)
    if target is None:
        return piece
    return f'<a href="{esc(target)}" rel="noopener noreferrer">{piece}</a>'


def _target(kind: str, entity: Mapping[str, Any], text: str) -> str | None:
    whole = text[entity["offset"] : entity["offset"] + entity["length"]]
    if kind == "text_link" and str(entity.get("url", "")).startswith(("http://", "https://")):
        return str(entity["url"])
    if kind == "url":
        return whole if whole.startswith(("http://", "https://")) else f"https://{whole}"
    if kind == "mention" and whole.startswith("@"):
        return f"https://t.me/{whole[1:]}"
    if kind == "email":
        return f"mailto:{whole}"
    return None


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# stored files a browser can play in the page, by kind
_PLAYERS = {
    "video_file": "video",
    "video_message": "video",
    "animation": "video",
    "voice_message": "audio",
    "audio_file": "audio",
}


@dataclass
class _Channel:
    id: int
    title: str
    username: str | None
    slug: str
    # Every exported message id, in the order written (message id order, see HtmlSite.write),
    # and each page's name and where its ids begin in them: which page holds a post is a
    # binary search, and a page's post count the distance to the next page's start.
    ids: array[int] = field(default_factory=lambda: array("q"))
    page_starts: list[int] = field(default_factory=list)
    page_names: list[str] = field(default_factory=list)
    changed: int = 0  # posts edited, deleted or hidden: listed on changed.html

    def start_page(self, name: str) -> None:
        self.page_starts.append(len(self.ids))
        self.page_names.append(name)

    def page_counts(self) -> list[tuple[str, int]]:
        """Each page's name and number of posts, in order."""
        ends = [*self.page_starts[1:], len(self.ids)]
        return [
            (name, end - start)
            for name, start, end in zip(self.page_names, self.page_starts, ends, strict=True)
        ]

    def page_of(self, message_id: int) -> str | None:
        """The page holding *message_id*, if it was exported."""
        index = bisect_left(self.ids, message_id)
        if index == len(self.ids) or self.ids[index] != message_id:
            return None
        return self.page_names[bisect_right(self.page_starts, index) - 1]

    @property
    def posts(self) -> int:
        return len(self.ids)


@dataclass
class _Page:
    channel: _Channel
    name: str
    previous: str | None
    posts: list[str] = field(default_factory=list)  # each post's HTML


class HtmlSite:
    columns: tuple[str, ...] | None = None  # every column

    def __init__(
        self,
        folder: Path,
        *,
        media_dir: Path | None = None,
        channel_changes: Mapping[int, Sequence[Mapping[str, Any]]] | None = None,
    ) -> None:
        self.folder = folder
        self.media_dir = media_dir
        self.channel_changes = channel_changes or {}  # shown on each channel's page
        self.channels: list[_Channel] = []
        self.files: list[Path] = []
        self._page: _Page | None = None  # being filled
        self._held: _Page | None = None  # full, written once the next page's name is known
        # The current channel's entries of changed.html, oldest first: the latest PAGE_POSTS in
        # memory, earlier ones set aside in files of PAGE_POSTS each, so that a channel with
        # a hundred thousand edited posts costs no more memory than one with a thousand.
        self._changed: list[str] = []
        self._changed_parts: list[Path] = []
        self._shard: list[list[str]] = []
        self._shards = 0
        self.posts = 0

    # --- streaming -------------------------------------------------------------------

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Rows ordered by channel, then message id (as ``export.select`` reads them)."""
        for row in rows:
            page = self._page_for(row)
            page.channel.ids.append(row["message_id"])
            page.posts.append(self._post(row, page))
            if (entry := _changed_entry(row, page.name)) is not None:
                self._keep_changed(entry)
            self._index(row, page.channel, page.name)
            self.posts += 1

    def _page_for(self, row: Mapping[str, Any]) -> _Page:
        page = self._page
        month = row["date"].strftime("%Y-%m")
        if page is not None and page.channel.id != row["channel_id"]:
            self._end_page(last_of_channel=True)
            page = None
        if page is not None and page.name[:7] == month and len(page.posts) < PAGE_POSTS:
            return page
        channel = page.channel if page is not None else self._new_channel(row)
        if page is not None:
            self._end_page(last_of_channel=False)
        name = _free_name(channel, month)
        channel.start_page(name)
        self._page = _Page(channel, name, previous=page.name if page is not None else None)
        return self._page

    def _new_channel(self, row: Mapping[str, Any]) -> _Channel:
        slug = row["channel_username"] or f"c{bare_channel_id(row['channel_id'])}"
        channel = _Channel(row["channel_id"], row["channel_title"], row["channel_username"], slug)
        self.channels.append(channel)
        return channel

    def _end_page(self, *, last_of_channel: bool) -> None:
        """The page being filled is done. The page held before it is written, now that its next
        page is known; the done page is held in its turn, or written too at a channel's end."""
        done, self._page = self._page, None
        if self._held is not None:
            self._write_page(self._held, following=done.name if done is not None else None)
        self._held = done
        if last_of_channel and done is not None:
            self._write_page(done, following=None)
            self._held = None
            self._write_changed(done.channel)

    def _keep_changed(self, entry: str) -> None:
        self._changed.append(entry)
        if len(self._changed) == PAGE_POSTS:
            part = self.folder / f".changed-{len(self._changed_parts)}.part"
            part.write_text(json.dumps(self._changed, ensure_ascii=False), encoding="utf-8")
            self._changed_parts.append(part)
            self._changed = []

    def _write_changed(self, channel: _Channel) -> None:
        """changed.html (and changed-2.html… past PAGE_POSTS): the channel's edited, deleted
        and hidden posts, newest first, each edit as the words it removed and added."""
        latest, parts = self._changed, self._changed_parts
        self._changed, self._changed_parts = [], []
        total = len(parts) * PAGE_POSTS + len(latest)
        channel.changed = total

        def newest_first() -> Iterator[str]:
            yield from reversed(latest)
            for part in reversed(parts):
                yield from reversed(json.loads(part.read_text(encoding="utf-8")))
                part.unlink()

        entries = newest_first()
        names = [
            "changed" if number == 0 else f"changed-{number + 1}"
            for number in range(-(-total // PAGE_POSTS))
        ]
        for number, name in enumerate(names):
            pager = _changed_pager(names, number)
            shown = "".join(itertools.islice(entries, PAGE_POSTS))
            body = (
                f'<p class="crumbs"><a href="../index.html">Channels</a> › '
                f'<a href="index.html">{esc(channel.title)}</a> › edited and deleted</p>'
                f"<h1>{esc(channel.title)} · edited and deleted posts</h1>"
                f"<p>{total:,} posts of this export were edited, deleted or hidden by Telegram's "
                f"apps while archived; newest first.</p>{pager}{shown}{pager}"
            )
            self._write(f"{channel.slug}/{name}.html", _page(channel.title, body, "../"))

    def _write_page(self, page: _Page, following: str | None) -> None:
        channel, name = page.channel, page.name
        pager = _pager(page.previous, following)
        body = (
            f'<p class="crumbs"><a href="../index.html">Channels</a> › '
            f'<a href="index.html">{esc(channel.title)}</a> › {_label(name)}</p>'
            f"<h1>{esc(channel.title)} · {_label(name)}</h1>{pager}" + "".join(page.posts) + pager
        )
        self._write(f"{channel.slug}/{name}.html", _page(channel.title, body, "../"))

    # --- one post --------------------------------------------------------------------

    def _post(self, row: Mapping[str, Any], page: _Page) -> str:
        classes = ["post"]
        if row["deleted_at"] is not None:
            classes.append("deleted")
        if row["kind"] == "service":
            classes.append("service")
        link = post_link(row["channel_id"], row["channel_username"], row["message_id"])
        meta = [f'<a href="{esc(link)}">#{row["message_id"]}</a>', _time(row["date"])]
        if row["views"] is not None:
            meta.append(f"👁 {row['views']:,}")
        if row["forwards"]:
            meta.append(f"↪ {row['forwards']:,}")
        parts = [f'<article id="m{row["message_id"]}" class="{" ".join(classes)}">']
        parts.append(f'<div class="meta">{" · ".join(meta)}</div>')
        if row["deleted_at"] is not None:
            seen = _time(row["deleted_at"])
            parts.append(f'<div class="banner">🗑 Deleted on Telegram; seen deleted {seen}</div>')
        if row["restriction"]:
            hidden = esc(row["restriction"])
            parts.append(f'<div class="banner">🚫 Hidden by Telegram\'s apps: {hidden}</div>')
        parts += self._context(row, page)
        if row["kind"] == "service":
            action = (row["service_action"] or {}).get("type", "service message")
            parts.append(f'<div class="text">⚙ {esc(str(action).replace("_", " "))}</div>')
        elif row["text"]:
            parts.append(f'<div class="text">{formatted(row["text"], row["entities"])}</div>')
        parts.append(self._media(row["media"]))
        parts.append(_buttons(row["buttons"]))
        parts.append(_reactions(row["reactions"]))
        parts.append(_views_over_time(row))
        parts.append(_history(row))
        parts.append("</article>")
        return "".join(parts)

    def _context(self, row: Mapping[str, Any], page: _Page) -> list[str]:
        out = []
        if row["forwarded_from_name"] or row["forwarded_from_id"] is not None:
            name = row["forwarded_from_name"] or str(row["forwarded_from_id"])
            out.append(f'<div class="forward">↪ Forwarded from {esc(name)}</div>')
        if row["reply_to_message_id"] is not None:
            out.append(f'<div class="reply">↩ In reply to {_reply_link(row, page)}</div>')
        if row["edit_date"] is not None:
            out.append(f'<div class="edited">✏ edited {_time(row["edit_date"])}</div>')
        elif row["edit_time_unknown"]:
            out.append('<div class="edited">✏ edited (when is not known)</div>')
        return out

    def _media(self, media: Mapping[str, Any] | None) -> str:
        if not media:
            return ""
        kind = str(media.get("type", "attachment"))
        label = describe_media(media) or "attachment"
        copied = self._copy_media(media)
        if copied and kind == "photo":
            return (
                f'<a href="../{copied}"><img class="photo" src="../{copied}" '
                f'alt="{esc(label)}" loading="lazy"></a>'
            )
        if copied and (player := _PLAYERS.get(kind)) is not None:
            return (
                f'<div class="media"><{player} class="player" controls preload="none" '
                f'src="../{copied}"></{player}><br>📎 <a href="../{copied}">{esc(label)}</a></div>'
            )
        if copied:
            return f'<div class="media">📎 <a href="../{copied}">{esc(label)}</a></div>'
        if (where := map_link(media)) is not None:
            return (
                f'<div class="media">📍 <a href="{esc(where)}" rel="noopener noreferrer">'
                f"{esc(label)}</a></div>"
            )
        return f'<div class="media">📎 {esc(label)}</div>'

    def _copy_media(self, media: Mapping[str, Any]) -> str | None:
        """Copy a file the archive stored (content-addressed) into ``media/``."""
        return copy_out(self.media_dir, media, self.folder, "media")

    # --- search index ----------------------------------------------------------------

    def _index(self, row: Mapping[str, Any], channel: _Channel, page: str) -> None:
        """The post in the offline search: its text, a file's name, a poll (what `dozor search`
        looks in too); a post with no text is shown by its attachment."""
        searchable = searchable_text(row["text"] or "", row["media"])
        if not searchable:
            return
        url = f"{channel.slug}/{page}.html#m{row['message_id']}"
        shown = row["text"] or f"📎 {describe_media(row['media'])}"
        snippet = shown[:300] + ("…" if len(shown) > 300 else "")
        self._shard.append([url, _time(row["date"]), channel.title, snippet, fold(searchable)])
        if len(self._shard) >= SHARD_POSTS:
            self._flush_shard()

    def _flush_shard(self) -> None:
        if not self._shard:
            return
        self._shards += 1
        payload = json.dumps(self._shard, ensure_ascii=False, separators=(",", ":"))
        self._write(f"search/shard-{self._shards}.js", f"dozorIndex.push({payload});\n")
        self._shard = []

    # --- finishing -------------------------------------------------------------------

    def close(self) -> None:
        if self._page is not None:
            self._end_page(last_of_channel=True)
        self._flush_shard()
        for channel in self.channels:
            changes = self.channel_changes.get(channel.id, ())
            self._write(f"{channel.slug}/index.html", _channel_page(channel, changes))
        self._write("index.html", _index_page(self.channels, self.posts))
        shards = [f"search/shard-{n}.js" for n in range(1, self._shards + 1)]
        self._write("search/shards.js", f"var dozorShards = {json.dumps(shards)};\n")
        self._write("search.html", _page("Search", SEARCH_BODY, ""))
        self._write("assets/style.css", STYLE)
        self._write("assets/search.js", SEARCH_JS)

    def _write(self, relative: str, content: str) -> None:
        path = self.folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        self.files.append(path)


def _free_name(channel: _Channel, month: str) -> str:
    """``YYYY-MM``, or ``YYYY-MM-2`` and on for the month's next page (a full page, or the month
    coming back: posts whose dates are out of message id order)."""
    name, number = month, 1
    while name in channel.page_names:
        number += 1
        name = f"{month}-{number}"
    return name


def _label(name: str) -> str:
    """``2024-11-3`` reads "2024-11, page 3"."""
    month, number = name[:7], name[8:]
    return esc(f"{month}, page {number}" if number else month)


def _pager(previous: str | None, following: str | None) -> str:
    if previous is None and following is None:
        return ""
    links = []
    if previous is not None:
        links.append(f'<a rel="prev" href="{esc(previous)}.html">‹ {_label(previous)}</a>')
    if following is not None:
        links.append(f'<a rel="next" href="{esc(following)}.html">{_label(following)} ›</a>')
    return f'<p class="pager">{" · ".join(links)}</p>'


def _reply_link(row: Mapping[str, Any], page: _Page) -> str:
    """The answered post on its page of this export, else on Telegram."""
    target = row["reply_to_message_id"]
    where = page.channel.page_of(target)
    if where is None:
        link = post_link(row["channel_id"], row["channel_username"], target)
        return f'<a href="{esc(link)}">#{target}</a> (on Telegram; not in this export)'
    href = f"#m{target}" if where == page.name else f"{esc(where)}.html#m{target}"
    return f'<a href="{href}">#{target}</a>'


def _reactions(reactions: Sequence[Mapping[str, Any]] | None) -> str:
    if not reactions:
        return ""
    items = "".join(
        f"<span>{esc(reaction_label(r))} {int(r.get('count', 0)):,}</span>" for r in reactions
    )
    return f'<div class="reactions">{items}</div>'


SPARK_WIDTH, SPARK_HEIGHT = 120, 24
SPARK_POINTS = 60  # a sparkline this small shows no more; a post may have a thousand samples


def _views_over_time(row: Mapping[str, Any]) -> str:
    """How the views grew, where two samples or more have them: first and last, and a
    sparkline drawn in SVG (no script, so it shows in any browser and in print)."""
    samples = [m for m in row.get("metrics") or () if m.views is not None]
    if len(samples) < 2:
        return ""
    first, last = samples[0], samples[-1]
    shown = (
        f"👁 {count_text(first.views, first.rounded)} ({_time(first.sampled_at)}) → "
        f"{count_text(last.views, last.rounded)} ({_time(last.sampled_at)}), "
        f"{len(samples)} samples"
    )
    return f'<div class="counters">{esc(shown)} {_sparkline(samples)}</div>'


def _sparkline(samples: Sequence[Any]) -> str:
    """Views against time; at most SPARK_POINTS samples, evenly chosen, first and last kept."""
    step = (len(samples) - 1) / (min(len(samples), SPARK_POINTS) - 1)
    drawn = [samples[round(i * step)] for i in range(min(len(samples), SPARK_POINTS))]
    start = samples[0].sampled_at
    span = (samples[-1].sampled_at - start).total_seconds() or 1.0
    low = min(m.views for m in drawn)
    rise = (max(m.views for m in drawn) - low) or 1
    points = " ".join(
        f"{(m.sampled_at - start).total_seconds() / span * SPARK_WIDTH:.1f},"
        f"{SPARK_HEIGHT - (m.views - low) / rise * SPARK_HEIGHT:.1f}"
        for m in drawn
    )
    return (
        f'<svg class="spark" width="{SPARK_WIDTH}" height="{SPARK_HEIGHT}" '
        f'viewBox="0 -1 {SPARK_WIDTH} {SPARK_HEIGHT + 2}" role="img" aria-label="views over '
        f'time"><polyline fill="none" stroke="#0969da" stroke-width="1.5" points="{points}"/>'
        "</svg>"
    )


def _history(row: Mapping[str, Any]) -> str:
    versions = row.get("versions") or []
    if len(versions) < 2:
        return ""
    items = "".join(
        f'<li><div class="meta">version {v["version"]} · seen {_time(v["observed_at"])}</div>'
        f'<div class="text">{formatted(v["text"], v["entities"])}</div>'
        f"{_attachment_line(v['media'])}{_buttons(v.get('buttons'))}"
        f"{_also(changes_beyond_words(older, v)) if older is not None else ''}</li>"
        for older, v in zip([None, *versions], versions, strict=False)
    )
    summary = f"<summary>Edit history: {len(versions)} versions</summary>"
    return f'<details class="history">{summary}<ol>{items}</ol></details>'


def _channel_page(channel: _Channel, changes: Sequence[Mapping[str, Any]]) -> str:
    link = (
        f' · <a href="https://t.me/{esc(channel.username)}">t.me/{esc(channel.username)}</a>'
        if channel.username
        else ""
    )
    by_month: dict[str, list[tuple[str, int]]] = {}
    for name, count in channel.page_counts():
        by_month.setdefault(name[:7], []).append((name, count))
    months = "".join(_month_item(month, pages) for month, pages in sorted(by_month.items()))
    body = (
        f'<p class="crumbs"><a href="../index.html">Channels</a> › {esc(channel.title)}</p>'
        f"<h1>{esc(channel.title)}</h1><p>{channel.posts:,} posts{link}</p>"
        f"{_changed_link(channel)}"
        f'<ul class="months">{months}</ul>{_changes(changes, channel)}'
    )
    return _page(channel.title, body, "../")


def _changed_link(channel: _Channel) -> str:
    if not channel.changed:
        return ""
    return (
        f'<p class="changed"><a href="changed.html">{channel.changed:,} posts edited, deleted '
        "or hidden</a>: what changed, newest first</p>"
    )


def _changed_pager(names: list[str], number: int) -> str:
    if len(names) < 2:
        return ""
    links = [
        f"<b>{index + 1}</b>" if index == number else f'<a href="{name}.html">{index + 1}</a>'
        for index, name in enumerate(names)
    ]
    return f'<p class="pager">pages {" ".join(links)}</p>'


CHANGED_TEXT = 500  # characters of a deleted post's text on changed.html; its page has it all


def _changed_entry(row: Mapping[str, Any], page: str) -> str | None:
    """A post's entry on changed.html, if it was edited, deleted or hidden: its deletion, what
    it said then, and each edit's changed words; None for a post that never changed."""
    versions = row.get("versions") or []
    deleted = row["deleted_at"] is not None
    if len(versions) < 2 and not deleted and not row["restriction"]:
        return None
    message_id = row["message_id"]
    meta = f'<a href="{esc(page)}.html#m{message_id}">#{message_id}</a> · {_time(row["date"])}'
    parts = [f'<article class="post{" deleted" if deleted else ""}">']
    parts.append(f'<div class="meta">{meta}</div>')
    if deleted:
        seen = _time(row["deleted_at"])
        parts.append(f'<div class="banner">🗑 Deleted on Telegram; seen deleted {seen}</div>')
        text = row["text"] or describe_media(row["media"]) or ""
        parts.append(f'<div class="text">{esc(clip(text, CHANGED_TEXT))}</div>')
    if row["restriction"]:
        hidden = esc(row["restriction"])
        parts.append(f'<div class="banner">🚫 Hidden by Telegram\'s apps: {hidden}</div>')
    parts += [_edit(older, newer) for older, newer in itertools.pairwise(versions)]
    return "".join(parts) + "</article>"


def _edit(older: Mapping[str, Any], newer: Mapping[str, Any]) -> str:
    """One edit: when, and the words it removed (struck) and added."""
    when = f"version {newer['version']} · seen {_time(newer['observed_at'])}"
    if newer["edit_date"] is not None:
        when += f" · edited {_time(newer['edit_date'])}"
    lines = changes_beyond_words(older, newer)
    others = _also(lines)
    if older["text"] == newer["text"]:
        return f'<div class="edited">✏ {when}: {words_unchanged(lines)}</div>{others}'
    words = "".join(
        esc(piece.text)
        if piece.kind == "same"
        else f"<del>{esc(piece.text)}</del>"
        if piece.kind == "removed"
        else f"<ins>{esc(piece.text)}</ins>"
        for piece in compact_diff(older["text"], newer["text"])
    )
    return f'<div class="edited">✏ {when}</div><div class="diff">{words}</div>{others}'


def _also(lines: list[str]) -> str:
    """What an edit changed besides the words (``dozor.edits``), as a list; "" if nothing."""
    items = "".join(f"<li>{esc(line)}</li>" for line in lines)
    return f'<ul class="also">{items}</ul>' if items else ""


def _attachment_line(media: Mapping[str, Any] | None) -> str:
    described = describe_media(media)
    return f'<div class="media">📎 {esc(described)}</div>' if described else ""


def _buttons(rows: Any) -> str:
    """The buttons under a post, a row a line; one that opens a web page links to it."""
    lines = []
    for row in rows or ():
        shown = [_button(button) for button in row if isinstance(button, dict)]
        if shown:
            lines.append(f'<div class="buttons">{"".join(shown)}</div>')
    return "".join(lines)


def _button(button: Mapping[str, Any]) -> str:
    label = esc(str(button.get("text") or "?"))
    url = str(button.get("url") or "")
    if url.startswith(("http://", "https://")):
        return f'<a class="button" href="{esc(url)}" rel="noopener noreferrer">{label}</a>'
    return f'<span class="button">{label}</span>'


def _month_item(month: str, pages: list[tuple[str, int]]) -> str:
    count = sum(posts for _, posts in pages)
    item = f'<li><a href="{esc(pages[0][0])}.html">{esc(month)}</a> · {count:,} posts'
    if len(pages) > 1:
        item += " · pages " + " ".join(
            f'<a href="{esc(name)}.html">{number}</a>' for number, (name, _) in enumerate(pages, 1)
        )
    return item + "</li>"


FIELD_NAMES = {
    "title": "title",
    "username": "username",
    "about": "description",
    "labels": "Telegram's labels",
    PINNED: "pinned post",
    ACCESS: "readable by the archiving account",
}


def _changes(changes: Sequence[Mapping[str, Any]], channel: _Channel) -> str:
    """How the channel renamed itself, rewrote its description, pinned posts, was labelled by
    Telegram, was lost to the archiving account or purged its posts, while it was archived."""
    if not changes:
        return ""
    items = "".join(f"<li>{_time(c['observed_at'])} · {_change(c, channel)}</li>" for c in changes)
    return f'<h2>Changes seen</h2><ul class="changes">{items}</ul>'


def _change(change: Mapping[str, Any], channel: _Channel) -> str:
    field, old, new = change["field"], change["old_value"], change["new_value"]
    if field == PURGE:
        return f"deleted {esc(new or '')} at once"
    if field == PINNED:
        old, new = (_pinned(value, channel) for value in (old, new))
    elif field == ACCESS:
        old, new = ("yes" if v == "ok" else f"no ({esc(v)})" if v else "" for v in (old, new))
    else:
        old, new = esc(old or ""), esc(new or "")
    return f"{FIELD_NAMES.get(field, field)}: <del>{old or '—'}</del> → <ins>{new or '—'}</ins>"


def _pinned(value: str | None, channel: _Channel) -> str:
    """A pinned post's number, linked to its page in this export, else to Telegram."""
    if not value:
        return ""
    message_id = int(value)
    where = channel.page_of(message_id)
    href = (
        f"{where}.html#m{message_id}"
        if where is not None
        else post_link(channel.id, channel.username, message_id)
    )
    return f'<a href="{esc(href)}">#{message_id}</a>'


def _index_page(channels: Sequence[_Channel], posts: int) -> str:
    items = "".join(
        f'<li><a href="{esc(c.slug)}/index.html">{esc(c.title)}</a> · {c.posts:,} posts</li>'
        for c in channels
    )
    body = (
        f"<h1>Archive</h1><p>{posts:,} posts from {len(channels)} channels, exported by dozor. "
        f'<a href="search.html">Search them</a>.</p><ul class="channels">{items}</ul>'
    )
    return _page("Archive", body, "")


def _page(title: str, body: str, root: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title><link rel="stylesheet" href="{root}assets/style.css"></head>
<body><nav><a href="{root}index.html">Archive</a> · <a href="{root}search.html">Search</a></nav>
<main>{body}</main></body></html>
"""


SEARCH_BODY = """<h1>Search</h1>
<form id="search"><input id="q" type="search" autocomplete="off" placeholder="мигрант бишкек">
<button>Search</button></form><p id="status">Loading the index…</p><ol id="results"></ol>
<script src="search/shards.js"></script><script src="assets/search.js"></script>"""

SEARCH_JS = r"""// Client-side search over the exported posts, folding as dozor does
// (NFKC, lower case, ё = е); every query word must start some word of the post.
var dozorIndex = [];
function fold(text) {
  return text.normalize("NFKC").toLowerCase().replace(/ё/g, "е");
}
function words(text) {
  return fold(text).match(/[\p{L}\p{N}_#@]+/gu) || [];
}
function escapeHtml(text) {
  return text.replace(/[&<>"]/g, function (c) {
    return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c];
  });
}
function search(query) {
  var wanted = words(query), hits = [];
  if (!wanted.length) return hits;
  dozorIndex.forEach(function (shard) {
    shard.forEach(function (post) {
      var postWords = post[4].match(/[\p{L}\p{N}_#@]+/gu) || [];
      var all = wanted.every(function (w) {
        return postWords.some(function (p) { return p.startsWith(w); });
      });
      if (all) hits.push(post);
    });
  });
  return hits;
}
function show(query) {
  var hits = search(query), list = document.getElementById("results");
  document.getElementById("status").textContent = hits.length + " posts found";
  list.innerHTML = hits.slice(0, 200).map(function (p) {
    var text = p[3];
    return '<li><a href="' + escapeHtml(p[0]) + '">' + escapeHtml(p[2]) + " · " +
      escapeHtml(p[1]) + "</a><div>" + escapeHtml(text) + "</div></li>";
  }).join("");
}
function load(then) {
  var pending = dozorShards.length;
  if (!pending) return then();
  dozorShards.forEach(function (src) {
    var script = document.createElement("script");
    script.src = src;
    script.onload = function () { if (--pending === 0) then(); };
    document.body.appendChild(script);
  });
}
load(function () {
  var count = dozorIndex.reduce(function (n, s) { return n + s.length; }, 0);
  document.getElementById("status").textContent = count + " posts indexed";
  var input = document.getElementById("q");
  var initial = new URLSearchParams(location.search).get("q");
  if (initial) { input.value = initial; show(initial); }
  document.getElementById("search").addEventListener("submit", function (event) {
    event.preventDefault();
    show(input.value);
  });
});
"""

STYLE = """body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1d1d1f;background:#f4f5f7}
nav{background:#24292f;padding:.6em 1em}nav a{color:#fff;text-decoration:none;margin-right:.5em}
main{max-width:760px;margin:0 auto;padding:1em}h1{font-size:1.4em}
.post{background:#fff;border-radius:10px;padding:.8em 1em;margin:.8em 0;
box-shadow:0 1px 2px rgba(0,0,0,.08);overflow-wrap:anywhere}
.meta,.crumbs,.forward,.reply,.edited,.pager{color:#6e7781;font-size:.85em}
.deleted{border-left:4px solid #cf222e;background:#fff5f5}
.banner{color:#cf222e;font-weight:600;margin:.3em 0}
.service{background:#eef1f4;font-style:italic}
.photo{max-width:100%;height:auto;border-radius:6px;margin-top:.5em}
.player{max-width:100%;margin-top:.5em}
.reactions span{display:inline-block;background:#eef1f4;border-radius:12px;padding:0 .6em;
margin:.3em .3em 0 0;font-size:.9em}
.spoiler{background:#ccc;color:transparent}.spoiler:hover{color:inherit}
pre{white-space:pre-wrap;background:#f6f8fa;padding:.5em;border-radius:6px}
blockquote{border-left:3px solid #d0d7de;margin:.3em 0;padding-left:.8em}
details.history{margin-top:.5em}details.history li{margin:.4em 0}
.diff{white-space:pre-wrap}.diff del{color:#cf222e;background:#ffebe9}
.diff ins{color:#1a7f37;background:#dafbe1;text-decoration:none}
.also{margin:.2em 0;color:#9a6700}
.buttons{display:flex;gap:.3em;margin-top:.3em}.button{flex:1;text-align:center;padding:.3em;
border:1px solid #d0d7de;border-radius:6px;text-decoration:none}
.counters{color:#6e7781;font-size:.85em;margin-top:.3em}.spark{vertical-align:middle}
#search{display:flex;gap:.5em}#q{flex:1;font-size:1em;padding:.4em}
#results li{margin:.8em 0}
"""
