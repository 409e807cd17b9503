"""Fit a video into a model of any registered family: options, sampling, losses, checkpoints, the loop."""

from vinr_zoo.fit.checkpoint import CHECKPOINT_NAME
from vinr_zoo.fit.loop import FitResult, StepInfo, check_fit_output, fit_video
from vinr_zoo.fit.options import DEFAULT_STEPS, FitOptions, native_bf16
from vinr_zoo.fit.scoring import measure_psnr, measure_scores

__all__ = [
    "CHECKPOINT_NAME",
    "DEFAULT_STEPS",
    "FitOptions",
    "FitResult",
    "StepInfo",
    "check_fit_output",
    "fit_video",
    "measure_psnr",
    "measure_scores",
    "native_bf16",
]
