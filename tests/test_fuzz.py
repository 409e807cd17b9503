"""Property tests: space-time grids with ROIs, time ranges, explicit sizes and hostile parameters, and
config.json mutations. tests/test_coords.py holds the full-frame scale properties; these add the bounds.
"""

from __future__ import annotations

import copy
import json
import math
import shutil

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vinr_zoo.coords import MAX_FRAMES, MAX_SIDE, MAX_TOTAL_PIXELS, SpaceTimeGrid, frame_instant_to_t
from vinr_zoo.errors import ConfigError, GridError, ModelLoadError, VinrError
from vinr_zoo.models import SineMLP, SineMLPConfig
from vinr_zoo.zoo import get_entry

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def bounded_grids(draw):
    """A source, a ROI inside it (fractional), a time range inside it, and non-integer scales."""
    w, h, t = draw(st.integers(1, 400)), draw(st.integers(1, 400)), draw(st.integers(1, 80))
    rx = draw(st.floats(0, w, exclude_max=True))
    ry = draw(st.floats(0, h, exclude_max=True))
    rw = (w - rx) * draw(st.floats(0.001, 1))
    rh = (h - ry) * draw(st.floats(0.001, 1))
    assume(rw > 0 and rh > 0)
    k0 = draw(st.floats(0, t - 1))
    k1 = k0 + (t - 1 - k0) * draw(st.floats(0, 1))
    return w, h, t, (rx, ry, rw, rh), (k0, min(k1, t - 1)), draw(st.floats(0.05, 4)), draw(st.floats(0.05, 5))


def assert_inside_unit_cube(grid: SpaceTimeGrid) -> None:
    for axis in (grid.xs(), grid.ys(), grid.ts()):
        assert axis.min() >= -1 and axis.max() <= 1
    last = len(grid)
    for start, stop in ((0, min(last, 64)), (max(0, last - 64), last)):  # float32 rows as a runtime sees them
        rows = grid.coords(start, stop)
        assert rows.dtype == torch.float32 and bool((rows.abs() <= 1).all())


@FUZZ
@given(bounded_grids())
def test_roi_and_time_range_grids(params):
    w, h, t, (rx, ry, rw, rh), (k0, k1), s, st_ = params
    g = SpaceTimeGrid.build(w, h, t, scale_s=s, scale_t=st_, roi=(rx, ry, rw, rh), time_range=(k0, k1))
    assert (g.width, g.height) == (max(1, round(rw * s)), max(1, round(rh * s)))
    assert g.frames == math.floor((k1 - k0) * st_ + 1e-9) + 1
    assert g.shape == (g.frames, g.height, g.width) and len(g) == g.frames * g.height * g.width
    assert_inside_unit_cube(g)
    # Pixel-area centres of the ROI: strictly inside its borders, evenly spaced, in order.
    xs, ys = g.xs(), g.ys()
    assert xs.min() > 2 * rx / w - 1 - 1e-12 and xs.max() < 2 * (rx + rw) / w - 1 + 1e-12
    assert ys.min() > 2 * ry / h - 1 - 1e-12 and ys.max() < 2 * (ry + rh) / h - 1 + 1e-12
    if g.width > 1:
        steps = np.diff(xs)
        assert np.all(steps > 0) and np.allclose(steps, 2 * rw / w / g.width, rtol=1e-6, atol=1e-12)
    # Frame instants: from k0, 1 / scale_t apart, never past k1.
    pos = np.asarray(g.t_positions)
    assert pos[0] == k0 and pos[-1] <= k1 and np.all(np.diff(pos) >= 0)
    assert g.ts()[0] == frame_instant_to_t(k0, t)
    assert g.output_fps(30.0) == pytest.approx(30.0 * st_)


