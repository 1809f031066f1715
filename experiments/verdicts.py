"""Verdicts: does a configuration beat the baseline? Paired-by-seed differences with a 95% Student-t interval.

python experiments/verdicts.py SWEEP_DIR [SWEEP_DIR ...] --baseline smoothing=none --metric test/f1 \
    [--claim higher|lower] [--published-delta X | --published-delta 'smoothing=gls:X' ...] [--json FILE]

Jobs are grouped into configurations by their overrides minus the seed (and minus `hydra.*`); overrides
that every job shares are printed once above the table. For every configuration: the number of finished
seeds, mean ± sample std of the metric, and the difference to the baseline *paired by seed*: Δ_s =
metric(config, seed s) − metric(baseline, seed s) over the seeds both have, with the 95% interval
mean(Δ) ± t(0.975, n−1)·sd(Δ)/√n. Why this interval: the same seed gives both runs the same data order and
initialisation, so pairing removes the seed-to-seed variance they share; with 3–5 seeds the sample sd is
itself uncertain, which the Student t accounts for (t(0.975, 4) = 2.78, not the normal 1.96).
Verdict: `supports` when the interval excludes 0 in the claimed direction, `contradicts` when it excludes 0
in the opposite one, else `inconclusive` (also with fewer than two paired seeds). For claims of no gain
(`--claim not-lower`, e.g. "temperature scaling on top of LS does not lower ECE", with `--metric test/ece_ts
--baseline-metric test/ece`): `contradicts` when the interval lies wholly on the denied side, else
`consistent`.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from scipy import stats  # a dependency of scikit-learn, which the package requires

from labelsmooth.sweeps import Job, configuration_names, read_jobs, shared_overrides

CONFIDENCE = 0.95


def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with df degrees of freedom (t_quantile(0.975, 4) = 2.776)."""
    if df < 1:
        raise ValueError(f"df={df}: a t interval needs at least two paired seeds")
    return float(stats.t.ppf(p, df))


