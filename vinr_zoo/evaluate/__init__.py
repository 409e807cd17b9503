"""Measure models: reconstruction against a reference clip, and the space-time super-resolution protocol."""

from vinr_zoo.evaluate.common import METRIC_NOTES, EvalError, write_json
from vinr_zoo.evaluate.reconstruction import EvalReport, bits_per_pixel, evaluate_model
from vinr_zoo.evaluate.stvsr import STVSR_METHODS, StvsrReport, downsample, stvsr_clip_length, stvsr_protocol

__all__ = [
    "METRIC_NOTES",
    "STVSR_METHODS",
    "EvalError",
    "EvalReport",
    "StvsrReport",
    "bits_per_pixel",
    "downsample",
    "evaluate_model",
    "stvsr_clip_length",
    "stvsr_protocol",
    "write_json",
]
