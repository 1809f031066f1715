"""Verdicts: does a configuration beat the baseline? Paired by seed, with two intervals, power and ASO.

labelsmooth-claims verdicts SOURCE [SOURCE ...] --baseline smoothing=none --metric test/f1 \
    [--claim higher|lower|equivalent|not-higher|not-lower] [--margin M] \
    [--published-delta X | --published-delta 'smoothing=gls:X' ...] [--compare smoothing=gls] [--json FILE]

A SOURCE is a sweep folder (its job folders, read by labelsmooth.run.sweeps) or a compact results file
(`experiments/results/<sweep>.jsonl.gz`, written by `labelsmooth-claims collect`): both give the same
rows. Jobs are grouped into configurations by their overrides minus the seed (and minus `hydra.*`). For
every configuration: the finished seeds, mean ± sample std, and the difference to the baseline paired by
seed, Δ_s = metric(config, s) − metric(baseline, s), with
- the seed-t interval mean(Δ) ± t(0.975, n−1)·sd(Δ)/√n: pairing removes the seed-to-seed variance both runs
  share (same data order and initialisation), and the t accounts for an sd estimated from 3–5 seeds;
- the hierarchical bootstrap interval over seeds *and* test items, when the jobs have per-item scores
  (`scores_test.json`): the test set is a sample too;
- the minimum detectable effect at n seeds (80 % power, two-sided 5 %) and the seeds the published Δ needs;
- ASO's ε_min both ways (deepsig's Almost Stochastic Order over the per-seed scores);
- for `--claim equivalent --margin M`: TOST, at 90 % intervals.
The rules of the verdict and its reason are in verdict_rows.py.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict
from pathlib import Path

from labelsmooth.analysis.render import ROW_HEADER, fmt, row_cells
from labelsmooth.analysis.results_store import as_jobs
from labelsmooth.analysis.test_items import Items, read_items
from labelsmooth.analysis.verdict_rows import CLAIMS, Row, Settings, adjust, compute
from labelsmooth.atomic import write_atomic
from labelsmooth.run.sweeps import Job, read_jobs, shared_overrides


def read_sources(sources: list[Path]) -> tuple[list[Job], dict[Job, Items]]:
    """Jobs and their per-item test scores from sweep folders and results files."""
    jobs, items = [], {}
    folders = [s for s in sources if not str(s).endswith(".jsonl.gz")]
    for source in sources:
        if str(source).endswith(".jsonl.gz"):
            if not source.is_file():
                raise SystemExit(f"{source}: no such results file")
            more, more_items = as_jobs(source)
            jobs += more
            items |= more_items
    if folders:
        found = read_jobs(folders)
        jobs += found
        items |= {j: i for j in found if (i := read_items(j.folder)) is not None}
    return jobs, items


def markdown(
    rows: list[Row],
    metric: str,
    baseline: list[str],
    claim: str,
    shared: list[str],
    baseline_metric: str | None = None,
) -> str:
    """The verdict rows as a table with RESULTS.md's cells (render.py), plus each row's finished seeds."""
    against = f"`{baseline_metric}` of " if baseline_metric and baseline_metric != metric else ""
    header = [
        "configuration",
        "finished seeds",
        f"{metric} mean ± sd",
        *ROW_HEADER,
        "unpaired seeds",
    ]
    lines = [
        f"Metric `{metric}`, claim: {claim} than {against}the baseline `{' '.join(baseline)}`"
        + (f"; every job: `{' '.join(shared)}`" if shared else ""),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for r in rows:
        mean = f"{fmt(r.mean, metric)} ± {fmt(r.std, metric)}" if r.n > 1 else fmt(r.mean, metric)
        unpaired = []
        if r.missing_seeds:
            unpaired.append("missing " + ",".join(map(str, r.missing_seeds)))
        if r.extra_seeds:
            unpaired.append("not in baseline " + ",".join(map(str, r.extra_seeds)))
        if r.is_baseline:
            cells = ["–"] * (len(ROW_HEADER) - 1) + ["baseline"]
        else:
            cells = row_cells(r, metric, claim == "equivalent", baseline_metric)
        row = [r.configuration, str(r.n), mean, *cells, "; ".join(unpaired) or "–"]
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "Δ: configuration − baseline on the same seed, over the seeds both finished; its interval counts the"
        " seeds' spread and the test set's sampling (se² = sd(Δ)²/n + sd_items², needs per-item scores; else"
        " seeds only); the rows are Holm-adjusted together. How to read a verdict: docs/verdicts.md.",
    ]
    return "\n".join(lines)


def _json_value(v):
    return None if isinstance(v, float) and math.isnan(v) else v


def _published(spec: list[str]) -> list[tuple[list[str], float]]:
    """`--published-delta X` (every compared configuration) or `'OVERRIDES:X'` (those matching OVERRIDES)."""
    out = []
    for item in spec:
        selector, _, value = item.rpartition(":")
        try:
            out.append((selector.split(), float(value)))
        except ValueError:
            raise SystemExit(f"--published-delta {item}: expected a number or 'OVERRIDES:number'") from None
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dirs", type=Path, nargs="+", metavar="SOURCE")
    parser.add_argument(
        "--baseline",
        required=True,
        action="append",
        help="overrides that pick the baseline configuration, e.g. smoothing=none (repeatable)",
    )
    parser.add_argument("--metric", required=True, help="a flat key of metrics.json, e.g. test/f1")
    parser.add_argument(
        "--claim",
        choices=CLAIMS,
        default="higher",
        help="the published direction of configuration − baseline; equivalent: within ±--margin (TOST); "
        "not-*: a claim of no gain without a margin (only refutable)",
    )
    parser.add_argument("--margin", type=float, help="the equivalence margin, in the metric's units")
    parser.add_argument(
        "--baseline-metric",
        help="compare with this metric of the baseline (default --metric), e.g. --metric test/ece_ts "
        "--baseline-metric test/ece: does temperature scaling lower ECE, seed by seed",
    )
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="OVERRIDES",
        help="show only the configurations with these overrides (and the baseline); repeatable",
    )
    parser.add_argument(
        "--published-delta",
        action="append",
        default=[],
        metavar="[OVERRIDES:]X",
        help="the published difference to the baseline (in the metric's units), for every compared "
        "configuration or, as 'smoothing=gls:0.2', for those matching OVERRIDES (repeatable)",
    )
    parser.add_argument(
        "--effect-of-interest",
        type=float,
        help="the smallest Δ that matters here (metric's units): what 'too few seeds' compares the MDE with",
    )
    parser.add_argument(
        "--looks",
        type=lambda text: tuple(int(x) for x in text.split(",")),
        help="the design's seed counts, e.g. 5,10,20 (default: one look at the seeds there are)",
    )
    parser.add_argument("--json", type=Path, help="also write the rows as JSON to this file")
    args = parser.parse_args(argv)
    baseline = [o for b in args.baseline for o in b.split()]
    jobs, items = read_sources(args.sweep_dirs)
    if not jobs:
        raise SystemExit("no finished jobs (no metrics.json) in " + " ".join(map(str, args.sweep_dirs)))
    rows = compute(
        jobs,
        baseline,
        args.metric,
        args.claim,
        _published(args.published_delta),
        args.baseline_metric,
        [c.split() for c in args.compare],
        items=items,
        margin=args.margin,
        looks=args.looks,
        effect_of_interest=args.effect_of_interest,
    )
    adjust(rows, args.claim)
    print(markdown(rows, args.metric, baseline, args.claim, shared_overrides(jobs), args.baseline_metric))
    if args.json:
        payload = {
            "sweeps": [str(s) for s in args.sweep_dirs],
            "metric": args.metric,
            "baseline": baseline,
            "claim": args.claim,
            "baseline_metric": args.baseline_metric or args.metric,
            "settings": asdict(Settings()),
            "interval": "paired Student-t over seeds; hierarchical bootstrap over seeds and test items",
            "rows": [{k: _json_value(v) for k, v in asdict(r).items()} for r in rows],
        }
        write_atomic(args.json, json.dumps(payload, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
