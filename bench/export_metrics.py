"""Exporting counters over time: 2,000 posts with 1,000 counter samples each.

    python bench/export_metrics.py [--posts 2000] [--samples 1000]

The archiver stores a sample whenever a re-read finds a post's views changed: with the default
re-read every 15 minutes of the latest 200 posts, a post of a channel that posts ten times a
day is sampled up to ~2,000 times. This bench builds such an archive (2M samples) and times,
each in its own process, `dozor export --with-metrics` to JSON Lines and CSV, and the HTML
site (which draws each post's views over time), with their peak RSS. Goal: peak RSS < 200 MB,
as for every export (bench/export.py).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import peak_rss_mb, report

CHANNEL = -1001000000001
START = datetime(2024, 1, 1)
GOAL_MB = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument(
        "--worker", nargs=3, metavar=("DB", "FORMAT", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        run_dozor(Path(args.worker[0]), args.worker[1], Path(args.worker[2]))
        return
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "metrics.db"
        build(db, args.posts, args.samples)
        total = args.posts * args.samples
        rows = []
        for fmt in ("jsonl", "csv", "html"):
            seconds, rss = measure(db, fmt, Path(folder) / fmt)
            verdict = "✓" if rss < GOAL_MB else "✗"
            rows.append(
                (
                    f"{fmt}{' --with-metrics' if fmt != 'html' else ''}",
                    f"{seconds:6.1f} s, {total / seconds:9,.0f} samples/s, peak RSS {rss:4.0f} MB "
                    f"{verdict} (goal < {GOAL_MB} MB)",
                )
            )
        print(f"{args.posts:,} posts × {args.samples:,} samples = {total:,} counter samples")
        report(rows)


def build(db: Path, posts: int, samples: int) -> None:
    """A migrated archive of *posts* posts, each with *samples* counter samples 15 minutes apart."""
    config = db.parent / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{db}"\n', encoding="utf-8")
    dozor = [sys.executable, "-m", "dozor", "--config", str(config), "db", "upgrade"]
    subprocess.run(dozor, check=True, capture_output=True)
    with sqlite3.connect(db) as connection:
        stamp = _stamp(START)
        connection.execute(
            "INSERT INTO channels (id, username, title, tracked, status, first_seen_at, "
            "updated_at) VALUES (?, 'bench', 'Bench', 1, 'ok', ?, ?)",
            (CHANNEL, stamp, stamp),
        )
        connection.executemany(
            "INSERT INTO posts (channel_id, message_id, kind, date, text, views, content_sha256, "
            "current_version, first_seen_at, updated_at, edit_time_unknown) "
            "VALUES (?, ?, 'message', ?, ?, ?, 'bench', 1, ?, ?, 0)",
            (
                (CHANNEL, i, _stamp(START + timedelta(hours=i)), f"post {i}", samples, stamp, stamp)
                for i in range(1, posts + 1)
            ),
        )
        connection.executemany(
            "INSERT INTO post_metrics (channel_id, message_id, sampled_at, views, forwards, "
            "replies, reactions, rounded) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
            _samples(posts, samples),
        )


def _samples(posts: int, samples: int) -> Iterator[tuple[object, ...]]:
    for i in range(1, posts + 1):
        posted = START + timedelta(hours=i)
        for k in range(samples):
            reactions = json.dumps([{"type": "emoji", "emoji": "👍", "count": k}])
            yield (
                CHANNEL,
                i,
                _stamp(posted + timedelta(minutes=15 * k)),
                100 + 10 * k,
                k,
                0,
                reactions,
            )


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def measure(db: Path, fmt: str, out: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one export in its own process."""
    command = [sys.executable, __file__, "--worker", str(db), fmt, str(out)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    seconds, rss = done.stdout.strip().splitlines()[-1].split()
    return float(seconds), float(rss)


def run_dozor(db: Path, fmt: str, out: Path) -> None:
    from dozor.cli.main import main as dozor

    config = db.parent / "config.toml"
    command = ["export", "--config", str(config), "--format", fmt, "--out", str(out)]
    start = time.perf_counter()
    if dozor(command + ([] if fmt == "html" else ["--with-metrics"])) != 0:
        raise SystemExit(f"dozor export --format {fmt} failed")
    print(time.perf_counter() - start, peak_rss_mb())


if __name__ == "__main__":
    main()
