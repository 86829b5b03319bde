"""Alert and search messages in Telegram's HTML parse mode.

Every dynamic part (post text, channel title, rule name, query) is escaped; only the tags built
here reach Telegram. Telegram allows 4,096 characters after parsing; texts are trimmed around
their matched words to stay well inside that.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from dozor.edits import changes_beyond_words, words_unchanged
from dozor.errors import logged_out_message
from dozor.media import attachment_snippet, describe_media, map_link
from dozor.query import Node
from dozor.query.highlight import Span, highlight_spans
from dozor.records import buttons_line, count_text
from dozor.search.engine import post_link, scan_note
from dozor.storage.channels import PINNED, PURGE
from dozor.storage.facts import LostChat, SessionLogout
from dozor.storage.history import PostHistory
from dozor.storage.notices import ChannelChange
from dozor.storage.post_changes import PostChange, service_type
from dozor.storage.posts import expired_by_timer
from dozor.storage.stats import unreadable_posts
from dozor.storage.sync import ACCESS, NO_ACCESS
from dozor.storage.unreadable import UnreadableNotice
from dozor.text import clip
from dozor.text.diff import compact_diff

LIMIT = 4096
POST_BUDGET = 3000  # characters of post text in one alert; the rest is header, diff, links
EVENT_LABELS = {
    "new": "🆕 new post",
    "edited": "✏️ edited",
    "deleted": "🗑 deleted",
    "mass_deleted": "🗑 mass deletion",
}


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def link(url: str, label: str) -> str:
    return f'<a href="{html.escape(url, quote=True)}">{esc(label)}</a>'


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def marked(text: str, spans: Sequence[Span]) -> str:
    """*text* escaped, with the spans in bold."""
    out, position = [], 0
    for start, end in spans:
        out += [esc(text[position:start]), "<b>", esc(text[start:end]), "</b>"]
        position = end
    out.append(esc(text[position:]))
    return "".join(out)


def trim_around(text: str, spans: Sequence[Span], budget: int) -> tuple[str, list[Span]]:
    """At most *budget* characters of *text*, starting a little before the first match,
    with the spans that fall inside (shifted)."""
    if len(text) <= budget:
        return text, list(spans)
    first = spans[0][0] if spans else 0
    start = max(0, min(first - budget // 5, len(text) - budget))
    if start:
        boundary = text.rfind(" ", 0, start + 1)
        start = boundary + 1 if boundary > start - 40 else start
    end = min(len(text), start + budget)
    prefix = "…" if start else ""
    suffix = "…" if end < len(text) else ""
    shift = start - len(prefix)
    inside = [
        (max(s, start) - shift, min(e, end) - shift) for s, e in spans if s < end and e > start
    ]
    return prefix + text[start:end] + suffix, inside


@dataclass(frozen=True)
class AlertContent:
    rule_name: str
    event_kind: str
    channel_title: str
    channel_link: str | None
    post_link: str
    date: datetime
    text: str
    query: Node | None  # None: nothing to mark (the rule's query no longer parses)
    previous_text: str | None = None  # edits: the text before
    other_changes: Sequence[str] = ()  # edits: what changed besides the words (dozor.edits)
    album_size: int = 1
    deleted_count: int = 1  # mass deletions
    media: Mapping[str, Any] | None = None  # the attachment of the version shown


def render_alert(alert: AlertContent, zone: ZoneInfo) -> str:
    header = f"🔔 <b>{esc(alert.rule_name)}</b> · {EVENT_LABELS.get(alert.event_kind, '')}"
    if alert.event_kind == "mass_deleted":
        header += f" ({alert.deleted_count} posts at once)"
    channel = (
        link(alert.channel_link, alert.channel_title)
        if alert.channel_link
        else f"<b>{esc(alert.channel_title)}</b>"
    )
    lines = [header, f"{channel} · {local_time(alert.date, zone)}"]
    if alert.album_size > 1:
        lines.append(f"📎 album of {alert.album_size}")
    elif (attachment := attachment_snippet(alert.query, alert.media)) is not None:
        lines.append(_attachment_line(marked(attachment.text, attachment.spans), alert.media))
    budget = POST_BUDGET
    if alert.previous_text is not None:
        if _edited_out(alert.query, alert.previous_text, alert.text):
            lines.append("✂️ The edit took out the words this rule matched.")
        if alert.previous_text != alert.text:
            diff = render_diff(alert.previous_text, alert.text)
        else:
            diff = f"<i>{words_unchanged(alert.other_changes)}</i>"
        diff += beyond_words_html(alert.other_changes)
        lines += ["", diff]
        budget -= len(diff)
    if alert.text:
        spans = highlight_spans(alert.query, alert.text) if alert.query is not None else []
        text, inside = trim_around(alert.text, spans, max(budget, 500))
        prefix = "Last archived text:\n" if "deleted" in alert.event_kind else ""
        lines += ["", prefix + marked(text, inside)]
    lines += ["", link(alert.post_link, "Open the post →")]
    message = "\n".join(lines)
    return message if visible_length(message) <= LIMIT else _hard_cut(message)


def _edited_out(query: Node | None, before: str, after: str) -> bool:
    """Did an edit take out every word the rule's query had marked in the text?"""
    return (
        query is not None
        and bool(highlight_spans(query, before))
        and not highlight_spans(query, after)
    )


