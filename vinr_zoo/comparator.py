"""Does a runtime reproduce the reference? One comparator for export validation and ``vinr parity``.

After Polygraphy's ``Comparator``: the same feeds (coordinate sets) go through the reference and through a
runner, and `ErrorStats` keeps the max / mean abs difference of the float outputs and, for feeds that
are image frames, the PSNR between the two renders and the fraction of 8-bit pixels that differ. A
NaN or inf anywhere makes ``max_abs`` NaN, which fails every tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from vinr_zoo.contract import SPEC, OnnxSpec
from vinr_zoo.errors import ShapeError
from vinr_zoo.metrics import PsnrAccumulator, to_uint8, to_unit
from vinr_zoo.runtimes.base import Backend


@dataclass
class Feed:
    """One input set: ``coords [N, 3]``, and ``image=(H, W)`` when its rows are one rendered frame."""

    label: str
    coords: torch.Tensor
    image: tuple[int, int] | None = None


class ErrorStats:
    """Error statistics of ``got`` against ``ref`` (float outputs in [-1, 1]), streamed feed by feed."""

    def __init__(self) -> None:
        self.max_abs = 0.0
        self.sum_abs = 0.0
        self.values = 0
        self.rows = 0
        self._psnr = PsnrAccumulator()
        self.pixels = 0
        self.pixels_differ = 0

    def add(self, ref: np.ndarray, got: np.ndarray, *, image: bool = False) -> None:
        diff = np.abs(np.asarray(got, np.float64) - np.asarray(ref, np.float64))
        if not np.isfinite(diff).all():
            self.max_abs = math.nan
        elif not math.isnan(self.max_abs):
            self.max_abs = max(self.max_abs, float(diff.max(initial=0.0)))
        self.sum_abs += float(np.nansum(diff))
        self.values += diff.size
        self.rows += diff.shape[0] if diff.ndim == 2 else diff.size // diff.shape[-1]
        if image:
            clean = np.nan_to_num(got, nan=0.0)
            self._psnr.add(to_unit(ref), to_unit(clean))
            differ = np.any(to_uint8(ref) != to_uint8(clean), axis=-1)
            self.pixels += differ.size
            self.pixels_differ += int(differ.sum())

    @property
    def mean_abs(self) -> float:
        return self.sum_abs / max(self.values, 1) if not math.isnan(self.max_abs) else math.nan

    @property
    def psnr(self) -> float:
        """dB between the two renders (RGB clamped to [0, 1]); inf when identical or no image feed."""
        return self._psnr.psnr

    @property
    def frac_8bit(self) -> float:
        """Fraction of rendered pixels whose uint8 RGB differs in any channel."""
        return self.pixels_differ / max(self.pixels, 1)


Reference = Callable[[torch.Tensor], torch.Tensor] | Backend


def outputs(runner: Reference, feeds: Iterable[Feed], *, label: str = "", spec: OnnxSpec = SPEC) -> list[np.ndarray]:
    """Run every feed through ``runner`` (an open `Backend` or a callable), checking the output shape."""
    infer = runner.infer if isinstance(runner, Backend) else runner
    results = []
    for feed in feeds:
        got = infer(feed.coords)
        n = feed.coords.shape[0]
        if tuple(got.shape) != (n, spec.out_features):
            raise ShapeError(
                f"{label}: output {spec.output_name!r} has shape {tuple(got.shape)} for {n} coords ({feed.label}), "
                f"expected ({n}, {spec.out_features})"
            )
        out = got.detach().float().cpu().numpy() if isinstance(got, torch.Tensor) else np.asarray(got, np.float32)
        results.append(out.reshape(*feed.image, -1) if feed.image else out)
    return results


def compare(
    runner: Reference, feeds: list[Feed], expected: list[np.ndarray], *, label: str = "", spec: OnnxSpec = SPEC
) -> list[tuple[Feed, ErrorStats]]:
    """Per feed, the `ErrorStats` of ``runner``'s outputs against ``expected`` (the reference's outputs)."""
    results = []
    for feed, got, ref in zip(feeds, outputs(runner, feeds, label=label, spec=spec), expected, strict=True):
        stats = ErrorStats()
        stats.add(ref, got, image=feed.image is not None)
        results.append((feed, stats))
    return results


def combined(results: list[tuple[Feed, ErrorStats]]) -> ErrorStats:
    """One `ErrorStats` over several feeds (the max of maxima, pooled means and PSNR)."""
    total = ErrorStats()
    for _, s in results:
        total.max_abs = (
            math.nan if math.isnan(s.max_abs) or math.isnan(total.max_abs) else max(total.max_abs, s.max_abs)
        )
        total.sum_abs += s.sum_abs
        total.values += s.values
        total.rows += s.rows
        total._psnr.sse += s._psnr.sse
        total._psnr.count += s._psnr.count
        total.pixels += s.pixels
        total.pixels_differ += s.pixels_differ
    return total
