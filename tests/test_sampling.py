"""The fit's pixel sampler (uniform and error-guided) and learning-rate schedule, piece by piece."""

import math

import numpy as np
import pytest
import torch

from vinr_zoo.fit import FitOptions, fit_video
from vinr_zoo.fit.options import lr_at
from vinr_zoo.fit.sampling import ERROR_FLOOR, GUIDED, PixelSampler
from vinr_zoo.video import Video


def _video(frames=3, height=7, width=10):
    """Every pixel's colour encodes its own index, so a target tells which pixel was drawn."""
    idx = np.arange(frames * height * width)
    rgb = np.stack([idx % 256, (idx // 256) % 256, idx // 65536], axis=1).astype(np.uint8)
    return Video(frames=rgb.reshape(frames, height, width, 3), fps=25.0, name="grid")


def _drawn(target):
    u8 = torch.round((target + 1) * 127.5).long()
    return u8[:, 0] + 256 * u8[:, 1] + 65536 * u8[:, 2]


def test_uniform_sampling_draws_every_pixel_about_equally_and_coords_match_targets():
    video = _video()
    s = PixelSampler(video, torch.device("cpu"), torch.Generator().manual_seed(0), "uniform")
    coords, target = s.pixels_batch(21000)
    idx = _drawn(target)
    counts = torch.bincount(idx, minlength=210).float()
    assert counts.min() > 60 and counts.max() < 140  # 100 expected each
    t, rem = idx // 70, idx % 70
    y, x = rem // 10, rem % 10
    assert torch.allclose(coords[:, 0], (2 * x + 1) / 10 - 1) and torch.allclose(coords[:, 1], (2 * y + 1) / 7 - 1)
    assert torch.allclose(coords[:, 2], t.float() - 1)  # 3 frames: t = -1, 0, 1
    assert s.state() is None


def test_error_sampling_goes_where_the_error_is_and_stays_inside_partial_tiles():
    video = _video()  # 10 x 7: tiles of 4 leave a 2-wide last column and a 3-high last row
    s = PixelSampler(video, torch.device("cpu"), torch.Generator().manual_seed(0), "error")
    assert (s.tiles_x, s.tiles_y) == (3, 2) and s.error.shape == (3 * 2 * 3,)
    s.error.zero_()
    hot = 1 * 6 + 1 * 3 + 2  # frame 1, tile row 1, tile column 2: rows 4-6, columns 8-9
    s.error[hot] = 1.0
    n = 20000
    _, target = s.pixels_batch(n)
    idx = _drawn(target)
    guided = idx[n - int(n * GUIDED) :]
    t, rem = guided // 70, guided % 70
    y, x = rem // 10, rem % 10
    in_hot = (t == 1) & (y >= 4) & (x >= 8)
    share = (1.0 + ERROR_FLOOR) / (1.0 + ERROR_FLOOR * 18)  # the hot tile's probability
    assert abs(float(in_hot.float().mean()) - share) < 0.02
    assert int(idx.max()) < 210 and int(idx.min()) >= 0
    # the hot tile's 6 pixels are all drawn, and nothing outside the frame
    assert set(((y[in_hot] - 4) * 2 + (x[in_hot] - 8)).tolist()) == set(range(6))
    # and the uniform half does not care about the error
    uniform = idx[: n - int(n * GUIDED)]
    counts = torch.bincount(uniform, minlength=210).float()  # 47.6 each expected, Poisson spread 6.9
    assert counts.std() < 10 and counts.max() < 80


def test_observe_replaces_visited_tiles_with_their_rows_mean_error_and_state_round_trips():
    video = _video()
    s = PixelSampler(video, torch.device("cpu"), torch.Generator().manual_seed(1), "error")
    _, target = s.pixels_batch(64)
    tiles = s._tiles.clone()
    errors = torch.rand(64)
    s.observe(errors)
    for tile in tiles.unique():
        assert s.error[tile] == pytest.approx(float(errors[tiles == tile].mean()), abs=1e-6)
    untouched = torch.ones(len(s.error), dtype=torch.bool)
    untouched[tiles] = False
    assert torch.all(s.error[untouched] == 1.0)
    saved = s.state()
    other = PixelSampler(video, torch.device("cpu"), torch.Generator(), "error")
    other.load_state(saved)
    assert torch.equal(other.error, s.error)
    with pytest.raises(ValueError, match="tile errors"):
        PixelSampler(_video(frames=2), torch.device("cpu"), torch.Generator(), "error").load_state(saved)


def test_the_sampling_option_changes_the_fit_and_is_recorded(tmp_path):
    video = _video(frames=4, height=16, width=16)
    opts = dict(hidden_features=16, hidden_layers=2, steps=20, batch_size=512, seed=0, precision="fp32")
    a = fit_video(video, FitOptions(sampling="error", **opts), tmp_path / "a")
    b = fit_video(video, FitOptions(sampling="uniform", **opts), tmp_path / "b")
    assert a.model.config.training["sampling"] == "error" and b.model.config.training["sampling"] == "uniform"
    assert not torch.equal(a.model.layers[0].linear.weight, b.model.layers[0].linear.weight)
    with pytest.raises(Exception, match="sampling"):
        FitOptions(sampling="importance").validate()


def test_learning_rate_warms_up_then_decays_on_a_cosine_to_the_final_ratio():
    o = FitOptions(lr=1e-3, warmup_steps=20, final_lr_ratio=0.05)
    assert lr_at(o, 0.0, 0) == pytest.approx(1e-3 / 20)
    assert lr_at(o, 0.0, 19) == pytest.approx(1e-3)
    assert lr_at(o, 0.5, 500) == pytest.approx(1e-3 * (0.05 + 0.95 * 0.5))
    assert lr_at(o, 1.0, 1000) == pytest.approx(5e-5)
    assert lr_at(o, 2.0, 2000) == pytest.approx(5e-5)  # past the budget: the floor, never negative
    assert lr_at(FitOptions(schedule="constant", lr=1e-4), 0.7, 3) == 1e-4
    assert all(lr_at(o, p / 10, 100 + p) >= lr_at(o, (p + 1) / 10, 101 + p) for p in range(10))
    assert math.isclose(lr_at(o, 0.25, 100), 1e-3 * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi / 4))))