def _attachment_line(shown: str, media: Mapping[str, Any] | None) -> str:
    """📎 and the attachment; a place links to its point on the map."""
    where = map_link(media) if media else None
    if where is None:
        return f"📎 {shown}"
    return f'📍 <a href="{html.escape(where, quote=True)}">{shown}</a>'


_TAG = re.compile(r"<[^>]+>")


def visible_length(message: str) -> int:
    """Length as Telegram counts it: after tags and entities are parsed."""
    return len(html.unescape(_TAG.sub("", message)))


def _hard_cut(message: str) -> str:
    """Last resort (never expected): plain text, cut to the limit."""
    plain = html.unescape(_TAG.sub("", message))
    return esc(plain[: LIMIT - 1] + "…")


def beyond_words_html(changes: Sequence[str]) -> str:
    """An edit's changes besides its words (``dozor.edits``), a line each, under its diff."""
    return "".join(f"\n• {esc(line)}" for line in changes)


def edit_html(before: Mapping[str, Any], after: Mapping[str, Any], budget: int) -> str:
    """An edit of one version into the next: its words, and what else it changed."""
    others = changes_beyond_words(before, after)
    if before["text"] != after["text"]:
        words = render_diff(before["text"], after["text"], budget=budget, heading="")
    else:
        words = f"<i>{words_unchanged(others)}</i>"
    return words + beyond_words_html(others)


def render_diff(
    before: str,
    after: str,
    context: int = 4,
    budget: int = 900,
    heading: str = "<i>before → after:</i>\n",
) -> str:
    """A compact word-level before → after: removed words struck, added ones underlined.

    Within *budget* visible characters, a long removal or addition is cut short and the
    changes that do not fit are left out, but every change shown keeps its marks."""
    pieces: list[str] = []
    for part in compact_diff(before, after, context):
        if part.kind == "same":
            pieces.append(esc(part.text))
        elif part.kind == "removed":
            pieces.append(f"<s>{esc(clip(part.text, budget // 2))}</s>")
        else:
            pieces.append(f"<u><b>{esc(clip(part.text, budget // 2))}</b></u>")
    shown: list[str] = []
    used = 0
    for piece in pieces:
        used += visible_length(piece)
        if used > budget:
            shown.append(" …")
            break
        shown.append(piece)
    return heading + "".join(shown).strip()


NO_ACCESS_WORDS = {
    "private": "it went private, or the account was removed from it",
    "banned": "Telegram banned it, or banned the account in it",
    "not_found": "it was deleted, or its name leads nowhere now",
}


