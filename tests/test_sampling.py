"""The fit's pixel sampler (uniform and error-guided) and learning-rate schedule, piece by piece."""

import math

import numpy as np
import pytest
import torch

from vinr_zoo.fit import FitOptions, fit_video
from vinr_zoo.fit.options import lr_at
from vinr_zoo.fit.sampling import FLOOR_LEVELS, GUIDED, LEVELS, PixelSampler
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


def test_error_sampling_draws_pixels_in_proportion_to_their_error_and_stays_inside_partial_tiles():
    video = _video()  # 10 x 7: tiles of 4 leave a 2-wide last column and a 3-high last row
    s = PixelSampler(video, torch.device("cpu"), torch.Generator().manual_seed(0), "error")
    assert (s.tiles_x, s.tiles_y) == (3, 2) and s.error.shape == (210,) and s.error.dtype == torch.uint8
    assert s.tile_weight.shape == (3 * 2 * 3,)
    # frame 1, rows 4-6, columns 8-9 (the corner tile, 6 pixels inside the frame): two hot pixels, one hotter
    hot, hotter = 1 * 70 + 5 * 10 + 9, 1 * 70 + 6 * 10 + 8
    s.error.zero_()
    s.error[hot], s.error[hotter] = 50, 150
    s.load_state(s.state())  # recomputes the tile weights from the pixels
    floor = FLOOR_LEVELS
    total = 210 * floor + 200
    n = 40000
    _, target = s.pixels_batch(n)
    idx = _drawn(target)
    guided = idx[n - int(n * GUIDED) :]
    for pixel, err in ((hot, 50), (hotter, 150)):
        assert abs(float((guided == pixel).float().mean()) - (err + floor) / total) < 0.015
    cold = (guided != hot) & (guided != hotter)
    assert abs(float(cold.float().mean()) - 208 * floor / total) < 0.015
    assert int(idx.max()) < 210 and int(idx.min()) >= 0
    # every pixel of the partial corner tile can be drawn, and nothing outside the frame
    t, rem = guided // 70, guided % 70
    y, x = rem // 10, rem % 10
    corner = (t == 1) & (y >= 4) & (x >= 8)
    assert set(((y[corner] - 4) * 2 + (x[corner] - 8)).tolist()) == set(range(6))
    # and the uniform half does not care about the error
    uniform = idx[: n - int(n * GUIDED)]
    counts = torch.bincount(uniform, minlength=210).float()  # 95 each expected, Poisson spread 9.8
    assert counts.std() < 15 and counts.max() < 150


def test_observe_replaces_visited_pixels_with_their_largest_row_error_and_state_round_trips():
    video = _video()
    s = PixelSampler(video, torch.device("cpu"), torch.Generator().manual_seed(1), "error")
    _, target = s.pixels_batch(300)
    rows = _drawn(target)
    assert torch.equal(rows, s._idx)
    errors = torch.rand(300) * 2
    s.observe(errors)
    assert len(rows.unique()) < 300  # some pixel was drawn twice
    for pixel in rows.unique():
        want = round(float(errors[rows == pixel].max()) * LEVELS)
        assert int(s.error[pixel]) == want
    untouched = torch.ones(210, dtype=torch.bool)
    untouched[rows] = False
    assert torch.all(s.error[untouched] == round(LEVELS))
    # the tile weights follow the pixels: the same as summing them from scratch
    weights = s.tile_weight.clone()
    s.load_state(s.state())
    assert torch.equal(weights, s.tile_weight)
    saved = s.state()
    other = PixelSampler(video, torch.device("cpu"), torch.Generator(), "error")
    other.load_state(saved)
    assert torch.equal(other.error, s.error) and torch.equal(other.tile_weight, s.tile_weight)
    with pytest.raises(ValueError, match="per-pixel errors of this clip's shape"):
        PixelSampler(_video(frames=2), torch.device("cpu"), torch.Generator(), "error").load_state(saved)
    with pytest.raises(ValueError, match="older vinr-zoo"):  # a checkpoint of the per-tile sampler
        other.load_state(torch.ones(18))


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


def test_the_default_loss_is_mse_and_the_loss_is_checked():
    assert FitOptions().loss == "mse" and FitOptions().final_lr_ratio == 0.01
    with pytest.raises(Exception, match="loss must be one of mse, l1, got 'huber'"):
        FitOptions(loss="huber").validate()
    with pytest.raises(Exception, match=r"final_lr_ratio must be a fraction in \[0, 1\], got 1.5"):
        FitOptions(final_lr_ratio=1.5).validate()
