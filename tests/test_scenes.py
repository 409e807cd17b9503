"""vinr_zoo.scenes.detect_cuts on the real clips (bikes' first cut, none in carphone) and on synthetic clips."""

import numpy as np
import pytest

from vinr_zoo.errors import OptionError
from vinr_zoo.scenes import detect_cuts, frame_differences
from vinr_zoo.video import read_video, sample_clip


def moving_texture(frames: int, seed: int, h: int = 48, w: int = 64, speed: float = 1.5) -> np.ndarray:
    """uint8 [T, H, W, 3]: a smooth random texture (sum of sinusoids) panning ``speed`` px a frame."""
    rng = np.random.default_rng(seed)
    waves = [(rng.uniform(-0.5, 0.5, 2), rng.uniform(0, 2 * np.pi), c) for c in range(3) for _ in range(5)]
    base = rng.uniform(60, 190, 3)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.empty((frames, h, w, 3), np.uint8)
    for t in range(frames):
        img = np.tile(base, (h, w, 1))
        for (fx, fy), phase, c in waves:
            img[..., c] += 12 * np.sin(fx * (x - speed * t) + fy * y + phase)
        out[t] = np.clip(np.rint(img), 0, 255)
    return out


def test_bikes_first_cut_is_found_at_frame_30():
    # frames 0-29 are one shot (a car roof from above), 30 on another (a man by parked cars)
    clip = read_video(sample_clip("bikes"), frames=61, size=(160, 68))
    assert detect_cuts(clip.frames) == [30]
    assert detect_cuts(clip.frames[:30]) == [] and detect_cuts(clip.frames[30:]) == []


def test_no_cut_in_carphone():
    clip = read_video(sample_clip("carphone"), frames=60, size=(88, 72))
    assert detect_cuts(clip.frames) == []


def test_a_synthetic_hard_cut_is_found_where_it_is():
    clip = np.concatenate([moving_texture(20, seed=0), moving_texture(25, seed=1)])
    assert detect_cuts(clip) == [20]
    assert detect_cuts(clip[17:23]) == [3]  # short clips too: the cut is unlike its few neighbours
    assert detect_cuts(clip[19:21]) == [1]  # two frames: the pair clears RATIO x its floors
    assert detect_cuts(moving_texture(30, seed=0)) == []


def test_a_slow_fade_or_dissolve_is_not_reported_as_cuts():
    a, b = moving_texture(60, seed=0), moving_texture(60, seed=1)
    ramp = np.clip((np.arange(60) - 15) / 30.0, 0, 1)[:, None, None, None]  # 15 frames, a 30-frame fade, 15
    fade = np.rint(a * (1 - ramp)).astype(np.uint8)  # to black
    dissolve = np.rint(a * (1 - ramp) + b * ramp).astype(np.uint8)
    assert detect_cuts(fade) == []
    assert detect_cuts(dissolve) == []
    assert detect_cuts(fade[::-1].copy()) == []  # fade in
    # the same change made in one step is a cut
    assert detect_cuts(np.concatenate([a[:15], b[15:]])) == [15]


def test_frame_differences_and_bad_input():
    clip = moving_texture(4, seed=0)
    d = frame_differences(clip)
    assert d.hist.shape == d.luma.shape == (3,) and (d.hist >= 0).all() and (d.hist <= 1).all()
    same = frame_differences(np.repeat(clip[:1], 3, axis=0))
    assert not same.hist.any() and not same.luma.any()
    assert detect_cuts(clip[:1]) == []
    with pytest.raises(OptionError, match="^frames must be uint8"):
        detect_cuts(clip.astype(np.float32))
    with pytest.raises(OptionError, match="^ratio must be > 1"):
        detect_cuts(clip, ratio=1.0)
