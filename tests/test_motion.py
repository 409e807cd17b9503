"""The motion MLP family (key frames + flow): files, CLI fit / export / parity / decode, resume, real motion."""

import json

import numpy as np
import pytest
import torch
from clips import assert_same_weights, carphone_path, carphone_small, fit_interrupted_then_resumed
from typer.testing import CliRunner

from vinr_zoo.cli import app
from vinr_zoo.errors import VinrError
from vinr_zoo.export.onnx import build_onnx
from vinr_zoo.fit import FitOptions, fit_video
from vinr_zoo.models import SineMLPConfig, VinrModel
from vinr_zoo.models.motion import MotionMLP, MotionMLPConfig, budget_split
from vinr_zoo.video import read_video, sample_clip

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _tiny(key_frames=4, seed=0):
    torch.manual_seed(seed)
    model = MotionMLP(
        MotionMLPConfig(hidden_features=16, hidden_layers=2, flow_features=8, flow_layers=2, key_frames=key_frames)
    )
    with torch.no_grad():  # visible flows, so that a wrong warp shows
        model.flow.head.weight.normal_(0, 0.05)
        model.flow.head.bias.normal_(0, 0.05)
    return model.eval()


def test_save_load_round_trip(tmp_path):
    model = _tiny()
    model.save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["architecture"] == "motion_mlp" and cfg["key_frames"] == 4
    loaded = VinrModel.from_pretrained(tmp_path / "m")
    assert isinstance(loaded, MotionMLP) and loaded.config == model.config
    x = torch.rand(500, 3) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_key_instants_are_the_key_network_and_the_floor_is_continuous():
    model = _tiny(key_frames=5)
    ts = torch.linspace(-1, 1, 5)
    x = torch.rand(400, 3) * 2 - 1
    x[:, 2] = ts.repeat(80)
    with torch.no_grad():
        assert torch.allclose(model(x), model.key(x), atol=1e-6)
        assert torch.allclose(model.fit_forward(x, "fp32"), model(x), atol=1e-6)
        below, above = x.clone(), x.clone()
        below[:, 2] -= 1e-6
        above[:, 2] += 1e-6
        assert (model(below.clamp(-1, 1)) - model(above.clamp(-1, 1))).abs().max() < 1e-3


def test_parameters_match_a_sine_mlp_within_ten_percent_and_decode_cost_is_bounded():
    for w, n in ((256, 4), (128, 3), (512, 5)):
        kw, dw, dl = budget_split(w, n)
        cfg = MotionMLPConfig(hidden_features=kw, hidden_layers=n, flow_features=dw, flow_layers=dl, key_frames=8)
        sine = SineMLPConfig(hidden_features=w, hidden_layers=n)
        assert abs(cfg.num_params / sine.num_params - 1) < 0.1, (w, n, cfg.num_params, sine.num_params)
        assert cfg.num_params == MotionMLP(cfg).num_params
        sine_macs = 3 * w + (n - 1) * w * w + 3 * w
        assert cfg.macs_per_pixel / sine_macs < 2.5


def test_onnx_graph_uses_plain_operators_and_matches_torch():
    import onnxruntime as ort

    model = _tiny(key_frames=6)
    proto = build_onnx(model, opset=17)
    assert {n.op_type for n in proto.graph.node} <= {
        "MatMul",
        "Add",
        "Mul",
        "Sub",
        "Sin",
        "Floor",
        "Clip",
        "Slice",
        "Concat",
    }
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = torch.rand(5000, 3) * 2 - 1
    x[:60, 2] = torch.linspace(-1, 1, 6).repeat(10)  # exactly on the key instants (the floor's edges)
    with torch.no_grad():
        want = model(x).numpy()
    got = session.run(None, {"coords": x.numpy()})[0]
    assert np.abs(got - want).max() < 1e-5
    with pytest.raises(VinrError, match="fp32 only"):
        build_onnx(model, precision="fp16")


