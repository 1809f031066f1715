"""What a metric's name tells the claims engine: which way is better, and its scale (one place)."""

from __future__ import annotations

# Metrics where smaller is better, matched in the last part of the name (`test/ece`, `val/nll_ts`,
# `test/entity/aurc_pnorm`, `test/example/l2ce_debiased`).
LOWER_IS_BETTER = ("ece", "mce", "nll", "error", "loss", "brier", "aurc", "augrc", "l2ce")
# Metrics on a 0–1 scale or in nats (ECE, MCE, NLL); the others (F1, EM, accuracy) are percentages.
FRACTIONS = ("ece", "mce", "nll")


def lower_is_better(metric: str) -> bool:
    """Is a smaller value of `metric` better?"""
    return any(word in metric.rpartition("/")[2].lower() for word in LOWER_IS_BETTER)


def is_fraction(metric: str) -> bool:
    """Is `metric` a fraction or in nats (four decimals) rather than a percentage (two)?

    Every calibration level's estimator (`<split>/<level>/<estimator>`, metrics/levels.py) is one.
    """
    return metric.count("/") >= 2 or any(word in metric for word in FRACTIONS)
