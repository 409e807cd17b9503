"""Quality metrics on RGB in [0, 1] (docs/CONVENTIONS.md): PSNR (RGB or Y) and SSIM.

Scores are taken on the network's float output, clamped to [0, 1] and not rounded to 8 bits, streamed frame
by frame, with peak 1:

- PSNR RGB: one PSNR of the MSE over every value of every scored frame (not a mean of per-frame PSNRs).
- PSNR Y: the same on full-range BT.601 luma ``Y = 0.299 R + 0.587 G + 0.114 B``. Super-resolution papers that
  use MATLAB's ``rgb2ycbcr`` score studio-swing Y, ``16/255 + (219/255) Y``: their number is ours
  + 20 log10(255/219) ≈ +1.32 dB.
- SSIM: pytorch-msssim's ``ssim`` (Gaussian window 11, σ 1.5, K = (0.01, 0.03), valid region without padding,
  no automatic downsampling, mean over the R, G and B channels), ``data_range=1``, per frame, then the mean
  over frames. Frames under 11 pixels on a side have no SSIM (None, shown as n/a).

`vinr fit` records these three for the training clip and `vinr eval` measures them the same way, so a card's
numbers are reproducible.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from vinr_zoo.errors import VinrError

LUMA_BT601 = np.array([0.299, 0.587, 0.114])
SSIM_WINDOW = 11
SSIM_INSTALL_HINT = "pip install 'vinr-zoo[metrics]'"


def to_unit(rgb: np.ndarray) -> np.ndarray:
    """Network output in [-1, 1] → clamped RGB in [0, 1] (docs/CONVENTIONS.md, "Colour")."""
    return np.clip((rgb + 1.0) * 0.5, 0.0, 1.0)


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Network output in [-1, 1] → 8-bit RGB (clamp, scale, round half to even)."""
    return np.rint(to_unit(rgb) * 255.0).astype(np.uint8)


def mse_to_psnr(mse: float, peak: float = 1.0) -> float:
    return float("inf") if mse <= 0 else 10.0 * math.log10(peak * peak / mse)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two arrays of RGB in [0, 1] (mean squared error over every value)."""
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return mse_to_psnr(float(np.mean(diff * diff)))


class PsnrAccumulator:
    """Frame-by-frame PSNR over a whole clip without holding it: sums squared error and counts."""

    def __init__(self) -> None:
        self.sse = 0.0
        self.count = 0

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
        self.sse += float(np.sum(diff * diff))
        self.count += diff.size

    @property
    def psnr(self) -> float:
        return mse_to_psnr(self.sse / max(self.count, 1))


def json_number(value: float | None, digits: int = 6) -> float | None:
    """JSON-safe number: rounded; None for missing or non-finite (PSNR of identical frames is infinite)."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def luma(rgb: np.ndarray) -> np.ndarray:
    """Full-range BT.601 luma of ``[..., 3]`` RGB in [0, 1] (float64)."""
    return np.asarray(rgb, np.float64) @ LUMA_BT601


@functools.cache
def ssim_available() -> bool:
    """Whether the optional SSIM dependency (pytorch-msssim, extra ``metrics``) is installed and imports."""
    try:
        import pytorch_msssim  # noqa: F401
    except Exception:  # absent, or installed but broken: SSIM is then left out rather than failing a fit
        return False
    return True


def ssim_frame(a: np.ndarray, b: np.ndarray) -> float | None:
    """SSIM of two ``[H, W, 3]`` frames in [0, 1] (the variant in the module docstring); None under 11 px."""
    if min(a.shape[0], a.shape[1]) < SSIM_WINDOW:
        return None
    try:
        from pytorch_msssim import ssim
    except ImportError:
        raise VinrError(f"SSIM needs the pytorch-msssim package: {SSIM_INSTALL_HINT}") from None
    import torch

    x = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None]
    y = torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32)).permute(2, 0, 1)[None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the library must not print; sizes it would warn about are excluded
        return float(ssim(x, y, data_range=1.0, size_average=True, win_size=SSIM_WINDOW))


@dataclass
class Scores:
    frames: int
    psnr_rgb: float
    psnr_y: float
    ssim: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "psnr_rgb": json_number(self.psnr_rgb),
            "psnr_y": json_number(self.psnr_y),
            "ssim": json_number(self.ssim),
        }


class ScoreAccumulator:
    """PSNR (RGB and Y) and mean SSIM over frames added one at a time (``ssim=False`` skips SSIM)."""

    def __init__(self, *, ssim: bool = True) -> None:
        self.rgb = PsnrAccumulator()
        self.y = PsnrAccumulator()
        self.with_ssim = ssim
        self.ssim_values: list[float | None] = []

    def add(self, pred: np.ndarray, ref: np.ndarray) -> None:
        self.rgb.add(pred, ref)
        self.y.add(luma(pred), luma(ref))
        self.ssim_values.append(ssim_frame(pred, ref) if self.with_ssim else None)

    @property
    def frames(self) -> int:
        return len(self.ssim_values)

    def result(self) -> Scores | None:
        if not self.ssim_values:
            return None
        ssim = None if None in self.ssim_values else float(np.mean(self.ssim_values))
        return Scores(self.frames, self.rgb.psnr, self.y.psnr, ssim)
