"""A job's test items as the claims engine reads them: its per-item scores, and the fingerprint that names its
test set (the items' ids), so that only jobs scored on the same items are compared or pooled."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

# Before item ids, the fingerprint hashed these columns: for images and NER sentences the labels (gold
# entity counts), which do not tell two test sets of the same labels apart; QA questions had their ids.
LEGACY_KEY = {"question": "id", "image": "label", "sentence": "gold"}


@dataclass(frozen=True)
class Items:
    """A job's per-item test scores: the item unit (sentence, question, image) and the columns."""

    unit: str
    columns: dict[str, list]


def read_items(folder: Path, split: str = "test") -> Items | None:
    """A run folder's items: scores_<split>.json, joined with calibration_<split>.json when it is per item."""
    scores_file = folder / f"scores_{split}.json"
    if not scores_file.is_file():
        return None
    scores = json.loads(scores_file.read_text())
    unit = scores.pop("unit")
    # Images are both the scored items and a calibration level's items (one per image, in the same order):
    # their p-norm scores and, after a post-hoc calibrator, its confidence and correctness join them.
    # (A NER entity or a QA answer is not a scored item: those levels stay seed-level in the claims.)
    for path in sorted(folder.glob(f"calibration_{split}*.json")):
        suffix = path.stem.removeprefix(f"calibration_{split}")
        example = json.loads(path.read_text()).get("levels", {}).get("example")
        if unit != "image" or example is None or len(example["correct"]) != len(scores["correct"]):
            continue
        if not suffix:
            scores["score_pnorm"] = example["score_pnorm"]
        else:
            scores[f"confidence{suffix}"] = example["confidence"]
            scores[f"correct{suffix}"] = example["correct"]
    return Items(unit, scores)


def _hash(column: list) -> str:
    return hashlib.sha256(json.dumps(column).encode()).hexdigest()[:16]


def fingerprint(items: Items) -> str:
    """Names the test set: its items' ids in order (question ids, image pixel / sentence token hashes)."""
    if "id" not in items.columns:
        # A run folder written before images and sentences had ids: the old key (their labels), as the
        # results files collected from such folders store it.
        return legacy_fingerprint(items)
    return _hash(items.columns["id"])


def legacy_fingerprint(items: Items) -> str:
    """The fingerprint as it was before item ids (LEGACY_KEY), to compare a job with rows that predate ids."""
    return _hash(items.columns[LEGACY_KEY[items.unit]])