def test_cli_fit_export_parity_and_decode_at_non_integer_scales(tmp_path):
    d = tmp_path / "m"
    result = run(
        "fit",
        carphone_path(),
        "-o",
        d,
        "--arch",
        "motion_mlp",
        "--frames",
        4,
        "--size",
        "44x36",
        "--width",
        16,
        "--depth",
        2,
        "--steps",
        30,
        "--batch-size",
        2048,
        "--seed",
        1,
    )
    assert result.exit_code == 0, result.output
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["architecture"] == "motion_mlp" and cfg["key_frames"] == 4 and cfg["source"]["width"] == 44
    result = run("export", d, "-o", d)
    assert result.exit_code == 0, result.output
    assert (d / "model.onnx").is_file()
    result = run("parity", d, "--frames", 2, "--random", 1000)
    assert result.exit_code == 0, result.output
    assert "ok" in result.output and "FAIL" not in result.output
    outs = {}
    for runtime in ("torch", "ort"):
        out = tmp_path / f"{runtime}.npy"
        result = run("decode", d, "-o", out, "--scale-s", 1.5, "--scale-t", 2.5, "--runtime", runtime)
        assert result.exit_code == 0, result.output
        outs[runtime] = np.load(out)
    assert outs["torch"].shape == (8, 54, 66, 3)  # 3 source gaps at 2.5 -> 8 instants; 44x36 at 1.5
    assert np.mean(outs["torch"] != outs["ort"]) < 1e-3


def _opts(**kw):
    base = dict(
        arch="motion_mlp",
        hidden_features=16,
        hidden_layers=2,
        steps=20,
        batch_size=2048,
        chunk_size=1024,
        checkpoint_every=10,
    )
    base.update(kw)
    return FitOptions(**base)


def test_resume_continues_bit_exactly(tmp_path):
    straight, resumed = fit_interrupted_then_resumed(carphone_small(4), _opts(), tmp_path)
    assert isinstance(resumed.model, MotionMLP)
    assert_same_weights(straight.model, resumed.model)


def test_a_short_fit_on_bikes_moves_like_dis_between_the_fitted_frames(tmp_path):
    """In-between instants: the model's displacement toward the previous fitted frame vs DIS's (Super SloMo)."""
    from vinr_zoo.models.motion import _dis

    clip = read_video(sample_clip("bikes"), frames=13, size=(160, 68))
    from vinr_zoo.video import Video

    kept = Video(frames=np.ascontiguousarray(clip.frames[::4]), fps=clip.fps / 4, name=clip.name)
    result = fit_video(kept, _opts(hidden_features=32, hidden_layers=3, steps=150, batch_size=4096), tmp_path / "b")
    model = result.model
    T, H, W = kept.num_frames, kept.height, kept.width
    xs = (2 * np.arange(W) + 1) / W - 1
    ys = (2 * np.arange(H) + 1) / H - 1
    gx, gy = np.meshgrid(xs, ys)
    tau = 0.5
    ours, theirs = [], []
    for k in range(T - 1):
        t = -1 + 2 * (k + tau) / (T - 1)
        coords = torch.tensor(np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, t)], 1), dtype=torch.float32)
        t0, t1, tt, _ = model._timing(coords[:, 2:3])
        with torch.no_grad():
            _, _, _, f = model._render(coords[:, :2], t0, t1, tt, t0, t1)
        d0 = (f[:, 0:2] * tt).numpy() * np.array([W / 2, H / 2])
        ours.append(np.linalg.norm(d0, axis=1).mean())
        f01, f10 = _dis(kept.frames[k], kept.frames[k + 1]), _dis(kept.frames[k + 1], kept.frames[k])
        ft0 = -(1 - tau) * tau * f01 + tau * tau * f10
        theirs.append(np.linalg.norm(ft0.reshape(-1, 2), axis=1).mean())
    ours, theirs = float(np.mean(ours)), float(np.mean(theirs))
    assert theirs > 1.0  # bikes moves: more than a pixel at the mid-point
    print(f"mean displacement at tau = 0.5: model {ours:.2f} px, DIS {theirs:.2f} px")
    assert 0.5 < ours / theirs < 2.0, (ours, theirs)


def test_a_fit_without_opencv_is_one_line_naming_the_extra(monkeypatch, tmp_path):
    import sys

    from vinr_zoo.errors import RuntimeUnavailable

    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 raises ImportError
    with pytest.raises(RuntimeUnavailable, match=r"pip install 'vinr-zoo\[flow\]'"):
        fit_video(carphone_small(4), _opts(steps=2), tmp_path / "m")