def render_channel_change(change: ChannelChange, zone: ZoneInfo) -> str:
    """A watched channel renamed itself, rewrote its description, pinned or unpinned a post,
    or deleted many posts at once; Telegram labelled it anew (scam, fake, restricted...); or
    the account lost it (private, banned, gone) or got it back."""
    old, new = change.old_value or "", change.new_value or ""
    # A title change names the channel as it left it: a later change may have renamed it again.
    name = f"<b>{esc(new if change.field == 'title' else change.title)}</b>"
    if change.username:
        name = f"{name} ({link(f'https://t.me/{change.username}', '@' + change.username)})"
    seen = f"\n<i>seen {local_time(change.observed_at, zone)}</i>"
    if change.field == "title":
        return f"🏷 Channel renamed: <s>{esc(old)}</s> → {name}{seen}"
    if change.field == "username":
        return (
            f"🏷 {name} changed its username: {esc('@' + old if old else 'none')} → "
            f"{esc('@' + new if new else 'none')}{seen}"
        )
    if change.field == PURGE:
        return (
            f"🗑 {name} deleted {esc(new)} at once. dozor keeps them: "
            f"<code>is:deleted</code> finds them.{seen}"
        )
    if change.field == ACCESS:
        if new in NO_ACCESS:
            return (
                f"⛔ {name} can no longer be read: {NO_ACCESS_WORDS.get(new, new)}. Its archive "
                f"is kept, and dozor tries again at every pass.{seen}"
            )
        return f"✅ {name} can be read again; what it posted meanwhile is being archived.{seen}"
    if change.field == "labels":
        return (
            f"🏷 Telegram changed its labels on {name}: {esc(old or 'none')} → "
            f"<b>{esc(new or 'none')}</b>{seen}"
        )
    if change.field == PINNED:
        return _render_pin(change, name) + seen
    return f"🏷 {name} changed its description.\n{render_diff(old, new)}{seen}"


PINNED_TEXT_SIZE = 300  # characters of the pinned post shown in the notice


def render_channel_changes(title: str, changes: Sequence[ChannelChange], zone: ZoneInfo) -> str:
    """/changes: a channel's latest changes as the team was told them, oldest first; the
    oldest are left out when they would not fit in one message."""
    if not changes:
        return (
            f"No changes of <b>{esc(title)}</b> seen yet. Renames, descriptions, pinned posts, "
            "Telegram's labels, access lost or regained and purges are listed here as the "
            "archiver sees them."
        )
    parts = [render_channel_change(change, zone) for change in changes]
    while True:
        head = f"<b>{esc(title)}</b>: the latest {len(parts)} changes, oldest first"
        text = "\n\n".join([head, *parts])
        if len(text) <= LIMIT or len(parts) == 1:
            return text
        parts.pop(0)


def _render_pin(change: ChannelChange, name: str) -> str:
    """A channel pinned or unpinned a post. With several pinned, Telegram tells the newest
    one only: unpinning it shows the one pinned before, hence "now shows"."""
    old, new = change.old_value or "", change.new_value or ""

    def post(number: str) -> str:
        url = post_link(change.channel_id, change.username, int(number))
        return link(url, f"#{number}")

    if not old:
        said = f"📌 {name} pinned post {post(new)}"
    elif not new:
        said = f"📌 {name} unpinned post {post(old)}: nothing is pinned now"
    else:
        said = f"📌 {name} now shows post {post(new)} pinned (before: {post(old)})"
    if change.pinned_text:
        said += f"\n{esc(clip(change.pinned_text, PINNED_TEXT_SIZE))}"
    return said


UNREADABLE_LISTED = 10  # post numbers named in one notice


def render_logout(logout: SessionLogout) -> str:
    return (
        f"⛔ {esc(logged_out_message(logout.reason))}. Until then nothing new is archived and "
        "no alert comes; search and exports go on over the archive."
    )


