"""The verdict of a row from its p-value, interval and power, and Holm over the rows of one claim.

See verdict_rows.py's docstring for the rule; docs/verdicts.md for why it keeps its error rates.
"""

from __future__ import annotations

import math

from labelsmooth.analysis.stats.sequential import holm_adjusted
from labelsmooth.analysis.verdict_row import Row


def _excludes(low: float, high: float) -> str:
    return "above" if low > 0 else "below" if high < 0 else ""


def decide(row: Row, claim: str) -> None:
    """Set row.verdict and row.reason from its p-value, interval, power and the claim (module docstring)."""
    if row.look == 0:
        row.verdict, row.reason = "inconclusive", f"fewer seeds than the first look ({row.n_paired})"
        return
    if math.isnan(row.p_value):
        row.verdict, row.reason = "inconclusive", "too few seeds"
        return
    p = row.p_adjusted if not math.isnan(row.p_adjusted) else row.p_value
    significant = p <= row.look_alpha
    low, high = row.deciding_interval()
    if claim == "equivalent":
        m = row.margin
        outside = low >= m or high <= -m
        row.verdict = "supports" if significant else "contradicts" if outside else "inconclusive"
        if row.verdict == "inconclusive":
            row.reason = "too few seeds" if row.mde > m else "a difference near the margin"
        return
    side = ("above" if row.delta > 0 else "below") if significant else ""
    if claim in ("not-higher", "not-lower"):  # claims of no gain without a margin: only refutable
        denied = "above" if claim == "not-higher" else "below"
        row.verdict = "contradicts" if side == denied else "consistent"
        return
    claimed = "above" if claim == "higher" else "below"
    row.verdict = "supports" if side == claimed else "contradicts" if side else "inconclusive"
    if row.verdict == "inconclusive":
        row.reason = _why_inconclusive(row, claimed, low, high)


def _why_inconclusive(row: Row, claimed: str, low: float, high: float) -> str:
    """An undecided directional row: its interval excludes 0 but Holm's adjusted p does not pass, or the
    interval rules out the effect of interest (no effect that large), or only the test set's sampling keeps
    it from deciding, or it is still too wide."""
    if _excludes(low, high):  # p ≤ α' alone, not after Holm's adjustment over the claim's rows
        return "the interval excludes 0, the Holm-adjusted p does not"
    if row.effect_of_interest is None:
        return "no effect of interest stated"
    interest = abs(row.effect_of_interest)
    if (high < interest) if claimed == "above" else (low > -interest):
        return "no effect at this resolution: the interval excludes the effect of interest"
    if row.has_items and _excludes(row.ci_low, row.ci_high):
        return "test set too small: the seed-t interval alone excludes 0"
    return "too few seeds"


def adjust(rows: list[Row], claim: str) -> None:
    """Holm over the compared rows of one claim (all its stand-ins and configurations), then decide again."""
    compared = [r for r in rows if not r.is_baseline and not math.isnan(r.p_value)]
    # A row is decided when its adjusted p is at most its own look's level α'_k.
    for r, p in zip(compared, holm_adjusted([r.p_value for r in compared]), strict=True):
        r.p_adjusted, r.holm_rows = p, len(compared)
    for r in rows:
        if not r.is_baseline:
            decide(r, claim)
