"""Running a query against the archive: newest first or by relevance, with snippets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Float, Integer, column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from dozor.errors import ChannelNotFound, UserError
from dozor.ids import bare_channel_id, is_marked_channel_id
from dozor.media import attachment_snippet
from dozor.models import channels, post_search, posts
from dozor.query import Node, parse
from dozor.query.ast import And, Filter, walk
from dozor.query.highlight import Snippet, highlight_spans, make_snippet
from dozor.query.match import bind_channels, default_scope, matches
from dozor.search.compile import Fts5Compiler, Plan, TsqueryCompiler
from dozor.storage.channels import resolve_channel
from dozor.storage.search_index import ENTRY_COLUMNS, entry_document, key_floor

Sort = Literal["newest", "relevance"]
SCAN_PAGE = 500  # candidates in the first statement of a scan; later ones read more
SCAN_PAGE_MAX = 8_000
# Counting every hit of a very common word costs more than finding the newest ones; totals are
# exact up to this many ("at least 10,000" beyond) unless a caller asks for an exact count.
COUNT_LIMIT = 10_000
MAX_SCAN = 200_000  # candidates checked one by one for queries full text cannot answer exactly
# Checking a candidate one by one costs ~0.05 ms: once the page is found, a capped total counts
# the hits among this many candidates, not among all of them (seconds for a common regex).
SCAN_COUNT_BUDGET = 5_000
# PostgreSQL, newest first: with this many hits or more, walking the date-ordered key index
# backwards finds a page at once; with fewer, the GIN index collects every hit and they are
# sorted. The planner cannot tell which from its statistics (it takes a word that is in 13
# posts for one in 20,000), so dozor counts the hits first.
DENSE_HITS = 10_000

MAX_OFFSET = 2**62  # past any archive; SQL integers end at 2**63


@dataclass(frozen=True)
class Hit:
    channel_id: int
    channel_title: str
    channel_username: str | None
    message_id: int
    date: datetime
    text: str
    snippet: Snippet
    post: dict[str, Any]
    attachment: Snippet | None = None  # what the attachment is, the query's words marked

    @property
    def link(self) -> str:
        return post_link(self.channel_id, self.channel_username, self.message_id)


@dataclass(frozen=True)
class SearchResult:
    query: str
    total: int
    total_is_exact: bool
    hits: list[Hit]
    # Set when the query was checked post by post (a regular expression, say) and the search
    # stopped after this many candidates (MAX_SCAN), in result order, before the last: hits
    # and total cover only those.
    checked_only: int | None = None


def scan_note(checked: int) -> str:
    """What a user is told when a search stopped after *checked* candidates (MAX_SCAN)."""
    return (
        f"only the first {checked:,} candidate posts were checked (this query is checked post "
        "by post): add a word, channel:, after: or before: to reach the rest"
    )


def post_link(channel_id: int, username: str | None, message_id: int) -> str:
    if username:
        return f"https://t.me/{username}/{message_id}"
    if is_marked_channel_id(channel_id):
        return f"https://t.me/c/{bare_channel_id(channel_id)}/{message_id}"
    return f"tg://openmessage?chat_id={channel_id}&message_id={message_id}"


async def prepare_query(session: AsyncSession, query: str) -> Node:
    """Parse, bind ``channel:`` filters to archived channels, apply the default scope."""
    return default_scope(await bind_query(session, query))


async def bind_query(session: AsyncSession, query: str) -> Node:
    """Parse and bind ``channel:`` filters to archived channels (UserError if unknown)."""
    node = parse(query)
    refs = {n.value for n in walk(node) if isinstance(n, Filter) and n.field == "channel"}
    ids: dict[str, frozenset[int]] = {}
    for ref in refs:
        try:
            ids[ref] = frozenset({(await resolve_channel(session, ref))["id"]})
        except ChannelNotFound:
            raise UserError(f"channel:{ref}: no archived channel matches {ref!r}") from None
    return bind_channels(node, ids.__getitem__)


async def candidate_message_ids(session: AsyncSession, node: Node, channel_id: int) -> list[int]:
    """Ascending message ids of *channel_id*'s posts the full-text index finds for *node*: a
    superset of its matches (the matcher decides), if the index is current."""
    channel = Filter("channel", str(channel_id), channel_ids=frozenset({channel_id}))
    children = node.children if isinstance(node, And) else (node,)  # dates stay top-level
    plan = compile_plan(session, And((*children, channel)))
    table, key = _from(session)
    where, params = _where(session, plan)
    sql = (
        f"SELECT message_id FROM post_search WHERE search_key IN "
        f"(SELECT {key} FROM {table} WHERE {where}) ORDER BY message_id"
    )
    return list((await session.execute(text(sql), params)).scalars())


def compile_plan(session: AsyncSession, node: Node) -> Plan:
    compiler = TsqueryCompiler() if _dialect(session) == "postgresql" else Fts5Compiler()
    return compiler.compile(node)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def search(
    session: AsyncSession,
    query: str,
    *,
    limit: int = 20,
    offset: int = 0,
    sort: Sort = "newest",
    count_limit: int | None = COUNT_LIMIT,
) -> SearchResult:
    """Posts matching *query*; raises QueryError/UserError for a bad query.

    The total is exact up to *count_limit* hits (None: always exact).
    """
    offset = min(offset, MAX_OFFSET)
    node = await prepare_query(session, query)
    plan = compile_plan(session, node)
    if sort == "relevance" and not plan.ranked and _dialect(session) == "sqlite":
        sort = "newest"  # the same order (see Plan.ranked), without sorting every hit
    checked_only = None
    if not plan.exact:
        rows, total, exact_total, checked_only = await _scan(
            session, node, plan, sort, limit, offset, count_limit
        )
    elif _dialect(session) == "postgresql":
        rows, total, exact_total = await _count_then_page(
            session, plan, sort, limit, offset, count_limit
        )
    else:
        rows, total, exact_total = await _page_then_count(
            session, plan, sort, limit, offset, count_limit
        )
    hits = [_hit(node, row) for row in rows]
    return SearchResult(query, total, exact_total, hits, checked_only)


Page = tuple[list[dict[str, Any]], int, bool]  # rows, total, whether the total is exact


async def _page_then_count(
    session: AsyncSession, plan: Plan, sort: Sort, limit: int, offset: int, count_limit: int | None
) -> Page:
    """SQLite: FTS5 answers either order straight from its index; a short page needs no count."""
    rows, read = await _page(session, plan, sort, limit, offset)
    if read < limit and (read or offset == 0):
        total = offset + read
    else:
        total = await _count(session, plan, count_limit)
    return rows, total, count_limit is None or total < count_limit


async def _count_then_page(
    session: AsyncSession, plan: Plan, sort: Sort, limit: int, offset: int, count_limit: int | None
) -> Page:
    """PostgreSQL: the count decides how the page is read (see DENSE_HITS)."""
    cap = None if count_limit is None else max(count_limit, DENSE_HITS)
    hits = await _count(session, plan, cap)
    rows: list[dict[str, Any]] = []
    if offset < hits or hits == cap:  # at the cap, there may be hits past the offset
        rows, _ = await _page(session, plan, sort, limit, offset, dense=hits >= DENSE_HITS)
    total = hits if count_limit is None else min(hits, count_limit)
    return rows, total, count_limit is None or hits < count_limit


def _where(session: AsyncSession, plan: Plan) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"q": plan.expression}
    if _dialect(session) == "postgresql":
        clauses, key = ["document @@ CAST(:q AS tsquery)"], "search_key"
    else:
        clauses, key = ["post_search_fts MATCH :q"], "rowid"
    if plan.after is not None:
        clauses.append(f"{key} >= :low")
        params["low"] = key_floor(plan.after)
    if plan.before is not None:
        clauses.append(f"{key} < :high")
        params["high"] = key_floor(plan.before)
    return " AND ".join(clauses), params


def _from(session: AsyncSession) -> tuple[str, str]:
    """(table, key column) of the full-text index."""
    if _dialect(session) == "postgresql":
        return "post_search", "search_key"
    return "post_search_fts", "rowid"


def _rank(session: AsyncSession) -> str:
    """Relevance of a hit: bm25 on SQLite (lower is better), ts_rank on PostgreSQL."""
    if _dialect(session) == "postgresql":
        return "ts_rank(document, CAST(:rank AS tsquery))"
    return f"bm25({_from(session)[0]}, 0.5, 1.0, 0.0)"


def _order(session: AsyncSession, sort: Sort, key: str) -> str:
    """ORDER BY over *key* and the ``score`` column of the full-text query."""
    if sort == "newest":
        return f"{key} DESC"
    better_first = " DESC" if _dialect(session) == "postgresql" else ""
    return f"score{better_first}, {key} DESC"


async def _count(session: AsyncSession, plan: Plan, limit: int | None) -> int:
    table, _ = _from(session)
    where, params = _where(session, plan)
    if limit is None:
        sql = f"SELECT count(*) FROM {table} WHERE {where}"
    else:
        sql = f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {where} LIMIT :cap) AS hits"
        params["cap"] = limit
    result = await session.execute(text(sql), params)
    return int(result.scalar_one())


def _hits_sql(
    session: AsyncSession, plan: Plan, sort: Sort, dense: bool
) -> tuple[str, dict[str, Any]]:
    """The full-text query of one page (``hit_key`` and ``score`` in result order), and its
    parameters except the page's limit and offset."""
    table, key = _from(session)
    where, params = _where(session, plan)
    postgresql = _dialect(session) == "postgresql"
    score = "0.0" if sort == "newest" else _rank(session)
    if postgresql and sort == "relevance":
        params["rank"] = plan.rank_expression or plan.expression
    order = _order(session, sort, key)
    if postgresql and sort == "newest" and not dense:
        order = f"{key} + 0 DESC"  # not the key index: collect the few hits through GIN
    sql = (
        f"SELECT {key} AS hit_key, {score} AS score FROM {table} WHERE {where} "
        f"ORDER BY {order} LIMIT :limit OFFSET :offset"
    )
    return sql, params


