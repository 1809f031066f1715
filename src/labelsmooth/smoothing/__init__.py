"""Output regularisers: targets (none, ls, gls), confidence penalty (cp), distillation (kd) — the math only.

Modules: smoothings.py (the classes), base.py (their shared plumbing), terms.py (the tensor terms),
targets.py (target distributions q and input checks). No file I/O, no Lightning: a distillation
teacher is loaded by cli/train.py (labelsmooth.run.trained) and handed over; the Lightning seam is
labelsmooth.callbacks.SmoothingCallback.
"""

from labelsmooth.smoothing.base import LossOutput, Smoothing
from labelsmooth.smoothing.smoothings import (
    ConfidencePenalty,
    Distillation,
    GaussianLabelSmoothing,
    LabelSmoothing,
    NoSmoothing,
)
from labelsmooth.smoothing.targets import Head

__all__ = [
    "ConfidencePenalty",
    "Distillation",
    "GaussianLabelSmoothing",
    "Head",
    "LabelSmoothing",
    "LossOutput",
    "NoSmoothing",
    "Smoothing",
]