def render_lost_chat(lost: LostChat) -> str:
    """For the admins: a chat that removed or blocked the bot, and what that stopped."""
    head = (
        f"⚠️ Chat <code>{lost.chat_id}</code> removed or blocked the bot (Telegram: "
        f"{esc(lost.error)})."
    )
    paused = len(lost.rule_ids)
    if not paused:
        return f"{head} Nothing reaches it until the bot is added back."
    rules = "1 alert rule is" if paused == 1 else f"{paused} alert rules are"
    alerts = "1 queued alert was" if lost.dropped == 1 else f"{lost.dropped} queued alerts were"
    return (
        f"{head} Its {rules} paused and {alerts} dropped. Add the bot back there and the rules "
        "resume by themselves."
    )


def render_unreadable(notice: UnreadableNotice) -> str:
    """Posts the archiver could not read: alert rules cannot check them until dozor can."""
    name = f"<b>{esc(notice.title)}</b>"
    if notice.username:
        name = f"{name} ({link(f'https://t.me/{notice.username}', '@' + notice.username)})"
    ids = notice.message_ids
    shown = ", ".join(f"#{i}" for i in ids[:UNREADABLE_LISTED])
    more = f" and {len(ids) - UNREADABLE_LISTED} more" if len(ids) > UNREADABLE_LISTED else ""
    return (
        f"⚠️ {name}: {unreadable_posts(len(ids))} ({shown}{more}). Alert rules cannot check "
        "them until dozor is upgraded; they are archived then."
    )


HISTORY_FIRST_TEXT = 1200  # characters of a post's first version in /post
HISTORY_DIFF = 500  # of each later version's changes
HISTORY_BUTTONS = 300  # of the buttons under the post


def render_post_history(history: PostHistory, link_url: str, zone: ZoneInfo) -> str:
    """/post: the versions of one post (the first whole, then each edit as a diff), its
    deletion and its views, within one message."""
    post = history.post
    lines = [
        f"📜 {link(link_url, history.channel['title'])} · post {post['message_id']}",
        f"posted {local_time(post['date'], zone)}",
    ]
    if (attachment := describe_media(post["media"])) is not None:
        lines.append(f"📎 {esc(attachment)}")
    if buttons := buttons_line(post["buttons"]):
        lines.append(f"🔘 {esc(clip(buttons, HISTORY_BUTTONS))}")
    if post["deleted_at"] is not None:
        lines.append(_gone_line(post, zone))
    elif post["expires_at"] is not None:
        lines.append(f"⌛ deletes itself {local_time(post['expires_at'], zone)} (auto-delete)")
    if post["restriction"]:
        lines.append(f"🚫 hidden by Telegram's apps: {esc(post['restriction'])}")
    for span in history.pinned:
        until = f" to {local_time(span.until, zone)}" if span.until else " (still)"
        lines.append(f"📌 shown pinned from {local_time(span.since, zone)}{until}")
    if history.metrics:
        views = [_views(m) for m in history.metrics if m["views"] is not None]
        if views:
            lines.append(f"👁 {views[0]} → {views[-1]} views ({len(history.metrics)} samples)")
    previous: dict[str, Any] | None = None
    for number, version in enumerate(history.versions):
        block = _version_block(version, previous, zone)
        if visible_length("\n".join([*lines, block])) > LIMIT - 200:
            rest = len(history.versions) - number
            lines += ["", f"… {rest} more versions: <code>dozor post {esc(link_url)}</code>"]
            break
        lines += ["", block]
        previous = version
    return "\n".join(lines)


def _gone_line(post: dict[str, Any], zone: ZoneInfo) -> str:
    seen = local_time(post["deleted_at"], zone)
    if expired_by_timer(post, post["deleted_at"]):
        timer = local_time(post["expires_at"], zone)
        return (
            f"⌛ gone when its auto-delete timer ran out ({timer}), seen {seen}: nobody deleted it"
        )
    return f"🗑 deleted on Telegram, seen {seen}"


