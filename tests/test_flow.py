"""vinr_zoo.flow against exact ground truth: a smooth synthetic texture translated by a known sub-pixel shift."""

import sys

import numpy as np
import pytest

from vinr_zoo.errors import OptionError, RuntimeUnavailable
from vinr_zoo.flow import backward_warp, consistency_mask, dis_flow, flow_available, intermediate_flows, interpolate
from vinr_zoo.metrics import psnr

pytest.importorskip("cv2")

H, W, MARGIN = 96, 128, 12  # the interior leaves out MARGIN px where the shifted texture enters or leaves
SHIFT = (2.4, -1.3)  # (dx, dy) pixels


def texture(shift=(0.0, 0.0), h=H, w=W, seed=0) -> np.ndarray:
    """uint8 RGB: a sum of sinusoids (periods ~10 px and up, so neither flat nor aliased) sampled at
    ``p - shift``, i.e. ``texture(d)(p + d) == texture()(p)`` exactly, before the 8-bit rounding."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    x, y = x - shift[0], y - shift[1]
    out = np.zeros((h, w, 3))
    for c in range(3):
        for _ in range(6):
            fx, fy = rng.uniform(-0.6, 0.6, 2)
            out[..., c] += np.sin(fx * x + fy * y + rng.uniform(0, 2 * np.pi))
    return np.clip(np.rint(127.5 + 20 * out), 0, 255).astype(np.uint8)


def interior(a: np.ndarray) -> np.ndarray:
    return a[MARGIN:-MARGIN, MARGIN:-MARGIN]


def test_dis_recovers_a_known_subpixel_translation_in_the_interior():
    a, b = texture(), texture(SHIFT)
    f_ab = dis_flow(a, b)
    assert f_ab.shape == (H, W, 2) and f_ab.dtype == np.float32
    # a(p) = b(p + flow(p)): the flow from a to b is +SHIFT (measured: mean error 0.02 px, max 0.06)
    err = np.linalg.norm(interior(f_ab) - np.float32(SHIFT), axis=-1)
    assert err.mean() < 0.1 and err.max() < 0.25, (err.mean(), err.max())
    err_back = np.linalg.norm(interior(dis_flow(b, a)) + np.float32(SHIFT), axis=-1)
    assert err_back.mean() < 0.1 and err_back.max() < 0.25


def test_dis_flow_of_identical_frames_is_zero_and_tiny_frames_work():
    a = texture()
    assert np.abs(dis_flow(a, a)).max() < 1e-3
    small = texture(h=6, w=9)  # under DIS's own 12 px minimum: padded for DIS, cropped back
    assert dis_flow(small, small).shape == (6, 9, 2)


def test_backward_warp_undoes_the_shift_and_is_exact_on_the_grid():
    a, b = texture(), texture(SHIFT)
    true = np.broadcast_to(np.float32(SHIFT), (H, W, 2))
    warped = backward_warp(b.astype(np.float32) / 255.0, true)
    assert warped.shape == (H, W, 3) and warped.dtype == np.float32
    assert psnr(interior(warped), interior(a) / 255.0) > 40  # measured 46.9 dB (bilinear on 10 px periods)
    img = np.random.default_rng(1).random((7, 5, 2)).astype(np.float32)
    assert np.array_equal(backward_warp(img, np.zeros((7, 5, 2), np.float32)), img)
    one_right = np.zeros((7, 5, 2), np.float32)
    one_right[..., 0] = 1.0
    out = backward_warp(img, one_right)
    np.testing.assert_allclose(out[:, :-1], img[:, 1:], atol=1e-6)  # sample at x + 1
    np.testing.assert_allclose(out[:, -1], img[:, -1], atol=1e-6)  # clamped to the border
    half = backward_warp(img[..., 0], one_right * 0.5)  # [H, W] images too; bilinear halfway
    np.testing.assert_allclose(half[:, :-1], (img[:, :-1, 0] + img[:, 1:, 0]) / 2, atol=1e-6)


def test_consistency_mask_passes_a_consistent_pair_and_flags_a_contradicting_one():
    a, b = texture(), texture(SHIFT)
    f_ab, f_ba = dis_flow(a, b), dis_flow(b, a)
    mask = consistency_mask(f_ab, f_ba)
    assert mask.shape == (H, W) and mask.dtype == bool and interior(mask).all()
    assert not consistency_mask(f_ab, f_ab).any()  # a→b→a by +2 shifts of 2.7 px lands 5.5 px away
    # the rule: |f_ab(p) + f_ba(p + f_ab(p))| <= tol + rel (|f_ab| + |f_ba|)
    zero, off = np.zeros((4, 4, 2), np.float32), np.full((4, 4, 2), 0.6, np.float32)  # |e| = 0.85
    assert consistency_mask(zero, off, tol=1.0, rel=0.0).all()
    assert not consistency_mask(zero, off, tol=0.5, rel=0.0).any()
    assert consistency_mask(zero, off, tol=0.5, rel=0.5).all()  # 0.5 + 0.5 * 0.85 >= 0.85


def test_intermediate_flows_are_exact_for_a_constant_translation():
    f01 = np.broadcast_to(np.float32(SHIFT), (3, 3, 2))
    f_t0, f_t1 = intermediate_flows(f01, -f01, 0.25)
    np.testing.assert_allclose(f_t0, -0.25 * f01, atol=1e-6)  # the instant tau sits tau·d past frame 0
    np.testing.assert_allclose(f_t1, 0.75 * f01, atol=1e-6)


def test_interpolate_halfway_beats_a_linear_blend_by_a_wide_margin():
    a, b, mid = texture(), texture(SHIFT), texture((SHIFT[0] / 2, SHIFT[1] / 2))
    out = interpolate(a, b, 0.5)
    assert out.shape == (H, W, 3) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    blend = (a / 255.0 + b / 255.0) / 2
    got, base = psnr(interior(out), interior(mid) / 255.0), psnr(interior(blend), interior(mid) / 255.0)
    assert got > 42 and got > base + 10, (got, base)  # measured 48.3 vs 31.3 dB
    flows = (dis_flow(a, b), dis_flow(b, a))
    assert np.array_equal(interpolate(a, b, 0.5, flows), out)  # given flows are the ones it would compute
    assert psnr(interior(interpolate(a, b, 0.5, flows, visibility=True)), interior(mid) / 255.0) > 42
    assert np.array_equal(interpolate(a, b, 0.0), a / np.float32(255))
    assert np.array_equal(interpolate(a, b, 1.0), b / np.float32(255))


def test_flow_refuses_bad_arguments_with_typed_errors():
    a = texture()
    with pytest.raises(OptionError, match="^b must have the shape"):
        dis_flow(a, a[:10])
    with pytest.raises(OptionError, match="^a must be a uint8"):
        dis_flow(a.astype(np.float32), a)
    with pytest.raises(OptionError, match="^tau must be in"):
        interpolate(a, a, 1.5)
    with pytest.raises(OptionError, match="^flow must be"):
        backward_warp(a.astype(np.float32), np.zeros((3, 3, 2)))


def test_missing_opencv_is_one_line_with_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` now raises ImportError
    a = texture(h=16, w=16)
    with pytest.raises(RuntimeUnavailable) as info:
        dis_flow(a, a)
    message = str(info.value)
    assert "\n" not in message and "pip install 'vinr-zoo[flow]'" in message
    assert not flow_available()
    # warping needs only numpy: given flows still interpolate
    zero = np.zeros((16, 16, 2), np.float32)
    assert interpolate(a, a, 0.5, (zero, zero)).shape == (16, 16, 3)
    with pytest.raises(RuntimeUnavailable):
        interpolate(a, a, 0.5)


def test_non_finite_flows_are_refused():
    flow = np.zeros((4, 4, 2), np.float32)
    flow[1, 2, 0] = np.nan
    with pytest.raises(OptionError, match="^flow has NaN"):
        backward_warp(np.zeros((4, 4, 3), np.float32), flow)
