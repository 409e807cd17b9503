"""What both evaluations share: their error type, the metric definitions they print, JSON output."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from vinr_zoo._atomic import atomic_path
from vinr_zoo.errors import VinrError

METRIC_NOTES = {
    "psnr_rgb": "PSNR of the clip-wide MSE on RGB in [0, 1], float output clamped, not quantised to 8 bit",
    "psnr_y": "the same on full-range BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B "
    "(add 1.32 dB to compare with studio-swing MATLAB rgb2ycbcr Y)",
    "ssim": "pytorch-msssim ssim: Gaussian 11x11, sigma 1.5, K=(0.01, 0.03), valid region, mean over RGB "
    "channels, data_range=1; mean of per-frame values",
}


class EvalError(VinrError, ValueError):
    """An evaluation that cannot be run as asked (reference does not match the model, bad protocol scales)."""


def write_json(path: str | os.PathLike[str], data: dict[str, Any]) -> Path:
    """Write ``data`` as JSON, atomically (replacing an existing file)."""
    path = Path(path)
    if path.is_dir():
        raise EvalError(f"cannot write {path}: it is a folder")
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)
