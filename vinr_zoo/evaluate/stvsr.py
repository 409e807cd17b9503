"""The space-time super-resolution (STVSR) protocol: fit on a downsampled clip, render back, score held-out frames.

The clip is area-downsampled by ``scale_s`` in space and keeps every ``scale_t``-th frame; the model fitted
on that is rendered on the full grid and scored against the original beside interpolation baselines, on
all, kept and held-out frames (PSNR pooled over frames: one MSE per subset).

The ``flow`` baseline needs OpenCV (the ``flow`` extra); without it the protocol still runs, leaves that
method out and says so in the report's ``notes``.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vinr_zoo.coords import SpaceTimeGrid
from vinr_zoo.decode import DEFAULT_BATCH, open_backend, render
from vinr_zoo.errors import RuntimeUnavailable
from vinr_zoo.evaluate.common import METRIC_NOTES, EvalError, fmt
from vinr_zoo.fit import FitOptions, fit_video
from vinr_zoo.flow import dis_flow, require_cv2, warp_blend
from vinr_zoo.metrics import ScoreAccumulator, Scores, to_unit
from vinr_zoo.sources import resolve_source
from vinr_zoo.video import Video, read_video, resize_frames, resolve_video_path

STVSR_METHODS = {
    "model": "the model (FitOptions.arch, a sine MLP by default) fitted on the low-res clip",
    "trilinear": "bilinear in space (pixel areas), linear in time (frame instants)",
    "bicubic_blend": "bicubic in space (pixel areas), linear blend of frames",
    "flow": "bicubic in space (pixel areas), then DIS optical flow between the two kept frames and a "
    "bidirectional backward warp to the held-out instant (Super SloMo's linear-motion flow approximation), "
    "blended (1 - tau, tau)",
}
STVSR_SUBSETS = ("all", "kept", "held_out")
CUT_NOTE = (
    "every method renders the nearer kept frame between two kept frames on either side of a scene cut "
    "(the fitted model's source.scene_cuts), never a blend of two shots"
)


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
    notes: list[str] = field(default_factory=list)  # e.g. a baseline left out because its package is missing

    @property
    def trimmed(self) -> bool:
        return self.frames != self.frames_read

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": "stvsr",
            "video": self.video,
            "scale_s": self.scale_s,
            "scale_t": self.scale_t,
            "width": self.width,
            "height": self.height,
            "frames": self.frames,
            "frames_read": self.frames_read,
            "low_res": {"width": self.low_width, "height": self.low_height, "frames": self.low_frames},
            "kept_frames": self.kept,
            "held_out_frames": self.held_out,
            "fit": self.fit,
            "runtime_detail": self.runtime_detail,
            "model_dir": self.model_dir,
            "methods": {m: STVSR_METHODS[m] for m in self.results},
            "metrics": dict(METRIC_NOTES),
            "notes": list(self.notes),
            "results": {
                m: {k: (v.to_dict() if v is not None else None) for k, v in subsets.items()}
                for m, subsets in self.results.items()
            },
        }

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
                    (method, f"{label} ({s.frames})", f"{s.psnr_rgb:.3f}", f"{s.psnr_y:.3f}", fmt(s.ssim, ".4f"))
                )
        return rows

    def summary(self) -> str:
        trim = f", trimmed from {self.frames_read} to {self.frames} frames (k·T + 1)" if self.trimmed else ""
        fit = self.fit
        how = f"scored {self.model_dir}, fitted before" if fit.get("given_model") else "fitted"
        return (
            f"{self.video}: {self.width}x{self.height}, {self.frames} frames{trim}; {how} on "
            f"{self.low_width}x{self.low_height}, {self.low_frames} frames (area 1/{self.scale_s} in space, 1 frame in "
            f"{self.scale_t} kept): {fit.get('params', 0):,} parameters, {fit.get('steps')} steps, "
            f"{fit.get('wall_time_s') or 0:.1f} s, fit PSNR {fit.get('psnr_rgb_low_res', math.nan):.2f} dB"
            + "".join(f"\nnote: {note}" for note in self.notes)
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

    def __init__(self, low: np.ndarray, size: tuple[int, int], scale_t: int, mode: str, cuts=()):
        self.low, self.size, self.scale_t, self.mode = low, size, scale_t, mode
        self.cuts = set(cuts)  # low-res frames that start a new shot
        self._cache: dict[int, np.ndarray] = {}

    def _up(self, m: int) -> np.ndarray:
        if m not in self._cache:
            self._cache = {k: v for k, v in self._cache.items() if k >= m - 1}
            self._cache[m] = upsample_space(self.low[m], self.size, self.mode)
        return self._cache[m]

    def across_cut(self, j: int) -> np.ndarray | None:
        """Output frame ``j``'s nearer kept frame when ``j`` falls between two shots, else None."""
        m, r = divmod(j, self.scale_t)
        if r == 0 or m + 1 not in self.cuts:
            return None
        return self._up(m + 1 if 2 * r >= self.scale_t else m)

    def frame(self, j: int) -> np.ndarray:
        m, r = divmod(j, self.scale_t)
        if r == 0:
            return self._up(m)
        cut = self.across_cut(j)
        if cut is not None:
            return cut
        w = r / self.scale_t
        return ((1.0 - w) * self._up(m) + w * self._up(m + 1)).astype(np.float32)


