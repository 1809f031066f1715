"""When `labelsmooth-claims run --until-decided` stops adding seeds to a row of a claim.

Decided at a look of the claim's design; its last look reached; the test set too small for seeds to help
(the seed-t interval decided, the interval that also counts the test items cannot: its test-set part does
not shrink with seeds); the minimum detectable effect below half the effect of interest (half the margin,
for TOST); or --max-seeds. Only the first keeps a verdict; the others are futility stops, which never make a
false verdict more likely.
"""

from __future__ import annotations

import math

from labelsmooth.analysis.claims_file import Claim
from labelsmooth.analysis.report import Verdict
from labelsmooth.analysis.verdict_rows import Row


def stop_reason(v: Verdict, max_seeds: int) -> str | None:
    """Why seeding this row may stop (None: go on), by the rules of the module docstring, in their order."""
    row, claim = v.row, v.claim
    if row.verdict in ("supports", "contradicts"):
        return f"decided at look {row.look} of {row.n_looks}"
    if row.n_paired >= claim.looks[-1]:
        return f"last look ({claim.looks[-1]} seeds) reached"
    if _test_set_bound(row, claim):
        return "test set too small (its sampling noise alone keeps the interval from deciding)"
    target = claim.margin if claim.direction == "equivalent" else abs(claim.effect_of_interest or 0.0)
    if target and not math.isnan(row.mde) and row.mde <= target / 2:
        if claim.direction == "equivalent":
            return "resolution reached (smallest provable margin below half the margin)"
        return "no effect at this resolution (MDE below half the effect of interest)"
    if row.n_paired >= max_seeds:
        return f"max seeds ({max_seeds}) reached"
    return None


def _test_set_bound(row: Row, claim: Claim) -> bool:
    """Can more seeds not decide? When the seed-t interval has decided and only the seeds × test items one
    has not: its test-set part does not shrink with seeds, and when that part alone spans 0 around Δ
    (reaches the margin, for TOST) only a larger test set would help."""
    if math.isnan(row.sd_items) or math.isnan(row.ci_low):
        return False
    if claim.direction == "equivalent":
        seed_t_decided = -claim.margin < row.ci_low and row.ci_high < claim.margin
        return seed_t_decided and abs(row.delta) + 1.645 * row.sd_items >= claim.margin
    seed_t_decided = row.ci_low > 0 or row.ci_high < 0
    return seed_t_decided and abs(row.delta) < 1.96 * row.sd_items
