"""One verdict row per configuration: the seed-paired Δ with its two intervals, power, ASO and the verdict.

For each configuration against the baseline, over the seeds both finished (paired by seed):
- seed-t: mean(Δ) ± t(0.975, n−1)·sd(Δ)/√n, the test set held fixed;
- bootstrap: the hierarchical bootstrap over seeds and test items (stats_items), which also counts that the
  test set is a sample; needs per-item scores;
- power: the minimum detectable effect at n seeds (80 % power, two-sided 5 %) and the seeds the published Δ
  needs, both from the paired sd (stats_seeds);
- ASO: ε_min that the configuration is better in the claimed direction, and that the baseline is (deepsig's
  test over the per-seed scores, unpaired; stats_aso);
- equivalence claims: TOST with the claim's margin, at 90 % intervals (two one-sided 5 % tests).
Verdict: *supports* / *contradicts* when both intervals (the seed-t alone when there are no items) exclude 0
on the claimed / the other side; for equivalence, when both 90 % intervals lie inside ±margin / wholly
outside it. Else *inconclusive*, with the reason: "too few seeds" when the published Δ (the margin) is below
what n seeds can detect (establish), else "no effect at this resolution" ("a difference near the margin");
when the seed-t interval excludes 0 and only the bootstrap does not, it adds "test set too small".
"""

from __future__ import annotations

import math
import statistics
import sys
from dataclasses import dataclass, field

import numpy as np

from labelsmooth.analysis.metric_names import lower_is_better
from labelsmooth.analysis.results_store import Items
from labelsmooth.analysis.stats.aso import THRESHOLD, aso
from labelsmooth.analysis.stats.items import Paired, hierarchical_bootstrap, item_metric, value
from labelsmooth.analysis.stats.seeds import (
    minimum_detectable_effect,
    minimum_equivalence_margin,
    paired_interval,
    seeds_needed,
    seeds_needed_equivalence,
    tost,
)
from labelsmooth.run.sweeps import Job, configuration_names

CLAIMS = ("higher", "lower", "equivalent", "not-higher", "not-lower")


@dataclass(frozen=True)
class Settings:
    confidence: float = 0.95
    power: float = 0.8
    replicates: int = 2000
    bootstrap_seed: int = 0
    aso_seed: int = 0
    aso_threshold: float = THRESHOLD


@dataclass
class Row:
    configuration: str
    is_baseline: bool
    n: int
    seeds: list
    mean: float
    std: float
    n_paired: int = 0
    level: float = 0.95  # of both intervals (0.90 for TOST)
    baseline_mean: float = math.nan  # over the paired seeds
    delta: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    sd_delta: float = math.nan
    boot_low: float = math.nan
    boot_high: float = math.nan
    sd_items: float = math.nan  # test-set sampling sd of mean Δ (bootstrap over items, seeds fixed)
    mde: float = math.nan  # or, for TOST, the smallest margin n seeds establish
    seeds_needed: int | None = None
    aso_better: float = math.nan  # ε_min: configuration better than the baseline (claimed direction)
    aso_worse: float = math.nan  # ε_min: baseline better
    tost_p: float = math.nan
    margin: float | None = None
    verdict: str = ""
    reason: str = ""
    published_delta: float | None = None
    published_in_ci: bool | None = None
    baseline_gap: float = math.nan  # the baseline's mean confidence − accuracy (calibration claims)
    missing_seeds: list | None = None  # in the baseline, not in this configuration
    extra_seeds: list | None = field(default=None)  # in this configuration, not in the baseline


def _matches(job: Job, selector: list[str]) -> bool:
    return all(s in job.overrides for s in selector)


def _excludes(low: float, high: float) -> str:
    return "above" if low > 0 else "below" if high < 0 else ""