def _views(sample: dict[str, Any]) -> str:
    """A sample's views; ≈ marks a count a saved t.me page showed rounded ("8.67M")."""
    return count_text(int(sample["views"]), sample["rounded"])


def _version_block(version: dict[str, Any], previous: dict[str, Any] | None, zone: ZoneInfo) -> str:
    title = f"<b>v{version['version']}</b> · seen {local_time(version['observed_at'], zone)}"
    if version["edit_date"] is not None:
        title += f" · edited {local_time(version['edit_date'], zone)}"
    elif version["edit_time_unknown"]:
        title += " · edited (time unknown)"
    text = version["text"]
    if previous is None:
        shown = esc(text[:HISTORY_FIRST_TEXT]) + ("…" if len(text) > HISTORY_FIRST_TEXT else "")
        return f"{title}\n{shown or '<i>(no text)</i>'}"
    return f"{title}\n{edit_html(previous, version, HISTORY_DIFF)}"


EVENT_TEXT = 200  # characters of a post's text in /events
EVENT_DIFF = 300  # of an edit's changes
CHANGE_LABELS = {
    "edited": "✏️ edited",
    "deleted": "🗑 deleted",
    "restricted": "🚫 Telegram's apps hide",
    "restored": "♻️ back on Telegram:",
    "expired": "⌛ gone by auto-delete:",
    "new": "🆕 new post",
}


def render_post_changes(
    changes: Sequence[PostChange], title: str | None, zone: ZoneInfo, *, skipped: int = 0
) -> tuple[str, int]:
    """/events: the latest changes of posts (of one channel, or of all), newest first, after
    the *skipped* newest, as many as fit one message; the text and how many it shows."""
    where = f" of <b>{esc(title)}</b>" if title else ""
    if not changes:
        if skipped:
            return f"No older edits, deletions or restrictions of posts{where}.", 0
        return f"No edits, deletions or restrictions of posts{where} archived yet.", 0
    heading = "Latest edits and deletions" if not skipped else "Edits and deletions"
    after = f" after the newest {skipped}" if skipped else ""
    parts = [f"<b>{heading}</b>{where}{after}, newest first"]
    for change in changes:
        block = _change_block(change, zone, named=title is None)
        if visible_length("\n\n".join([*parts, block])) > LIMIT - 100:
            break
        parts.append(block)
    return "\n\n".join(parts), len(parts) - 1


def _change_block(change: PostChange, zone: ZoneInfo, *, named: bool) -> str:
    channel = change.channel
    url = post_link(channel["id"], channel["username"], change.message_id)
    head = f"{CHANGE_LABELS[change.kind]} {link(url, f'#{change.message_id}')}"
    if named:
        head += f" · <b>{esc(channel['title'])}</b>"
    head += f" · {local_time(change.occurred_at, zone)}"
    if change.details.get("deleted_at_once"):
        head += f" · one of {change.details['deleted_at_once']} deleted at once"
    if change.found_late:
        head += f" · <i>found {local_time(change.recorded_at, zone)}</i>"
    if change.kind == "restricted":
        old, new = change.details["old"] or "nowhere", change.details["new"] or "nowhere"
        head += f"\n{esc(old)} → {esc(new)}"
    return f"{head}\n{_change_body(change)}"


def _change_body(change: PostChange) -> str:
    if change.post["kind"] != "message":
        return f"<i>service message: {esc(service_type(change.post))}</i>"
    before, after = change.before, change.after
    if change.kind == "edited":
        if before is None or after is None:
            return "<i>(the versions are not in the archive)</i>"
        return edit_html(before, after, EVENT_DIFF)
    version = before or after
    if version is None:
        return "<i>(the version is not in the archive)</i>"
    text = " ".join(version["text"].split())
    attachment = describe_media(version["media"])
    shown = esc(clip(text, EVENT_TEXT)) if text else ""
    if attachment:
        shown = f"{shown} 📎 {esc(attachment)}".strip()
    return shown or "<i>(no text)</i>"


