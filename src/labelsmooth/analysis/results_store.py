"""Compact results: a sweep's finished jobs as one gzipped JSON-lines file, and reading them back.

`experiments/results/<sweep>.jsonl.gz` holds one line per job: its configuration (the overrides that name
it), seed, every override, the metrics the claims use, the per-item test scores those metrics need (see
stats_items.COLUMNS) and what produced it (metrics.json's `run`: git commit, package versions, device).
It is written by `collect` from run folders, never by hand, and read by verdicts.py like a sweep folder,
so every verdict can be recomputed without training. gzip's header carries no time, so the same jobs give
the same bytes.

A results file is one body of evidence: its jobs must come from one commit of a clean tree, unless its sweep
declares `pool_commits: true` with a `pool_reason` in claims.yaml; a job rerun with another result stops the
collect (which one is right is for a person to find out). A damaged file stops with one line naming the row.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

from labelsmooth.analysis.stats.items import COLUMNS, value
from labelsmooth.analysis.test_items import LEGACY_KEY, Items, fingerprint, legacy_fingerprint, read_items
from labelsmooth.atomic import atomic_file
from labelsmooth.run.metrics_file import METRICS
from labelsmooth.run.neutral import neutral_override
from labelsmooth.run.sweeps import Job, read_jobs

# Overrides that change no result (where logs go, which launcher ran the job) and so split no configuration.
# Significant digits kept of float item scores (confidences, QA F1): far below any metric's resolution.
DIGITS = 10
# A metric recomputed from the rounded items must equal metrics.json's to this much.
TOLERANCE = 1e-6
# What every job line holds (and as_jobs, merge and the report read).
KEYS = ("config", "seed", "overrides", "metrics", "run")


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
    for m in metrics:
        if not math.isfinite(job.metrics[m]):
            raise SystemExit(
                f"{job.folder / METRICS}: {m} is {job.metrics[m]} (a results file holds numbers)"
            )
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
    if "id" in items.columns and LEGACY_KEY[items.unit] != "id":  # so it can join rows that predate ids
        entry["legacy_fingerprint"] = legacy_fingerprint(items)
    return entry


def _key(entry: dict[str, Any]) -> tuple:
    return tuple(entry["config"]), entry["seed"]


def _fixed(entry: dict[str, Any]) -> list[str]:
    """The overrides that neither name the configuration nor the seed and do change results."""
    return sorted(o for o in entry["overrides"] if o not in entry["config"] and not neutral_override(o))


def code_name(commit: str | None, dirty: bool | None) -> str:
    """Code as a results file names it: the commit, and ` dirty` unless the tree is known to be clean."""
    return (commit or "?")[:7] + ("" if dirty is False else " dirty")


def _code(entry: dict[str, Any]) -> str:
    """The code a job ran."""
    run = entry.get("run") or {}
    return code_name(run.get("git_commit"), run.get("git_dirty"))


def _declare(where: str) -> str:
    """How the sweep of the results file `where` would allow pooling (the end of both refusals)."""
    sweep = Path(where).name.removesuffix(".jsonl.gz")
    return f"declare pool_commits: true with a pool_reason in claims.yaml's sweeps.{sweep}"


def refuse_unjoinable(where: Path, commit: str | None, dirty: bool | None, pool: bool) -> None:
    """Stop before a batch whose jobs, run by this code, `merge` would refuse to add to the file `where`
    (a dirty checkout, or a file of another commit's jobs): hours of training that end in a refusal."""
    if pool:
        return
    now = code_name(commit, dirty)
    declare = _declare(str(where))
    if now.endswith(" dirty"):
        raise SystemExit(
            f"{where}: this checkout's code ({now}) has uncommitted changes and the file pools one clean "
            f"commit's jobs: commit first, or {declare}"
        )
    others = Counter(c for c in map(_code, load(where)) if c != now)
    if others:
        raise SystemExit(
            f"{where}: holds jobs of {', '.join(f'{c} ×{n}' for c, n in others.items())}, this checkout is "
            f"{now}: run in a checkout of that commit, move the file and the sweep's job folders to an "
            f"archive, or {declare}"
        )


def _test_set(a: dict[str, Any], b: dict[str, Any]) -> tuple[Any, Any]:
    """The fingerprints that say whether a and b were scored on one test set: of their item ids when both
    have them, else the legacy ones (a row collected before ids stores only that)."""
    if "legacy_fingerprint" in a and "legacy_fingerprint" in b:
        return a["fingerprint"], b["fingerprint"]
    return a.get("legacy_fingerprint", a.get("fingerprint")), b.get(
        "legacy_fingerprint", b.get("fingerprint")
    )


def _rerun_differs(stored: dict, name_stored: str, entry: dict, name_new: str, where: str) -> None:
    """Stop when a job already stored ran again with another result (identical reruns are skipped)."""
    for m in sorted(stored["metrics"].keys() & entry["metrics"].keys()):
        if stored["metrics"][m] != entry["metrics"][m]:
            raise SystemExit(
                f"{where}: job {entry['config']} seed {entry['seed']} ran twice with different results: "
                f"{name_stored} {m}={stored['metrics'][m]!r}, {name_new} {m}={entry['metrics'][m]!r}; "
                "find out why before keeping either (collect the rerun into another file)"
            )


def merge(
    old: list[dict], new: list[dict], where: str, pool: bool = False, sources: list[str] | None = None
) -> list[dict]:
    """old then the new jobs that are not yet in it; every job must share the test set and fixed settings,
    a job already in it must give the same metrics again, and (unless pool) all must be one clean commit.

    sources: what names each new job in a message (its run folder).
    """
    names = sources or [f"new job {i + 1}" for i in range(len(new))]
    seen = {_key(e): (e, f"the stored job ({_code(e)})") for e in old}
    merged = list(old)
    for entry, name in zip(new, names, strict=True):
        if _key(entry) in seen:
            _rerun_differs(*seen[_key(entry)], entry, name, where)
            continue
        merged.append(entry)
        seen[_key(entry)] = (entry, name)
    with_ids = next((e for e in merged if "legacy_fingerprint" in e), None)
    for entry in merged[1:]:
        first = merged[0]
        for other in (first, with_ids) if with_ids is not None else (first,):
            mine, theirs = _test_set(entry, other)
            if mine != theirs:
                raise SystemExit(
                    f"{where}: job {entry['config']} seed {entry['seed']} was scored on another test set "
                    f"({mine} vs {theirs}); collect it into another file"
                )
        if _fixed(entry) != _fixed(first):
            raise SystemExit(
                f"{where}: job {entry['config']} seed {entry['seed']} ran with {_fixed(entry)}, "
                f"the others with {_fixed(first)}; collect it into another file"
            )
    codes = Counter(_code(e) for e in merged)
    commits = {(e.get("run") or {}).get("git_commit") for e in merged}
    if not pool and (len(commits) > 1 or any(c.endswith(" dirty") for c in codes)):
        raise SystemExit(
            f"{where}: its jobs would come from {', '.join(f'{c} ×{n}' for c, n in codes.items())}: one "
            f"results file pools one clean commit's jobs; collect into another file, or {_declare(where)}"
        )
    return sorted(merged, key=lambda e: (e["config"], e["seed"]))


def _row(line: str, i: int, where: Path) -> dict:
    """One job line, checked: JSON, the keys every line holds, numeric finite metrics."""
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as err:
        raise SystemExit(f"{where}: row {i}: not JSON ({err})") from None
    if not isinstance(entry, dict):
        raise SystemExit(f"{where}: row {i}: expected a job (a JSON object), got {type(entry).__name__}")
    missing = [k for k in KEYS if k not in entry] + (
        ["unit"] if "items" in entry and "unit" not in entry else []
    )
    if missing:
        raise SystemExit(
            f"{where}: row {i}: no key {', '.join(missing)} (a job line holds {', '.join(KEYS)})"
        )
    if not isinstance(entry["metrics"], dict) or not isinstance(entry["config"], list):
        raise SystemExit(f"{where}: row {i}: metrics must be an object and config a list")
    for m, x in entry["metrics"].items():
        if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
            raise SystemExit(f"{where}: row {i}: metric {m} is {x!r}, not a finite number")
    return entry


def load(path: Path) -> list[dict]:
    """The job lines of a results file ([] when it does not exist yet); a damaged one stops naming the row."""
    if not path.exists():
        return []
    entries: list[dict] = []
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    entries.append(_row(line, len(entries) + 1, path))
    except EOFError:
        last = f"row {len(entries)}: the last complete row" if entries else "before row 1"
        raise SystemExit(
            f"{path}: {last}; the gzip stream is truncated after it (restore the file)"
        ) from None
    except (OSError, zlib.error, UnicodeDecodeError) as err:  # gzip.BadGzipFile is an OSError
        raise SystemExit(
            f"{path}: row {len(entries) + 1}: corrupted, not gzipped JSON lines ({err})"
        ) from None
    return entries


def save(path: Path, entries: list[dict]) -> None:
    """Write the lines gzipped with no timestamp (same jobs → same bytes), through a temporary file."""
    text = "".join(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n" for e in entries)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as f:
        f.write(text.encode())
    with atomic_file(path) as f:
        f.write(buffer.getvalue())


def collect(
    folders: list[Path],
    out: Path,
    config_keys: list[str],
    metrics: list[str],
    gap: bool = False,
    warn=None,
    pool: bool = False,
) -> int:
    """Add the finished jobs under `folders` to the results file `out`; returns how many it holds.

    pool: the sweep's pool_commits (jobs of several commits or a dirty tree may share the file).
    """
    jobs = read_jobs(folders, warn=warn)
    new = [record(job, config_keys, metrics, gap) for job in jobs]
    entries = merge(load(out), new, str(out), pool, [str(job.folder) for job in jobs])
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
