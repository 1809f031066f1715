"""Evaluation order of windowed items: the windows of one sentence or question stay in one run of batches.

Evaluation sorts items by length (little padding). A long sentence or question is cut into windows of
different lengths, which that sort would scatter over the pass; a pass cut short (`fast_dev_run`,
`limit_val_batches`) would then hold no item whole, and score nothing. Giving every window its group's
longest length keeps the group together: the sort is stable and the windows of a group are consecutive.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def grouped_lengths(lengths: Sequence[int], groups: Sequence[int]) -> list[int]:
    """Each item's length replaced by the longest length of its group (`groups`: the item's group id)."""
    lengths, groups = np.asarray(lengths, dtype=np.int64), np.asarray(groups, dtype=np.int64)
    if lengths.size == 0:
        return []
    longest = np.zeros(int(groups.max()) + 1, dtype=np.int64)
    np.maximum.at(longest, groups, lengths)
    return longest[groups].tolist()
