"""``vinr eval MODEL --reference VIDEO``: score a model against a reference clip on the model's source grid.

Every score is taken on the network's float output, clamped to [0, 1] and *not* rounded to 8 bits: the
measurements the fit records (``training.final_psnr_rgb``, ``final_psnr_y``, ``final_ssim``), so evaluating a
model on its own training clip reproduces that number. The metric definitions are in vinr_zoo/metrics.py.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vinr_zoo.cards import training_metrics
from vinr_zoo.coords import SpaceTimeGrid
from vinr_zoo.decode import DEFAULT_BATCH, open_backend, render
from vinr_zoo.evaluate.common import METRIC_NOTES, EvalError, fmt
from vinr_zoo.metrics import ScoreAccumulator, Scores, to_unit
from vinr_zoo.metrics import json_number as _num
from vinr_zoo.sources import resolve_source
from vinr_zoo.video import Video, read_video, resolve_video_path


def bits_per_pixel(params: int, width: int, height: int, frames: int, bits: int = 32) -> float:
    """Bits of weight storage per pixel of the clip: ``params × bits / (W × H × T)``."""
    return params * bits / (width * height * frames)


@dataclass
class EvalReport:
    model: str
    reference: str
    width: int
    height: int
    frames: int
    params: int
    scores: Scores
    runtime: str
    runtime_detail: str
    decode_s: float  # seconds spent rendering (coordinates + inference), metrics excluded
    recorded: dict[str, float] = field(default_factory=dict)  # config.json training metrics (psnr_rgb, ...)
    same_source_file: bool | None = None  # reference file's sha256 == the model's source sha256

    @property
    def pixels(self) -> int:
        return self.width * self.height * self.frames

    @property
    def bpp_fp32(self) -> float:
        return bits_per_pixel(self.params, self.width, self.height, self.frames, 32)

    @property
    def bpp_fp16(self) -> float:
        return bits_per_pixel(self.params, self.width, self.height, self.frames, 16)

    @property
    def decode_px_per_s(self) -> float:
        return self.pixels / self.decode_s if self.decode_s > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "reference": self.reference,
            "same_source_file": self.same_source_file,
            "width": self.width,
            "height": self.height,
            "frames": self.frames,
            "psnr_rgb": _num(self.scores.psnr_rgb),
            "psnr_y": _num(self.scores.psnr_y),
            "ssim": _num(self.scores.ssim),
            "recorded": dict(self.recorded),
            "params": self.params,
            "bpp_fp32": _num(self.bpp_fp32),
            "bpp_fp16": _num(self.bpp_fp16),
            "runtime": self.runtime,
            "runtime_detail": self.runtime_detail,
            "decode_s": _num(self.decode_s),
            "decode_px_per_s": _num(self.decode_px_per_s),
            "metrics": dict(METRIC_NOTES),
        }

    def table_rows(self) -> list[tuple[str, str]]:
        s = self.scores

        def recorded(key: str, spec: str) -> str:
            return f" (config.json: {self.recorded[key]:{spec}})" if key in self.recorded else ""

        same = {
            True: "same file as the model's source",
            False: "not the model's source file (sha256)",
            None: "source file unknown",
        }[self.same_source_file]
        return [
            ("model", self.model),
            ("reference", f"{self.reference} ({same})"),
            ("grid", f"{self.width}x{self.height}, {self.frames} frames"),
            ("PSNR RGB", f"{s.psnr_rgb:.3f} dB{recorded('psnr_rgb', '.3f')}"),
            ("PSNR Y (BT.601, full range)", f"{s.psnr_y:.3f} dB{recorded('psnr_y', '.3f')}"),
            ("SSIM (RGB mean, 11x11 Gaussian)", fmt(s.ssim, ".4f") + recorded("ssim", ".4f")),
            ("parameters", f"{self.params:,}"),
            ("bits per pixel", f"{self.bpp_fp32:.4f} (fp32), {self.bpp_fp16:.4f} (fp16)"),
            ("decode", f"{self.decode_px_per_s / 1e6:.3f} Mpx/s ({self.runtime_detail})"),
        ]


def evaluate_model(
    model,
    reference: str | os.PathLike[str] | Video,
    *,
    frames: int | None = None,
    start: int = 0,
    size: tuple[int, int] | None = None,
    runtime: str = "torch",
    device: str = "cpu",
    batch: int = DEFAULT_BATCH,
    on_frame: Callable[[int, int], None] | None = None,
) -> EvalReport:
    """Score ``model`` (anything `resolve_source` accepts) against ``reference`` on the model's source grid.

    ``reference`` is read like ``vinr fit`` reads a video (``frames``/``start``/``size``), defaulting to the
    frame count and size recorded in the model's config.json; a reference whose grid still differs is refused.
    """
    src = resolve_source(model)
    source = src.config.source
    if isinstance(reference, Video):
        if frames is not None or start or size is not None:
            raise EvalError("frames/start/size apply when reading a reference file, not to a loaded Video")
        clip = reference
    else:
        if source is not None:
            frames = source.frames if frames is None else frames
            size = (source.width, source.height) if size is None else size
        path = resolve_video_path(os.fspath(reference))
        clip = read_video(path, frames=frames, start=start, size=size)
    if source is not None:
        want, got = (source.width, source.height, source.frames), (clip.width, clip.height, clip.num_frames)
        if want != got:
            raise EvalError(
                f"the reference is {got[0]}x{got[1]}, {got[2]} frames but {src.location} was fitted on "
                f"{want[0]}x{want[1]}, {want[2]} frames; pass --size {want[0]}x{want[1]} --frames {want[2]} "
                "(and --start) to read the same clip"
            )
        grid = SpaceTimeGrid.source(source.width, source.height, source.frames)
    else:
        grid = SpaceTimeGrid.source(clip.width, clip.height, clip.num_frames)

    acc = ScoreAccumulator()
    decode_s = 0.0
    with open_backend(src, runtime, device=device) as backend:
        detail = backend.describe()
        frames_iter = render(backend, grid, batch=batch)
        for j in range(grid.frames):
            t0 = time.perf_counter()
            out = next(frames_iter)
            decode_s += time.perf_counter() - t0
            acc.add(to_unit(out), clip.frames[j].astype(np.float32) / 255.0)
            if on_frame is not None:
                on_frame(j + 1, grid.frames)
    same = None
    if source is not None and source.sha256 and clip.sha256:
        same = source.sha256 == clip.sha256
    return EvalReport(
        model=src.location,
        reference=clip.name,
        width=grid.width,
        height=grid.height,
        frames=grid.frames,
        params=src.config.num_params,
        scores=acc.result(),
        runtime=runtime,
        runtime_detail=detail,
        decode_s=decode_s,
        recorded=training_metrics(src.config.training),
        same_source_file=same,
    )
