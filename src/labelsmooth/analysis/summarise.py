"""Summarise a sweep: mean ± std over seeds of chosen metrics, one row per configuration, as Markdown.

labelsmooth-claims summarise outputs/experiments/ls_calibration/<stamp> test/accuracy test/ece test/ece_ts

Jobs are read by `labelsmooth.run.sweeps.read_jobs` (the reader verdicts.py and plot_grid.py use): unfinished
and `limited` jobs are skipped with a warning and never counted; `seeds` is the number of finished jobs.
A metric that metrics.json lacks is computed from the job's per-item test scores when they give it, e.g.
`test/confidence_gap` (mean confidence − accuracy of an image run: > 0 over-confident).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
from pathlib import Path

from labelsmooth.analysis.stats.items import item_metric, value
from labelsmooth.analysis.test_items import read_items
from labelsmooth.run.sweeps import Job, by_configuration, read_jobs


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g}"


def with_item_metrics(job: Job, metrics: list[str]) -> dict[str, float]:
    """The job's metrics, plus those of `metrics` it lacks that its per-item test scores give."""
    missing = [m for m in metrics if m not in job.metrics and m.startswith("test/")]
    items = read_items(job.folder) if missing else None
    extra = {}
    for m in missing:
        if items is not None and item_metric(items.unit, m) is not None:
            with contextlib.suppress(KeyError):  # a column this metric needs is not in the file
                extra[m] = value(items.unit, m, items.columns)
    return job.metrics | extra


def summarise(sweep_dir: Path, metrics: list[str], warn=None) -> str:
    """A Markdown table: configuration, finished seeds, then mean ± std (sample std) of each metric."""
    jobs = read_jobs([Path(sweep_dir)], warn=warn)
    lines = ["| configuration | seeds | " + " | ".join(metrics) + " |", "|---|---|" + "---|" * len(metrics)]
    for name, group in by_configuration(jobs).items():
        results = [with_item_metrics(job, metrics) for job in group]
        cells = [mean_std([r[m] for r in results]) if all(m in r for r in results) else "–" for m in metrics]
        lines.append(f"| {name} | {len(results)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("metrics", nargs="+")
    args = parser.parse_args(argv)
    print(summarise(args.sweep_dir, args.metrics))


if __name__ == "__main__":
    main()
