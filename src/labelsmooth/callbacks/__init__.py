"""Lightning callbacks: the smoothing's seam, temperature scaling, reliability diagram, projection, LR.

(ExactResume, the writer of last.ckpt, belongs to the run lifecycle: labelsmooth.run.resume.)
"""

from labelsmooth.callbacks.learning_rate import LearningRate
from labelsmooth.callbacks.projection import PenultimateProjection
from labelsmooth.callbacks.reliability import ReliabilityDiagram
from labelsmooth.callbacks.smoothing import SmoothingCallback
from labelsmooth.callbacks.temperature_scaling import TemperatureScaling

__all__ = [
    "LearningRate",
    "PenultimateProjection",
    "ReliabilityDiagram",
    "SmoothingCallback",
    "TemperatureScaling",
]
