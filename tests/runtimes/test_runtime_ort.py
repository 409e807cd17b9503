"""vinr_zoo/runtimes/ort.py (and the trt placeholder): one decoder, several runtimes."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import onnxruntime
import pytest
import torch
from typer.testing import CliRunner

from vinr_zoo import SineMLP, SineMLPConfig, SourceVideo
from vinr_zoo.cli import app
from vinr_zoo.decode import decode, open_backend, resolve_source
from vinr_zoo.errors import ModelLoadError, RuntimeUnavailable, VinrError
from vinr_zoo.export.onnx import build_onnx, export_onnx
from vinr_zoo.runtimes import available_backends, backend_class
from vinr_zoo.runtimes.ort import OrtBackend, max_supported_opset
from vinr_zoo.runtimes.pyt import TorchBackend

SOURCE = SourceVideo(width=48, height=36, frames=5, fps=24.0, name="synthetic")


def make_model(width: int = 48, layers: int = 3, seed: int = 0) -> SineMLP:
    torch.manual_seed(seed)
    model = SineMLP(SineMLPConfig(hidden_features=width, hidden_layers=layers, source=SOURCE)).eval()
    with torch.no_grad():  # outputs spanning [-1, 1] like a fitted model, so 8-bit comparisons mean something
        model.head.weight.mul_(10.0)
    return model


def rand_coords(n: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """(model, dir without model.onnx, dir with model.onnx, a lone copy of that model.onnx)."""
    model = make_model()
    base = tmp_path_factory.mktemp("ort")
    plain = model.save_pretrained(base / "plain")
    with_onnx = model.save_pretrained(base / "with_onnx")
    export_onnx(model, with_onnx)
    lone = base / "lone" / "clip.onnx"
    lone.parent.mkdir()
    shutil.copy(with_onnx / "model.onnx", lone)
    return model, plain, with_onnx, lone


def test_backends_are_registered():
    assert backend_class("ort") is OrtBackend
    assert {"torch", "ort", "trt"} <= set(available_backends())


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_ort_matches_torch_backend(model_dirs, threads):
    model, *_ = model_dirs
    coords = rand_coords(10_000 + 17)  # not a multiple of the chunk size
    with TorchBackend(model) as ref_backend:
        ref = ref_backend.infer(coords)
    data = build_onnx(model).SerializeToString()
    with OrtBackend(data, threads=threads, chunk=1000) as backend:
        got = backend.infer(coords)
        assert "CPU" in backend.describe()
        assert backend.infer(coords[:1]).shape == (1, 3)
        assert backend.infer(coords[:0]).shape == (0, 3)
    assert got.dtype == torch.float32 and got.shape == (coords.shape[0], 3)
    assert float((got - ref).abs().max()) <= 1e-4
    # Concurrent chunks give the very same numbers as sequential ones (each chunk is computed alike).
    with OrtBackend(data, threads=1, chunk=1000) as seq:
        assert torch.equal(seq.infer(coords), got)


def test_from_source_uses_model_onnx_or_exports_in_memory(model_dirs):
    _, plain, with_onnx, lone = model_dirs
    b1 = open_backend(resolve_source(plain), "ort")
    assert callable(b1.model) and "exported in memory" in b1.label  # a loader: exported when the runner opens
    b2 = open_backend(resolve_source(with_onnx), "ort")
    assert b2.model == with_onnx / "model.onnx"
    coords = rand_coords(3000)
    with b1, b2:
        assert torch.equal(b1.infer(coords), b2.infer(coords))


def test_decode_ort_matches_torch_after_8bit(model_dirs, tmp_path):
    _, plain, with_onnx, lone = model_dirs
    kw = dict(scale_s=1.5, scale_t=2.5, frames=4)
    decode(plain, tmp_path / "torch.npy", runtime="torch", **kw)
    decode(plain, tmp_path / "ort_mem.npy", runtime="ort", **kw)
    decode(lone, tmp_path / "ort_lone.npy", runtime="ort", **kw)
    ref = np.load(tmp_path / "torch.npy")
    assert ref.shape == (4, round(36 * 1.5), round(48 * 1.5), 3) and ref.dtype == np.uint8
    assert ref.std() > 20  # a real picture, not a flat grey that would make the comparison trivial
    for name in ("ort_mem.npy", "ort_lone.npy"):
        got = np.load(tmp_path / name)
        same = np.all(got == ref, axis=-1).mean()
        assert same >= 0.999, (name, same)
        assert np.abs(got.astype(int) - ref.astype(int)).max() <= 1


def test_bare_onnx_resolves_from_metadata(model_dirs):
    model, _, _, lone = model_dirs
    src = resolve_source(lone)
    assert src.model is None and src.onnx_path == lone
    assert src.config == model.config and src.config.source.fps == 24.0
    with pytest.raises(VinrError, match="holds no torch weights"):
        src.require_model()


def test_bare_onnx_not_onnx_and_missing(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_text("not a model")
    with pytest.raises(ModelLoadError, match="is not an ONNX model"):
        resolve_source(bad)
    with pytest.raises(ModelLoadError, match="cannot be loaded by onnxruntime"):
        OrtBackend(bad).open()
    with pytest.raises(ModelLoadError, match="not found"):
        OrtBackend(tmp_path / "missing.onnx").open()


def test_missing_onnxruntime_gives_install_hint(monkeypatch, model_dirs):
    _, _, with_onnx, _ = model_dirs
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` raise ImportError
    with pytest.raises(RuntimeUnavailable) as info:
        OrtBackend(with_onnx / "model.onnx").open()
    msg = str(info.value)
    assert "onnxruntime" in msg and "pip install 'vinr-zoo[onnx]'" in msg
    assert max_supported_opset() is None
    res = CliRunner().invoke(app, ["decode", str(with_onnx), "-o", str(with_onnx / "x.npy"), "--runtime", "ort", "-q"])
    assert res.exit_code == 1 and res.output.count("error:") == 1 and "onnxruntime" in res.output


@pytest.mark.skipif(
    {"CUDAExecutionProvider", "TensorrtExecutionProvider"} & set(onnxruntime.get_available_providers()),
    reason="this onnxruntime has a GPU execution provider",
)
def test_cuda_without_onnxruntime_gpu(model_dirs):
    _, _, with_onnx, _ = model_dirs
    with pytest.raises(RuntimeUnavailable, match="needs onnxruntime-gpu"):
        OrtBackend(with_onnx / "model.onnx", device="cuda").open()


def test_bad_options():
    with pytest.raises(VinrError, match="chunk must be positive"):
        OrtBackend(b"", chunk=0)
    with pytest.raises(VinrError, match="cpu or cuda"):
        OrtBackend(b"", device="mps")
    with pytest.raises(VinrError, match=r"\.onnx path or serialized ONNX bytes"):
        OrtBackend(make_model())


def test_trt_without_tensorrt_is_one_clear_line(model_dirs, tmp_path, monkeypatch):
    """Without the tensorrt package (made certain here, also where it is installed) the trt runtime says so.

    With or without a GPU the line names the package and the install command; tests/export/test_export_trt.py covers
    the missing-GPU wording and the real engine."""
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # `import tensorrt` raises ImportError
    _, plain, _, _ = model_dirs
    backend = open_backend(resolve_source(plain), "trt")
    with pytest.raises(RuntimeUnavailable, match=r"^the trt runtime needs (the tensorrt package|an NVIDIA GPU)"):
        backend.open()
    res = CliRunner().invoke(app, ["decode", str(plain), "-o", str(tmp_path / "x.npy"), "--runtime", "trt", "-q"])
    assert res.exit_code == 1, res.output
    (line,) = [line for line in res.output.splitlines() if "error:" in line]
    assert line.startswith("error: the trt runtime needs ") and "tensorrt package" in line, line
    assert "pip install 'vinr-zoo[trt]'" in line, line
    assert not (tmp_path / "x.npy").exists()


def test_cli_decode_with_ort(model_dirs, tmp_path):
    _, plain, _, lone = model_dirs
    runner = CliRunner()
    res = runner.invoke(app, ["decode", str(lone), "-o", str(tmp_path / "a.npy"), "--runtime", "ort", "-q"])
    assert res.exit_code == 0, res.output
    assert "[ort]" in res.output
    res = runner.invoke(app, ["decode", str(plain), "-o", str(tmp_path / "b.npy"), "--runtime", "ort", "-q"])
    assert res.exit_code == 0, res.output
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert a.shape == (5, 36, 48, 3) and np.array_equal(a, b)


def test_stale_model_onnx_is_refused(tmp_path):
    first = make_model()
    d = first.save_pretrained(tmp_path / "m")
    export_onnx(first, d)
    refit = make_model(seed=4)
    refit.config.training = {"steps": 10}  # a new fit writes a new training summary into config.json
    refit.save_pretrained(d)
    with pytest.raises(ModelLoadError, match="not exported from the config.json beside it"):
        open_backend(resolve_source(d), "ort").open()
    # The lone file still opens: it carries its own config.
    with OrtBackend(d / "model.onnx") as backend:
        assert backend.infer(rand_coords(10)).shape == (10, 3)