def decide(row: Row, claim: str, has_items: bool) -> None:
    """Set row.verdict and row.reason from its intervals, power and the claim (module docstring)."""
    if math.isnan(row.ci_low):
        row.verdict, row.reason = "inconclusive", "too few seeds"
        return
    boot = (row.boot_low, row.boot_high) if has_items else (row.ci_low, row.ci_high)
    if claim == "equivalent":
        m = row.margin
        inside = all(-m < x < m for x in (row.ci_low, row.ci_high, *boot))
        outside = all(lo >= m or hi <= -m for lo, hi in ((row.ci_low, row.ci_high), boot))
        row.verdict = "supports" if inside else "contradicts" if outside else "inconclusive"
        if row.verdict == "inconclusive":
            row.reason = "too few seeds" if row.mde > m else "a difference near the margin"
        return
    sides = {_excludes(row.ci_low, row.ci_high), _excludes(*boot)}
    side = sides.pop() if len(sides) == 1 else ""
    if claim in ("not-higher", "not-lower"):  # claims of no gain without a margin: only refutable
        denied = "above" if claim == "not-higher" else "below"
        row.verdict = "contradicts" if side == denied else "consistent"
        return
    claimed = "above" if claim == "higher" else "below"
    row.verdict = "supports" if side == claimed else "contradicts" if side else "inconclusive"
    if row.verdict == "inconclusive":
        target = abs(row.published_delta) if row.published_delta else math.inf
        row.reason = "too few seeds" if not row.mde <= target else "no effect at this resolution"
        if _excludes(row.ci_low, row.ci_high) and not _excludes(*boot):
            row.reason += "; test set too small: the seed-t interval alone excludes 0"


def _paired_items(
    items: dict[Job, Items], seeds: list, config: dict, base: dict, metric: str, baseline_metric: str
) -> Paired | None:
    """Item columns (items × seeds) of both sides over the paired seeds, if every job has usable items."""
    jobs = [config[s] for s in seeds] + [base[s] for s in seeds]
    got = [items.get(j) for j in jobs]
    if not seeds or any(i is None for i in got) or len({i.unit for i in got}) != 1:
        return None
    unit = got[0].unit
    if item_metric(unit, metric) is None or item_metric(unit, baseline_metric) is None:
        return None
    names = sorted(set.intersection(*(set(i.columns) for i in got)))
    if len({len(i.columns[names[0]]) for i in got}) != 1:
        return None  # different test sets
    n = len(seeds)

    def stack(part: list[Items]) -> dict[str, np.ndarray]:
        return {c: np.column_stack([np.asarray(i.columns[c]) for i in part]) for c in names}

    paired = Paired(unit, metric, baseline_metric, stack(got[:n]), stack(got[n:]))
    try:
        paired.deltas(np.ones((1, len(paired.config[names[0]]))))
    except KeyError:  # a column the metric needs is not stored
        return None
    return paired


def _gap(items: dict[Job, Items], jobs: list[Job]) -> float:
    gaps = [
        value("image", "confidence_gap", items[j].columns)
        for j in jobs
        if j in items and items[j].unit == "image" and "confidence" in items[j].columns
    ]
    return statistics.fmean(gaps) if gaps and len(gaps) == len(jobs) else math.nan


