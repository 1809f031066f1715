"""Verdicts: does a configuration beat the baseline? Paired by seed, with two intervals, power and ASO.

python experiments/verdicts.py SOURCE [SOURCE ...] --baseline smoothing=none --metric test/f1 \
    [--claim higher|lower|equivalent|not-higher|not-lower] [--margin M] \
    [--published-delta X | --published-delta 'smoothing=gls:X' ...] [--compare smoothing=gls] [--json FILE]

A SOURCE is a sweep folder (its job folders, read by labelsmooth.sweeps) or a compact results file
(`experiments/results/<sweep>.jsonl.gz`, written by `experiments/claims.py collect`): both give the same
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

from results_store import Items, as_jobs, read_items
from stats_seeds import paired_interval, t_quantile  # noqa: F401  (the statistics' old home)
from verdict_rows import CLAIMS, Row, Settings, compute, decide  # noqa: F401

from labelsmooth.sweeps import Job, read_jobs, shared_overrides


def verdict(low: float, high: float, claim: str) -> str:
    """The seed-t verdict alone: supports / contradicts when [low, high] excludes 0 on the claimed side."""
    row = Row("x", False, 2, [], 0.0, 0.0, ci_low=low, ci_high=high, mde=math.inf)
    decide(row, claim, has_items=False)
    return row.verdict


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


def _num(x: float | None, signed: bool = False) -> str:
    if x is None or math.isnan(x):
        return "–"
    return f"{x:+.3g}" if signed else f"{x:.4g}"


def interval(low: float, high: float) -> str:
    return "–" if math.isnan(low) else f"[{_num(low, True)}, {_num(high, True)}]"


def seeds_text(n: int | None) -> str:
    return "–" if n is None else str(n)


def markdown(
    rows: list[Row],
    metric: str,
    baseline: list[str],
    claim: str,
    shared: list[str],
    baseline_metric: str | None = None,
) -> str:
    against = f"`{baseline_metric}` of " if baseline_metric and baseline_metric != metric else ""
    lines = [
        f"Metric `{metric}`, claim: {claim} than {against}the baseline `{' '.join(baseline)}`"
        + (f"; every job: `{' '.join(shared)}`" if shared else ""),
        "",
        f"| configuration | n seeds | {metric} mean ± std | Δ vs baseline [95% CI] (paired seeds) "
        "| published Δ | published Δ in our CI | verdict | unpaired seeds | bootstrap CI (seeds × items) "
        "| test-set sd of Δ | MDE (80 % power) | seeds for published Δ | ASO ε_min better / worse | why |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mean = f"{_num(r.mean)} ± {r.std:.2g}" if r.n > 1 else _num(r.mean)
        if r.is_baseline:
            delta = "(baseline)"
        elif r.n_paired == 0:
            delta = "– (no common seed)"
        else:
            level = "" if r.level == 0.95 else f" {r.level:.0%}"
            delta = f"{_num(r.delta, True)} {interval(r.ci_low, r.ci_high)}{level} (n={r.n_paired})"
        published = "–" if r.published_delta is None else _num(r.published_delta, True)
        inside = {None: "–", True: "yes", False: "no"}[r.published_in_ci]
        unpaired = []
        if r.missing_seeds:
            unpaired.append("missing " + ",".join(map(str, r.missing_seeds)))
        if r.extra_seeds:
            unpaired.append("not in baseline " + ",".join(map(str, r.extra_seeds)))
        aso = "–" if math.isnan(r.aso_better) else f"{r.aso_better:.2f} / {r.aso_worse:.2f}"
        lines.append(
            f"| {r.configuration} | {r.n} | {mean} | {delta} | {published} | {inside} | {r.verdict} "
            f"| {'; '.join(unpaired)} | {interval(r.boot_low, r.boot_high)} | {_num(r.sd_items)} "
            f"| {_num(r.mde)} | {seeds_text(r.seeds_needed)} | {aso} | {r.reason} |"
        )
    lines += [
        "",
        "Δ: configuration − baseline on the same seed, over the seeds both finished; 95% CI: paired Student-t"
        " interval mean(Δ) ± t(0.975, n−1)·sd(Δ)/√n (few seeds, paired design); bootstrap: seeds and test"
        " items resampled (needs per-item scores). Verdict: both intervals exclude 0 in the claimed direction"
        " (supports) or the opposite one (contradicts), else inconclusive.",
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
    )
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
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
