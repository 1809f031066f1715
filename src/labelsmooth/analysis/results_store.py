"""Compact results: a sweep's finished jobs as one gzipped JSON-lines file, and reading them back.

`experiments/results/<sweep>.jsonl.gz` holds one line per job: its configuration (the overrides that name
it), seed, every override, the metrics the claims use, the per-item test scores those metrics need (see
stats_items.COLUMNS) and what produced it (metrics.json's `run`: git commit, package versions, device).
It is written by `collect` from run folders, never by hand, and read by verdicts.py like a sweep folder,
so every verdict can be recomputed without training. gzip's header carries no time, so the same jobs give
the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelsmooth.analysis.stats.items import COLUMNS, value
from labelsmooth.atomic import atomic_file
from labelsmooth.run.metrics_file import METRICS
from labelsmooth.run.neutral import neutral_override
from labelsmooth.run.sweeps import Job, read_jobs

# Overrides that change no result (where logs go, which launcher ran the job) and so split no configuration.
# Significant digits kept of float item scores (confidences, QA F1): far below any metric's resolution.
DIGITS = 10
# A metric recomputed from the rounded items must equal metrics.json's to this much.
TOLERANCE = 1e-6


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


def fingerprint(items: Items) -> str:
    """Names the test set: the items' identity (question ids, image labels, gold entities per sentence)."""
    key = {"question": "id", "image": "label", "sentence": "gold"}[items.unit]
    return hashlib.sha256(json.dumps(items.columns[key]).encode()).hexdigest()[:16]


def _round(x: Any) -> Any:
    return float(f"{x:.{DIGITS}g}") if isinstance(x, float) else x


def record(job: Job, config_keys: list[str], metrics: list[str], gap: bool = False) -> dict[str, Any]:
    """One job's line: configuration, seed, overrides, the named metrics, items, fingerprint, provenance.

    gap: also keep what the confidence gap (mean confidence − accuracy) needs, for calibration claims.
    """
    written = json.loads((job.folder / METRICS).read_text())
    missing = [m for m in metrics if m not in job.metrics]
    if missing:
        raise SystemExit(f"{job.folder / METRICS}: no {missing[0]} (the claims need {', '.join(metrics)})")
    entry: dict[str, Any] = {
        "config": [o for o in job.overrides if o.partition("=")[0] in config_keys],
        "seed": job.seed,
        "overrides": list(job.overrides),
        "metrics": {m: job.metrics[m] for m in metrics},
        "run": written.get("run", {}),
    }
    items = read_items(job.folder)
    if items is None:
        return entry
    names = [m.rpartition("/")[2] for m in metrics] + (["confidence_gap"] if gap else [])
    wanted = sorted({c for m in names for c in COLUMNS.get((items.unit, m), ())})
    kept = {c: [_round(x) for x in items.columns[c]] for c in wanted if c in items.columns}
    for m in metrics:  # the rounded items must still give the run's own number
        if set(COLUMNS.get((items.unit, m.rpartition("/")[2]), ("-",))) <= kept.keys():
            again = value(items.unit, m, kept)
            if not math.isclose(again, job.metrics[m], rel_tol=TOLERANCE, abs_tol=TOLERANCE):
                raise SystemExit(
                    f"{job.folder}: {m} from its items is {again}, metrics.json says {job.metrics[m]}"
                )
    entry |= {"unit": items.unit, "fingerprint": fingerprint(items), "items": kept}
    return entry


def _key(entry: dict[str, Any]) -> tuple:
    return tuple(entry["config"]), entry["seed"]


def _fixed(entry: dict[str, Any]) -> list[str]:
    """The overrides that neither name the configuration nor the seed and do change results."""
    return sorted(o for o in entry["overrides"] if o not in entry["config"] and not neutral_override(o))


def merge(old: list[dict], new: list[dict], where: str) -> list[dict]:
    """old then the new jobs that are not yet in it; every job must share the test set and fixed settings."""
    seen = {_key(e) for e in old}
    merged = list(old)
    for entry in new:
        if _key(entry) in seen:
            continue
        merged.append(entry)
        seen.add(_key(entry))
    for entry in merged[1:]:
        first = merged[0]
        if entry.get("fingerprint") != first.get("fingerprint"):
            raise SystemExit(
                f"{where}: job {entry['config']} seed {entry['seed']} was scored on another test set "
                f"({entry.get('fingerprint')} vs {first.get('fingerprint')}); collect it into another file"
            )
        if _fixed(entry) != _fixed(first):
            raise SystemExit(
                f"{where}: job {entry['config']} seed {entry['seed']} ran with {_fixed(entry)}, "
                f"the others with {_fixed(first)}; collect it into another file"
            )
    return sorted(merged, key=lambda e: (e["config"], e["seed"]))


def load(path: Path) -> list[dict]:
    """The job lines of a results file ([] when it does not exist yet)."""
    if not path.exists():
        return []
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, json.JSONDecodeError) as err:
        raise SystemExit(f"{path}: not a results file (gzipped JSON lines): {err}") from None


def save(path: Path, entries: list[dict]) -> None:
    """Write the lines gzipped with no timestamp (same jobs → same bytes), through a temporary file."""
    text = "".join(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n" for e in entries)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as f:
        f.write(text.encode())
    with atomic_file(path) as f:
        f.write(buffer.getvalue())


def collect(
    folders: list[Path], out: Path, config_keys: list[str], metrics: list[str], gap: bool = False, warn=None
) -> int:
    """Add the finished jobs under `folders` to the results file `out`; returns how many it holds."""
    jobs = read_jobs(folders, warn=warn)
    new = [record(job, config_keys, metrics, gap) for job in jobs]
    entries = merge(load(out), new, str(out))
    save(out, entries)
    return len(entries)


def as_jobs(path: Path) -> tuple[list[Job], dict[Job, Items]]:
    """The results file as sweep jobs (configuration overrides only) and their items, for verdicts.py."""
    jobs, items = [], {}
    for entry in load(path):
        config = "_".join(entry["config"]) or "job"
        job = Job(
            Path(f"{path}#{config}_seed{entry['seed']}"),
            tuple(entry["config"]),
            entry["seed"],
            entry["metrics"],
        )
        jobs.append(job)
        if "items" in entry:
            items[job] = Items(entry["unit"], entry["items"])
    return jobs, items