class _FlowInterpolator:
    """Bicubic in space first (``bicubic``'s frames, shared), then motion-compensated in time.

    Between output-size kept frames ``m`` and ``m + 1``: DIS flows both ways on the upsampled frames rounded to
    uint8, then `vinr_zoo.flow.warp_blend` warps both float frames to ``r/T`` and blends them ``(1 - r/T, r/T)``.
    Kept frames are ``bicubic``'s own. Order measured (held-out PSNR, carphone / bikes / bigbuckbunny at
    S, T in {2, 4}): flow on the upsampled frames beats low-res flow scaled up by S (0.02-0.3 dB) and beats
    interpolating at low res then upsampling (0.1-0.9 dB).
    """

    def __init__(self, bicubic: _FrameInterpolator):
        self.bicubic = bicubic
        self.scale_t = bicubic.scale_t
        self._flows: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _flow_pair(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        if m not in self._flows:
            a, b = (np.rint(self.bicubic._up(k) * 255.0).astype(np.uint8) for k in (m, m + 1))
            self._flows = {m: (dis_flow(a, b), dis_flow(b, a))}  # one segment at a time: frames come in order
        return self._flows[m]

    def frame(self, j: int) -> np.ndarray:
        m, r = divmod(j, self.scale_t)
        if r == 0:
            return self.bicubic._up(m)
        cut = self.bicubic.across_cut(j)
        if cut is not None:
            return cut
        f01, f10 = self._flow_pair(m)
        return warp_blend(self.bicubic._up(m), self.bicubic._up(m + 1), r / self.scale_t, f01, f10)


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
    model: str | os.PathLike[str] | None = None,
) -> StvsrReport:
    """Space-time super-resolution: fit on ``video`` downsampled by ``scale_s`` (area) keeping every ``scale_t``-th
    frame, render back on the full grid and score it against ``video`` beside interpolation baselines
    (`STVSR_METHODS`; ``flow`` only when OpenCV is installed, else left out with a note in the report).

    The clip is trimmed to ``k · scale_t + 1`` frames so that rendering at ``scale_t`` lands exactly on the
    original frame instants. ``options`` is a `FitOptions` (its defaults if None); the fitted model is kept in
    ``save_model`` when given, else thrown away.

    ``model`` (a MODEL name: zoo, folder or Hub repo) scores a model fitted before instead of fitting one; its
    recorded source must be the downsampled clip (size, frame count and file hash), and ``options`` and
    ``save_model`` must be left out.
    """
    if model is not None and (options is not None or save_model is not None):
        raise EvalError("a given model is scored as it is: leave out the fit options and --save-model")
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
        if model is not None:
            source = resolve_source(model)
            _check_fitted_on(source.config, low_clip, str(model))
            fitted, fit = source, _recorded_fit(source)
        else:
            out_dir = Path(save_model) if save_model is not None else Path(tmp) / "model"
            result = fit_video(low_clip, options, out_dir, overwrite=overwrite, callback=fit_callback)
            fitted, fit = resolve_source(result.model), _fit_record(options, result)
        grid = SpaceTimeGrid.build(
            low_clip.width, low_clip.height, low_clip.num_frames, scale_s=scale_s, scale_t=scale_t
        )
        if grid.shape != (n, clip.height, clip.width):  # cannot happen with the checks above; never score misaligned
            raise EvalError(f"the render grid {grid.shape} does not match the clip {(n, clip.height, clip.width)}")
        size_out = (clip.width, clip.height)
        cuts = list(fitted.config.source.scene_cuts) if fitted.config.source is not None else []
        baselines = {
            "trilinear": _FrameInterpolator(low, size_out, scale_t, "bilinear", cuts),
            "bicubic_blend": _FrameInterpolator(low, size_out, scale_t, "bicubic", cuts),
        }
        notes = [f"{CUT_NOTE}; cuts at kept frames {cuts}"] if cuts else []
        try:
            require_cv2()
            baselines["flow"] = _FlowInterpolator(baselines["bicubic_blend"])
        except RuntimeUnavailable as exc:
            notes.append(f"the flow baseline is left out: {exc}")
        methods = ["model", *baselines]
        accs = {m: {s: ScoreAccumulator() for s in STVSR_SUBSETS} for m in methods}
        device = options.device if options is not None else "cpu"
        with open_backend(fitted, runtime, device=device) as backend:
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
    fit["scene_cuts"] = cuts
    return StvsrReport(
        video=clip.name,
        scale_s=scale_s,
        scale_t=scale_t,
        width=clip.width,
        height=clip.height,
        frames=n,
        frames_read=clip.num_frames,
        low_width=low_clip.width,
        low_height=low_clip.height,
        low_frames=low_clip.num_frames,
        kept=kept,
        held_out=held_out,
        results={m: {s: a.result() for s, a in subs.items()} for m, subs in accs.items()},
        fit=fit,
        runtime_detail=detail,
        model_dir=str(save_model) if save_model is not None else (str(model) if model is not None else None),
        notes=notes,
    )


