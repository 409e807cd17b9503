import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vinr_zoo.coords import MAX_SIDE, SpaceTimeGrid, frame_instant_to_t, pixel_centres
from vinr_zoo.errors import GridError


def test_pixel_area_centres_small_case():
    g = SpaceTimeGrid.build(4, 2, 1)
    np.testing.assert_allclose(g.xs(), [-0.75, -0.25, 0.25, 0.75], rtol=0, atol=1e-15)
    np.testing.assert_allclose(g.ys(), [-0.5, 0.5], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(g.ts(), [0.0])  # a single frame sits at t = 0


def test_non_integer_spatial_scale_covers_the_same_area():
    g = SpaceTimeGrid.build(4, 2, 1, scale_s=1.5)
    assert (g.width, g.height) == (6, 3)
    np.testing.assert_allclose(g.xs(), (2 * np.arange(6) + 1) / 6 - 1, atol=1e-15)
    # first and last centres are half an output pixel inside the borders
    assert g.xs()[0] == pytest.approx(-1 + 1 / 6) and g.xs()[-1] == pytest.approx(1 - 1 / 6)


@pytest.mark.parametrize(
    "w,h,s,expected",
    [(176, 144, 1.3, (229, 187)), (176, 144, 0.5, (88, 72)), (176, 144, 2.25, (396, 324)), (5, 3, 0.1, (1, 1))],
)
def test_output_size_rounds_w_times_scale(w, h, s, expected):
    g = SpaceTimeGrid.build(w, h, 2, scale_s=s)
    assert (g.width, g.height) == expected


def test_frame_instants_and_integer_scale_t_reproduces_source_frames():
    src = SpaceTimeGrid.build(8, 8, 5)
    np.testing.assert_array_equal(src.ts(), [-1.0, -0.5, 0.0, 0.5, 1.0])
    g = SpaceTimeGrid.build(8, 8, 5, scale_t=2)
    assert g.frames == 9
    np.testing.assert_array_equal(g.ts()[::2], src.ts())  # bit-exact, not approximately
    np.testing.assert_allclose(g.ts(), -1 + 2 * np.arange(9) / (4 * 2), atol=1e-15)
    assert g.output_fps(25.0) == pytest.approx(50.0)


def test_non_integer_scale_t_frame_count_and_instants():
    g = SpaceTimeGrid.build(8, 8, 33, scale_t=2.5)
    assert g.frames == math.floor(32 * 2.5) + 1 == 81
    np.testing.assert_allclose(g.ts(), -1 + 2 * np.arange(81) / (32 * 2.5), atol=1e-12)
    g = SpaceTimeGrid.build(8, 8, 4, scale_t=0.5)  # (T-1) * 0.5 = 1.5 -> 2 frames
    assert g.frames == 2
    np.testing.assert_allclose(g.ts(), [-1.0, -1 + 2 * 2 / 3])


def test_roi_and_time_range_are_the_same_maths_with_other_bounds():
    g = SpaceTimeGrid.build(8, 4, 9, roi=(2, 0, 4, 2), time_range=(2, 6))
    assert (g.width, g.height, g.frames) == (4, 2, 5)
    full = SpaceTimeGrid.build(8, 4, 9)
    np.testing.assert_allclose(g.xs(), full.xs()[2:6], atol=1e-15)
    np.testing.assert_allclose(g.ys(), full.ys()[0:2], atol=1e-15)
    np.testing.assert_array_equal(g.ts(), full.ts()[2:7])
    zoom = SpaceTimeGrid.build(8, 4, 9, roi=(2, 0, 4, 2), scale_s=2)
    assert (zoom.width, zoom.height) == (8, 4)
    assert zoom.xs()[0] == pytest.approx(2 * (2 + 0.25) / 8 - 1)


def test_explicit_size_and_frame_count():
    g = SpaceTimeGrid.build(176, 144, 10, width=100, height=50, frames=4)
    assert g.shape == (4, 50, 100)
    np.testing.assert_allclose(g.t_positions, [0, 3, 6, 9])
    assert g.output_fps(30.0) == pytest.approx(10.0)


def test_chunks_concatenate_to_the_whole_grid_in_t_y_x_order():
    g = SpaceTimeGrid.build(5, 3, 4, scale_s=1.4, scale_t=1.5)
    whole = g.coords(0, len(g))
    chunks = list(g.iter_chunks(7))
    assert all(c.shape[0] <= 7 for c in chunks)
    torch.testing.assert_close(torch.cat(chunks), whole, rtol=0, atol=0)
    # row-major (t, y, x): the index of pixel (t=1, y=2, x=3)
    idx = (1 * g.height + 2) * g.width + 3
    assert whole[idx].tolist() == pytest.approx([g.xs()[3], g.ys()[2], g.ts()[1]], abs=1e-7)
    torch.testing.assert_close(g.frame_coords(2), whole[2 * g.pixels_per_frame : 3 * g.pixels_per_frame])


def test_head_keeps_the_first_frames():
    g = SpaceTimeGrid.build(8, 8, 10, scale_t=3).head(4)
    assert g.frames == 4 and g.t_positions == pytest.approx([0, 1 / 3, 2 / 3, 1])


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("axis", ["scale_s", "scale_t"])
def test_bad_scales_raise_one_clear_error(axis, bad):
    with pytest.raises(GridError, match=axis):
        SpaceTimeGrid.build(176, 144, 10, **{axis: bad})


def test_absurd_outputs_are_refused_with_the_size_and_a_hint():
    with pytest.raises(GridError, match=f"over the limit of {MAX_SIDE}"):
        SpaceTimeGrid.build(176, 144, 10, scale_s=1000)
    with pytest.raises(GridError, match="--roi"):
        SpaceTimeGrid.build(1920, 1080, 1000, scale_s=10, scale_t=100)


@pytest.mark.parametrize(
    "kwargs", [{"roi": (0, 0, 0, 5)}, {"roi": (170, 0, 10, 10)}, {"time_range": (5, 2)}, {"time_range": (0, 10)}]
)
def test_bad_roi_and_time_range(kwargs):
    with pytest.raises(GridError):
        SpaceTimeGrid.build(176, 144, 10, **kwargs)


@settings(max_examples=150, deadline=None)
@given(
    w=st.integers(1, 300),
    h=st.integers(1, 300),
    t=st.integers(1, 60),
    s=st.floats(0.05, 4.0),
    st_=st.floats(0.05, 5.0),
)
def test_grid_invariants(w, h, t, s, st_):
    g = SpaceTimeGrid.build(w, h, t, scale_s=s, scale_t=st_)
    assert g.width == max(1, round(w * s)) and g.height == max(1, round(h * s))
    assert g.frames == math.floor((t - 1) * st_ + 1e-9) + 1
    for axis in (g.xs(), g.ys(), g.ts()):
        assert axis.min() >= -1 and axis.max() <= 1
    assert np.all(np.diff(g.xs()) > 0)


@settings(max_examples=100, deadline=None)
@given(t=st.integers(2, 200), k=st.integers(1, 8))
def test_integer_scale_t_hits_every_source_instant_exactly(t, k):
    g = SpaceTimeGrid.build(4, 4, t, scale_t=k)
    assert g.frames == (t - 1) * k + 1
    np.testing.assert_array_equal(g.ts()[::k], frame_instant_to_t(np.arange(t, dtype=np.float64), t))


def test_pixel_centres_formula():
    np.testing.assert_allclose(pixel_centres(3), [-2 / 3, 0, 2 / 3], atol=1e-15)


def test_an_explicit_frame_count_ends_exactly_on_the_last_instant():
    """25 source frames rendered as 342: k0 + 341 * (24 / 341) is one ulp past 24 in floating point."""
    grid = SpaceTimeGrid.build(1, 1, 25, frames=342)
    assert grid.t_positions[-1] == 24.0 and grid.ts().max() == 1.0 and grid.ts().min() == -1.0
