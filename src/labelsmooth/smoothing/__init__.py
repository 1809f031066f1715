"""Output regularisers: targets (none, ls, gls), confidence penalty (cp), distillation (kd), the callback.

Modules: smoothings.py (the classes), base.py (their shared plumbing), terms.py (the tensor terms),
targets.py (target distributions q and input checks), callback.py. The math only: a distillation
teacher is loaded by train.py (labelsmooth.trained) and handed over.
"""

from labelsmooth.smoothing.base import LossOutput, Smoothing
from labelsmooth.smoothing.callback import SmoothingCallback
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
    "SmoothingCallback",
]
