"""Scores of a fitted model on its training clip (PSNR RGB / Y, SSIM), as recorded in config.json."""

from __future__ import annotations

import numpy as np
import torch

from vinr_zoo.coords import SpaceTimeGrid
from vinr_zoo.metrics import ScoreAccumulator, Scores, to_unit
from vinr_zoo.video import Video


@torch.no_grad()
def measure_scores(model, video: Video, *, ssim: bool = True, chunk: int = 4096) -> Scores:
    """PSNR RGB, PSNR Y and (``ssim=True``) SSIM over every frame of ``video``: clamped float output, not
    quantised, as defined in vinr_zoo/metrics.py."""
    # The plain forward in cache-sized chunks: fit sits below the runtimes/decode layer, so it does not
    # borrow their backends (`vinr eval` measures the same numbers through them; a test checks they agree).
    grid = SpaceTimeGrid.source(video.width, video.height, video.num_frames)
    acc = ScoreAccumulator(ssim=ssim)
    device = next(model.parameters()).device
    axes = grid._axes()
    ppf = grid.pixels_per_frame
    with torch.inference_mode():
        for j in range(grid.frames):
            frame = torch.cat(
                [
                    model(grid.coords(j * ppf + s, j * ppf + min(s + chunk, ppf), axes).to(device)).float().cpu()
                    for s in range(0, ppf, chunk)
                ]
            )
            acc.add(to_unit(frame.view(grid.height, grid.width, 3).numpy()), video.frames[j].astype(np.float32) / 255.0)
    return acc.result()


def measure_psnr(model, video: Video, *, chunk: int = 4096) -> float:
    """PSNR (RGB in [0, 1], clamped network output, not quantised) over every frame of ``video``."""
    return measure_scores(model, video, ssim=False, chunk=chunk).psnr_rgb
