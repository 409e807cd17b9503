"""Space-time grids: which (x, y, t) the network is asked for, exactly as docs/CONVENTIONS.md defines them.

Space uses pixel areas (``align_corners=False``): output column ``i`` of ``W_out`` covering the source
columns ``[x0, x1)`` has its centre at source pixel ``x0 + (i + 0.5) (x1 - x0) / W_out``, which maps to
``x = 2 px / W - 1``. With the full frame that is ``(2 i + 1) / W_out - 1`` at any scale.

Time uses frame instants (``align_corners=True``): source frame ``k`` of ``T`` sits at
``t = 2 k / (T - 1) - 1`` (``t = 0`` when ``T == 1``). Rendering ``[k0, k1]`` at ``scale_t`` gives
``floor((k1 - k0) scale_t) + 1`` frames at ``k0 + j / scale_t``, so an integer ``scale_t`` hits every
source frame exactly (same float expression as the source frame itself).

Grids are computed, never stored whole: `SpaceTimeGrid.iter_chunks` yields ``[n, 3]`` float32 blocks in
(t, y, x) row-major order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from vinr_zoo.errors import GridError, short_repr

# Guards against typos like --scale-s 1e6: a frame side and a whole render have hard ceilings.
MAX_SIDE = 32768
MAX_TOTAL_PIXELS = 10**12
# Frame instants are held as a tuple, so their count needs its own (generous) ceiling: 1e6 frames are
# 11 hours at 25 fps.
MAX_FRAMES = 10**6
_EPS = 1e-9


@dataclass(frozen=True)
class SpaceTimeGrid:
    """An output grid over a source video of ``src_width × src_height × src_frames``."""

    src_width: int
    src_height: int
    src_frames: int
    width: int
    height: int
    x0: float
    x1: float
    y0: float
    y1: float
    t_positions: tuple[float, ...]  # output frame instants, in source frame units
    frame_step: float  # spacing of output frames, in source frames (1 / scale_t)

    # ---- construction --------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        src_width: int,
        src_height: int,
        src_frames: int,
        *,
        scale_s: float = 1.0,
        scale_t: float = 1.0,
        width: int | None = None,
        height: int | None = None,
        frames: int | None = None,
        roi: tuple[float, float, float, float] | None = None,
        time_range: tuple[float, float] | None = None,
        head: int | None = None,
    ) -> SpaceTimeGrid:
        """Grid for ``scale_s``/``scale_t`` or explicit ``width``/``height``/``frames``.

        ``roi`` is ``(x, y, w, h)`` in source pixels; ``time_range`` is ``(first, last)`` source frame
        instants, inclusive (fractional allowed). ``head`` keeps only the first ``head`` output frames
        (like `head`, but applied before the size limits, so it can bring a render under them).
        """
        for name, v in (("source width", src_width), ("source height", src_height), ("source frames", src_frames)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise GridError(f"{name} must be a positive integer, got {short_repr(v)}")
        _check_scale("scale_s", scale_s)
        _check_scale("scale_t", scale_t)

        if roi is None:
            x0, y0, x1, y1 = 0.0, 0.0, float(src_width), float(src_height)
        else:
            if len(roi) != 4 or not all(_finite(v) for v in roi):
                raise GridError(f"roi must be four finite numbers x,y,w,h, got {short_repr(roi)}")
            rx, ry, rw, rh = (float(v) for v in roi)
            if rw <= 0 or rh <= 0 or rx < 0 or ry < 0 or rx + rw > src_width + _EPS or ry + rh > src_height + _EPS:
                raise GridError(
                    f"roi {rx:g},{ry:g},{rw:g},{rh:g} must have a positive size and lie inside the "
                    f"{src_width}x{src_height} source"
                )
            x0, y0, x1, y1 = rx, ry, rx + rw, ry + rh

        out_w = _side("width", width, (x1 - x0) * scale_s)
        out_h = _side("height", height, (y1 - y0) * scale_s)

        if time_range is None:
            k0, k1 = 0.0, float(src_frames - 1)
        else:
            if len(time_range) != 2 or not all(_finite(v) for v in time_range):
                raise GridError(f"time range must be two finite frame positions, got {short_repr(time_range)}")
            k0, k1 = float(time_range[0]), float(time_range[1])
            if not 0 <= k0 <= k1 <= src_frames - 1 + _EPS:
                raise GridError(
                    f"time range {k0:g}..{k1:g} must satisfy 0 <= first <= last <= {src_frames - 1} "
                    f"(the source has {src_frames} frames)"
                )
        span = k1 - k0
        if head is not None and (not isinstance(head, (int, np.integer)) or isinstance(head, bool) or head < 1):
            raise GridError(f"frames must be a positive integer, got {short_repr(head)}")
        if frames is not None:
            if not isinstance(frames, (int, np.integer)) or frames < 1:
                raise GridError(f"frames must be a positive integer, got {short_repr(frames)}")
            if frames > 1 and span == 0:
                raise GridError("cannot render several frames from a single source instant")
            step = span / (frames - 1) if frames > 1 else 1.0 / scale_t
            count = frames if head is None else min(frames, int(head))
            _check_frame_count(count, f"{frames} frames")
            # min(): k0 + (F - 1) * step can land one ulp past k1 (t = 1.0000000000000004); the last frame is k1.
            positions = tuple(min(k0 + j * step, k1) for j in range(count))
        else:
            exact = span * scale_t + _EPS
            if not math.isfinite(exact) or exact >= MAX_FRAMES:  # checked before floor(): inf has no floor
                if head is None or head > MAX_FRAMES:
                    _check_frame_count(exact + 1, f"--scale-t {scale_t:g}")
            count = math.floor(min(exact, MAX_FRAMES)) + 1
            if head is not None:
                count = min(count, int(head))
            step = 1.0 / scale_t
            # k0 + j / scale_t: for integer scale_t and j = m * scale_t the division is exact.
            # min(): when span * scale_t is within _EPS below an integer, the last frame snaps to k1.
            positions = tuple(min(k0 + j / scale_t, k1) for j in range(count))
        total = out_w * out_h * len(positions)
        if total > MAX_TOTAL_PIXELS:
            raise GridError(
                f"the output would be {out_w}x{out_h}x{len(positions)} = {total:.3g} pixels, over the "
                f"limit of {MAX_TOTAL_PIXELS:.0e}; render a region (--roi), a time range (--time-range) "
                "or fewer frames (--frames)"
            )
        return cls(src_width, src_height, src_frames, out_w, out_h, x0, x1, y0, y1, positions, step)

    @classmethod
    def source(cls, width: int, height: int, frames: int) -> SpaceTimeGrid:
        """The grid of the source pixels themselves (scale 1)."""
        return cls.build(width, height, frames)

    # ---- shape ----------------------------------------------------------------------------------
    @property
    def frames(self) -> int:
        return len(self.t_positions)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(frames, height, width)`` of the output."""
        return (self.frames, self.height, self.width)

    @property
    def pixels_per_frame(self) -> int:
        return self.width * self.height

    def __len__(self) -> int:
        return self.frames * self.pixels_per_frame

    def output_fps(self, source_fps: float) -> float:
        return source_fps / self.frame_step

    def head(self, n: int) -> SpaceTimeGrid:
        """The first ``n`` output frames (like ffmpeg's ``-frames:v``)."""
        if n < 1:
            raise GridError(f"frames must be a positive integer, got {n}")
        return SpaceTimeGrid(
            self.src_width,
            self.src_height,
            self.src_frames,
            self.width,
            self.height,
            self.x0,
            self.x1,
            self.y0,
            self.y1,
            self.t_positions[:n],
            self.frame_step,
        )

    # ---- coordinates ----------------------------------------------------------------------------
    def xs(self) -> np.ndarray:
        """Normalised x of each output column (float64)."""
        return _centres(self.width, self.x0, self.x1, self.src_width)

    def ys(self) -> np.ndarray:
        return _centres(self.height, self.y0, self.y1, self.src_height)

    def ts(self) -> np.ndarray:
        """Normalised t of each output frame (float64)."""
        return frame_instant_to_t(np.asarray(self.t_positions, dtype=np.float64), self.src_frames)

    def _axes(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f32 = np.float32
        return (
            torch.from_numpy(self.xs().astype(f32)),
            torch.from_numpy(self.ys().astype(f32)),
            torch.from_numpy(self.ts().astype(f32)),
        )

    def coords(self, start: int, stop: int, axes=None) -> torch.Tensor:
        """Coordinates of flat output indices ``[start, stop)``: ``[n, 3]`` float32, columns (x, y, t), rows in
        output order (frame by frame, each row of a frame left to right)."""
        xs, ys, ts = axes if axes is not None else self._axes()
        idx = torch.arange(start, stop, dtype=torch.int64)
        ppf = self.pixels_per_frame
        t_idx = idx // ppf
        rem = idx - t_idx * ppf
        y_idx = rem // self.width
        x_idx = rem - y_idx * self.width
        return torch.stack((xs[x_idx], ys[y_idx], ts[t_idx]), dim=1)

    def frame_coords(self, j: int) -> torch.Tensor:
        """All coordinates of output frame ``j``, ``[height * width, 3]``."""
        ppf = self.pixels_per_frame
        return self.coords(j * ppf, (j + 1) * ppf)

    def iter_chunks(self, chunk_size: int) -> Iterator[torch.Tensor]:
        """Yield the whole grid as ``[<=chunk_size, 3]`` blocks, never holding more than one."""
        if chunk_size < 1:
            raise GridError(f"chunk size must be positive, got {chunk_size}")
        axes = self._axes()
        total = len(self)
        for start in range(0, total, chunk_size):
            yield self.coords(start, min(start + chunk_size, total), axes)


def frame_instant_to_t(k, frames: int):
    """Source frame position ``k`` (array or scalar) → normalised t."""
    if frames == 1:
        return k * 0.0
    return 2.0 * k / (frames - 1) - 1.0


def pixel_centres(n: int) -> np.ndarray:
    """Normalised centres of ``n`` pixels covering [-1, 1]: ``(2 i + 1) / n - 1``."""
    return (2.0 * np.arange(n, dtype=np.float64) + 1.0) / n - 1.0


def _centres(n: int, lo: float, hi: float, src: int) -> np.ndarray:
    if lo == 0.0 and hi == float(src):
        return pixel_centres(n)
    px = lo + (np.arange(n, dtype=np.float64) + 0.5) * (hi - lo) / n
    return 2.0 * px / src - 1.0


def _finite(v) -> bool:
    if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int beyond float range
        return False


def _check_scale(name: str, value) -> None:
    if not _finite(value) or value <= 0:
        raise GridError(f"{name} must be a finite number > 0, got {short_repr(value)}")


def _check_frame_count(count: float, cause: str) -> None:
    if not count <= MAX_FRAMES:  # also NaN / inf
        raise GridError(
            f"{cause} would give {count:.3g} output frames, over the limit of {MAX_FRAMES:.0e}; "
            "render a time range (--time-range) or fewer frames (--frames)"
        )


def _side(name: str, explicit: int | None, scaled: float) -> int:
    if explicit is not None:
        if not isinstance(explicit, (int, np.integer)) or isinstance(explicit, bool) or explicit < 1:
            raise GridError(f"{name} must be a positive integer, got {short_repr(explicit)}")
        n = int(explicit)
    elif not scaled < 1e9:  # before round(): a scale like 1e308 makes scaled infinite, and round(inf) raises
        raise GridError(
            f"the output {name} would be {scaled:.3g} pixels, over the limit of {MAX_SIDE}; "
            "lower --scale-s or render a region (--roi)"
        )
    else:
        n = max(1, round(scaled))
    if n > MAX_SIDE:
        raise GridError(
            f"the output {name} would be {n} pixels, over the limit of {MAX_SIDE}; "
            "lower --scale-s or render a region (--roi)"
        )
    return n