@FUZZ
@given(t=st.integers(2, 120), k=st.integers(1, 8), data=st.data())
def test_integer_scale_t_over_a_time_range_hits_its_source_instants_exactly(t, k, data):
    a = data.draw(st.integers(0, t - 1))
    b = data.draw(st.integers(a, t - 1))
    g = SpaceTimeGrid.build(6, 4, t, scale_t=k, time_range=(a, b))
    assert g.frames == (b - a) * k + 1
    source = SpaceTimeGrid.build(6, 4, t).ts()
    np.testing.assert_array_equal(g.ts()[::k], source[a : b + 1])  # bit-exact, not approximately
    # head: the first n frames of the same grid, limited before anything is materialised.
    n = data.draw(st.integers(1, g.frames + 3))
    headed = SpaceTimeGrid.build(6, 4, t, scale_t=k, time_range=(a, b), head=n)
    np.testing.assert_array_equal(headed.ts(), g.ts()[:n])
    assert headed.frame_step == g.frame_step


@FUZZ
@given(bounded_grids(), st.integers(1, 300), st.integers(1, 300), st.integers(1, 40))
def test_explicit_size_and_frame_count(params, width, height, frames):
    w, h, t, (rx, ry, rw, rh), (k0, k1), _, _ = params
    assume(frames == 1 or k1 > k0)
    g = SpaceTimeGrid.build(
        w, h, t, width=width, height=height, frames=frames, roi=(rx, ry, rw, rh), time_range=(k0, k1)
    )
    assert g.shape == (frames, height, width)
    expected_x = 2 * (rx + (np.arange(width) + 0.5) * rw / width) / w - 1
    np.testing.assert_allclose(g.xs(), expected_x, rtol=0, atol=1e-12)
    pos = np.asarray(g.t_positions)
    assert pos[0] == k0
    if frames > 1:
        assert pos[-1] == pytest.approx(k1, abs=1e-9) and np.allclose(np.diff(pos), (k1 - k0) / (frames - 1))
    assert_inside_unit_cube(g)


ANY_NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**20), 10**20),
    st.sampled_from([0, -0.0, 1e-300, 1e308, 10**400, True, "2", None]),
)
SMALL_SCALE = st.floats(1e-3, 1e4)


@settings(max_examples=250, deadline=None)
@given(
    src=st.tuples(st.integers(-2, 300), st.integers(-2, 300), st.integers(-2, 60)),
    scale_s=st.one_of(SMALL_SCALE, ANY_NUMBER),
    scale_t=st.one_of(SMALL_SCALE, ANY_NUMBER),
    roi=st.one_of(st.none(), st.lists(st.one_of(st.floats(-10, 400), ANY_NUMBER), min_size=3, max_size=5)),
    time_range=st.one_of(st.none(), st.lists(st.one_of(st.floats(-3, 70), ANY_NUMBER), min_size=1, max_size=3)),
    sizes=st.tuples(*[st.one_of(st.none(), st.integers(-3, 10**12), st.sampled_from([1.5, True, "4"]))] * 3),
    head=st.one_of(st.none(), st.integers(-3, 10**9)),
)
def test_any_grid_parameters_give_a_valid_grid_or_a_grid_error(src, scale_s, scale_t, roi, time_range, sizes, head):
    width, height, frames = sizes
    try:
        g = SpaceTimeGrid.build(
            *src,
            scale_s=scale_s,
            scale_t=scale_t,
            roi=roi,
            time_range=time_range,
            width=width,
            height=height,
            frames=frames,
            head=head,
        )
    except GridError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400
        return
    assert 1 <= g.width <= MAX_SIDE and 1 <= g.height <= MAX_SIDE and 1 <= g.frames <= MAX_FRAMES
    assert len(g) <= MAX_TOTAL_PIXELS
    if head is not None:
        assert g.frames <= head
    for axis in (g.xs(), g.ys(), g.ts()):
        assert np.all(np.isfinite(axis)) and axis.min() >= -1 and axis.max() <= 1


