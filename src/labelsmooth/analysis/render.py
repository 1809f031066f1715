"""How the claims engine prints a verdict: a metric's digits, and a verdict row's cells.

One place for both renderers that show verdicts — RESULTS.md's table (report.py) and the table of
`labelsmooth-claims verdicts` over sweep folders (verdicts.py) — so a number reads the same in both.
"""

from __future__ import annotations

import math

from labelsmooth.analysis.metric_names import is_fraction
from labelsmooth.analysis.stats.seeds import MAX_SEEDS
from labelsmooth.analysis.verdict_rows import Row


def fmt(x: float | None, metric: str, signed: bool = False) -> str:
    """`x` in the metric's units: four decimals for fractions, two for percentages; – when missing."""
    if x is None or math.isnan(x):
        return "–"
    digits = 4 if is_fraction(metric) else 2
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def interval(low: float, high: float, metric: str) -> str:
    return "–" if math.isnan(low) else f"[{fmt(low, metric, True)}, {fmt(high, metric, True)}]"


def aso_cell(r: Row, threshold: float) -> str:
    if math.isnan(r.aso_better):
        return "–"
    reading = "claimed" if r.aso_better < threshold else "opposite" if r.aso_worse < threshold else "neither"
    return f"{r.aso_better:.2f} / {r.aso_worse:.2f} ({reading})"


def seeds_needed_cell(r: Row) -> str:
    if r.seeds_needed is not None:
        return str(r.seeds_needed)
    return "–" if r.published_delta is None and not r.margin else f"> {MAX_SEEDS}"


def verdict_cell(r: Row) -> str:
    return f"**{r.verdict}**" + (f": {r.reason}" if r.reason else "")


def means_cell(r: Row, metric: str, baseline_metric: str | None = None) -> str:
    base = baseline_metric or metric
    return (
        f"{fmt(r.baseline_mean, base)} → {fmt(r.mean, metric)} (sd {fmt(r.std, metric)})"
        if r.n_paired
        else "–"
    )


ROW_HEADER = [
    "n seeds", "baseline → compared (mean; sd)", "Δ [seed-t]", "Δ [bootstrap: seeds × test items]",
    "test-set sd of Δ", "ASO ε_min: claimed direction / opposite", "MDE (80 %)", "published Δ",
    "seeds for published Δ",
]  # fmt: skip


def row_cells(
    r: Row, metric: str, threshold: float, equivalence: bool, baseline_metric: str | None = None
) -> list[str]:
    """The cells of ROW_HEADER for one compared configuration (`equivalence`: a TOST claim)."""
    level = "" if r.level == 0.95 else " (90 %, TOST)"
    published = f"±{r.margin:g} (margin)" if equivalence else fmt(r.published_delta, metric, True)
    return [
        str(r.n_paired),
        means_cell(r, metric, baseline_metric),
        f"{fmt(r.delta, metric, True)} {interval(r.ci_low, r.ci_high, metric)}{level}",
        interval(r.boot_low, r.boot_high, metric),
        fmt(r.sd_items, metric),
        aso_cell(r, threshold),
        fmt(r.mde, metric),
        published,
        seeds_needed_cell(r),
    ]
