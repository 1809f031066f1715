"""Lightning callbacks: the smoothing's seam, post-hoc calibration, reliability diagrams, projection, LR.

(ExactResume, the writer of last.ckpt, belongs to the run lifecycle: labelsmooth.run.resume.)
"""

from labelsmooth.callbacks.calibration import PostHocCalibration
from labelsmooth.callbacks.learning_rate import LearningRate
from labelsmooth.callbacks.projection import PenultimateProjection
from labelsmooth.callbacks.reliability import ReliabilityDiagram
from labelsmooth.callbacks.smoothing import SmoothingCallback

__all__ = [
    "LearningRate",
    "PenultimateProjection",
    "PostHocCalibration",
    "ReliabilityDiagram",
    "SmoothingCallback",
]
