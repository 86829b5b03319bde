"""`dozor search QUERY`: the archive, searched with the query language."""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape

from dozor.cli.context import config_option, json_option, query_argument, run_async, state
from dozor.cli.output import format_time, print_json, stdout_console
from dozor.db import open_database
from dozor.records import marked_edited
from dozor.search import Hit, SearchResult, search
from dozor.search.engine import COUNT_LIMIT, scan_note
from dozor.search.reindex import STALE_WARNING, index_is_stale


@click.command("search")
@config_option
@json_option
@query_argument
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True)
@click.option(
    "--sort", type=click.Choice(["newest", "relevance"]), default="newest", show_default=True
)
@click.option(
    "--exact-count",
    is_flag=True,
    help="Count every hit (slower for very common words; by default exact up to 10,000).",
)
def search_(
    query: str, limit: int, offset: int, sort: str, exact_count: bool, as_json: bool
) -> None:
    """Search archived posts. QUERY uses the query language (docs/QUERY.md); its words may
    come quoted together or not, e.g.

    \b
      dozor search мигрант задержан
      dozor search 'мигрант channel:mvd_official_kg after:2024-11-01'
      dozor search '"уголовное дело" -is:forward' --sort relevance
      dozor search --limit 5 -- -is:forward мигрант   (a query that starts with -)
    """
    config = state().config()

    async def go() -> SearchResult:
        async with (
            open_database(config.database, create_if_empty=False) as sessions,
            sessions() as session,
        ):
            if await index_is_stale(session):
                click.echo(f"warning: {STALE_WARNING}", err=True)
            return await search(
                session,
                query,
                limit=limit,
                offset=offset,
                sort="newest" if sort == "newest" else "relevance",
                count_limit=None if exact_count else COUNT_LIMIT,
            )

    result = run_async(go())
    if as_json:
        print_json(
            {
                "query": result.query,
                "total": result.total,
                "total_is_exact": result.total_is_exact,
                "checked_only": result.checked_only,
                "hits": [hit_json(hit) for hit in result.hits],
            }
        )
        return
    _print(result, offset)


def hit_json(hit: Hit) -> dict[str, Any]:
    post = hit.post
    return {
        "channel_id": hit.channel_id,
        "channel_title": hit.channel_title,
        "channel_username": hit.channel_username,
        "message_id": hit.message_id,
        "date": hit.date,
        "link": hit.link,
        "text": hit.text,
        "snippet": hit.snippet.text,
        "highlights": [list(span) for span in hit.snippet.spans],
        "edited": marked_edited(post),
        "edit_date": post["edit_date"],
        "deleted_at": post["deleted_at"],
        "media_type": post["media_type"],
        "attachment": hit.attachment.text if hit.attachment else None,
        "views": post["views"],
    }


def _results(count: int) -> str:
    return "1 result" if count == 1 else f"{count:,} results"


def _print(result: SearchResult, offset: int) -> None:
    console = stdout_console()
    total = (
        _results(result.total) if result.total_is_exact else f"at least {_results(result.total)}"
    )
    if not result.hits:
        console.print(
            f"no posts match {result.query!r}"
            if result.total == 0
            else f"{total}; none at offset {offset}",
            markup=False,
        )
    else:
        shown = f"{offset + 1}–{offset + len(result.hits)}"
        console.print(f"{total}, showing {shown}", style="bold")
    if result.checked_only is not None:
        console.print(scan_note(result.checked_only), style="yellow", markup=False)
    # Colour is lost in a pipe or a file: there the matched words are marked as in Markdown.
    mark = ("[bold yellow]", "[/]") if console.is_terminal else ("**", "**")
    for hit in result.hits:
        marks = []
        if hit.post["deleted_at"] is not None:
            marks.append("[red]deleted[/]")
        if marked_edited(hit.post):
            marks.append("edited")
        console.print(
            f"\n[cyan]{format_time(hit.date)}[/]  {escape(hit.channel_title)}  "
            f"[link={hit.link}]{hit.link}[/link]  {' '.join(marks)}"
        )
        snippet = hit.snippet.marked(*mark, escape=escape)
        if snippet.strip() or hit.attachment is None:
            console.print("  " + (snippet if snippet.strip() else "[dim](no text)[/]"))
        if hit.attachment is not None:
            attachment = hit.attachment.marked(*mark, escape=escape)
            console.print(f"  [dim]📎[/] {attachment}")
