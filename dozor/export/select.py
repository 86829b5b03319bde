"""Streaming the posts an export asks for, in (channel, message id) order, a batch at a time.

Memory stays flat however large the archive: batches are read by keyset pagination, never by
OFFSET, and the query language's matcher filters each batch in Python — the same matcher that
decides alerts, so an export of ``QUERY`` holds exactly the posts ``QUERY`` alerts on. With a
query and a current search index, only the candidates the index names are read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.models import channels, post_metrics, post_search, post_versions, posts
from dozor.query import Node
from dozor.query.ast import mentions_deleted
from dozor.query.document import build_document
from dozor.query.match import matches
from dozor.search.engine import bind_query, candidate_message_ids
from dozor.search.reindex import index_is_stale
from dozor.storage.channels import resolve_channel
from dozor.storage.search_index import ENTRY_COLUMNS, ENTRY_KEYS, entry_document

BATCH = 2000
# Counter samples held at once: a post may have a thousand (one per re-read while its views
# grew), so posts go out in parts of about this many samples (bench/export_metrics.py)
SAMPLES_PER_PART = 20_000
# A counter sample as exports read it: a row read by attribute (``sample.views``), lighter
# than a dict, as a post has many
_SAMPLE_COLUMNS = "channel_id message_id sampled_at views forwards replies reactions rounded"
_SAMPLE = [post_metrics.c[name] for name in _SAMPLE_COLUMNS.split()]
_key = tuple_(posts.c.channel_id, posts.c.message_id)


@dataclass(frozen=True)
class ExportFilter:
    query: str | None = None
    channels: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    include_deleted: bool = False
    with_versions: bool = False
    with_metrics: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "channels": list(self.channels),
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "include_deleted": self.include_deleted,
            "with_versions": self.with_versions,
            "with_metrics": self.with_metrics,
        }


async def iter_posts(
    session: AsyncSession,
    wanted: ExportFilter,
    *,
    batch: int = BATCH,
    columns: Sequence[str] | None = None,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Batches of post rows (with ``channel_title``, ``channel_username`` and, when asked,
    ``versions`` and ``metrics``) matching *wanted*; raises UserError/QueryError for a bad
    filter.

    *columns* limits the ``posts`` columns read (a writer that needs few is faster); a query
    needs them all, to be matched."""
    node = await _bound_query(session, wanted.query)
    channel_ids = [(await resolve_channel(session, ref))["id"] for ref in wanted.channels]
    deleted_too = wanted.include_deleted or (node is not None and mentions_deleted(node))
    needed = None if node is not None or columns is None else columns
    base = _base_query(wanted, channel_ids, deleted_too=deleted_too, columns=needed)
    if node is not None and not await index_is_stale(session):
        batches = _indexed_batches(session, base, node, channel_ids, batch)
    else:
        batches = _keyset_batches(session, base, node, batch)
    async for rows in batches:
        if wanted.with_versions:
            await _attach(session, rows, "versions", post_versions.c, post_versions.c.version)
        if not wanted.with_metrics:
            yield rows
            continue
        weights = await _sample_counts(session, rows)
        for part in _parts(rows, weights, SAMPLES_PER_PART):
            part = [dict(row) for row in part]  # samples stay with the part, not the batch
            await _attach(session, part, "metrics", _SAMPLE, post_metrics.c.sampled_at, _as_is)
            yield part