async def _page(
    session: AsyncSession,
    plan: Plan,
    sort: Sort,
    limit: int,
    offset: int,
    *,
    dense: bool = False,
) -> tuple[list[dict[str, Any]], int]:
    """One page of hits with their posts and channels, in result order, in one statement; and
    how many index entries the page covered (an entry without its post is skipped).

    *dense* (PostgreSQL, newest first): the query has at least DENSE_HITS hits."""
    sql, params = _hits_sql(session, plan, sort, dense)
    hits = (
        text(sql)
        .bindparams(**params, limit=limit, offset=offset)
        .columns(column("hit_key", Integer), column("score", Float))
        .subquery("hits")
    )
    query = (
        select(
            hits.c.hit_key,
            posts,
            channels.c.title.label("channel_title"),
            channels.c.username.label("channel_username"),
            *ENTRY_COLUMNS,
        )
        .select_from(hits)
        .outerjoin(post_search, post_search.c.search_key == hits.c.hit_key)
        .outerjoin(
            posts,
            (posts.c.channel_id == post_search.c.channel_id)
            & (posts.c.message_id == post_search.c.message_id),
        )
        .outerjoin(channels, channels.c.id == posts.c.channel_id)
        .order_by(text(_order(session, sort, "hit_key")))
    )
    rows = [dict(row._mapping) for row in await session.execute(query)]
    return [row for row in rows if row["message_id"] is not None], len(rows)


