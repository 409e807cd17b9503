"""Measure models: reconstruction against a reference clip, and the space-time super-resolution protocol.

Every score is taken on the network's float output, clamped to [0, 1] and *not* rounded to 8 bits: the
measurements the fit records (``training.final_psnr_rgb``, ``final_psnr_y``, ``final_ssim``), so evaluating a model on its own training clip
reproduces that number (rounding to uint8 would cost a little, see tests/test_decode.py). Baselines are
scored the same way (float, clamped).

The metrics (PSNR RGB, PSNR Y, SSIM) and their exact definitions are in vinr_zoo/metrics.py.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vinr_zoo._atomic import atomic_path
from vinr_zoo.card import training_metrics
from vinr_zoo.coords import SpaceTimeGrid
from vinr_zoo.decode import DEFAULT_BATCH, open_backend, render, resolve_source, to_unit
from vinr_zoo.errors import VinrError
from vinr_zoo.metrics import ScoreAccumulator, Scores
from vinr_zoo.metrics import json_number as _num
from vinr_zoo.video import Video, read_video, resize_frames, resolve_video_path

METRIC_NOTES = {
    "psnr_rgb": "PSNR of the clip-wide MSE on RGB in [0, 1], float output clamped, not quantised to 8 bit",
    "psnr_y": "the same on full-range BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B "
    "(add 1.32 dB to compare with studio-swing MATLAB rgb2ycbcr Y)",
    "ssim": "pytorch-msssim ssim: Gaussian 11x11, sigma 1.5, K=(0.01, 0.03), valid region, mean over RGB "
    "channels, data_range=1; mean of per-frame values",
}
STVSR_METHODS = {
    "model": "sine MLP fitted on the low-res clip",
    "trilinear": "bilinear in space (pixel areas), linear in time (frame instants)",
    "bicubic_blend": "bicubic in space (pixel areas), linear blend of frames",
}
STVSR_SUBSETS = ("all", "kept", "held_out")


class EvalError(VinrError, ValueError):
    """An evaluation that cannot be run as asked (reference does not match the model, bad protocol scales)."""


def bits_per_pixel(params: int, width: int, height: int, frames: int, bits: int = 32) -> float:
    """Bits of weight storage per pixel of the clip: ``params × bits / (W × H × T)``."""
    return params * bits / (width * height * frames)


# ---- vinr eval MODEL --reference VIDEO --------------------------------------------------------------------
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
            "model": self.model, "reference": self.reference, "same_source_file": self.same_source_file,
            "width": self.width, "height": self.height, "frames": self.frames,
            "psnr_rgb": _num(self.scores.psnr_rgb), "psnr_y": _num(self.scores.psnr_y), "ssim": _num(self.scores.ssim),
            "recorded": dict(self.recorded), "params": self.params,
            "bpp_fp32": _num(self.bpp_fp32), "bpp_fp16": _num(self.bpp_fp16),
            "runtime": self.runtime, "runtime_detail": self.runtime_detail,
            "decode_s": _num(self.decode_s), "decode_px_per_s": _num(self.decode_px_per_s),
            "metrics": dict(METRIC_NOTES),
        }  # fmt: skip

    def table_rows(self) -> list[tuple[str, str]]:
        s = self.scores

        def recorded(key: str, spec: str) -> str:
            return f" (config.json: {self.recorded[key]:{spec}})" if key in self.recorded else ""

        same = {True: "same file as the model's source", False: "not the model's source file (sha256)",
                None: "source file unknown"}[self.same_source_file]  # fmt: skip
        return [
            ("model", self.model),
            ("reference", f"{self.reference} ({same})"),
            ("grid", f"{self.width}x{self.height}, {self.frames} frames"),
            ("PSNR RGB", f"{s.psnr_rgb:.3f} dB{recorded('psnr_rgb', '.3f')}"),
            ("PSNR Y (BT.601, full range)", f"{s.psnr_y:.3f} dB{recorded('psnr_y', '.3f')}"),
            ("SSIM (RGB mean, 11x11 Gaussian)", _fmt(s.ssim, ".4f") + recorded("ssim", ".4f")),
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
        model=src.location, reference=clip.name, width=grid.width, height=grid.height, frames=grid.frames,
        params=src.config.num_params, scores=acc.result(), runtime=runtime, runtime_detail=detail,
        decode_s=decode_s, recorded=training_metrics(src.config.training),
        same_source_file=same,
    )  # fmt: skip


# ---- vinr eval stvsr VIDEO --scale-s S --scale-t T --------------------------------------------------------
@dataclass
class StvsrReport:
    video: str
    scale_s: int
    scale_t: int
    width: int
    height: int
    frames: int  # frames scored (the clip trimmed to k * scale_t + 1)
    frames_read: int
    low_width: int
    low_height: int
    low_frames: int
    kept: list[int]  # indices of the frames kept in time (fitted at low resolution)
    held_out: list[int]
    results: dict[str, dict[str, Scores | None]]  # method -> subset ("all", "kept", "held_out") -> scores
    fit: dict[str, Any] = field(default_factory=dict)
    runtime_detail: str = ""
    model_dir: str | None = None

    @property
    def trimmed(self) -> bool:
        return self.frames != self.frames_read

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": "stvsr", "video": self.video, "scale_s": self.scale_s, "scale_t": self.scale_t,
            "width": self.width, "height": self.height, "frames": self.frames, "frames_read": self.frames_read,
            "low_res": {"width": self.low_width, "height": self.low_height, "frames": self.low_frames},
            "kept_frames": self.kept, "held_out_frames": self.held_out,
            "fit": self.fit, "runtime_detail": self.runtime_detail, "model_dir": self.model_dir,
            "methods": dict(STVSR_METHODS), "metrics": dict(METRIC_NOTES),
            "results": {m: {k: (v.to_dict() if v is not None else None) for k, v in subsets.items()}
                        for m, subsets in self.results.items()},
        }  # fmt: skip

    def table_rows(self) -> list[tuple[str, ...]]:
        """``(method, frames, PSNR RGB, PSNR Y, SSIM)`` per method and subset."""
        rows = []
        for method, subsets in self.results.items():
            for subset in STVSR_SUBSETS:
                s = subsets.get(subset)
                if s is None:
                    continue
                label = {"all": "all", "kept": "kept", "held_out": "held-out"}[subset]
                rows.append(
                    (method, f"{label} ({s.frames})", f"{s.psnr_rgb:.3f}", f"{s.psnr_y:.3f}", _fmt(s.ssim, ".4f"))
                )
        return rows

    def summary(self) -> str:
        trim = f", trimmed from {self.frames_read} to {self.frames} frames (k·T + 1)" if self.trimmed else ""
        fit = self.fit
        return (
            f"{self.video}: {self.width}x{self.height}, {self.frames} frames{trim}; fitted on "
            f"{self.low_width}x{self.low_height}, {self.low_frames} frames (area 1/{self.scale_s} in space, 1 frame in "
            f"{self.scale_t} kept): {fit.get('params', 0):,} parameters, {fit.get('steps')} steps, "
            f"{fit.get('wall_time_s', 0):.1f} s, fit PSNR {fit.get('psnr_rgb_low_res', math.nan):.2f} dB"
        )


def stvsr_clip_length(frames: int, scale_t: int) -> int:
    """Longest ``k · scale_t + 1 <= frames``: the clip length whose last frame is a kept one."""
    return (frames - 1) // scale_t * scale_t + 1


def downsample(frames: np.ndarray, scale_s: int, scale_t: int) -> np.ndarray:
    """Every ``scale_t``-th frame, area-averaged by ``scale_s`` in space, rounded to uint8 (a real low-res clip)."""
    t, h, w, _ = frames.shape
    return resize_frames(np.ascontiguousarray(frames[::scale_t]), (w // scale_s, h // scale_s))


def upsample_space(frame: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """A uint8 ``[h, w, 3]`` frame → float32 ``[H, W, 3]`` in [0, 1], ``mode`` bilinear|bicubic, pixel areas."""
    w, h = size
    x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float() / 255.0
    y = F.interpolate(x, size=(h, w), mode=mode, align_corners=False)  # CONVENTIONS: space = pixel areas
    return y.clamp(0.0, 1.0)[0].permute(1, 2, 0).contiguous().numpy()


class _FrameInterpolator:
    """Spatial upsampling of the low-res frames, then linear in time at frame instants (align_corners=True).

    Output frame ``j`` of ``k · T + 1`` sits at low-res frame ``j / T``: a kept frame when ``T`` divides
    ``j``, else ``(1 - r/T)`` of frame ``j // T`` plus ``r/T`` of the next. Both steps are linear, so with
    ``bilinear`` this equals trilinear interpolation with our space and time conventions.
    """

    def __init__(self, low: np.ndarray, size: tuple[int, int], scale_t: int, mode: str):
        self.low, self.size, self.scale_t, self.mode = low, size, scale_t, mode
        self._cache: dict[int, np.ndarray] = {}

    def _up(self, m: int) -> np.ndarray:
        if m not in self._cache:
            self._cache = {k: v for k, v in self._cache.items() if k >= m - 1}
            self._cache[m] = upsample_space(self.low[m], self.size, self.mode)
        return self._cache[m]

    def frame(self, j: int) -> np.ndarray:
        m, r = divmod(j, self.scale_t)
        if r == 0:
            return self._up(m)
        w = r / self.scale_t
        return ((1.0 - w) * self._up(m) + w * self._up(m + 1)).astype(np.float32)


def stvsr_protocol(
    video: str | os.PathLike[str] | Video,
    *,
    scale_s: int,
    scale_t: int,
    options=None,
    frames: int | None = None,
    start: int = 0,
    size: tuple[int, int] | None = None,
    runtime: str = "torch",
    batch: int = DEFAULT_BATCH,
    save_model: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    fit_callback: Callable | None = None,
    on_frame: Callable[[int, int], None] | None = None,
) -> StvsrReport:
    """Space-time super-resolution: fit on ``video`` downsampled by ``scale_s`` (area) keeping every ``scale_t``-th
    frame, render back on the full grid and score it against ``video`` beside two interpolation baselines.

    The clip is trimmed to ``k · scale_t + 1`` frames so that rendering at ``scale_t`` lands exactly on the
    original frame instants. ``options`` is a `FitOptions` (its defaults if None); the fitted model is kept in
    ``save_model`` when given, else thrown away.
    """
    from vinr_zoo.fit import FitOptions, fit_video

    for name, value in (("--scale-s", scale_s), ("--scale-t", scale_t)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise EvalError(f"{name} must be an integer >= 1 for the stvsr protocol, got {value!r}")
    if scale_s == 1 and scale_t == 1:
        raise EvalError("--scale-s and --scale-t are both 1: the stvsr protocol has nothing to hold out")
    options = options if options is not None else FitOptions()
    if isinstance(video, Video):
        if frames is not None or start or size is not None:
            raise EvalError("frames/start/size apply when reading a video file, not to a loaded Video")
        clip = video
    else:
        clip = read_video(resolve_video_path(os.fspath(video)), frames=frames, start=start, size=size)
    if clip.width % scale_s or clip.height % scale_s:
        raise EvalError(
            f"{clip.width}x{clip.height} is not divisible by --scale-s {scale_s}; pass --size with sides that are"
        )
    n = stvsr_clip_length(clip.num_frames, scale_t)
    if n < scale_t + 1:
        raise EvalError(
            f"--scale-t {scale_t} needs at least {scale_t + 1} frames (two kept frames), the clip has {clip.num_frames}"
        )
    full = clip.frames[:n]
    low = downsample(full, scale_s, scale_t)
    low_clip = Video(frames=low, fps=clip.fps / scale_t, name=clip.name, sha256=clip.sha256)
    kept = list(range(0, n, scale_t))
    held_out = [j for j in range(n) if j % scale_t]

    with tempfile.TemporaryDirectory(prefix=".vinr-stvsr-") as tmp:
        out_dir = Path(save_model) if save_model is not None else Path(tmp) / "model"
        result = fit_video(low_clip, options, out_dir, overwrite=overwrite, callback=fit_callback)
        grid = SpaceTimeGrid.build(low_clip.width, low_clip.height, low_clip.num_frames,
                                   scale_s=scale_s, scale_t=scale_t)  # fmt: skip
        if grid.shape != (n, clip.height, clip.width):  # cannot happen with the checks above; never score misaligned
            raise EvalError(f"the render grid {grid.shape} does not match the clip {(n, clip.height, clip.width)}")
        size_out = (clip.width, clip.height)
        baselines = {
            "trilinear": _FrameInterpolator(low, size_out, scale_t, "bilinear"),
            "bicubic_blend": _FrameInterpolator(low, size_out, scale_t, "bicubic"),
        }
        accs = {m: {s: ScoreAccumulator() for s in STVSR_SUBSETS} for m in STVSR_METHODS}
        with open_backend(resolve_source(result.model), runtime, device=options.device) as backend:
            detail = backend.describe()
            for j, out in enumerate(render(backend, grid, batch=batch)):
                ref = full[j].astype(np.float32) / 255.0
                subset = "kept" if j % scale_t == 0 else "held_out"
                preds = {"model": to_unit(out), **{name: b.frame(j) for name, b in baselines.items()}}
                for method, pred in preds.items():
                    accs[method]["all"].add(pred, ref)
                    accs[method][subset].add(pred, ref)
                if on_frame is not None:
                    on_frame(j + 1, n)
    fit = {
        "hidden_features": options.hidden_features, "hidden_layers": options.hidden_layers,
        "time_omega_0": options.time_omega_0, "params": result.model.num_params, "steps": result.steps,
        "wall_time_s": round(result.wall_time_s, 2), "seed": options.seed,
        "psnr_rgb_low_res": round(result.psnr, 3),
    }  # fmt: skip
    return StvsrReport(
        video=clip.name, scale_s=scale_s, scale_t=scale_t, width=clip.width, height=clip.height, frames=n,
        frames_read=clip.num_frames, low_width=low_clip.width, low_height=low_clip.height,
        low_frames=low_clip.num_frames, kept=kept, held_out=held_out,
        results={m: {s: a.result() for s, a in subs.items()} for m, subs in accs.items()},
        fit=fit, runtime_detail=detail, model_dir=str(save_model) if save_model is not None else None,
    )  # fmt: skip


# ---- output -------------------------------------------------------------------------------------------------
def write_json(path: str | os.PathLike[str], data: dict[str, Any]) -> Path:
    """Write ``data`` as JSON, atomically (replacing an existing file)."""
    path = Path(path)
    if path.is_dir():
        raise EvalError(f"cannot write {path}: it is a folder")
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)
