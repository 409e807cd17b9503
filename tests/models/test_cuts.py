"""Scene cuts: recorded in config.json, snapped to the nearer frame (never a blend of two shots), the same in
torch and ONNX for both families, and a real fit and render of bikes 0-60 through the CLI (cut at frame 30)."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from vinr_zoo.cli import app
from vinr_zoo.config import SourceVideo
from vinr_zoo.errors import ConfigError, OptionError
from vinr_zoo.export.onnx import build_onnx
from vinr_zoo.fit import FitOptions
from vinr_zoo.models import SineMLP, SineMLPConfig, VinrModel, load_config
from vinr_zoo.models.cuts import CUT_GAP, SceneTime
from vinr_zoo.models.motion import MotionMLP, MotionMLPConfig

runner = CliRunner()
T = 15


def _t(k):
    """Normalised t of frame positions ``k`` of a T-frame clip, ``[N, 1]``."""
    return torch.tensor(2.0 * np.asarray(k, np.float64) / (T - 1) - 1.0, dtype=torch.float32)[:, None]


def _source(cuts, frames=T):
    return SourceVideo(24, 16, frames, 25.0, "clip", "", list(cuts))


def _sine(cuts):
    torch.manual_seed(0)
    return SineMLP(SineMLPConfig(hidden_features=24, hidden_layers=2, source=_source(cuts))).eval()


def _motion(cuts):
    torch.manual_seed(0)
    model = MotionMLP(
        MotionMLPConfig(hidden_features=24, hidden_layers=2, flow_features=8, key_frames=T, source=_source(cuts))
    )
    with torch.no_grad():  # visible flows: a wrong warp or blend shows
        model.flow.head.weight.normal_(0, 0.3)
    return model.eval()


def _at(model, positions, xy):
    n = len(xy)
    with torch.no_grad():
        return [model(torch.cat((xy, _t([k] * n)), dim=1)) for k in positions]


def test_snap_goes_to_the_nearer_frame_inside_a_cut_interval_only():
    st = SceneTime(T, [7])
    k = [3.0, 3.4, 6.0, 6.2, 6.49, 6.5, 6.9, 7.0, 9.5]
    snapped = st.snap(_t(k))
    want = _t([3.0, 3.4, 6.0, 6.0, 6.0, 7.0, 7.0, 7.0, 9.5])
    assert torch.allclose(snapped, want, atol=1e-6)
    # shots after the cut sit CUT_GAP further along the network's time input
    assert torch.allclose(
        st.network_time(_t(k)) - want, torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 1.0])[:, None] * CUT_GAP, atol=1e-6
    )
    assert torch.equal(SceneTime(T).snap(_t(k)), _t(k))  # no cuts: the identity


@pytest.mark.parametrize("family", [_sine, _motion])
def test_nothing_is_blended_across_a_cut_and_onnx_agrees(family):
    model = family([7, 11])
    xy = torch.rand(256, 2) * 2 - 1
    f6, f62, f68, f7, f105 = _at(model, [6.0, 6.2, 6.8, 7.0, 10.5], xy)
    assert torch.allclose(f62, f6, atol=1e-5) and torch.allclose(f68, f7, atol=1e-5)
    assert (f6 - f7).abs().max() > 1e-2  # two different shots, so the snap is visible
    f10, f11 = _at(model, [10.0, 11.0], xy)
    assert (f105 - f10).abs().max() > 1e-3  # the cut at 11 snaps 10.5 to 11, not to 10
    assert torch.allclose(f105, f11, atol=1e-5)

    import onnxruntime as ort

    session = ort.InferenceSession(build_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"])
    coords = torch.rand(4096, 3) * 2 - 1
    with torch.no_grad():
        want = model(coords).numpy()
    assert np.abs(session.run(None, {"coords": coords.numpy()})[0] - want).max() < 1e-4


def test_without_cuts_the_graph_has_no_extra_node():
    ops = {n.op_type for n in build_onnx(_sine([])).graph.node}
    assert ops == {"MatMul", "Add", "Sin"}
    assert {"Gather", "Floor"} <= {n.op_type for n in build_onnx(_sine([7])).graph.node}


def test_scene_cuts_round_trip_and_are_left_out_when_empty(tmp_path):
    _sine([7, 11]).save_pretrained(tmp_path / "cut")
    _sine([]).save_pretrained(tmp_path / "plain")
    assert json.loads((tmp_path / "cut" / "config.json").read_text())["source"]["scene_cuts"] == [7, 11]
    assert "scene_cuts" not in json.loads((tmp_path / "plain" / "config.json").read_text())["source"]
    loaded = VinrModel.from_pretrained(tmp_path / "cut")
    assert loaded.scene_time.cuts == [7, 11]


@pytest.mark.parametrize(
    "cuts, problem",
    [([0], "not a frame index in [1, 14]"), ([15], "not a frame index"), ([9, 4], "strictly increasing"),
     (["7"], "not a frame index"), ([True], "not a frame index"), (7, "must be a list")],
)  # fmt: skip
def test_bad_scene_cuts_in_config_json_are_refused(tmp_path, cuts, problem):
    _sine([]).save_pretrained(tmp_path / "m")
    path = tmp_path / "m" / "config.json"
    data = json.loads(path.read_text())
    data["source"]["scene_cuts"] = cuts
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="scene_cuts") as info:
        load_config(tmp_path / "m")
    assert problem in str(info.value)


def test_motion_model_needs_its_key_frames_to_be_the_source_frames():
    with pytest.raises(ConfigError, match="key_frames"):
        MotionMLP(MotionMLPConfig(hidden_features=8, hidden_layers=1, key_frames=5, source=_source([7])))


@pytest.mark.parametrize("value", ["sometimes", [0], [5, 3], [2.5]])
def test_fit_options_check_scene_cuts(value):
    with pytest.raises(OptionError, match="scene_cuts"):
        FitOptions(scene_cuts=value).validate()


def test_cli_rejects_bad_scene_cuts(tmp_path):
    r = runner.invoke(app, ["fit", "sample:carphone", "-o", str(tmp_path / "m"), "--scene-cuts", "3,x"])
    assert r.exit_code != 0 and "--scene-cuts" in r.output and "3,x" in r.output
    r = runner.invoke(
        app, ["fit", "sample:carphone", "-o", str(tmp_path / "m"), "--frames", "4", "--steps", "1", "--scene-cuts", "9"]
    )
    assert r.exit_code != 0 and "--scene-cuts" in r.output and "past the clip's last frame (3)" in r.output
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("arch", ["sine_mlp", "motion_mlp"])
def test_bikes_0_to_60_fits_with_its_cut_and_renders_no_blend_across_it(tmp_path, arch):
    """The shipped bikes clip cuts to another shot at frame 30: detected, recorded, and never cross-faded."""
    model = tmp_path / "bikes"
    r = runner.invoke(
        app,
        ["fit", "sample:bikes", "--frames", "61", "--size", "64x28", "--width", "32", "--depth", "2",
         "--steps", "25", "--arch", arch, "-o", str(model), "-q"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads((model / "config.json").read_text())["source"]["scene_cuts"] == [30]
    info = runner.invoke(app, ["info", str(model)])
    assert info.exit_code == 0 and "scene cuts: new shots at frames 30" in info.output
    out = tmp_path / "x2.npy"
    r = runner.invoke(
        app,
        ["decode", str(model), "--scale-t", "2", "--time-range", "28:32", "--runtime", "ort", "-o", str(out)],
    )
    assert r.exit_code == 0, r.output
    frames = np.load(out).astype(np.int16)  # instants 28, 28.5, ..., 32
    assert frames.shape[0] == 9
    diff = lambda a, b: np.abs(frames[a] - frames[b]).mean()  # noqa: E731
    assert diff(3, 4) < 0.5  # 29.5 renders frame 30 (the new shot) ...
    assert diff(2, 3) > 5.0  # ... not a blend with frame 29 (the old shot)
    # within a shot an in-between instant is neither neighbour
    assert diff(4, 5) > 0.0 and diff(5, 6) > 0.0
