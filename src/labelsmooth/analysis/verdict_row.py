"""A verdict row: what one compared configuration's statistics and verdict are (filled by verdict_rows)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from labelsmooth.analysis.stats.aso import THRESHOLD

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
    items_low: float = math.nan  # the seeds × test items interval (nan: the jobs kept no per-item scores)
    items_high: float = math.nan
    sd_items: float = math.nan  # test-set sampling sd of mean Δ (bootstrap over items, seeds fixed)
    mde: float = math.nan  # or, for TOST, the smallest margin n seeds establish
    seeds_needed: int | None = None
    aso_better: float = math.nan  # ε_min: configuration better than the baseline (claimed direction)
    aso_worse: float = math.nan  # ε_min: baseline better
    tost_p: float = math.nan
    margin: float | None = None
    look: int = 0  # 1-based index of the look judged (0: fewer paired seeds than the first look)
    n_looks: int = 1
    n_judged: int = 0  # the seeds of that look
    look_alpha: float = 0.05  # its nominal two-sided level
    accounts: str = ""  # what the deciding interval accounts for: "seeds" or "seeds × test items"
    p_value: float = math.nan  # of the deciding interval (TOST: the larger one-sided p)
    p_adjusted: float = math.nan  # Holm over `holm_rows` rows of the claim
    holm_rows: int = 1
    effect_of_interest: float | None = None
    verdict: str = ""
    reason: str = ""
    published_delta: float | None = None
    published_in_ci: bool | None = None
    baseline_gap: float = math.nan  # the baseline's mean confidence − accuracy (calibration claims)
    missing_seeds: list | None = None  # in the baseline, not in this configuration
    extra_seeds: list | None = field(default=None)  # in this configuration, not in the baseline

    @property
    def has_items(self) -> bool:
        """Whether the seeds × test items interval exists (the jobs kept per-item test scores)."""
        return not math.isnan(self.items_low)

    def deciding_interval(self) -> tuple[float, float]:
        """The interval the verdict is judged on: seeds × test items where it exists, else seeds only."""
        return (self.items_low, self.items_high) if self.has_items else (self.ci_low, self.ci_high)
