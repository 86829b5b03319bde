"""Build the Russian labelled set used by bench/language.py and tests/test_language.py.

    python3 -m venv /tmp/labels && /tmp/labels/bin/pip install pymorphy3 -e .
    /tmp/labels/bin/python bench/make_ru_labels.py

Sentences of the factRuEval news sample are tokenized with dozor's tokenizer and every word is
labelled with a dictionary lemma by pymorphy3 (OpenCorpora dictionary), an analyser independent
of the Snowball stemmer being evaluated. Participles keep their own adjective-like lemma
(задержанных → задержанный) rather than pymorphy's infinitive, as a dictionary would list them.
The output is CoNLL-U-like (ID, FORM, LEMMA, UPOS), the format of the Kyrgyz UD treebank, so one
reader serves both. pymorphy3 is a tool for building the file, not a dependency of dozor.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pymorphy3

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "fixtures" / "text" / "factrueval-ru-news"
sys.path.insert(0, str(ROOT))

from dozor.text.normalize import tokenize  # noqa: E402

UPOS = {
    "NOUN": "NOUN",
    "ADJF": "ADJ",
    "ADJS": "ADJ",
    "COMP": "ADJ",
    "VERB": "VERB",
    "INFN": "VERB",
    "PRTF": "VERB",
    "PRTS": "VERB",
    "GRND": "VERB",
    "NUMR": "NUM",
    "ADVB": "ADV",
    "NPRO": "PRON",
    "PRED": "ADV",
    "PREP": "ADP",
    "CONJ": "CCONJ",
    "PRCL": "PART",
    "INTJ": "INTJ",
}


def lemma_of(morph: pymorphy3.MorphAnalyzer, word: str) -> tuple[str, str]:
    parse = morph.parse(word)[0]
    pos = parse.tag.POS or "X"
    lemma = parse.normal_form
    if pos in ("PRTF", "PRTS"):
        own = parse.inflect({"masc", "sing", "nomn"}) or parse.inflect({"sing", "nomn"})
        if own is not None:
            lemma = own.word
    if "Name" in parse.tag or "Geox" in parse.tag or "Surn" in parse.tag:
        return lemma, "PROPN"
    return lemma, UPOS.get(pos, "X")


def main() -> None:
    morph = pymorphy3.MorphAnalyzer()
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(SOURCE.glob("book_*.txt")))
    sentences = [s.strip() for s in re.split(r"(?<=[.!?…])\s+", text) if s.strip()]
    lines = [
        "# Labels built by bench/make_ru_labels.py (pymorphy3) from the factRuEval sample.",
        "# Columns: ID FORM LEMMA UPOS; FORM is dozor's folded token.",
        "",
    ]
    for number, sentence in enumerate(sentences, start=1):
        words = [t.form for t in tokenize(sentence) if t.kind == "word" and not t.form.isdigit()]
        if not words:
            continue
        lines += [f"# sent_id = ru-{number:03d}", f"# text = {sentence}"]
        for index, word in enumerate(words, start=1):
            lemma, upos = lemma_of(morph, word)
            lines.append(f"{index}\t{word}\t{lemma.replace('ё', 'е')}\t{upos}\t_\t_\t_\t_\t_\t_")
        lines.append("")
    (SOURCE / "ru-labels.conllu").write_text("\n".join(lines), encoding="utf-8")
    print(f"{len(sentences)} sentences labelled")


if __name__ == "__main__":
    main()