# ---- config.json mutations ---------------------------------------------------------------------------------
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from([0, -1, 3, 4096, 4097, 64, 65, 1e4, 1e4 + 1, 10**400, -(10**30), 1e308, float("nan"), "sine_mlp"]),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
TOP_KEYS = [
    "schema_version",
    "architecture",
    "in_features",
    "out_features",
    "hidden_features",
    "hidden_layers",
    "first_omega_0",
    "hidden_omega_0",
    "time_omega_0",
    "source",
    "training",
]
SOURCE_KEYS = ["width", "height", "frames", "fps", "name", "sha256"]
MUTATIONS = st.one_of(
    st.tuples(st.just("drop"), st.sampled_from(TOP_KEYS)),
    st.tuples(st.just("drop-source"), st.sampled_from(SOURCE_KEYS)),
    st.tuples(st.just("set"), st.sampled_from(TOP_KEYS) | st.text(max_size=10), JSON_VALUES),
    st.tuples(st.just("set-source"), st.sampled_from(SOURCE_KEYS) | st.text(max_size=6), JSON_VALUES),
    st.tuples(st.just("nudge"), st.sampled_from(TOP_KEYS[2:9]), st.sampled_from([-1, 1, 2, 0.5, -0.0, 1e6])),
    st.tuples(st.just("replace"), JSON_VALUES),
)


def mutate(config: dict, mutations) -> object:
    data = copy.deepcopy(config)
    for mutation in mutations:
        kind = mutation[0]
        if kind == "replace":
            data = mutation[1]
            continue
        if not isinstance(data, dict):
            continue
        source = data.get("source")
        if kind == "drop":
            data.pop(mutation[1], None)
        elif kind == "drop-source" and isinstance(source, dict):
            source.pop(mutation[1], None)
        elif kind == "set":
            data[mutation[1]] = mutation[2]
        elif kind == "set-source" and isinstance(source, dict):
            source[mutation[1]] = mutation[2]
        elif kind == "nudge" and isinstance(data.get(mutation[1]), (int, float)):
            value = data[mutation[1]] * mutation[2]
            data[mutation[1]] = int(value) if isinstance(data[mutation[1]], int) else value
    return data


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("fuzz") / "model"
    shutil.copytree(get_entry("carphone-tiny").path, out)
    return out


@pytest.fixture(scope="module")
def base_config(model_dir) -> dict:
    return json.loads((model_dir / "config.json").read_text())


def clean(exc: BaseException) -> None:
    text = str(exc)
    assert text and "\n" not in text and len(text) < 1000, text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(MUTATIONS, min_size=1, max_size=4))
def test_config_mutations_give_a_config_error_or_a_valid_model(model_dir, base_config, mutations):
    data = mutate(base_config, mutations)
    try:
        config = SineMLPConfig.from_dict(data)
    except ConfigError as exc:
        clean(exc)
    else:  # a valid config: the network it describes can be built (on the meta device: no memory) and round-trips
        with torch.device("meta"):
            SineMLP(config)
        assert SineMLPConfig.from_json(config.to_json()).to_json() == config.to_json()

    # The same mutation through the file a user downloads: load it with the real weights beside it.
    text = json.dumps(data)
    (model_dir / "config.json").write_text(text)
    try:
        model = SineMLP.from_pretrained(model_dir)
    except (ConfigError, ModelLoadError) as exc:
        clean(exc)
        return
    out = model(torch.tensor([[0.0, 0.0, 0.0], [-1.0, 1.0, 1.0]]))
    assert out.shape == (2, model.config.out_features) and bool(torch.isfinite(out).all())


@settings(max_examples=200, deadline=None)
@given(cut=st.integers(0, 2000), junk=st.binary(max_size=8), at=st.integers(0, 2000))
def test_damaged_config_text_is_a_config_error(cut, junk, at):
    text = get_entry("carphone-tiny").path.joinpath("config.json").read_bytes()
    damaged = text[:at] + junk + text[at:cut] if cut > at else text[:cut]
    try:
        SineMLPConfig.from_json(damaged.decode("utf-8", errors="replace"))
    except ConfigError as exc:
        clean(exc)
    except VinrError as exc:  # pragma: no cover - any other typed error would also be acceptable
        clean(exc)