async def _sample_counts(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """How many counter samples each post of *rows* has."""
    counts: dict[tuple[int, int], int] = {}
    for channel_id, ids in _ids_by_channel(rows).items():
        result = await session.execute(
            select(post_metrics.c.message_id, func.count().label("samples"))
            .where(post_metrics.c.channel_id == channel_id, post_metrics.c.message_id.in_(ids))
            .group_by(post_metrics.c.message_id)
        )
        counts.update(((channel_id, row.message_id), row.samples) for row in result)
    return [counts.get((row["channel_id"], row["message_id"]), 0) for row in rows]


def _parts(
    rows: list[dict[str, Any]], weights: list[int], limit: int
) -> Iterator[list[dict[str, Any]]]:
    """*rows* in order, in parts weighing at most *limit* (a heavier post alone)."""
    part: list[dict[str, Any]] = []
    weight = 0
    for row, own in zip(rows, weights, strict=True):
        if part and weight + own > limit:
            yield part
            part, weight = [], 0
        part.append(row)
        weight += own
    if part:
        yield part


def _ids_by_channel(rows: list[dict[str, Any]]) -> dict[int, list[int]]:
    by_channel: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        by_channel[row["channel_id"]].append(row["message_id"])
    return by_channel


async def _indexed_batches(
    session: AsyncSession, base: Select[Any], node: Node, channel_ids: Sequence[int], batch: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """The matching posts of a query, channel by channel: the full-text index names the
    candidates (a superset), the matcher decides on their index entries. Reading and
    analysing every post took 87 s for a word in 15 % of 1M posts; this takes 9.5 s."""
    entries = base.join(
        post_search,
        (post_search.c.channel_id == posts.c.channel_id)
        & (post_search.c.message_id == posts.c.message_id),
    ).add_columns(*ENTRY_COLUMNS)
    for channel_id in sorted(set(channel_ids)) or await _archived_channel_ids(session):
        candidates = await candidate_message_ids(session, node, channel_id)
        for start in range(0, len(candidates), batch):
            chunk = candidates[start : start + batch]
            page = entries.where(posts.c.channel_id == channel_id, posts.c.message_id.in_(chunk))
            rows = map(_row, await session.execute(page))
            if matched := [_without_entry(row) for row in rows if _matches_entry(node, row)]:
                yield matched


async def _archived_channel_ids(session: AsyncSession) -> list[int]:
    return list((await session.execute(select(channels.c.id).order_by(channels.c.id))).scalars())


async def _keyset_batches(
    session: AsyncSession, base: Select[Any], node: Node | None, batch: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every post the filters leave, by keyset pages, each matched when there is a query."""
    last: tuple[int, int] | None = None
    while True:
        page = (
            base
            if last is None
            else base.where(tuple_(posts.c.channel_id, posts.c.message_id) > last)
        )
        rows = [_row(row) for row in await session.execute(page.limit(batch))]
        if not rows:
            return
        last = (rows[-1]["channel_id"], rows[-1]["message_id"])
        if node is not None:
            rows = [row for row in rows if _matches(node, row)]
        if rows:
            yield rows


def _row(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


def _as_is(row: Any) -> Any:
    return row


def _matches_entry(node: Node, row: dict[str, Any]) -> bool:
    """Matched on the post's search-index entry, as search matches its candidates."""
    if row["kind"] != "message":
        return False
    return matches(node, entry_document(row))


def _without_entry(row: dict[str, Any]) -> dict[str, Any]:
    for key in ENTRY_KEYS:
        del row[key]
    return row


def _matches(node: Node, row: dict[str, Any]) -> bool:
    return row["kind"] == "message" and matches(node, build_document(row))


async def count_candidates(session: AsyncSession, wanted: ExportFilter) -> int:
    """Posts the channel, date and deletion filters leave (an upper bound when a query
    filters further): the total of a progress bar."""
    channel_ids = [(await resolve_channel(session, ref))["id"] for ref in wanted.channels]
    base = _base_query(wanted, channel_ids, deleted_too=wanted.include_deleted)
    result = await session.execute(select(func.count()).select_from(base.order_by(None).subquery()))
    return int(result.scalar_one())


async def _bound_query(session: AsyncSession, query: str | None) -> Node | None:
    if query is None or not query.strip():
        return None
    return await bind_query(session, query)


def _base_query(
    wanted: ExportFilter,
    channel_ids: Sequence[int],
    *,
    deleted_too: bool,
    columns: Sequence[str] | None = None,
) -> Select[Any]:
    wanted_columns = {"channel_id", "message_id", "kind", *columns} if columns else None
    chosen = [c for c in posts.c if wanted_columns is None or c.name in wanted_columns]
    query = (
        select(
            *chosen,
            channels.c.title.label("channel_title"),
            channels.c.username.label("channel_username"),
        )
        .join(channels, channels.c.id == posts.c.channel_id)
        .order_by(posts.c.channel_id, posts.c.message_id)
    )
    if channel_ids:
        query = query.where(posts.c.channel_id.in_(channel_ids))
    if wanted.since is not None:
        query = query.where(posts.c.date >= wanted.since)
    if wanted.until is not None:
        query = query.where(posts.c.date < wanted.until)
    if not deleted_too:
        query = query.where(posts.c.deleted_at.is_(None))
    return query


async def _attach(
    session: AsyncSession,
    rows: list[dict[str, Any]],
    key: str,
    columns: Iterable[ColumnElement[Any]],
    order: ColumnElement[Any],
    keep: Callable[[Any], Any] = _row,
) -> None:
    """Give each post row, under *key*, what *columns* (of post_versions or post_metrics)
    hold for it, in *order*, oldest first; *keep* turns each row into what is kept (a dict,
    or the row itself, read by attribute)."""
    columns = list(columns)
    table = columns[0].table
    found: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for channel_id, ids in _ids_by_channel(rows).items():
        result = await session.execute(
            select(*columns)
            .where(table.c.channel_id == channel_id, table.c.message_id.in_(ids))
            .order_by(table.c.message_id, order, table.c.id)
        )
        for item in result:
            found[(channel_id, item.message_id)].append(keep(item))
    for row in rows:
        row[key] = found.get((row["channel_id"], row["message_id"]), [])