async def _scan(
    session: AsyncSession,
    node: Node,
    plan: Plan,
    sort: Sort,
    limit: int,
    offset: int,
    count_limit: int | None,
) -> tuple[list[dict[str, Any]], int, bool, int | None]:
    """Check candidates with the matcher, in result order, counting the matches: rows,
    total, whether it is exact, and how many candidates were checked if not all (MAX_SCAN).

    With a *count_limit*, counting stops once the page is found and either that many hits
    or SCAN_COUNT_BUDGET candidates have been counted: the total is then a lower bound."""
    wanted: list[dict[str, Any]] = []
    total = scanned = 0
    dense = False
    if _dialect(session) == "postgresql" and sort == "newest":
        dense = await _count(session, plan, DENSE_HITS) >= DENSE_HITS
    size = SCAN_PAGE
    while scanned < MAX_SCAN:
        page_found = total >= offset + limit
        if page_found and count_limit is not None and _counted_enough(total, scanned, count_limit):
            return wanted, total, False, None
        size = min(size, MAX_SCAN - scanned)
        rows, read = await _page(session, plan, sort, size, scanned, dense=dense)
        scanned += read
        for row in rows:
            if matches(node, entry_document(row)):  # the entry that made it a candidate
                if offset <= total < offset + limit:
                    wanted.append(row)
                total += 1
        if read < size:
            return wanted, total, True, None
        # Each statement orders every candidate again (a relevance sort, or an offset to skip):
        # pages grow so that a long scan takes a few statements, not hundreds.
        size = min(2 * size, SCAN_PAGE_MAX)
    return wanted, total, False, scanned


def _counted_enough(total: int, scanned: int, count_limit: int) -> bool:
    return total >= count_limit or scanned >= SCAN_COUNT_BUDGET


def _hit(node: Node, row: dict[str, Any]) -> Hit:
    post = {k: v for k, v in row.items() if k in posts.c}
    spans = highlight_spans(node, post["text"] or "")
    return Hit(
        channel_id=post["channel_id"],
        channel_title=row["channel_title"],
        channel_username=row["channel_username"],
        message_id=post["message_id"],
        date=post["date"],
        text=post["text"] or "",
        snippet=make_snippet(post["text"] or "", spans),
        post=post,
        attachment=attachment_snippet(node, post["media"]),
    )
