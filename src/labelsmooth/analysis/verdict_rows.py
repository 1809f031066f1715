"""One verdict row per configuration: the seed-paired Δ with its intervals, power and the verdict.

For each configuration against the baseline, over the seeds both finished (paired by seed, in seed order):
- the look: a claim states `looks: [n1 < … < nK]`, the seed counts at which it may be judged; a row holding
  n paired seeds is judged on its first n_k seeds, n_k the largest look ≤ n, at the nominal level α'_k of a
  Lan–DeMets O'Brien–Fleming spending of 5 % over the looks (stats/sequential.py), so adding seeds until a
  verdict appears keeps the chance of any false verdict over all looks ≤ 5 % (docs/verdicts.md);
- seed-t: mean(Δ) ± t(1 − α'_k/2, n−1)·sd(Δ)/√n, the test set held fixed;
- seeds × test items: the same mean with se² = sd(Δ)²/n + sd_items², sd_items the test-set sampling sd of
  mean Δ (bootstrap over test items, seeds fixed: stats/items.py), Welch–Satterthwaite df; it is the interval
  that decides when per-item scores exist (its coverage is measured: tests/test_interval_coverage.py);
- Holm: the rows of one claim are adjusted together (`adjust`), p-values of the deciding interval;
- power: the minimum detectable effect at n_k seeds (80 % power, level α'_k), compared with the claim's
  effect of interest (fixed in claims.yaml before its runs; the published Δ stays beside it as information);
- ASO: ε_min both ways (deepsig, unpaired; stats_aso), in the JSON only;
- equivalence claims: TOST with the claim's margin (the 1 − 2α'_k interval).
Verdict: *supports* / *contradicts* when the Holm-adjusted p ≤ α'_k with Δ on the claimed / the other side
(TOST: equivalence shown / the interval wholly outside ±margin). Else *inconclusive*, with the reason: "too
few seeds" when the effect of interest is below what n_k seeds can detect, else "no effect at this
resolution"; "test set too small" when the seed-t interval alone excludes 0.
"""

from __future__ import annotations

import math
import statistics
import sys

import numpy as np

from labelsmooth.analysis.decide import adjust, decide
from labelsmooth.analysis.metric_names import lower_is_better
from labelsmooth.analysis.stats.aso import aso
from labelsmooth.analysis.stats.intervals import Interval, seeds_interval, seeds_items_interval, tost_p
from labelsmooth.analysis.stats.items import Paired, hierarchical_bootstrap, item_metric, value
from labelsmooth.analysis.stats.seeds import (
    minimum_detectable_effect,
    minimum_equivalence_margin,
    seeds_needed,
    seeds_needed_equivalence,
)
from labelsmooth.analysis.stats.sequential import judged_look, look_levels
from labelsmooth.analysis.test_items import Items
from labelsmooth.analysis.verdict_row import CLAIMS, Row, Settings
from labelsmooth.run.sweeps import Job, configuration_names

__all__ = ["CLAIMS", "Row", "Settings", "adjust", "compute", "decide"]


def _seed_order(seed: object) -> tuple:
    """Seeds in numeric order (2 before 10), other labels after them."""
    return (0, seed, "") if isinstance(seed, int) else (1, 0, str(seed))


def _matches(job: Job, selector: list[str]) -> bool:
    return all(s in job.overrides for s in selector)


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
    settings: Settings | None = None,
    looks: tuple[int, ...] | None = None,
    effect_of_interest: float | None = None,
) -> list[Row]:
    """One row per configuration (the baseline first); see the module docstring for the statistics.

    baseline_metric: the baseline's metric when it differs from `metric` (e.g. ECE after vs before
    temperature scaling); then the baseline configuration is compared with itself too.
    compare: keep only the configurations matching one of these override lists (and the baseline).
    looks: the claim's design (default: one look at the seeds there are); rows are not Holm-adjusted here
    (`adjust` does it over all the rows of a claim).
    """
    if claim not in CLAIMS:
        raise SystemExit(f"claim {claim!r}: expected one of {', '.join(CLAIMS)}")
    if claim == "equivalent" and not (margin and margin > 0):
        raise SystemExit("an equivalence claim needs --margin > 0 (in the metric's units)")
    items = items or {}
    settings = settings or Settings()
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
        common = sorted(set(seeds) & set(base), key=_seed_order)  # a look takes the first n_k of them
        row.missing_seeds = sorted(set(base) - set(seeds), key=str)
        row.extra_seeds = sorted(set(seeds) - set(base), key=str)
        row.n_paired, row.margin = len(common), margin
        for selector, published_value in published:
            if _matches(first_job, selector):
                row.published_delta = published_value
        row.baseline_gap = _gap(items, [base[s] for s in common])
        row.effect_of_interest = effect_of_interest
        design = tuple(looks) if looks else (max(len(common), 2),)
        if common:
            _fill(row, common, seeds, base, metric, baseline_metric, claim, items, sign, settings, design)
        decide(row, claim)
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
    looks: tuple[int, ...],
) -> None:
    """The statistics of one configuration over the paired seeds `common` of its judged look."""
    all_ours = [seeds[s].metrics[metric] for s in common]
    all_theirs = [base[s].metrics[baseline_metric] for s in common]
    row.baseline_mean = statistics.fmean(all_theirs)
    k = judged_look(looks, len(common))
    row.n_looks = len(looks)
    if k is None:
        row.delta = statistics.fmean(all_ours) - row.baseline_mean
        return
    row.look, row.n_judged = k + 1, looks[k]
    row.look_alpha = look_levels(looks, 1 - settings.confidence)[k]
    judged = common[: looks[k]]
    ours = [seeds[s].metrics[metric] for s in judged]
    theirs = [base[s].metrics[baseline_metric] for s in judged]
    diffs = [a - b for a, b in zip(ours, theirs, strict=True)]
    alpha = row.look_alpha
    row.level = 1 - 2 * alpha if claim == "equivalent" else 1 - alpha
    seed_only = seeds_interval(diffs, row.level)
    row.delta, row.ci_low, row.ci_high = seed_only.mean, seed_only.low, seed_only.high
    if len(diffs) < 2:
        return
    row.sd_delta = statistics.stdev(diffs)
    deciding: Interval = seed_only
    paired = _paired_items(items, judged, seeds, base, metric, baseline_metric)
    if paired is not None:
        boot = hierarchical_bootstrap(paired, settings.replicates, settings.bootstrap_seed, row.level)
        row.sd_items = boot.sd_items
        deciding = seeds_items_interval(diffs, boot.sd_items, row.level)
        row.items_low, row.items_high = deciding.low, deciding.high
    row.accounts = deciding.accounts
    if claim == "equivalent":
        row.p_value = row.tost_p = tost_p(deciding, row.margin)
        row.mde = minimum_equivalence_margin(row.sd_delta, len(diffs), settings.power, alpha)
        row.seeds_needed = seeds_needed_equivalence(row.margin, row.sd_delta, settings.power, alpha)
    else:
        row.p_value = deciding.p
        row.mde = minimum_detectable_effect(row.sd_delta, len(diffs), settings.power, alpha)
        if row.effect_of_interest:
            row.seeds_needed = seeds_needed(row.effect_of_interest, row.sd_delta, settings.power, alpha)
        if row.published_delta is not None:
            row.published_in_ci = deciding.low <= row.published_delta <= deciding.high
    row.aso_better = aso([sign * x for x in ours], [sign * x for x in theirs], seed=settings.aso_seed)
    row.aso_worse = aso([sign * x for x in theirs], [sign * x for x in ours], seed=settings.aso_seed)
