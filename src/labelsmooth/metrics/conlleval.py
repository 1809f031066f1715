"""Entity-level NER scores: seqeval for training/eval, and a reimplementation of the conlleval script.

`python -m labelsmooth.metrics.conlleval < predictions.conll` prints the report of the CoNLL-2000/2003
`conlleval` perl script (version 2004-01-26) for `token … gold pred` lines, with its chunk rules (IOB1, IOB2
and IOE prefixes), its sentence boundaries (blank lines and lines whose first field is `-X-`) and its
number formats. Like the perl script, a `-DOCSTART-` line is an ordinary token.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

BOUNDARY = "-X-"


def _split(tag: str) -> tuple[str, str]:
    """('B', 'PER') for 'B-PER'; the prefix ends at the first hyphen, a tag without one has no type."""
    prefix, dash, kind = tag.partition("-")
    # The perl script reads a type of "0" as false, i.e. no type.
    return (prefix, kind if dash and kind != "0" else "")


def end_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """conlleval's rule: did a chunk end between the previous and the current word?"""
    pair = (prev_tag, tag)
    if pair in {("B", "B"), ("B", "O"), ("I", "B"), ("I", "O"), ("E", "E"), ("E", "I"), ("E", "O")}:
        return True
    if prev_tag not in ("O", ".") and prev_type != type_:
        return True
    return prev_tag in ("[", "]")  # bracket chunks have length 1


def start_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """conlleval's rule: did a chunk start between the previous and the current word?"""
    pair = (prev_tag, tag)
    if pair in {("B", "B"), ("I", "B"), ("O", "B"), ("O", "I"), ("E", "E"), ("E", "I"), ("O", "E")}:
        return True
    if tag not in ("O", ".") and prev_type != type_:
        return True
    return tag in ("[", "]")


@dataclass
class ChunkCounts:
    """What conlleval counts: tokens, correct tags, and gold / guessed / correct chunks per type."""

    tokens: int = 0
    correct_tags: int = 0
    found_correct: Counter = field(default_factory=Counter)
    found_guessed: Counter = field(default_factory=Counter)
    correct_chunks: Counter = field(default_factory=Counter)

    def scores(self, kind: str | None = None) -> tuple[float, float, float]:
        """(precision, recall, FB1) in percent, overall or for one type; 0 where undefined, as conlleval."""
        pick = (lambda c: sum(c.values())) if kind is None else (lambda c: c[kind])
        correct, guessed, gold = pick(self.correct_chunks), pick(self.found_guessed), pick(self.found_correct)
        precision = 100.0 * correct / guessed if guessed > 0 else 0.0
        recall = 100.0 * correct / gold if gold > 0 else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        return precision, recall, f1


def count_chunks(lines: Iterable[str]) -> ChunkCounts:
    """Run conlleval's counting over `token … gold pred` lines (fields separated by single spaces)."""
    counts = ChunkCounts()
    n_features = -1
    in_correct = False
    last_correct, last_guessed, last_correct_type, last_guessed_type = "O", "O", "", ""
    for lineno, raw in enumerate(lines, start=1):
        features = raw.rstrip("\r\n").split(" ")
        while features and features[-1] == "":  # perl's split drops trailing empty fields
            features.pop()
        if n_features < 0:
            n_features = len(features) - 1
        elif n_features != len(features) - 1 and features:
            raise ValueError(
                f"line {lineno}: unexpected number of features: {len(features)} ({n_features + 1})"
            )
        if not features or features[0] == BOUNDARY:
            features = [BOUNDARY, "O", "O"]
        if len(features) < 2:
            raise ValueError(f"line {lineno}: unexpected number of features in line {raw.rstrip()!r}")
        guessed, guessed_type = _split(features[-1])
        correct, correct_type = _split(features[-2])
        first_item = features[0]
        if first_item == BOUNDARY:
            guessed = "O"

        end_correct = end_of_chunk(last_correct, correct, last_correct_type, correct_type)
        end_guessed = end_of_chunk(last_guessed, guessed, last_guessed_type, guessed_type)
        start_correct = start_of_chunk(last_correct, correct, last_correct_type, correct_type)
        start_guessed = start_of_chunk(last_guessed, guessed, last_guessed_type, guessed_type)
        if in_correct:
            if end_correct and end_guessed and last_guessed_type == last_correct_type:
                in_correct = False
                counts.correct_chunks[last_correct_type] += 1
            elif end_correct != end_guessed or guessed_type != correct_type:
                in_correct = False
        if start_correct and start_guessed and guessed_type == correct_type:
            in_correct = True
        if start_correct:
            counts.found_correct[correct_type] += 1
        if start_guessed:
            counts.found_guessed[guessed_type] += 1
        if first_item != BOUNDARY:
            if correct == guessed and guessed_type == correct_type:
                counts.correct_tags += 1
            counts.tokens += 1
        last_correct, last_guessed, last_correct_type, last_guessed_type = (
            correct,
            guessed,
            correct_type,
            guessed_type,
        )
    if in_correct:
        counts.correct_chunks[last_correct_type] += 1
    return counts


