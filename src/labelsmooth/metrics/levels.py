"""Calibration levels: the units a task is judged on, each with a confidence and a correctness per item.

A task hands its evaluation to the estimators at the levels it is scored at:
- a `ClassLevel` holds (N, K) logits and labels — NER tag tokens, images: every estimator, classwise ECE
  included, reads the softmax; the top label's probability is the confidence, argmax == label the correctness;
- a `BinaryLevel` holds one confidence per predicted unit and whether it was right — NER entities (the
  product of the entity's word-tag probabilities, right when type and span match a gold entity), QA answers
  (the chosen answer's probability, right on exact match), QA has-answer decisions (the probability of the
  decision taken, right when it agrees with the gold).
Both may carry a `score`, a ranking for selective prediction that is not a probability (MaxLogit-pNorm,
Cattelan & Silva 2023): AURC and AUGRC are then also reported on it (`aurc_pnorm`, `augrc_pnorm`).

Metric names are `<split>/<level>/<estimator>` (`test/entity/ece_mass`), the same in metrics.json, W&B and
the claims files; after a post-hoc calibrator they carry its suffix (`test/entity/ece_ts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from labelsmooth.metrics.calibration import DEFAULT_BINS, check_logits, scaled_log_probs
from labelsmooth.metrics.estimators import CLASS_ESTIMATORS, ESTIMATORS, binary_estimators, class_estimators
from labelsmooth.metrics.selective import pnorm_confidence, selective_areas

# Estimators on the p-norm ranking score, where a level has one.
SELECTIVE_PNORM = ("aurc_pnorm", "augrc_pnorm")


@dataclass(frozen=True)
class ClassLevel:
    """(N, K) logits (-inf = invalid entry) and (N,) labels: the level's items are classified."""

    logits: Tensor
    labels: Tensor

    def confidence_and_correct(self) -> tuple[Tensor, Tensor]:
        z, y = check_logits(self.logits, self.labels)
        top, pred = scaled_log_probs(z).max(dim=1)
        return top.exp(), pred == y

    def score(self) -> Tensor:
        return pnorm_confidence(self.logits)


@dataclass(frozen=True)
class BinaryLevel:
    """One confidence in [0, 1] and one correctness per item; `rank` is an optional selective score and
    `group` the item of the task's bootstrap unit it belongs to (an entity's sentence)."""

    confidence: Tensor
    correct: Tensor
    rank: Tensor | None = None
    group: Tensor | None = None

    def confidence_and_correct(self) -> tuple[Tensor, Tensor]:
        return self.confidence.to(torch.float64), self.correct.bool()

    def score(self) -> Tensor | None:
        return self.rank


Level = ClassLevel | BinaryLevel


# A task's levels by kind: a ClassLevel, a BinaryLevel with a selective rank, or one without.
KINDS = ("classes", "ranked", "binary")


def estimator_names(kind: str) -> list[str]:
    """The estimators a level of this kind (one of KINDS) reports, in the stable order."""
    if kind not in KINDS:
        raise ValueError(f"level kind {kind!r}: expected one of {', '.join(KINDS)}")
    names = CLASS_ESTIMATORS if kind == "classes" else ESTIMATORS
    return [*names, *(SELECTIVE_PNORM if kind != "binary" else ())]


def estimate(level: Level, n_bins: int = DEFAULT_BINS) -> dict[str, float]:
    """Every estimator of a level (see metrics/estimators.py, smooth_ece.py, selective.py for formulas)."""
    if isinstance(level, ClassLevel):
        out = class_estimators(level.logits, level.labels, n_bins)
    else:
        out = binary_estimators(level.confidence, level.correct, n_bins)
    score = level.score()
    if score is not None and len(score):
        _, correct = level.confidence_and_correct()
        out["aurc_pnorm"], out["augrc_pnorm"] = selective_areas(score, correct)
    return out


def level_metrics(
    levels: Mapping[str, Level], suffix: str = "", n_bins: int = DEFAULT_BINS
) -> dict[str, float]:
    """`<level>/<estimator><suffix>` for every level with items (a level without items reports nothing)."""
    out: dict[str, float] = {}
    for name, level in levels.items():
        if len(level.labels if isinstance(level, ClassLevel) else level.correct) == 0:
            continue
        out |= {f"{name}/{k}{suffix}": v for k, v in estimate(level, n_bins).items()}
    return out


def level_items(level: Level) -> dict[str, list]:
    """A level's per-item columns (confidence, correct, score, group) for calibration_<split>.json."""
    confidence, correct = level.confidence_and_correct()
    items: dict[str, list] = {"confidence": confidence.tolist(), "correct": correct.int().tolist()}
    score = level.score()
    if score is not None:
        items["score_pnorm"] = score.to(torch.float64).tolist()
    if isinstance(level, BinaryLevel) and level.group is not None:
        items["group"] = level.group.tolist()
    return items


def entity_level(
    gold: list[list[str]], predicted: list[list[str]], log_confidence: Tensor, score: Tensor
) -> BinaryLevel:
    """Predicted entities as a level: confidence = Π over the entity's words of p(predicted tag), the
    probability that every one of its tags is as predicted (the word-level tag distributions taken as
    independent); rank = the lowest word score (an entity is as trustworthy as its least sure word); right
    when type and span equal a gold entity, as seqeval's default mode (conlleval) counts it for F1.

    log_confidence, score: one value per word, the sentences' words concatenated in reading order.
    """
    from seqeval.metrics.sequence_labeling import get_entities

    lengths = [len(p) for p in predicted]
    if sum(lengths) != len(log_confidence) or len(score) != len(log_confidence):
        raise ValueError(f"entity_level: {sum(lengths)} words, {len(log_confidence)} confidences")
    starts = torch.tensor([0, *lengths], dtype=torch.long).cumsum(0)
    log_c = torch.cat([torch.zeros(1, dtype=torch.float64), log_confidence.to(torch.float64).cumsum(0)])
    conf, correct, rank, group = [], [], [], []
    for i, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        true = set(get_entities(list(g)))
        for entity in get_entities(list(p)):
            _, first, last = entity
            a, b = int(starts[i]) + first, int(starts[i]) + last + 1
            conf.append(float((log_c[b] - log_c[a]).exp()))  # a sum of logs: no underflow for long spans
            rank.append(float(score[a:b].min()))
            correct.append(entity in true)
            group.append(i)
    return BinaryLevel(
        torch.tensor(conf, dtype=torch.float64),
        torch.tensor(correct, dtype=torch.bool),
        torch.tensor(rank, dtype=torch.float64),
        torch.tensor(group, dtype=torch.long),
    )
