"""Two-fold cross-validation of the Kyrgyz stemmer inside the UD Kyrgyz-KTMU training split.

    python bench/kyrgyz_cv.py

The stemmer's data (endings, lemmas) is learned from one half of the training sentences, the
way bench/make_kyrgyz_data.py learns it from all of them, and recall and precision are measured
on the other half; then the halves swap. Changes to the stemmer are judged by these figures,
so the test split bench/language.py reports stays held out.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.language import KYRGYZ_TRAIN, Quality, evaluate, read_conllu
from bench.make_kyrgyz_data import learn
from dozor.text import analyzer, kyrgyz


def use_data(endings: frozenset[str], lemmas: frozenset[str]) -> None:
    """Swap the stemmer's data and forget everything computed with the old one."""
    kyrgyz._ENDINGS, kyrgyz._LEMMAS = endings, lemmas
    kyrgyz._ROOTS = frozenset(kyrgyz.canonical_root(lemma) for lemma in lemmas)
    kyrgyz._LONGEST = max(map(len, endings))
    for cached in (kyrgyz.stem, analyzer.query_stems, analyzer._word_info):
        cached.cache_clear()
    analyzer._CHUNKS.clear()


def cross_validate() -> list[Quality]:
    sentences = read_conllu(KYRGYZ_TRAIN)
    halves = [sentences[0::2], sentences[1::2]]
    results = []
    for learned, measured in ((0, 1), (1, 0)):
        use_data(*learn(halves[learned]))
        results.append(evaluate(halves[measured]))
    return results


def main() -> None:
    results = cross_validate()
    recall = sum(q.recall for q in results) / len(results)
    precision = sum(q.precision for q in results) / len(results)
    print(f"Kyrgyz, 2-fold CV in the train split: recall {recall:.3f}, precision {precision:.3f}")


if __name__ == "__main__":
    main()
