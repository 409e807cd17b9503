"""Quality metrics on RGB in [0, 1] (CONVENTIONS.md): PSNR (RGB or Y) and SSIM."""

from __future__ import annotations

import math

import numpy as np


def to_unit(rgb: np.ndarray) -> np.ndarray:
    """Network output in [-1, 1] → clamped RGB in [0, 1] (CONVENTIONS.md "Colour")."""
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
