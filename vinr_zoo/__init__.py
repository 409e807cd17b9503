"""vinr-zoo: video implicit neural representations — fit, export, decode at any space-time scale.

The public facade (re-exports only; nothing inside the package imports it)::

    from vinr_zoo import SineMLP, fit_video, FitOptions, decode, evaluate_model, list_models, pull, push, read_video
"""

from vinr_zoo.config import ModelConfig, SourceVideo
from vinr_zoo.convert import ExportOptions, export_model
from vinr_zoo.coords import SpaceTimeGrid
from vinr_zoo.decode import decode
from vinr_zoo.errors import VinrError
from vinr_zoo.evaluate import evaluate_model, stvsr_protocol
from vinr_zoo.fit import FitOptions, fit_video
from vinr_zoo.models import SineMLP, SineMLPConfig, VinrModel, list_architectures, register_model
from vinr_zoo.parity import check_parity
from vinr_zoo.publish import pull, push
from vinr_zoo.version import __version__
from vinr_zoo.video import read_video, sample_clip
from vinr_zoo.video_writer import write_video
from vinr_zoo.zoo import list_models

__all__ = [
    "ExportOptions",
    "FitOptions",
    "ModelConfig",
    "SineMLP",
    "SineMLPConfig",
    "SourceVideo",
    "SpaceTimeGrid",
    "VinrError",
    "VinrModel",
    "check_parity",
    "decode",
    "evaluate_model",
    "export_model",
    "fit_video",
    "list_architectures",
    "list_models",
    "pull",
    "push",
    "read_video",
    "register_model",
    "sample_clip",
    "stvsr_protocol",
    "write_video",
    "__version__",
]
