"""vinr-zoo: video implicit neural representations (sine MLPs) — fit, export, decode at any scale."""

from vinr_zoo.config import SineMLPConfig, SourceVideo
from vinr_zoo.coords import SpaceTimeGrid
from vinr_zoo.errors import VinrError
from vinr_zoo.model import SineMLP

__version__ = "0.1.0"

__all__ = ["SineMLP", "SineMLPConfig", "SourceVideo", "SpaceTimeGrid", "VinrError", "__version__"]
