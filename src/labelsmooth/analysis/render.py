"""How the claims engine prints a verdict: a metric's digits, and a verdict row's cells.

One place for both renderers that show verdicts — RESULTS.md's table (report.py) and the table of
`labelsmooth-claims verdicts` over sweep folders (verdicts.py) — so a number reads the same in both.
"""

from __future__ import annotations

import math

from labelsmooth.analysis.metric_names import is_fraction
from labelsmooth.analysis.verdict_rows import Row


def fmt(x: float | None, metric: str, signed: bool = False) -> str:
    """`x` in the metric's units: four decimals for fractions, two for percentages; – when missing."""
    if x is None or math.isnan(x):
        return "–"
    digits = 4 if is_fraction(metric) else 2
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def interval(low: float, high: float, metric: str) -> str:
    return "–" if math.isnan(low) else f"[{fmt(low, metric, True)}, {fmt(high, metric, True)}]"


def verdict_cell(r: Row) -> str:
    """`**supports** at look 1 of 1 (5 seeds), Holm over 2 rows` (+ the reason when inconclusive)."""
    if r.look:
        where = f" at look {r.look} of {r.n_looks} ({r.n_judged} seeds)"
        if r.holm_rows > 1:
            where += f", Holm over {r.holm_rows} rows"
    else:
        where = ""
    return f"**{r.verdict}**{where}" + (f"; {r.reason}" if r.reason else "")


def means_cell(r: Row, metric: str, baseline_metric: str | None = None) -> str:
    base = baseline_metric or metric
    return (
        f"{fmt(r.baseline_mean, base)} → {fmt(r.mean, metric)} (sd {fmt(r.std, metric)})"
        if r.n_paired
        else "–"
    )


def effect_cell(r: Row, metric: str, equivalence: bool) -> str:
    """The yardstick of "too few seeds": the effect of interest (the margin, for TOST) and the MDE."""
    target = f"±{r.margin:g} (margin)" if equivalence else fmt(r.effect_of_interest, metric, True)
    return f"{target}; MDE {fmt(r.mde, metric)}"


def delta_cell(r: Row, metric: str) -> str:
    """Δ and the interval that decides; `(seeds only)` where the run kept no per-item scores."""
    if math.isnan(r.delta):
        return "–"
    low, high = r.deciding_interval()
    note = "" if r.has_items or math.isnan(low) else " (seeds only)"
    level = f" {100 * r.level:.1f} %" if r.look else ""
    return f"{fmt(r.delta, metric, True)} {interval(low, high, metric)}{level}{note}"


ROW_HEADER = [
    "seeds", "baseline → compared (mean; sd)", "Δ [seeds × test items]", "effect of interest; MDE (80 %)",
    "published Δ", "verdict",
]  # fmt: skip


def row_cells(r: Row, metric: str, equivalence: bool, baseline_metric: str | None = None) -> list[str]:
    """The cells of ROW_HEADER for one compared configuration (`equivalence`: a TOST claim)."""
    return [
        str(r.n_paired),
        means_cell(r, metric, baseline_metric),
        delta_cell(r, metric),
        effect_cell(r, metric, equivalence),
        fmt(r.published_delta, metric, True),
        verdict_cell(r),
    ]
