"""Export speed and memory: 1M posts to JSON Lines and CSV, against a bare sqlite3 cursor.

    python bench/export.py [--db PATH] [--posts 1000000]

The archive is the one bench/search.py builds (1M generated Russian posts over 50 channels;
built on first use). Each run is a separate process, so its peak RSS is its own:

* ``dozor``: `dozor export --format jsonl|csv` (keyset-paged reads, post records, writer,
  manifest with SHA-256 of the file);
* ``bare``: one sqlite3 cursor over the same join, each row written with ``json.dumps`` /
  ``csv.writer``, no manifest;
* ``--query``: `dozor export --query` of a frequent and a rare word (the search index names
  the candidates, the matcher decides).

Goal: dozor >= 50 % of the bare rows/s, peak RSS < 200 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import peak_rss_mb, report

COLUMNS = (
    "p.channel_id, c.username, c.title, p.message_id, p.kind, p.date, p.edit_date, p.text, "
    "p.entities, p.author_signature, p.views, p.forwards, p.replies, p.reactions, "
    "p.reply_to_message_id, p.forwarded_from_id, p.forwarded_from_message_id, "
    "p.forwarded_from_name, p.forwarded_from_date, p.grouped_id, p.media_type, p.media, "
    "p.service_action, p.current_version, p.content_sha256, p.first_seen_at, p.deleted_at"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/dozor-bench-search.db"))
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument(
        "--worker", nargs=3, metavar=("WHO", "FORMAT", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        who, fmt, out = args.worker
        if who.startswith("query="):
            run_dozor(args.db, fmt, Path(out), query=who.removeprefix("query="))
        else:
            (run_dozor if who == "dozor" else run_bare)(args.db, fmt, Path(out))
        return
    prepare(args.db, args.posts)
    rows = []
    for fmt in ("jsonl", "csv"):
        figures = {who: measure(args.db, who, fmt) for who in ("bare", "dozor")}
        posts, bare_s, bare_rss = figures["bare"]
        _, dozor_s, dozor_rss = figures["dozor"]
        share = bare_s / dozor_s
        rows += [
            (
                f"{fmt}: bare sqlite3",
                _figure(posts, bare_s, bare_rss),
            ),
            (
                f"{fmt}: dozor export",
                _figure(posts, dozor_s, dozor_rss),
            ),
            (
                f"{fmt}: dozor / bare",
                f"{share:.0%} {'✓' if share >= 0.5 else '✗'} (goal ≥ 50%), "
                f"RSS {'✓' if dozor_rss < 200 else '✗'} (goal < 200 MB)",
            ),
        ]
    for query in QUERIES:
        posts, seconds, rss = measure(args.db, f"query={query}", "jsonl")
        rows.append(
            (
                f"jsonl --query {query}",
                f"{posts:,} posts in {seconds:.1f} s  peak RSS {rss:,.0f} MB",
            )
        )
    print(f"export — {args.db}")
    report(rows)


# A word in ~15 % of the generated posts, and one in a few dozen: the index names the candidates.
QUERIES = ("задержан", "салитоие")


def _figure(posts: int, seconds: float, rss: float) -> str:
    return f"{posts / seconds:>9,.0f} rows/s  peak RSS {rss:,.0f} MB"


def prepare(path: Path, posts: int) -> None:
    from dozor import db
    from dozor.config import DatabaseConfig

    missing = not path.exists()

    async def migrate() -> None:
        engine = db.create_engine(DatabaseConfig(url=f"sqlite+aiosqlite:///{path}"))
        await db.ensure_at_head(engine, upgrade_if_behind=True)
        await engine.dispose()

    asyncio.run(migrate())  # before building: build() writes into dozor's schema
    if missing:
        from bench.search import build

        build(path, posts)


def measure(path: Path, who: str, fmt: str) -> tuple[int, float, float]:
    """(posts, seconds, peak RSS in MB) of one run in its own process."""
    with tempfile.TemporaryDirectory(dir=path.parent) as folder:
        out = Path(folder) / "out"
        command = [sys.executable, __file__, "--db", str(path), "--worker", who, fmt, str(out)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        posts, seconds, rss = done.stdout.strip().splitlines()[-1].split()
        shutil.rmtree(out, ignore_errors=True)
    return int(posts), float(seconds), float(rss)


def _finish(posts: int, start: float) -> None:
    print(posts, time.perf_counter() - start, peak_rss_mb())


def run_bare(path: Path, fmt: str, out: Path) -> None:
    start = time.perf_counter()
    out.mkdir()
    db = sqlite3.connect(path)
    cursor = db.execute(
        f"SELECT {COLUMNS} FROM posts p JOIN channels c ON c.id = p.channel_id "
        "WHERE p.deleted_at IS NULL ORDER BY p.channel_id, p.message_id"
    )
    names = [c.split(".")[-1] for c in COLUMNS.split(", ")]
    posts = 0
    with (out / f"posts.{fmt}").open("w", encoding="utf-8", newline="") as sink:
        writer = csv.writer(sink)
        if fmt == "csv":
            writer.writerow(names)
        for row in cursor:
            if fmt == "jsonl":
                sink.write(json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False))
                sink.write("\n")
            else:
                writer.writerow(row)
            posts += 1
    _finish(posts, start)


def run_dozor(path: Path, fmt: str, out: Path, query: str | None = None) -> None:
    from dozor.cli.main import main as dozor

    config = out.parent / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{path}"\n', encoding="utf-8")
    command = ["export", "--config", str(config), "--format", fmt, "--out", str(out)]
    start = time.perf_counter()
    code = dozor(command + (["--query", query] if query else []))
    if code == 2 and query and not out.exists():
        _finish(0, start)  # no post matches: nothing is written
        return
    if code != 0:
        raise SystemExit(f"dozor export failed with {code}")
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    _finish(manifest["counts"]["posts"], start)


if __name__ == "__main__":
    main()
