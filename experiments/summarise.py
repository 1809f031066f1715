"""Summarise a sweep: mean ± std over seeds of chosen metrics, one row per configuration, as Markdown.

python experiments/summarise.py outputs/experiments/ls_calibration/<stamp> test/accuracy test/ece test/ece_ts
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

import yaml


def job_results(sweep_dir: Path) -> list[tuple[str, dict[str, float] | None]]:
    """(configuration without the seed, metrics or None when the job left no metrics.json) per job folder."""
    rows = []
    for overrides_file in sorted(sweep_dir.glob("**/.hydra/overrides.yaml")):  # grid/… choices nest
        job = overrides_file.parent.parent
        overrides = yaml.safe_load(overrides_file.read_text())
        config = " ".join(o for o in overrides if not o.startswith(("seed=", "hydra.", "experiment=")))
        metrics_file = job / "metrics.json"
        rows.append((config, json.loads(metrics_file.read_text()) if metrics_file.exists() else None))
    return rows


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g}"


def summarise(sweep_dir: Path, metrics: list[str]) -> str:
    """A Markdown table: configuration, seeds finished/run, then mean ± std (sample std) of each metric."""
    groups: dict[str, list[dict | None]] = defaultdict(list)
    for config, result in job_results(sweep_dir):
        groups[config].append(result)
    if not groups:
        raise SystemExit(f"{sweep_dir}: no job folders with .hydra/overrides.yaml")
    lines = ["| configuration | seeds | " + " | ".join(metrics) + " |", "|---|---|" + "---|" * len(metrics)]
    for config, results in groups.items():
        done = [r for r in results if r is not None]
        cells = [
            mean_std([r[m] for r in done]) if done and all(m in r for r in done) else "–" for m in metrics
        ]
        lines.append(f"| {config or '(defaults)'} | {len(done)}/{len(results)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("metrics", nargs="+")
    args = parser.parse_args()
    print(summarise(args.sweep_dir, args.metrics))


if __name__ == "__main__":
    main()
