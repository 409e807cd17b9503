"""vinr_zoo/parity.py and ``vinr parity``: torch vs other runtimes on one grid plus random coordinates."""

from __future__ import annotations

import math

import pytest
import torch
from clips import trt_usable
from typer.testing import CliRunner

from vinr_zoo import SineMLP, SineMLPConfig, SourceVideo
from vinr_zoo.cli import app
from vinr_zoo.contract import SPEC
from vinr_zoo.errors import RuntimeUnavailable, VinrError
from vinr_zoo.export.onnx import export_onnx
from vinr_zoo.parity import ParityReport, RuntimeParity, check_parity

SOURCE = SourceVideo(width=40, height=32, frames=6, fps=25.0, name="synthetic")
runner = CliRunner()


def make_model(width: int = 48, layers: int = 3, seed: int = 0) -> SineMLP:
    torch.manual_seed(seed)
    model = SineMLP(SineMLPConfig(hidden_features=width, hidden_layers=layers, source=SOURCE)).eval()
    with torch.no_grad():
        model.head.weight.mul_(10.0)  # outputs spanning [-1, 1], like a fitted model
    return model


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    base = tmp_path_factory.mktemp("parity")
    model_dir = make_model().save_pretrained(base / "model")
    export_onnx(make_model(), model_dir, fp16=True)
    # Same architecture, other weights: a file that must fail parity.
    wrong = base / "wrong"
    export_onnx(make_model(seed=7), wrong)
    # Another architecture: refused before any comparison.
    narrow = base / "narrow"
    export_onnx(make_model(width=32), narrow)
    return model_dir, wrong / "model.onnx", narrow / "model.onnx"


def test_ort_agrees_with_torch(dirs):
    model_dir, _, _ = dirs
    report = check_parity(model_dir)
    assert report, report.table()
    (r,) = report.results
    assert r.runtime == "ort" and r.precision == "fp32" and r.atol == SPEC.atol_fp32
    assert r.max_abs <= 1e-4 and r.mean_abs <= r.max_abs
    assert r.frac_8bit <= 1e-3 and r.psnr > 60
    # 60x48 at scale_s 1.5, first 3 of the frames at scale_t 2.5, plus the random coordinates.
    assert r.values == 3 * 60 * 48 * 3 + 16384 * 3
    table = report.table()
    for word in ("runtime", "max abs", "mean abs", "PSNR dB", "8-bit px differ", "ort", "ok", "onnxruntime"):
        assert word in table


def test_fp16_file_uses_the_fp16_tolerance(dirs):
    model_dir, _, _ = dirs
    report = check_parity(model_dir, onnx=model_dir / "model.fp16.onnx")
    (r,) = report.results
    assert r.precision == "fp16" and r.atol == SPEC.atol_fp16 and r.max_8bit_diff == SPEC.max_8bit_diff_fp16
    assert report and 1e-5 < r.max_abs <= SPEC.atol_fp16
    # The same file judged by fp32's tolerance fails: the check is not vacuous.
    assert not check_parity(model_dir, onnx=model_dir / "model.fp16.onnx", atol=SPEC.atol_fp32)


def test_wrong_weights_fail(dirs):
    model_dir, wrong, _ = dirs
    report = check_parity(model_dir, onnx=wrong)
    assert not report
    (r,) = report.results
    assert r.max_abs > 0.01 and r.frac_8bit > 0.01 and r.psnr < 40
    assert any("max abs error" in f for f in report.failures)
    assert any("8-bit pixels differ" in f for f in report.failures)
    assert "FAIL" in report.table()


def test_other_architecture_is_refused(dirs):
    model_dir, _, narrow = dirs
    with pytest.raises(VinrError, match="encodes a different network.*hidden_features 32 vs 48"):
        check_parity(model_dir, onnx=narrow)


def test_bad_arguments(dirs):
    model_dir, _, _ = dirs
    with pytest.raises(VinrError, match="at least one runtime"):
        check_parity(model_dir, runtimes=["torch"])
    with pytest.raises(VinrError, match="^atol must be a finite number"):
        check_parity(model_dir, atol=0.0)
    if (
        trt_usable()
    ):  # the real engine: it is compared, and agrees (tests/export/test_export_trt.py covers its failures)
        report = check_parity(model_dir, runtimes=["trt"], frames=1, n_random=1000)
        (r,) = report.results
        assert report, report.table()
        assert r.runtime == "trt" and r.precision == "fp32" and r.atol == SPEC.atol_fp32 and r.max_abs <= r.atol
    else:
        with pytest.raises(RuntimeUnavailable, match=r"^the trt runtime needs .*(tensorrt|CUDA)"):
            check_parity(model_dir, runtimes=["trt"])


def test_report_logic():
    def result(max_abs, frac):
        return RuntimeParity("ort", "", "fp32", 1e-4, 1e-3, max_abs, 0.0, math.inf, frac, 10)

    assert result(1e-5, 0.0) and not result(2e-4, 0.0) and not result(1e-5, 0.01)
    assert not result(math.nan, 0.0)  # NaN never passes
    assert not ParityReport("torch", "x")  # nothing compared is not a pass
    assert ParityReport("torch", "x", [result(1e-5, 0.0)])
    assert not ParityReport("torch", "x", [result(1e-5, 0.0), result(1.0, 0.0)])


def test_cli_parity(dirs):
    model_dir, wrong, _ = dirs
    ok = runner.invoke(app, ["parity", str(model_dir), "--frames", "2", "--random", "1000"])
    assert ok.exit_code == 0, ok.output
    assert "PSNR dB" in ok.output and "ok" in ok.output and "2 frame(s) at scale_s 1.5, scale_t 2.5" in ok.output

    bad = runner.invoke(app, ["parity", str(model_dir), "--onnx", str(wrong), "--frames", "1"])
    assert bad.exit_code == 1
    assert "FAIL" in bad.output and "error: ort: max abs error" in bad.output

    trt = runner.invoke(app, ["parity", str(model_dir), "--runtime", "trt", "--frames", "1", "--random", "1000"])
    if trt_usable():  # a real engine: compared, and within the contract
        assert trt.exit_code == 0, trt.output
        assert "trt: TensorRT" in trt.output and "FAIL" not in trt.output and "error:" not in trt.output
    else:  # one line saying what is missing, no table
        assert trt.exit_code == 1, trt.output
        (line,) = [line for line in trt.output.splitlines() if "error:" in line]
        assert line.startswith("error: the trt runtime needs ") and "pip install 'vinr-zoo[trt]'" in line, line
        assert "PSNR dB" not in trt.output


def test_cli_parity_needs_torch_weights(dirs, tmp_path):
    model_dir, _, _ = dirs
    res = runner.invoke(app, ["parity", str(model_dir / "model.onnx")])
    assert res.exit_code == 1 and "holds no torch weights" in res.output


def test_explicit_onnx_from_another_fit_is_compared_not_refused(tmp_path):
    d = make_model().save_pretrained(tmp_path / "m")
    other = make_model(seed=3)
    other.config.training = {"steps": 10}
    export_onnx(other, tmp_path / "other")
    report = check_parity(d, onnx=tmp_path / "other" / "model.onnx", frames=1, n_random=100)
    assert not report and report.results[0].max_abs > 0.01
