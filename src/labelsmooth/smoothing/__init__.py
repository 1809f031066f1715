"""Output regularisers: targets (none, ls, gls), confidence penalty (cp), distillation (kd), the callback."""

from labelsmooth.constants import CLS_INDEX, IGNORE_INDEX
from labelsmooth.smoothing.callback import SmoothingCallback
from labelsmooth.smoothing.losses import (
    ConfidencePenalty,
    Distillation,
    GaussianLabelSmoothing,
    LabelSmoothing,
    LossOutput,
    NoSmoothing,
    Smoothing,
)
from labelsmooth.smoothing.targets import Head

__all__ = [
    "CLS_INDEX",
    "IGNORE_INDEX",
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