DIGEST_TITLES = {"digest_hourly": "hourly digest", "digest_daily": "daily digest"}
DIGEST_SNIPPET = 160


def render_digest(
    mode: str, items: Sequence[dict[str, Any]], zone: ZoneInfo
) -> list[tuple[str, list[int]]]:
    """Digest messages (each within Telegram's limit) and the alert ids each one carries."""
    messages: list[tuple[str, list[int]]] = []
    lines: list[str] = []
    ids: list[int] = []
    for item in items:
        line = _digest_line(item, zone)
        if lines and visible_length("\n".join([*lines, line])) > LIMIT - 200:
            messages.append(("\n".join(lines), ids))
            lines, ids = [], []
        if not lines:
            lines.append(f"📰 <b>{DIGEST_TITLES.get(mode, 'digest')}</b>")
        lines.append(line)
        ids.append(item["id"])
    if lines:
        messages.append(("\n".join(lines), ids))
    total = len(messages)
    if total > 1:
        messages = [
            (text.replace("</b>", f"</b> ({n}/{total})", 1), carried)
            for n, (text, carried) in enumerate(messages, start=1)
        ]
    return messages


def _digest_line(item: dict[str, Any], zone: ZoneInfo) -> str:
    label = EVENT_LABELS.get(item["event_kind"], item["event_kind"])
    text = " ".join((item.get("post_text") or "").split())
    if len(text) > DIGEST_SNIPPET:
        text = text[: DIGEST_SNIPPET - 1] + "…"
    attachment = describe_media(item.get("post_media"))
    shown = esc(text) or (f"📎 {esc(attachment)}" if attachment else "<i>(no text)</i>")
    url = _post_url(item)
    return (
        f"\n• <b>{esc(item['rule_name'])}</b> · {label} · "
        f"{link(url, item['channel_title'])} · {local_time(item['date'], zone)}\n{shown}"
    )


def _post_url(item: dict[str, Any]) -> str:
    return post_link(item["channel_id"], item["channel_username"], item["message_id"])


@dataclass(frozen=True)
class SearchPage:
    query: str
    total: int
    total_is_exact: bool
    page: int
    pages: int
    hits: Sequence[Any]  # dozor.search.Hit
    checked_only: int | None = None  # see dozor.search.SearchResult


SEARCH_PREFIX = "🔎 Search: "


def render_search(result: SearchPage, zone: ZoneInfo) -> str:
    note = "" if result.checked_only is None else f"\n<i>{esc(scan_note(result.checked_only))}</i>"
    if result.total == 0:
        return f"{SEARCH_PREFIX}{esc(result.query)}\nNo posts match.{note}"
    total = "1 result" if result.total == 1 else f"{result.total:,} results"
    if not result.total_is_exact:
        total = f"at least {total}"
    lines = [
        f"{SEARCH_PREFIX}{esc(result.query)}",
        f"{total} · page {result.page}/{result.pages}{note}",
        "",
    ]
    for number, hit in enumerate(result.hits, start=(result.page - 1) * 5 + 1):
        flags = " · 🗑 deleted" if hit.post.get("deleted_at") else ""
        lines.append(
            f"{number}. <b>{esc(hit.channel_title)}</b> · "
            f"{local_time(hit.date, zone)} · {link(hit.link, 'open')}{flags}"
        )
        snippet = hit.snippet.marked("<b>", "</b>", escape=esc)
        if snippet or hit.attachment is None:
            lines.append(snippet or "<i>(no text)</i>")
        if hit.attachment is not None:
            lines.append("📎 " + hit.attachment.marked("<b>", "</b>", escape=esc))
        lines.append("")
    return "\n".join(lines).rstrip()


def query_of(search_message_text: str) -> str | None:
    """The query a search message was made for (its first line), read back on paging."""
    first = search_message_text.split("\n", 1)[0]
    return first.removeprefix(SEARCH_PREFIX) if first.startswith(SEARCH_PREFIX) else None