def count_sequences(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> ChunkCounts:
    """conlleval counts for per-sentence tag lists (sentences separated as by blank lines)."""
    _check_lengths(gold, pred)
    lines: list[str] = []
    for g_tags, p_tags in zip(gold, pred, strict=True):
        lines += [f"w {g} {p}" for g, p in zip(g_tags, p_tags, strict=True)]
        lines.append("")
    return count_chunks(lines)


def _types_in_report_order(counts: ChunkCounts) -> list[str]:
    """Sorted types of gold and guessed chunks, deduplicated as the perl script does."""
    out: list[str] = []
    last: str | None = None
    for kind in sorted([*counts.found_correct, *counts.found_guessed]):
        if not last or last != kind:  # perl: `not($lastType) or $lastType ne $i`
            out.append(kind)
        last = kind
    return out


def report(counts: ChunkCounts) -> str:
    """The text conlleval prints for these counts."""
    n_gold, n_guessed = sum(counts.found_correct.values()), sum(counts.found_guessed.values())
    n_correct = sum(counts.correct_chunks.values())
    lines = [
        f"processed {counts.tokens} tokens with {n_gold} phrases; "
        f"found: {n_guessed} phrases; correct: {n_correct}."
    ]
    if counts.tokens > 0:
        precision, recall, f1 = counts.scores()
        accuracy = 100.0 * counts.correct_tags / counts.tokens
        lines.append(
            f"accuracy: {accuracy:6.2f}%; "
            f"precision: {precision:6.2f}%; recall: {recall:6.2f}%; FB1: {f1:6.2f}"
        )
    for kind in _types_in_report_order(counts):
        precision, recall, f1 = counts.scores(kind)
        lines.append(
            f"{kind:>17}: precision: {precision:6.2f}%; recall: {recall:6.2f}%; FB1: {f1:6.2f}"
            f"  {counts.found_guessed[kind]}"
        )
    return "\n".join(lines) + "\n"


def _check_lengths(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"ner scores: {len(gold)} gold sentences but {len(pred)} predicted")
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"ner scores: sentence {i} has {len(g)} gold tags but {len(p)} predicted")


def ner_scores(
    gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], types: Sequence[str] | None = None
) -> dict[str, float]:
    """Entity scores with seqeval, in percent (0–100, like conlleval and the papers).

    `precision`, `recall`, `f1`: seqeval's default mode, which counts chunks like conlleval (an I- after O
    starts an entity). `f1_strict`: mode="strict" with the IOB2 scheme passed explicitly (without a scheme
    seqeval silently stays lenient), so ill-formed entities count as errors. `f1_<TYPE>`: per-type F1 in
    the default mode, for `types` (default: every type in gold or pred; absent ones score 0). `accuracy`:
    token accuracy.
    """
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    _check_lengths(gold, pred)
    gold, pred = [list(g) for g in gold], [list(p) for p in pred]
    n_tokens = sum(len(g) for g in gold)
    if n_tokens == 0:
        raise ValueError("ner scores: no tokens to score")
    n_right = sum(g == p for gs, ps in zip(gold, pred, strict=True) for g, p in zip(gs, ps, strict=True))
    present = sorted({t[2:] for seq in (*gold, *pred) for t in seq if t != "O"})
    # Without any entity, seqeval's report averages over nothing (numpy warnings): skip it.
    per_type = classification_report(gold, pred, output_dict=True, zero_division=0) if present else {}
    types = present if types is None else types
    out = {
        "precision": 100.0 * precision_score(gold, pred, zero_division=0),
        "recall": 100.0 * recall_score(gold, pred, zero_division=0),
        "f1": 100.0 * f1_score(gold, pred, zero_division=0),
        "f1_strict": 100.0 * f1_score(gold, pred, mode="strict", scheme=IOB2, zero_division=0),
        "accuracy": 100.0 * n_right / n_tokens,
    }
    for kind in types:
        out[f"f1_{kind}"] = 100.0 * per_type[kind]["f1-score"] if kind in per_type else 0.0
    return {k: float(v) for k, v in out.items()}


def sentence_counts(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, list[int]]:
    """Per sentence: entities correct (`tp`), predicted and gold, as seqeval's default mode counts them.

    seqeval joins the sentences with an `O` between them before it extracts entities, so no entity spans
    two sentences and these counts sum to its micro totals: `f1_from_counts` of the sums is `ner_scores`'s
    `f1`. They are what a bootstrap over test sentences resamples.
    """
    from seqeval.metrics.sequence_labeling import get_entities

    _check_lengths(gold, pred)
    out: dict[str, list[int]] = {"tp": [], "predicted": [], "gold": []}
    for g, p in zip(gold, pred, strict=True):
        true, guessed = set(get_entities(list(g))), set(get_entities(list(p)))
        out["tp"].append(len(true & guessed))
        out["predicted"].append(len(guessed))
        out["gold"].append(len(true))
    return out


def f1_from_counts(tp: float, predicted: float, gold: float) -> float:
    """Micro F1 in percent from entity totals, in seqeval's arithmetic (precision and recall first, 0 if
    undefined), so it equals `ner_scores(...)["f1"]` to the last bit for the same totals."""
    precision = tp / predicted if predicted else 0.0
    recall = tp / gold if gold else 0.0
    denominator = precision + recall
    return 100.0 * (2 * precision * recall / (denominator if denominator else 1.0))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m labelsmooth.metrics.conlleval < file`: print conlleval's report for stdin."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args:
        print("usage: python -m labelsmooth.metrics.conlleval < file", file=sys.stderr)
        return 2
    try:
        counts = count_chunks(sys.stdin)
    except ValueError as e:
        print(f"conlleval: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(report(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