def _fit_record(options, result) -> dict[str, Any]:
    return {
        "arch": options.arch,
        "hidden_features": options.hidden_features,
        "hidden_layers": options.hidden_layers,
        "time_omega_0": options.time_omega_0,
        "params": result.model.num_params,
        "steps": result.steps,
        "wall_time_s": round(result.wall_time_s, 2),
        "seed": options.seed,
        "psnr_rgb_low_res": round(result.psnr, 3),
    }


def _recorded_fit(source) -> dict[str, Any]:
    """The `_fit_record` of a model fitted before, from its config.json."""
    t = source.config.training or {}
    psnr = t.get("final_psnr_rgb")
    return {
        "arch": source.config.ARCHITECTURE,
        "params": source.config.num_params,
        "steps": t.get("steps"),
        "wall_time_s": t.get("wall_time_s", 0.0),
        "seed": t.get("seed"),
        "psnr_rgb_low_res": psnr if psnr is not None else math.nan,
        "given_model": True,
    }


def _check_fitted_on(config, low: Video, name: str) -> None:
    src = config.source
    if src is None:
        raise EvalError(f"{name} records no source clip, so it cannot be checked against the downsampled clip")
    want = (low.width, low.height, low.num_frames)
    if (src.width, src.height, src.frames) != want:
        raise EvalError(
            f"{name} was fitted on {src.width}x{src.height}, {src.frames} frames; the downsampled clip is "
            f"{want[0]}x{want[1]}, {want[2]} frames (check --frames, --size, --scale-s and --scale-t)"
        )
    if src.sha256 and low.sha256 and src.sha256 != low.sha256:
        raise EvalError(f"{name} was fitted on another file (sha256 {src.sha256[:12]}…, this one {low.sha256[:12]}…)")
