"""Output regularisers: targets (none, ls, gls), confidence penalty (cp), distillation (kd), the callback."""

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
from labelsmooth.smoothing.targets import CLS_INDEX, IGNORE_INDEX, Head

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
