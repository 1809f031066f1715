"""RESULTS.md's picture of the verdicts: every row's Δ and interval in units of its effect of interest.

Rows of different metrics share one axis by dividing by the row's effect of interest (for TOST: its margin),
signed so that the claimed direction points right: 0 is no difference, 1 the effect of interest. A verdict
colours its row; an interval the plot cannot scale (no effect of interest stated) is left out and listed.
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.figure import Figure

from labelsmooth.atomic import atomic_file

COLOURS = {"supports": "tab:green", "contradicts": "tab:red", "consistent": "tab:blue"}


def plot_verdicts(verdicts: list, path: Path) -> Path:
    """A forest plot PNG of `report.Verdict`s (one line per claim, stand-in and configuration)."""
    shown = []
    for v in verdicts:
        r, c = v.row, v.claim
        unit = c.margin if c.direction == "equivalent" else r.effect_of_interest
        low, high = r.deciding_interval()
        if not unit or math.isnan(low):
            continue
        sign = -1.0 if c.direction in ("lower", "not-lower") else 1.0
        scale = sign / abs(unit)
        ends = sorted((low * scale, high * scale))
        shown.append((f"{c.id} {v.sweep} {r.configuration}", r.delta * scale, *ends, r.verdict))
    fig = Figure(figsize=(7.5, 0.32 * len(shown) + 1.4))
    ax = fig.subplots()
    for y, (_, mid, lo, hi, verdict) in enumerate(reversed(shown)):
        colour = COLOURS.get(verdict, "tab:gray")
        ax.plot([lo, hi], [y, y], color=colour, linewidth=2)
        ax.plot([mid], [y], "o", color=colour, markersize=4)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.axvline(1, color="gray", linestyle="--", linewidth=0.8)
    ax.set_yticks(range(len(shown)), [s[0] for s in reversed(shown)], fontsize=7)
    ax.set_xlabel("Δ / effect of interest (claimed direction to the right; dashed line: 1)", fontsize=8)
    ax.set_title("verdicts: green supports, red contradicts, grey inconclusive", fontsize=9)
    fig.tight_layout()
    with atomic_file(path) as f:
        fig.savefig(f, format="png", dpi=110, metadata={"Software": None})
    return path
