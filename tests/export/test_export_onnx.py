"""vinr_zoo/export: the ONNX file follows the contract and reproduces torch (ORT and onnx's reference runtime)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from vinr_zoo import SineMLP, SineMLPConfig, SourceVideo
from vinr_zoo.cli import app
from vinr_zoo.contract import COORDINATE_CONVENTION, META_CONFIG, META_CONVENTION, META_PRECISION, SPEC
from vinr_zoo.errors import AtolError, ModelLoadError, OptionError, OutputExistsError, ShapeError
from vinr_zoo.export.onnx import build_onnx, default_opset, export_onnx
from vinr_zoo.export.validate import reference_evaluator_outputs, reference_outputs, validate_onnx
from vinr_zoo.onnx_file import inspect_onnx

SOURCE = SourceVideo(width=40, height=30, frames=6, fps=25.0, name="synthetic")


def make_model(width: int = 48, layers: int = 3, seed: int = 0) -> SineMLP:
    torch.manual_seed(seed)
    return SineMLP(SineMLPConfig(hidden_features=width, hidden_layers=layers, source=SOURCE)).eval()


def trained_like(width: int = 64, layers: int = 3, seed: int = 0) -> SineMLP:
    """Random SIREN init gives outputs of ~0.05; a fitted model spans [-1, 1]. Scale the head (and the
    hidden weights a little, as training does) so fp16 errors are measured at realistic magnitudes: this
    gives 1e-3..5e-3, like models fitted on carphone (0.9e-3..1.8e-3)."""
    model = make_model(width, layers, seed)
    with torch.no_grad():
        for layer in model.layers[1:]:
            layer.linear.weight.mul_(1.5)
        model.head.weight.mul_(10.0)
    out = reference_outputs(model, torch.rand(4096, 3) * 2 - 1)
    assert 0.5 < float(out.abs().max()) < 4.0  # the premise of the fp16 checks below
    return model


def rand_coords(n: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def ort_session(path) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = make_model()
    out = tmp_path_factory.mktemp("export")
    result = export_onnx(model, out, fp16=True)
    return model, out, result


# ---- the file -------------------------------------------------------------------------------------
def test_export_follows_the_contract(exported):
    model, out, result = exported
    path = out / "model.onnx"
    assert result.paths["fp32"] == path
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    # Only MatMul + Add + Sin: ω folded into the weights, no Mul, Transpose or Constant.
    assert {n.op_type for n in proto.graph.node} == {"MatMul", "Add", "Sin"}
    assert sum(n.op_type == "Sin" for n in proto.graph.node) == model.config.hidden_layers
    (inp,), (outp,) = proto.graph.input, proto.graph.output
    for vi, name in ((inp, "coords"), (outp, "rgb")):
        assert vi.name == name
        assert vi.type.tensor_type.elem_type == TensorProto.FLOAT
        dims = vi.type.tensor_type.shape.dim
        assert dims[0].dim_param == "N" and not dims[0].HasField("dim_value")
        assert dims[1].dim_value == 3
    meta = {p.key: p.value for p in proto.metadata_props}
    assert SineMLPConfig.from_json(meta[META_CONFIG]) == model.config
    assert json.loads(meta[META_CONFIG])["source"]["width"] == SOURCE.width
    assert meta[META_CONVENTION] == COORDINATE_CONVENTION and "align_corners=False" in meta[META_CONVENTION]
    assert meta[META_PRECISION] == "fp32"
    assert proto.opset_import[0].version == result.opset == default_opset() >= 17
    # One self-contained file per precision; no external data, no temp files left behind.
    assert sorted(p.name for p in out.iterdir()) == ["model.fp16.onnx", "model.onnx"]


def test_default_opset_is_the_oldest_that_expresses_the_graph():
    """Opset 17 with IR version 8: files that onnxruntime 1.17, onnxruntime-web and TensorRT all open."""
    from vinr_zoo.runtimes.ort import max_supported_opset

    assert default_opset() == 17
    proto = build_onnx(make_model(16, 2))
    assert proto.opset_import[0].version == 17 and proto.ir_version == 8
    top = max_supported_opset()
    assert top is not None and top >= 17
    if top < onnx.defs.onnx_opset_version():  # an opset onnx knows but this onnxruntime cannot run
        with pytest.raises(OptionError, match="newer than the installed onnxruntime"):
            build_onnx(make_model(16, 2), opset=top + 1)


def test_fp32_matches_torch_in_ort_and_reference_evaluator(exported):
    model, out, result = exported
    coords = rand_coords(4096)
    ref = reference_outputs(model, coords).numpy()
    got_ort = ort_session(out / "model.onnx").run(None, {"coords": coords.numpy()})[0]
    got_ref = reference_evaluator_outputs(out / "model.onnx", coords.numpy())
    err_ort = np.abs(got_ort - ref).max()
    err_ref = np.abs(got_ref - ref).max()
    assert err_ort <= 1e-4 and err_ref <= 1e-4, (err_ort, err_ref)  # measured ≈ 1e-7 for both
    report = result.validation["fp32"]
    assert report and report.max_abs <= SPEC.atol_fp32
    assert [c.inputs for c in report.checks][0] == "random" and report.checks[1].inputs.startswith("grid ")
    assert sum(c.rows for c in report.checks) > 4096


@pytest.mark.parametrize("n", [1, 7, 65536])
def test_dynamic_n(exported, n):
    model, out, _ = exported
    coords = rand_coords(n, seed=n)
    # One run() over all n rows: exercises the graph's dynamic axis, not the backend's chunking.
    got = ort_session(out / "model.onnx").run(["rgb"], {"coords": coords.numpy()})[0]
    assert got.shape == (n, 3) and got.dtype == np.float32
    assert np.abs(got - reference_outputs(model, coords).numpy()).max() <= SPEC.atol_fp32


def test_opset_option(tmp_path):
    model = make_model(32, 2)
    result = export_onnx(model, tmp_path, opset=17)
    proto = onnx.load(str(tmp_path / "model.onnx"))
    assert result.opset == 17 and proto.opset_import[0].version == 17
    assert proto.ir_version == helper.find_min_ir_version_for(list(proto.opset_import))
    with pytest.raises(OptionError, match=r"^opset must be an integer in \[17, "):
        export_onnx(model, tmp_path / "other", opset=16)
    assert not (tmp_path / "other").exists()


# ---- fp16 -----------------------------------------------------------------------------------------
def test_fp16_keeps_first_layer_fp32_and_float_io(exported):
    _, out, result = exported
    proto = onnx.load(str(out / "model.fp16.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    inits = {t.name: t.data_type for t in proto.graph.initializer}
    assert inits["layers.0.weight"] == inits["layers.0.bias"] == TensorProto.FLOAT
    assert all(dt == TensorProto.FLOAT16 for name, dt in inits.items() if not name.startswith("layers.0."))
    ops = [n.op_type for n in proto.graph.node]
    # First MatMul, Add and Sin run before the first Cast; the last node casts back to float32.
    assert ops[:4] == ["MatMul", "Add", "Sin", "Cast"] and ops[-1] == "Cast"
    assert proto.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert proto.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert {p.key: p.value for p in proto.metadata_props}[META_PRECISION] == "fp16"
    assert inspect_onnx(out / "model.fp16.onnx").precision == "fp16"
    assert result.validation["fp16"].atol == SPEC.atol_fp16


@pytest.mark.parametrize("width,layers", [(64, 3), (256, 4)])
def test_fp16_meets_its_tolerance_at_realistic_output_range(tmp_path, width, layers):
    model = trained_like(width, layers)
    proto = build_onnx(model, precision="fp16")
    data = proto.SerializeToString()
    coords = rand_coords(2048)
    ref = reference_outputs(model, coords).numpy()
    err_ort = float(np.abs(ort_session_bytes(data).run(None, {"coords": coords.numpy()})[0] - ref).max())
    # onnx's reference runtime computes in numpy float16: an independent, stricter emulation.
    err_np = float(np.abs(reference_evaluator_outputs(proto, coords[:512].numpy()) - ref[:512]).max())
    fp32_err = float(
        np.abs(
            ort_session_bytes(build_onnx(model).SerializeToString()).run(None, {"coords": coords.numpy()})[0] - ref
        ).max()
    )
    # Really lower precision (far above fp32's error), yet within the stated tolerance.
    assert fp32_err < 1e-5 < err_ort <= SPEC.atol_fp16, (fp32_err, err_ort)
    assert err_np <= SPEC.atol_fp16, err_np
    validate_onnx(model, data, precision="fp16")  # the exporter's own check passes too


def ort_session_bytes(data: bytes) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])


# ---- errors ---------------------------------------------------------------------------------------
def test_existing_output_is_refused_without_overwrite(tmp_path):
    model = make_model(32, 2)
    export_onnx(model, tmp_path, validate=False)
    before = (tmp_path / "model.onnx").read_bytes()
    other = make_model(32, 2, seed=5)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        export_onnx(other, tmp_path)
    assert (tmp_path / "model.onnx").read_bytes() == before
    export_onnx(other, tmp_path, overwrite=True)
    assert (tmp_path / "model.onnx").read_bytes() != before
    # --fp16 refuses too when only the fp16 file is new but model.onnx exists.
    with pytest.raises(OutputExistsError):
        export_onnx(other, tmp_path, fp16=True)
    assert not (tmp_path / "model.fp16.onnx").exists()


def test_failed_parity_names_the_difference_and_writes_nothing(tmp_path):
    model = make_model(32, 2)
    with pytest.raises(AtolError) as info:
        export_onnx(model, tmp_path, atol=1e-12)
    msg = str(info.value)
    assert "max abs diff" in msg and "atol 1e-12" in msg and "model.onnx" in msg
    assert info.value.atol == 1e-12 and info.value.max_abs_diff > 1e-12
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temp file


def test_validate_against_other_weights_raises_atol_error(exported):
    _, out, _ = exported
    with pytest.raises(AtolError, match=r"does not reproduce the torch model within atol 0\.0001"):
        validate_onnx(make_model(seed=9), out / "model.onnx")


def contract_breaker(kind: str) -> onnx.ModelProto:
    """A model like ours with one contract violation."""
    proto = build_onnx(make_model(32, 2), opset=17)
    if kind == "input name":
        proto.graph.input[0].name = "x"
        for node in proto.graph.node:
            node.input[:] = ["x" if i == "coords" else i for i in node.input]
    elif kind == "fixed N":
        dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
        dim.dim_value = 4096
    elif kind == "output width":
        head = proto.graph.initializer
        w = next(t for t in head if t.name == "head.weight")
        b = next(t for t in head if t.name == "head.bias")
        w.CopyFrom(numpy_helper.from_array(np.zeros((32, 4), np.float32), "head.weight"))
        b.CopyFrom(numpy_helper.from_array(np.zeros(4, np.float32), "head.bias"))
        proto.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 4
    elif kind == "dtype":
        proto.graph.output[0].type.tensor_type.elem_type = TensorProto.DOUBLE
    return proto


@pytest.mark.parametrize(
    "kind,phrase",
    [
        ("input name", "input is named 'x', expected 'coords'"),
        ("fixed N", "fixed first dimension 4096"),
        ("output width", "expected [N, 3]"),
        ("dtype", "is float64, expected float32"),
    ],
)
def test_wrong_io_contract_raises_shape_error(tmp_path, kind, phrase):
    path = tmp_path / "bad.onnx"
    path.write_bytes(contract_breaker(kind).SerializeToString())
    with pytest.raises(ShapeError, match="does not follow the ONNX contract") as info:
        inspect_onnx(path)
    assert phrase in str(info.value)
    if kind != "dtype":  # ORT itself refuses a graph whose declared type contradicts the computation
        with pytest.raises(ShapeError, match="does not follow the ONNX contract"):
            validate_onnx(make_model(32, 2), path)


@pytest.mark.parametrize("content", [b"hello, this is not a model\n", b"\x00\x01\x02" * 50, b""])
def test_a_file_that_is_not_onnx(tmp_path, content):
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match="is not an ONNX model"):
        inspect_onnx(path)
    with pytest.raises(ModelLoadError, match="cannot be loaded by onnxruntime"):
        validate_onnx(make_model(32, 2), path)


def test_onnx_without_our_metadata(tmp_path):
    proto = build_onnx(make_model(32, 2))
    del proto.metadata_props[:]
    path = tmp_path / "plain.onnx"
    path.write_bytes(proto.SerializeToString())
    with pytest.raises(ModelLoadError, match="no vinr_zoo.config entry in metadata_props"):
        inspect_onnx(path)


# ---- CLI ------------------------------------------------------------------------------------------
runner = CliRunner()


@pytest.fixture()
def model_dir(tmp_path):
    return make_model(32, 2).save_pretrained(tmp_path / "model")


def test_cli_export(model_dir, tmp_path):
    out = tmp_path / "out"
    res = runner.invoke(app, ["export", str(model_dir), "-o", str(out), "--fp16"])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and "max abs diff" in res.output and "fp16" in res.output
    assert (out / "model.onnx").is_file() and (out / "model.fp16.onnx").is_file()

    again = runner.invoke(app, ["export", str(model_dir), "-o", str(out)])
    assert again.exit_code == 1
    assert again.output.count("error:") == 1 and "already exists" in again.output and "--overwrite" in again.output

    assert runner.invoke(app, ["export", str(model_dir), "-o", str(out), "--overwrite"]).exit_code == 0


def test_cli_export_defaults_to_the_model_directory(model_dir):
    res = runner.invoke(app, ["export", str(model_dir), "--opset", "17", "--no-validate"])
    assert res.exit_code == 0, res.output
    assert "not validated" in res.output and "opset 17" in res.output
    assert (model_dir / "model.onnx").is_file()


@pytest.mark.parametrize(
    "args,phrase",
    [
        (["--opset", "16"], "--opset must be an integer in [17,"),
        (["--atol", "1e-12"], "atol 1e-12"),
        (["--atol", "-1"], "tolerance must be a finite number > 0"),
    ],
)
def test_cli_export_errors(model_dir, tmp_path, args, phrase):
    res = runner.invoke(app, ["export", str(model_dir), "-o", str(tmp_path / "o"), *args])
    assert res.exit_code == 1
    assert res.output.startswith("error: ") and phrase in res.output
    assert not (tmp_path / "o" / "model.onnx").exists()


def test_cli_export_missing_model(tmp_path):
    res = runner.invoke(app, ["export", str(tmp_path / "nope"), "-o", str(tmp_path / "o")])
    assert res.exit_code == 1 and res.output.count("error:") == 1 and "nope" in res.output


def test_model_without_source_video_exports_and_validates(tmp_path):
    torch.manual_seed(0)
    model = SineMLP(SineMLPConfig(hidden_features=32, hidden_layers=2)).eval()
    result = export_onnx(model, tmp_path)
    grid_check = result.validation["fp32"].checks[1]
    assert grid_check.inputs.startswith("grid 96x72x2") and grid_check.max_abs <= SPEC.atol_fp32
    assert inspect_onnx(tmp_path / "model.onnx").config.source is None
