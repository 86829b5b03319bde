"""Rule-engine throughput: posts/second against 100, 1,000 and 10,000 alert rules.

    python bench/rules.py [--posts 2000]

Posts are ~180 words: sentences of real Russian news plus words from a generated Zipf
vocabulary. Rules mix single words, exclusions, phrases, prefixes, OR-lists and a few regular
expressions. Each post is analysed, as the alert generator does, and then matched (only the
matching is timed; the "with analysis" column times both)

* by dozor's rule index (``RuleIndex.matching``), and
* by a naive loop evaluating every rule's compiled query separately (no index),

in the same run, and both must find the same rules. Goal: >= 10,000 posts/s with 10,000 rules,
at least 100x the naive loop.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import russian_sentences
from bench.search import vocabulary
from dozor.query import parse
from dozor.query.document import Document, build_document
from dozor.rules.index import CompiledRule, RuleIndex
from dozor.runtime import settle_heap

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def russian_like_vocabulary(rng: random.Random) -> list[str]:
    """200k generated words that look Russian, Zipf-ranked by position."""
    consonants, vowels = "бвгджзклмнпрстфхцчш", "аеиоуыя"
    return vocabulary(200_000, rng, [c + v for c in consonants for v in vowels])


def make_posts(count: int, rng: random.Random, vocab: list[str]) -> list[str]:
    sentences = russian_sentences()
    cumulative = list(itertools.accumulate(1 / (r + 1) for r in range(len(vocab))))
    posts = []
    for _ in range(count):
        text = " ".join(rng.choices(sentences, k=rng.randint(1, 2)))
        text += " " + " ".join(rng.choices(vocab, cum_weights=cumulative, k=rng.randint(110, 170)))
        posts.append(text)
    return posts


def make_rules(count: int, rng: random.Random, vocab: list[str]) -> list[str]:
    """Rules as analysts write them: mostly names and terms (drawn uniformly from the generated
    vocabulary, so most are rare) and some topical words and phrases of the news sample."""
    topical = sorted(
        {w for s in russian_sentences() for w in s.lower().split() if w.isalpha() and len(w) >= 7}
    )
    bigrams = sorted(
        {
            f'"{a} {b}"'
            for s in russian_sentences()
            for a, b in itertools.pairwise(s.lower().split())
            if a.isalpha() and b.isalpha() and len(a) >= 5 and len(b) >= 5
        }
    )

    def word() -> str:
        return rng.choice(topical) if rng.random() < 0.05 else rng.choice(vocab)

    def phrase() -> str:
        return rng.choice(bigrams) if rng.random() < 0.05 else f'"{word()} {word()}"'

    rules = []
    for number in range(count):
        kind = rng.random()
        if number % 1000 == 999:
            rules.append(f"/{word()[:5]}\\w+/i")
        elif kind < 0.55:
            rules.append(word())
        elif kind < 0.70:
            rules.append(f"{word()} -{word()}")
        elif kind < 0.82:
            rules.append(phrase())
        elif kind < 0.92:
            prefix = word()
            rules.append(prefix[: rng.randint(5, min(7, len(prefix)))] + "*")
        else:
            rules.append(" OR ".join(word() for _ in range(3)))
    return rules


def compile_rules(texts: list[str]) -> list[CompiledRule]:
    return [
        CompiledRule(i, f"r{i}", parse(text), frozenset({"new"}), 1, "instant", NOW)
        for i, text in enumerate(texts)
    ]


def document(text: str, number: int) -> Document:
    return build_document(
        {
            "channel_id": -1001,
            "message_id": number,
            "date": NOW,
            "text": text,
            "media": None,
            "media_type": None,
            "entities": None,
            "current_version": 1,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000)
    args = parser.parse_args()
    rng = random.Random(9)
    vocab = russian_like_vocabulary(rng)
    # A running service has seen earlier posts: its word caches are warm, but every new post
    # still brings words it has not seen. Caches are warmed on other posts than those timed.
    earlier = make_posts(args.posts, rng, vocab)
    posts = make_posts(args.posts, rng, vocab)
    words = sum(len(p.split()) for p in posts) / len(posts)
    earlier_docs = [document(text, number) for number, text in enumerate(earlier)]
    analysis = _rate(lambda: [document(t, n) for n, t in enumerate(posts)], len(posts))
    print(f"{args.posts:,} posts of ~{words:.0f} words; analysing a post: {analysis:,.0f}/s")
    print(
        f"{'rules':>7} {'engine posts/s':>15} {'with analysis':>14} {'naive posts/s':>14} "
        f"{'speed-up':>9} {'matches/post':>13}"
    )
    for count in (100, 1_000, 10_000):
        rules = compile_rules(make_rules(count, rng, vocab))
        index = RuleIndex(rules)
        for doc in earlier_docs:
            index.matching(doc)
        settle_heap()  # as the alert generator does once its rules are loaded
        found, engine = _match_each(posts, index.matching)
        start = time.perf_counter()
        for number, text in enumerate(posts):
            index.matching(document(text, number))
        with_analysis = len(posts) / (time.perf_counter() - start)
        sample = posts[: max(100, len(posts) // max(1, count // 50))]  # >= 0.5 s of naive work
        naive, slow = _match_each(sample, _naive_loop(rules))
        assert [[r.id for r in f] for f in found[: len(sample)]] == [
            [r.id for r in n] for n in naive
        ], "the index must find exactly what the naive loop finds"
        per_post = sum(len(f) for f in found) / len(found)
        print(
            f"{count:7,} {engine:15,.0f} {with_analysis:14,.0f} {slow:14,.0f} "
            f"{engine / slow:8.0f}x {per_post:13.1f}"
        )
    print("goal: >= 10,000 posts/s with 10,000 rules, >= 100x the naive loop")


def _naive_loop(rules: list[CompiledRule]) -> Callable[[Document], list[CompiledRule]]:
    """Every rule's compiled query evaluated in turn, without an index."""
    checks = [rule.check for rule in rules]  # looked up once, as the index does

    def match(doc: Document) -> list[CompiledRule]:
        return [rule for rule, check in zip(rules, checks, strict=True) if check(doc)]

    return match


def _match_each(
    posts: list[str], match: Callable[[Document], list[CompiledRule]]
) -> tuple[list[list[CompiledRule]], float]:
    """What *match* finds in each post, and posts/s. Each post is analysed just before it is
    matched, as the alert generator does; only the matching is timed."""
    found, seconds = [], 0.0
    for number, text in enumerate(posts):
        doc = document(text, number)
        start = time.perf_counter()
        found.append(match(doc))
        seconds += time.perf_counter() - start
    return found, len(posts) / seconds


def _rate(work: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    work()
    return count / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