def compute(
    jobs: list[Job],
    baseline: list[str],
    metric: str,
    claim: str = "higher",
    published: list[tuple[list[str], float]] = (),
    baseline_metric: str | None = None,
    compare: list[list[str]] = (),
    items: dict[Job, Items] | None = None,
    margin: float | None = None,
    settings: Settings = Settings(),
) -> list[Row]:
    """One row per configuration (the baseline first); see the module docstring for the statistics.

    baseline_metric: the baseline's metric when it differs from `metric` (e.g. ECE after vs before
    temperature scaling); then the baseline configuration is compared with itself too.
    compare: keep only the configurations matching one of these override lists (and the baseline).
    """
    if claim not in CLAIMS:
        raise SystemExit(f"claim {claim!r}: expected one of {', '.join(CLAIMS)}")
    if claim == "equivalent" and not (margin and margin > 0):
        raise SystemExit("an equivalence claim needs --margin > 0 (in the metric's units)")
    items = items or {}
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
            print(
                f"warning: {job.folder} repeats seed {job.seed} of '{names[job]}' ({seeds[job.seed].folder}):"
                " using the first",
                file=sys.stderr,
            )
            continue
        seeds[job.seed] = job
    if not by_config:
        raise SystemExit(f"no finished job reports {metric}")
    base_names = [c for c, seeds in by_config.items() if _matches(next(iter(seeds.values())), baseline)]
    if len(base_names) != 1:
        found = "none" if not base_names else "several: " + "; ".join(base_names)
        listing = "\n  ".join(by_config)
        raise SystemExit(
            f"--baseline {' '.join(baseline)}: must match exactly one configuration, matched {found}."
            f" Configurations:\n  {listing}"
        )
    base = by_config[base_names[0]]
    # ASO wants "higher is better": the claimed direction, or for equivalence the metric's own.
    lower_better = claim in ("lower", "not-lower") or claim == "equivalent" and lower_is_better(metric)
    sign = -1.0 if lower_better else 1.0
    rows = []
    for config, seeds in sorted(by_config.items(), key=lambda kv: (kv[0] != base_names[0], kv[0])):
        first_job = next(iter(seeds.values()))
        if compare and config != base_names[0] and not any(_matches(first_job, c) for c in compare):
            continue
        values = [j.metrics[metric] for j in seeds.values()]
        row = Row(
            configuration=config,
            is_baseline=config == base_names[0] and baseline_metric == metric,
            n=len(values),
            seeds=sorted(seeds, key=str),
            mean=statistics.fmean(values),
            std=statistics.stdev(values) if len(values) > 1 else math.nan,
        )
        rows.append(row)
        if row.is_baseline:
            row.verdict = "baseline"
            continue
        common = sorted(set(seeds) & set(base), key=str)
        row.missing_seeds = sorted(set(base) - set(seeds), key=str)
        row.extra_seeds = sorted(set(seeds) - set(base), key=str)
        row.n_paired, row.margin = len(common), margin
        for selector, published_value in published:
            if _matches(first_job, selector):
                row.published_delta = published_value
        row.baseline_gap = _gap(items, [base[s] for s in common])
        if common:
            _fill(row, common, seeds, base, metric, baseline_metric, claim, items, sign, settings)
        decide(row, claim, has_items=not math.isnan(row.boot_low))
    return rows


def _fill(
    row: Row,
    common: list,
    seeds: dict,
    base: dict,
    metric: str,
    baseline_metric: str,
    claim: str,
    items: dict[Job, Items],
    sign: float,
    settings: Settings,
) -> None:
    """The statistics of one configuration over its paired seeds `common`."""
    ours = [seeds[s].metrics[metric] for s in common]
    theirs = [base[s].metrics[baseline_metric] for s in common]
    diffs = [a - b for a, b in zip(ours, theirs, strict=True)]
    row.baseline_mean = statistics.fmean(theirs)
    alpha = 1 - settings.confidence
    if claim == "equivalent":
        row.level = 1 - 2 * alpha
        test = tost(diffs, row.margin, alpha)
        row.delta, row.ci_low, row.ci_high, row.tost_p = test.mean, test.low, test.high, test.p
    else:
        row.delta, row.ci_low, row.ci_high = paired_interval(diffs, settings.confidence)
    if len(diffs) < 2:
        return
    row.sd_delta = statistics.stdev(diffs)
    if claim == "equivalent":
        row.mde = minimum_equivalence_margin(row.sd_delta, len(diffs), settings.power, alpha)
        row.seeds_needed = seeds_needed_equivalence(row.margin, row.sd_delta, settings.power, alpha)
    else:
        row.mde = minimum_detectable_effect(row.sd_delta, len(diffs), settings.power, alpha)
        if row.published_delta:
            row.seeds_needed = seeds_needed(row.published_delta, row.sd_delta, settings.power, alpha)
        if row.published_delta is not None:
            row.published_in_ci = row.ci_low <= row.published_delta <= row.ci_high
    paired = _paired_items(items, common, seeds, base, metric, baseline_metric)
    if paired is not None:
        boot = hierarchical_bootstrap(paired, settings.replicates, settings.bootstrap_seed, row.level)
        row.boot_low, row.boot_high, row.sd_items = boot.low, boot.high, boot.sd_items
    row.aso_better = aso([sign * x for x in ours], [sign * x for x in theirs], seed=settings.aso_seed)
    row.aso_worse = aso([sign * x for x in theirs], [sign * x for x in ours], seed=settings.aso_seed)
