"""vinr-zoo: video implicit neural representations (sine MLPs) — fit, export, decode at any scale.

The public facade (re-exports only)::

    from vinr_zoo import SineMLP, fit_video, FitOptions, decode, evaluate_model, list_models, pull, push, read_video
"""

from vinr_zoo.config import SineMLPConfig, SourceVideo
from vinr_zoo.coords import SpaceTimeGrid
from vinr_zoo.decode import decode
from vinr_zoo.errors import VinrError
from vinr_zoo.evaluate import evaluate_model
from vinr_zoo.fit import FitOptions, fit_video
from vinr_zoo.hub import pull, push
from vinr_zoo.model import SineMLP
from vinr_zoo.video import read_video, sample_clip, write_video
from vinr_zoo.zoo import list_models

__version__ = "0.1.0"

__all__ = [
    "FitOptions",
    "SineMLP",
    "SineMLPConfig",
    "SourceVideo",
    "SpaceTimeGrid",
    "VinrError",
    "decode",
    "evaluate_model",
    "fit_video",
    "list_models",
    "pull",
    "push",
    "read_video",
    "sample_clip",
    "write_video",
    "__version__",
]
