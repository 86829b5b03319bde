"""Memory a long-running dozor reaches from the words it has seen.

    python bench/memory.py [--words 1200000]

The analyzer caches what it worked out for each distinct word and chunk of text ("мигрантов,"),
and the rule index remembers which rules each word it has seen points at. A service that runs
for months keeps meeting words it has never seen: numbers, links, names, typos. So every cache
is bounded, and this bench checks the bound: it analyses and matches (against 10,000 rules)
posts made only of words never seen before, Russian and Kyrgyz, and prints the growth of the
process's resident memory as the words add up. The figures must level off. Goal: at most
200 MB however many words pass.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import random
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.rules import compile_rules, document, make_rules, russian_like_vocabulary
from dozor.rules.index import RuleIndex

POST_WORDS = 150
GOAL_MB = 200


def resident_mb() -> float:
    gc.collect()
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 1e6


def new_words() -> Iterator[str]:
    """Words never seen before, shaped like Russian and Kyrgyz ones, some with punctuation,
    numbers and links among them."""
    syllables = [c + v for c in "бвгджзклмнпрстфхцчшң" for v in "аеиоуыяөү"]
    endings = ["", "ов", "ами", "тардын", "ке", "да,", "ы.", "ңиз", "лды"]
    for number, parts in enumerate(itertools.product(syllables, repeat=4)):
        word = "".join(parts) + endings[number % len(endings)]
        if number % 50 == 0:
            yield f"{number}.{number % 97}"
        elif number % 70 == 0:
            yield f"https://example.kg/news/{number}"
        else:
            yield word


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=1_200_000)
    args = parser.parse_args()
    rng = random.Random(9)
    index = RuleIndex(compile_rules(make_rules(10_000, rng, russian_like_vocabulary(rng))))
    start = resident_mb()
    print(f"{'new words seen':>15} {'memory growth':>14}")
    words = new_words()
    checkpoints = {args.words * k // 8 for k in range(1, 9)}
    seen = 0
    for number in itertools.count():
        post = " ".join(itertools.islice(words, POST_WORDS))
        index.matching(document(post, number))
        seen += POST_WORDS
        if any(seen - POST_WORDS < c <= seen for c in checkpoints):
            print(f"{seen:15,} {resident_mb() - start:11,.0f} MB", flush=True)
        if seen >= args.words:
            break
    growth = resident_mb() - start
    verdict = "met" if growth <= GOAL_MB else "NOT met"
    print(f"goal: at most {GOAL_MB} MB of growth however many words pass: {verdict}")


if __name__ == "__main__":
    main()