def paired_interval(diffs: list[float], confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(mean, low, high) of the paired differences; low = high = nan with fewer than two pairs."""
    mean = statistics.fmean(diffs)
    if len(diffs) < 2:
        return mean, math.nan, math.nan
    half = t_quantile(0.5 + confidence / 2, len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs))
    return mean, mean - half, mean + half


def verdict(low: float, high: float, claim: str) -> str:
    """supports / contradicts when [low, high] excludes 0 in the claimed / opposite direction.

    `not-higher` / `not-lower` are claims of no gain ("temperature scaling on top of LS does not help"):
    contradicted when the interval lies wholly on the denied side, else `consistent` (no test can show 0).
    """
    if math.isnan(low):
        return "inconclusive"
    above, below = low > 0, high < 0
    if claim == "not-higher":
        return "contradicts" if above else "consistent"
    if claim == "not-lower":
        return "contradicts" if below else "consistent"
    if above:
        return "supports" if claim == "higher" else "contradicts"
    if below:
        return "supports" if claim == "lower" else "contradicts"
    return "inconclusive"


@dataclass
class Row:
    configuration: str
    is_baseline: bool
    n: int
    seeds: list
    mean: float
    std: float
    n_paired: int = 0
    delta: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    verdict: str = ""
    published_delta: float | None = None
    published_in_ci: bool | None = None
    missing_seeds: list | None = None  # in the baseline, not in this configuration
    extra_seeds: list | None = None  # in this configuration, not in the baseline


def _matches(job: Job, selector: list[str]) -> bool:
    return all(s in job.overrides for s in selector)


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


def compute(
    jobs: list[Job],
    baseline: list[str],
    metric: str,
    claim: str = "higher",
    published: list[tuple[list[str], float]] = (),
    baseline_metric: str | None = None,
    compare: list[list[str]] = (),
) -> list[Row]:
    """One row per configuration (the baseline first); see the module docstring for the statistics.

    baseline_metric: the baseline's metric when it differs from `metric` (e.g. ECE after vs before
    temperature scaling); then the baseline configuration is compared with itself too.
    compare: keep only the configurations matching one of these override lists (and the baseline).
    """
    baseline_metric = baseline_metric or metric
    names = configuration_names(jobs)
    by_config: dict[str, dict] = {}
    for job in jobs:
        missing = [m for m in dict.fromkeys([metric, baseline_metric]) if m not in job.metrics]
        if missing and (metric in missing or _matches(job, baseline)):
            print(f"warning: skipping {job.folder}: its metrics.json has no {missing[0]}", file=sys.stderr)
            continue
        seeds = by_config.setdefault(names[job], {})
        if job.seed in seeds:
            first = seeds[job.seed][1]
            print(
                f"warning: {job.folder} repeats seed {job.seed} of '{names[job]}' ({first}): using the first",
                file=sys.stderr,
            )
            continue
        seeds[job.seed] = (job.metrics[metric], job.folder, job, job.metrics.get(baseline_metric))
    if not by_config:
        raise SystemExit(f"no finished job reports {metric}")
    base_names = [c for c, seeds in by_config.items() if _matches(next(iter(seeds.values()))[2], baseline)]
    if len(base_names) != 1:
        found = "none" if not base_names else "several: " + "; ".join(base_names)
        listing = "\n  ".join(by_config)
        raise SystemExit(
            f"--baseline {' '.join(baseline)}: must match exactly one configuration, matched {found}."
            f" Configurations:\n  {listing}"
        )
    base = {s: v[3] for s, v in by_config[base_names[0]].items()}
    rows = []
    for config, seeds in sorted(by_config.items(), key=lambda kv: (kv[0] != base_names[0], kv[0])):
        first_job = next(iter(seeds.values()))[2]
        if compare and config != base_names[0] and not any(_matches(first_job, c) for c in compare):
            continue
        values = [v[0] for v in seeds.values()]
        row = Row(
            configuration=config,
            is_baseline=config == base_names[0] and baseline_metric == metric,
            n=len(values),
            seeds=sorted(seeds, key=str),
            mean=statistics.fmean(values),
            std=statistics.stdev(values) if len(values) > 1 else math.nan,
        )
        if row.is_baseline:
            row.verdict = "baseline"
        else:
            common = sorted(set(seeds) & set(base), key=str)
            row.missing_seeds = sorted(set(base) - set(seeds), key=str)
            row.extra_seeds = sorted(set(seeds) - set(base), key=str)
            row.n_paired = len(common)
            if common:
                diffs = [seeds[s][0] - base[s] for s in common]
                row.delta, row.ci_low, row.ci_high = paired_interval(diffs)
            row.verdict = verdict(row.ci_low, row.ci_high, claim)
            for selector, value in published:
                if _matches(first_job, selector):
                    row.published_delta = value
            if row.published_delta is not None and not math.isnan(row.ci_low):
                row.published_in_ci = row.ci_low <= row.published_delta <= row.ci_high
        rows.append(row)
    return rows


def _num(x: float, signed: bool = False) -> str:
    if x is None or math.isnan(x):
        return "–"
    return f"{x:+.3g}" if signed else f"{x:.4g}"


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
        "| published Δ | published Δ in our CI | verdict | unpaired seeds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mean = f"{_num(r.mean)} ± {r.std:.2g}" if r.n > 1 else _num(r.mean)
        if r.is_baseline:
            delta = "(baseline)"
        elif r.n_paired == 0:
            delta = "– (no common seed)"
        else:
            delta = (
                f"{_num(r.delta, True)} [{_num(r.ci_low, True)}, {_num(r.ci_high, True)}] (n={r.n_paired})"
            )
        published = "–" if r.published_delta is None else _num(r.published_delta, True)
        inside = {None: "–", True: "yes", False: "no"}[r.published_in_ci]
        unpaired = []
        if r.missing_seeds:
            unpaired.append("missing " + ",".join(map(str, r.missing_seeds)))
        if r.extra_seeds:
            unpaired.append("not in baseline " + ",".join(map(str, r.extra_seeds)))
        lines.append(
            f"| {r.configuration} | {r.n} | {mean} | {delta} | {published} | {inside} | {r.verdict} "
            f"| {'; '.join(unpaired)} |"
        )
    lines += [
        "",
        "Δ: configuration − baseline on the same seed, over the seeds both finished; 95% CI: paired Student-t"
        " interval mean(Δ) ± t(0.975, n−1)·sd(Δ)/√n (few seeds, paired design). Verdict: the CI excludes 0"
        " in the claimed direction (supports) or the opposite one (contradicts), else inconclusive.",
    ]
    return "\n".join(lines)


def _json_value(v):
    return None if isinstance(v, float) and math.isnan(v) else v


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dirs", type=Path, nargs="+", metavar="SWEEP_DIR")
    parser.add_argument(
        "--baseline",
        required=True,
        action="append",
        help="overrides that pick the baseline configuration, e.g. smoothing=none (repeatable)",
    )
    parser.add_argument("--metric", required=True, help="a flat key of metrics.json, e.g. test/f1")
    parser.add_argument(
        "--claim",
        choices=["higher", "lower", "not-higher", "not-lower"],
        default="higher",
        help="the published direction of configuration − baseline; not-*: a claim of no gain",
    )
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
    jobs = read_jobs(args.sweep_dirs)
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
    )
    print(markdown(rows, args.metric, baseline, args.claim, shared_overrides(jobs), args.baseline_metric))
    if args.json:
        payload = {
            "sweeps": [str(s) for s in args.sweep_dirs],
            "metric": args.metric,
            "baseline": baseline,
            "claim": args.claim,
            "baseline_metric": args.baseline_metric or args.metric,
            "confidence": CONFIDENCE,
            "interval": "paired Student-t over seeds",
            "rows": [{k: _json_value(v) for k, v in asdict(r).items()} for r in rows],
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
