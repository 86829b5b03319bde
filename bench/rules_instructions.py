"""Instructions the rule engine runs per post, counted by callgrind: a figure that, unlike
posts/s on a shared machine, comes out the same on every run of the same code.

    python bench/rules_instructions.py [--posts 300] [--rules 10000]

Needs valgrind. Builds the rules and posts of ``bench/rules.py`` (fewer posts: valgrind runs
code ~50x slower), warms the index on other posts, then counts the instructions of matching
each timed post, its analysis excluded. Takes a few minutes.
"""

from __future__ import annotations

import argparse
import functools
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.rules import compile_rules, document, make_posts, make_rules, russian_like_vocabulary
from dozor.rules.index import RuleIndex

# Only what runs inside this C function is counted: the bench calls it around the matching
# alone, and dozor itself never does.
COUNTED = "functools_reduce"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--inside-valgrind", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside_valgrind:
        match_under_count(args.posts, args.rules)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    command = [
        "valgrind",
        "--tool=callgrind",
        "--collect-atstart=no",
        f"--toggle-collect={COUNTED}",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--inside-valgrind",
        f"--posts={args.posts}",
        f"--rules={args.rules}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        sys.exit(f"no count in valgrind's output:\n{done.stderr[-2000:]}")
    per_post = int(found.group(1)) / args.posts
    print(f"{args.rules:,} rules: {per_post:,.0f} instructions per post")


def match_under_count(posts: int, rules: int) -> None:
    rng = random.Random(9)
    vocab = russian_like_vocabulary(rng)
    earlier = [document(text, n) for n, text in enumerate(make_posts(posts, rng, vocab))]
    timed = [document(text, n) for n, text in enumerate(make_posts(posts, rng, vocab))]
    index = RuleIndex(compile_rules(make_rules(rules, rng, vocab)))
    for doc in earlier:
        index.matching(doc)
    functools.reduce(lambda found, doc: found + len(index.matching(doc)), timed, 0)


if __name__ == "__main__":
    main()
