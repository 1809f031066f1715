"""Lightning callbacks beside the smoothing's: temperature scaling, reliability diagram, projection."""

from labelsmooth.callbacks.learning_rate import LearningRate
from labelsmooth.callbacks.projection import PenultimateProjection
from labelsmooth.callbacks.reliability import ReliabilityDiagram
from labelsmooth.callbacks.resume import ExactResume
from labelsmooth.callbacks.temperature_scaling import TemperatureScaling

__all__ = ["ExactResume", "LearningRate", "PenultimateProjection", "ReliabilityDiagram", "TemperatureScaling"]
