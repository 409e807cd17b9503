"""Bad inputs through the real CLI: each one exits non-zero with exactly one ``error:`` line on
stderr naming the problem, no traceback (unless ``--debug``), and nothing left at the output path.

The table is built once per module from the embedded carphone-tiny model and small files written here;
Hub cases talk to the local test Hub (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from vinr_zoo.cli import app
from vinr_zoo.errors import VinrError
from vinr_zoo.zoo import get_entry

runner = CliRunner()
# huggingface_hub's LFS upload hands httpx2 a file object as `data=`; not ours to fix (as in test_hub.py).
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")
# Python objects whose unpickling creates this marker file: nothing in vinr may ever unpickle them.
MARKER = "UNPICKLED"


class _Touch:
    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (self.path,))


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result, *phrases: str) -> str:
    """The single ``error:`` line of a clean failure (no uncaught exception, no traceback)."""
    uncaught = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not uncaught, f"uncaught {result.exception!r}\n{result.stderr}"
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for phrase in phrases:
        assert phrase in lines[0], f"{phrase!r} not in {lines[0]!r}"
    return lines[0]


def assert_nothing_at(*paths: Path) -> None:
    """No file or folder at ``paths``, and no temporary sibling (``.NAME.*``) left beside them."""
    for path in paths:
        assert not path.exists(), f"{path} was left behind"
        if path.parent.is_dir():
            leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")]
            leftovers += [p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.stem}.")]
            assert not leftovers, f"temporary files left beside {path}: {leftovers}"


# ---- material ------------------------------------------------------------------------------------------
def _model_copy(root: Path, name: str) -> Path:
    out = root / name
    shutil.copytree(get_entry("carphone-tiny").path, out)
    return out


def _edit_config(model_dir: Path, **changes) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    for key, value in changes.items():
        if value is KeyError:
            config.pop(key)
        else:
            config[key] = value
    (model_dir / "config.json").write_text(json.dumps(config))


def _edit_weights(model_dir: Path, edit) -> None:
    state = load_file(str(model_dir / "model.safetensors"))
    edit(state)
    save_file(state, str(model_dir / "model.safetensors"))


def _onnx_proto():
    from vinr_zoo.export.onnx import build_onnx
    from vinr_zoo.models import SineMLP

    return build_onnx(SineMLP.from_pretrained(get_entry("carphone-tiny").path))


def _external_onnx(folder: Path, location: str, data_at: Path) -> Path:
    """model.onnx in ``folder`` whose weights live in an external file named ``location`` (stored at ``data_at``)."""
    import onnx
    from onnx import TensorProto

    proto = _onnx_proto()
    blob = bytearray()
    for tensor in proto.graph.initializer:
        raw = tensor.raw_data or onnx.numpy_helper.to_array(tensor).tobytes()
        offset = len(blob)
        blob += raw
        tensor.ClearField("raw_data")
        tensor.ClearField("float_data")
        tensor.data_location = TensorProto.EXTERNAL
        del tensor.external_data[:]
        for key, value in (("location", location), ("offset", str(offset)), ("length", str(len(raw)))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
    folder.mkdir(parents=True, exist_ok=True)
    data_at.write_bytes(bytes(blob))
    (folder / "model.onnx").write_bytes(proto.SerializeToString())
    return folder / "model.onnx"


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("bad")
    from vinr_zoo.video import sample_clip

    m = SimpleNamespace(root=root, marker=root / MARKER)
    m.notes = root / "notes.txt"
    m.notes.write_text("a text file, not a video\n")
    # ---- videos
    m.text_mp4 = root / "text.mp4"
    m.text_mp4.write_text("hello, I am not an mp4\n")
    m.trunc_mp4 = root / "truncated.mp4"
    m.trunc_mp4.write_bytes(sample_clip("carphone").read_bytes()[:4096])
    m.empty_mp4 = root / "empty.mp4"
    m.empty_mp4.write_bytes(b"")
    m.zero_y4m = root / "zero.y4m"  # a valid stream header, no frames
    m.zero_y4m.write_bytes(b"YUV4MPEG2 W64 H48 F25:1 Ip A1:1 C420jpeg\n")
    m.zero_npy = root / "zero.npy"
    np.save(m.zero_npy, np.zeros((0, 8, 8, 3), np.uint8))
    m.no_frames_dir = root / "no_frames"
    m.no_frames_dir.mkdir()
    m.one_y4m = root / "one.y4m"  # three 1x1 frames
    m.one_y4m.write_bytes(b"YUV4MPEG2 W1 H1 F25:1 Ip A1:1 C444\n" + b"FRAME\n\x80\x80\x80" * 3)
    m.one_npy = root / "one.npy"
    np.save(m.one_npy, np.zeros((3, 1, 1, 3), np.uint8))
    m.pickle_npy = root / "objects.npy"
    np.save(m.pickle_npy, np.array([_Touch(m.marker)], dtype=object), allow_pickle=True)

    # ---- model directories
    m.model = _model_copy(root, "good")
    m.missing_tensor = _model_copy(root, "missing_tensor")
    _edit_weights(m.missing_tensor, lambda s: s.pop("layers.1.linear.weight"))
    m.extra_tensor = _model_copy(root, "extra_tensor")
    _edit_weights(m.extra_tensor, lambda s: s.update(surprise=torch.zeros(4)))
    m.misshaped = _model_copy(root, "misshaped")
    _edit_weights(m.misshaped, lambda s: s.update({"head.weight": torch.zeros(3, 7)}))
    m.nan_tensor = _model_copy(root, "nan_tensor")
    _edit_weights(m.nan_tensor, lambda s: s["head.bias"].fill_(float("nan")))
    m.int_tensor = _model_copy(root, "int_tensor")
    _edit_weights(m.int_tensor, lambda s: s.update({"head.bias": torch.zeros(3, dtype=torch.int64)}))
    weights = (m.model / "model.safetensors").read_bytes()
    m.truncated = _model_copy(root, "truncated")
    (m.truncated / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    m.corrupt_header = _model_copy(root, "corrupt_header")
    (m.corrupt_header / "model.safetensors").write_bytes(b"\xff" * 8 + weights[8:])
    m.zero_weights = _model_copy(root, "zero_weights")
    (m.zero_weights / "model.safetensors").write_bytes(b"")
    m.pickled = _model_copy(root, "pickled")  # torch.save-style pickle where safetensors belong
    (m.pickled / "model.safetensors").write_bytes(pickle.dumps({"head.bias": _Touch(m.marker)}))
    m.no_weights = _model_copy(root, "no_weights")
    (m.no_weights / "model.safetensors").unlink()
    m.no_config = _model_copy(root, "no_config")
    (m.no_config / "config.json").unlink()
    m.bad_json = _model_copy(root, "bad_json")
    (m.bad_json / "config.json").write_text('{"schema_version": 1, "hidden_features": ')
    m.binary_config = _model_copy(root, "binary_config")
    (m.binary_config / "config.json").write_bytes(b"\xff\xfe\x00\x01")
    m.future = _model_copy(root, "future")
    _edit_config(m.future, schema_version=99, a_field_from_the_future={"x": 1})
    m.no_schema = _model_copy(root, "no_schema")
    _edit_config(m.no_schema, schema_version=KeyError)
    m.too_wide = _model_copy(root, "too_wide")
    _edit_config(m.too_wide, hidden_features=10**9)
    m.nan_omega = _model_copy(root, "nan_omega")
    _edit_config(m.nan_omega, first_omega_0=float("nan"))  # json writes NaN, json reads it back
    m.string_layers = _model_copy(root, "string_layers")
    _edit_config(m.string_layers, hidden_layers="3")
    m.huge_int = _model_copy(root, "huge_int")
    _edit_config(m.huge_int, time_omega_0=10**400)
    m.deep_json = _model_copy(root, "deep_json")
    (m.deep_json / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    m.not_a_dir = root / "model_file"
    m.not_a_dir.write_text("I am a file")

    # ---- ONNX files
    m.text_onnx = root / "text.onnx"
    m.text_onnx.write_text("this is not a protobuf\n")
    m.empty_onnx = root / "empty.onnx"
    m.empty_onnx.write_bytes(b"")
    proto = _onnx_proto()
    proto.graph.input[0].name = "x"
    for node in proto.graph.node:
        node.input[:] = ["x" if name == "coords" else name for name in node.input]
    m.wrong_input = root / "wrong_input.onnx"
    m.wrong_input.write_bytes(proto.SerializeToString())
    proto = _onnx_proto()
    proto.graph.output[0].type.tensor_type.shape.dim[0].dim_value = 4096
    m.fixed_n = root / "fixed_n.onnx"
    m.fixed_n.write_bytes(proto.SerializeToString())
    proto = _onnx_proto()
    del proto.metadata_props[:]
    m.no_meta = root / "no_meta.onnx"
    m.no_meta.write_bytes(proto.SerializeToString())
    # External data: a real, loadable weights file one folder up, or at an absolute path.
    m.escape_onnx = _external_onnx(root / "escape", "../secret.bin", root / "secret.bin")
    m.absolute_onnx = _external_onnx(root / "absolute", str(root / "secret2.bin"), root / "secret2.bin")
    m.inside_onnx = _external_onnx(root / "inside", "weights.bin", root / "inside" / "weights.bin")
    m.symlink_onnx = _external_onnx(root / "symlinked", "weights.bin", root / "secret4.bin")
    (root / "symlinked" / "weights.bin").symlink_to(root / "secret4.bin")
    # A model directory whose model.onnx reaches outside it, or breaks the contract (decoded with --runtime ort).
    m.dir_escape = _model_copy(root, "dir_escape")
    _external_onnx(m.dir_escape, "../secret3.bin", root / "secret3.bin")
    m.dir_contract = _model_copy(root, "dir_contract")
    shutil.copy(m.wrong_input, m.dir_contract / "model.onnx")
    return m


# ---- the table ---------------------------------------------------------------------------------------------
# (id, args built from the material and an output path, phrases the one error line must hold)
FIT = ["--steps", "2", "--width", "8", "--depth", "1", "-q"]
CASES = [
    # videos
    ("video-missing", lambda m, o: ["fit", m.root / "nope.mp4", "-o", o, *FIT], ["nope.mp4", "does not exist"]),
    ("video-text-file", lambda m, o: ["fit", m.notes, "-o", o, *FIT], ["notes.txt", "not a readable video"]),
    ("video-text-as-mp4", lambda m, o: ["fit", m.text_mp4, "-o", o, *FIT], ["text.mp4", "not a readable video"]),
    ("video-truncated-mp4", lambda m, o: ["fit", m.trunc_mp4, "-o", o, *FIT], ["truncated.mp4"]),
    ("video-empty-mp4", lambda m, o: ["fit", m.empty_mp4, "-o", o, *FIT], ["empty.mp4", "not a readable video"]),
    ("video-zero-frames-y4m", lambda m, o: ["fit", m.zero_y4m, "-o", o, *FIT], ["zero.y4m", "has no frames"]),
    ("video-zero-frames-npy", lambda m, o: ["fit", m.zero_npy, "-o", o, *FIT], ["zero.npy", "has no frames"]),
    ("video-empty-folder", lambda m, o: ["fit", m.no_frames_dir, "-o", o, *FIT], ["no PNG or JPEG frames"]),
    ("video-1x1-y4m", lambda m, o: ["fit", m.one_y4m, "-o", o, *FIT], ["is 1x1", "at least 2x2"]),
    ("video-1x1-npy", lambda m, o: ["fit", m.one_npy, "-o", o, *FIT], ["is 1x1", "at least 2x2"]),
    ("video-pickled-npy", lambda m, o: ["fit", m.pickle_npy, "-o", o, *FIT], ["objects.npy", "not a readable .npy"]),
    ("video-unknown-sample", lambda m, o: ["fit", "sample:nosuch", "-o", o, *FIT], ["unknown sample clip"]),
    ("fit-frames-0", lambda m, o: ["fit", "sample:carphone", "--frames", "0", "-o", o, *FIT], ["--frames"]),
    (
        "fit-size-malformed",
        lambda m, o: ["fit", "sample:carphone", "--size", "44by36", "-o", o, *FIT],
        ["'44by36'", "WIDTHxHEIGHT"],
    ),
    (
        "fit-width-0",
        lambda m, o: ["fit", "sample:carphone", "--frames", "2", "-o", o, *FIT, "--width", "0"],
        ["--width must be a positive integer"],
    ),
    (
        "fit-omega-t-nan",
        lambda m, o: ["fit", "sample:carphone", "--frames", "2", "-o", o, *FIT, "--omega-t", "nan"],
        ["--omega-t must be a finite number > 0"],
    ),
    # scales
    *[
        (
            f"scale-{axis}-{value}",
            lambda m, o, a=axis, v=value: ["decode", m.model, "-o", o, f"--scale-{a}", v],
            [f"--scale-{axis} must be a finite number > 0"],
        )
        for axis in ("s", "t")
        for value in ("0", "-1", "-0.5", "nan", "inf", "-inf")
    ],
    (
        "scale-s-too-wide",
        lambda m, o: ["decode", m.model, "-o", o, "--scale-s", "1000"],
        ["width would be 88000 pixels", "over the limit of 32768", "--roi"],
    ),
    (
        "scale-s-1e308",
        lambda m, o: ["decode", m.model, "-o", o, "--scale-s", "1e308"],
        ["width would be inf pixels", "--roi"],
    ),
    (
        "scale-t-too-many-frames",
        lambda m, o: ["decode", m.model, "-o", o, "--scale-t", "1e7"],
        ["would give 7e+07 output frames", "over the limit", "--frames"],
    ),
    (
        "scale-t-1e308",
        lambda m, o: ["decode", m.model, "-o", o, "--scale-t", "1e308"],
        ["inf output frames", "--frames"],
    ),
    (
        "scale-too-many-pixels",
        lambda m, o: ["decode", m.model, "-o", o, "--scale-s", "300", "--scale-t", "1000"],
        ["26400x21600x7001 = 3.99e+12 pixels", "limit of 1e+12", "--roi", "--frames"],
    ),
    # --size, --roi, --time-range, --frames
    *[
        (f"size-{text or 'empty'}", lambda m, o, t=text: ["decode", m.model, "-o", o, "--size", t], [f"size {text!r}"])
        for text in ("12by10", "0x5", "-3x4", "10x10x10", "x", "", "1.5x2")
    ],
    ("roi-three-numbers", lambda m, o: ["decode", m.model, "-o", o, "--roi", "1,2,3"], ["--roi '1,2,3'", "X,Y,W,H"]),
    ("roi-nan", lambda m, o: ["decode", m.model, "-o", o, "--roi", "0,0,nan,4"], ["--roi"]),
    ("roi-outside", lambda m, o: ["decode", m.model, "-o", o, "--roi", "80,0,20,20"], ["inside the 88x72 source"]),
    ("roi-empty", lambda m, o: ["decode", m.model, "-o", o, "--roi", "0,0,0,10"], ["positive size"]),
    ("time-range-reversed", lambda m, o: ["decode", m.model, "-o", o, "--time-range", "5:2"], ["time range 5..2"]),
    ("time-range-beyond", lambda m, o: ["decode", m.model, "-o", o, "--time-range", "0:8"], ["source has 8 frames"]),
    ("time-range-words", lambda m, o: ["decode", m.model, "-o", o, "--time-range", "a:b"], ["--time-range 'a:b'"]),
    ("frames-0", lambda m, o: ["decode", m.model, "-o", o, "--frames", "0"], ["frames must be a positive integer"]),
    ("batch-0", lambda m, o: ["decode", m.model, "-o", o, "--batch", "0"], ["--batch must be positive"]),
    # model directories
    ("model-missing", lambda m, o: ["decode", m.root / "nomodel", "-o", o], ["nomodel", "does not exist"]),
    ("model-is-a-file", lambda m, o: ["decode", m.not_a_dir, "-o", o], ["model_file", "not a model directory"]),
    ("weights-missing-tensor", lambda m, o: ["decode", m.missing_tensor, "-o", o], ["missing layers.1.linear.weight"]),
    ("weights-extra-tensor", lambda m, o: ["decode", m.extra_tensor, "-o", o], ["unexpected surprise"]),
    ("weights-misshaped", lambda m, o: ["decode", m.misshaped, "-o", o], ["head.weight has shape (3, 7)", "(3, 32)"]),
    ("weights-nan", lambda m, o: ["decode", m.nan_tensor, "-o", o], ["head.bias holds NaN or inf"]),
    ("weights-int", lambda m, o: ["decode", m.int_tensor, "-o", o], ["head.bias is torch.int64"]),
    ("weights-truncated", lambda m, o: ["decode", m.truncated, "-o", o], ["not a readable safetensors file"]),
    ("weights-corrupt-header", lambda m, o: ["decode", m.corrupt_header, "-o", o], ["not a readable safetensors"]),
    ("weights-empty", lambda m, o: ["decode", m.zero_weights, "-o", o], ["not a readable safetensors file"]),
    ("weights-pickle", lambda m, o: ["decode", m.pickled, "-o", o], ["not a readable safetensors file"]),
    ("weights-absent", lambda m, o: ["decode", m.no_weights, "-o", o], ["model.safetensors is missing"]),
    ("config-absent", lambda m, o: ["decode", m.no_config, "-o", o], ["config.json is missing"]),
    ("config-bad-json", lambda m, o: ["decode", m.bad_json, "-o", o], ["not valid JSON"]),
    ("config-binary", lambda m, o: ["decode", m.binary_config, "-o", o], ["config.json"]),
    ("config-future-schema", lambda m, o: ["decode", m.future, "-o", o], ["schema_version 99 is newer", "upgrade"]),
    ("config-no-schema", lambda m, o: ["decode", m.no_schema, "-o", o], ["missing schema_version"]),
    (
        "config-too-wide",
        lambda m, o: ["decode", m.too_wide, "-o", o],
        ["hidden_features must be an integer in [1, 4096]"],
    ),
    ("config-nan-omega", lambda m, o: ["decode", m.nan_omega, "-o", o], ["first_omega_0 must be a finite number"]),
    ("config-string-layers", lambda m, o: ["decode", m.string_layers, "-o", o], ["hidden_layers must be an integer"]),
    ("config-huge-int", lambda m, o: ["decode", m.huge_int, "-o", o], ["time_omega_0 must be a finite number"]),
    ("config-deep-nesting", lambda m, o: ["decode", m.deep_json, "-o", o], ["nested too deeply"]),
    # ONNX files
    ("onnx-text", lambda m, o: ["decode", m.text_onnx, "-o", o], ["text.onnx is not an ONNX model"]),
    ("onnx-empty", lambda m, o: ["decode", m.empty_onnx, "-o", o], ["empty.onnx is not an ONNX model"]),
    (
        "onnx-wrong-input",
        lambda m, o: ["decode", m.wrong_input, "-o", o],
        ["does not follow the ONNX contract", "input is named 'x'"],
    ),
    ("onnx-fixed-n", lambda m, o: ["decode", m.fixed_n, "-o", o], ["fixed first dimension 4096"]),
    ("onnx-no-metadata", lambda m, o: ["decode", m.no_meta, "-o", o], ["no vinr_zoo.config entry"]),
    (
        "onnx-external-escape",
        lambda m, o: ["decode", m.escape_onnx, "-o", o, "--runtime", "ort"],
        ["'../secret.bin', outside the model's folder"],
    ),
    (
        "onnx-external-absolute",
        lambda m, o: ["decode", m.absolute_onnx, "-o", o, "--runtime", "ort"],
        ["secret2.bin', outside the model's folder"],
    ),
    (
        "onnx-external-symlink",
        lambda m, o: ["decode", m.symlink_onnx, "-o", o, "--runtime", "ort"],
        ["'weights.bin', outside the model's folder"],
    ),
    (
        "onnx-dir-escape-ort",
        lambda m, o: ["decode", m.dir_escape, "-o", o, "--runtime", "ort"],
        ["cannot be loaded by onnxruntime", "outside the model's folder"],
    ),
    (
        "onnx-dir-contract-ort",
        lambda m, o: ["decode", m.dir_contract, "-o", o, "--runtime", "ort"],
        ["does not follow the ONNX contract"],
    ),
    # outputs that cannot be written
    (
        "out-under-a-file-npy",
        lambda m, o: ["decode", m.model, "-o", m.notes / "out.npy"],
        ["notes.txt is not a folder"],
    ),
    (
        "out-under-a-file-mp4",
        lambda m, o: ["decode", m.model, "-o", m.notes / "out.mp4"],
        ["notes.txt is not a folder"],
    ),
    ("out-under-a-file-png", lambda m, o: ["decode", m.model, "-o", m.notes / "frames"], ["notes.txt is not a folder"]),
    ("out-deep-under-a-file", lambda m, o: ["decode", m.model, "-o", m.notes / "a" / "b.npy"], ["cannot"]),
    ("out-proc-npy", lambda m, o: ["decode", m.model, "-o", "/proc/vinr-test-out.npy"], ["cannot write /proc/"]),
    ("out-proc-mp4", lambda m, o: ["decode", m.model, "-o", "/proc/vinr-test-out.mp4"], ["cannot write /proc/"]),
    ("out-suffix", lambda m, o: ["decode", m.model, "-o", o.with_suffix(".avi")], ["use .mp4/.mkv/.mov"]),
    (
        "fit-out-under-a-file",
        lambda m, o: ["fit", "sample:carphone", "--frames", "2", "-o", m.notes / "m", *FIT],
        ["notes.txt is not a folder"],
    ),
    (
        "fit-out-proc",
        lambda m, o: ["fit", "sample:carphone", "--frames", "2", "-o", "/proc/vinr-test-fit", *FIT],
        ["cannot write /proc/vinr-test-fit"],
    ),
    ("export-out-under-a-file", lambda m, o: ["export", m.model, "-o", m.notes / "e"], ["notes.txt is not a folder"]),
    ("export-out-proc", lambda m, o: ["export", m.model, "-o", "/proc/vinr-test-export"], ["/proc/vinr-test-export"]),
    ("pull-out-under-a-file", lambda m, o: ["pull", m.model, "-o", m.notes / "p"], ["notes.txt is not a folder"]),
    ("pull-out-proc", lambda m, o: ["pull", m.model, "-o", "/proc/vinr-test-pull"], ["/proc/vinr-test-pull"]),
]


@pytest.mark.parametrize("case_id,build,phrases", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(bad, tmp_path, case_id, build, phrases):
    out = tmp_path / "out.npy" if build(bad, tmp_path / "x")[0] == "decode" else tmp_path / "out"
    notes = bad.notes.read_bytes()
    result = invoke(*build(bad, out))
    one_error_line(result, *phrases)
    assert_nothing_at(out, out.with_suffix(".avi"))
    assert list(tmp_path.iterdir()) == [], "the command wrote something"
    assert bad.notes.read_bytes() == notes
    assert not bad.marker.exists(), "a pickle was unpickled"
    for name in ("vinr-test-out.npy", "vinr-test-out.mp4", "vinr-test-fit", "vinr-test-export", "vinr-test-pull"):
        assert not os.path.lexists(f"/proc/{name}")


def test_the_hints_in_the_size_limit_message_work(bad, tmp_path):
    """The too-large message suggests --roi and --frames; with them the same scales render."""
    out = tmp_path / "zoom.npy"
    result = invoke(
        "decode", bad.model, "-o", out, "--scale-s", "300", "--scale-t", "1000", "--roi", "10,20,2,1", "--frames", "3"
    )
    assert result.exit_code == 0, result.output
    assert np.load(out).shape == (3, 300, 600, 3)
    result = invoke("decode", bad.model, "-o", tmp_path / "t.npy", "--scale-t", "1e7", "--time-range", "2:2.00001")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "t.npy").shape == (101, 72, 88, 3)


def test_external_data_inside_the_models_folder_still_loads(bad, tmp_path):
    """The external-data check refuses only what leaves the folder: the same weights beside the file decode."""
    ref, ext = tmp_path / "ref.npy", tmp_path / "ext.npy"
    assert invoke("decode", bad.model, "-o", ref, "--frames", "2", "--runtime", "ort").exit_code == 0
    result = invoke("decode", bad.inside_onnx, "-o", ext, "--frames", "2", "--runtime", "ort")
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(ref), np.load(ext))


def test_unparsable_option_values_are_click_usage_errors(bad, tmp_path):
    """Values click itself cannot parse get its usage block (exit 2): acceptable, as long as no traceback."""
    for args in (["--scale-s", "abc"], ["--frames", "two"], ["--runtime", "tpu"]):
        result = invoke("decode", bad.model, "-o", tmp_path / "o.npy", *args)
        assert result.exit_code == 2, (args, result.output)
        assert result.exception is None or (isinstance(result.exception, SystemExit) and result.exception.code == 2)
        assert "Traceback" not in result.stderr and args[0] in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_debug_shows_the_traceback_instead(bad, tmp_path):
    result = invoke("--debug", "decode", bad.truncated, "-o", tmp_path / "o.npy")
    assert isinstance(result.exception, VinrError) and "not a readable safetensors" in str(result.exception)
    assert not (tmp_path / "o.npy").exists()


# ---- existing outputs -----------------------------------------------------------------------------------------
def test_existing_outputs_are_kept_without_overwrite(bad, tmp_path):
    frames = tmp_path / "frames.npy"
    frames.write_bytes(b"precious")
    fitted = tmp_path / "fitted"
    fitted.mkdir()
    (fitted / "notes.md").write_text("precious")
    exported = tmp_path / "exported"
    exported.mkdir()
    (exported / "model.onnx").write_bytes(b"precious")
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    (pulled / "config.json").write_text("precious")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    cases = [
        (["decode", bad.model, "-o", frames], "frames.npy already exists"),
        (["decode", bad.model, "-o", frames, "--frames", "1"], "--overwrite"),
        (["fit", "sample:carphone", "--frames", "2", "-o", fitted, *FIT], "fitted already exists"),
        (["export", bad.model, "-o", exported], "model.onnx already exists"),
        (["pull", bad.model, "-o", pulled], "pulled already exists"),
    ]
    for args, phrase in cases:
        one_error_line(invoke(*args), phrase, "--overwrite")
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


# ---- the real process: stderr is exactly one line --------------------------------------------------------------
@pytest.mark.parametrize(
    "kind",
    ["corrupt-weights", "too-large", "debug"],
)
def test_one_line_on_the_real_stderr(bad, tmp_path, kind):
    out = tmp_path / "o.mp4"
    args = {
        "corrupt-weights": ["decode", str(bad.corrupt_header), "-o", str(out)],
        "too-large": ["decode", str(bad.model), "-o", str(out), "--scale-s", "300", "--scale-t", "1000"],
        "debug": ["--debug", "decode", str(bad.corrupt_header), "-o", str(out)],
    }[kind]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "vinr_zoo.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 1 and proc.stdout == ""
    if kind == "debug":
        assert "Traceback" in proc.stderr and "ModelLoadError" in proc.stderr
    else:
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
    assert_nothing_at(out)


# ---- the Hub ---------------------------------------------------------------------------------------------------
@pytest.fixture
def pushed(hub, monkeypatch, tmp_path) -> SimpleNamespace:
    """A public and a private repo of alice's on the test Hub, each holding the carphone-tiny model."""
    from vinr_zoo import publish as vhub

    monkeypatch.setenv("HF_TOKEN", hub.tokens["alice"])
    public, private = (f"alice/bad-{uuid.uuid4().hex[:10]}" for _ in range(2))
    model = get_entry("carphone-tiny").path
    commit = vhub.push(model, public).commit
    vhub.push(model, private, private=True)
    return SimpleNamespace(public=public, private=private, commit=commit)


def test_hub_errors_are_one_line_and_write_nothing(hub, pushed, monkeypatch, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"

    def check(args, *phrases):
        one_error_line(invoke(*args), *phrases)
        assert_nothing_at(out)

    check(["pull", "alice/no-such-model", "--cache-dir", cache, "-o", out], "Hub repo alice/no-such-model not found")
    check(
        ["pull", f"{pushed.public}@no-such-branch", "--cache-dir", cache, "-o", out],
        f"Hub repo {pushed.public} has no revision 'no-such-branch'",
    )
    check(["decode", f"{pushed.public}@{'0' * 40}", "-o", out.with_suffix(".npy")], "has no revision")
    check(["decode", "alice/no-such-model", "-o", out.with_suffix(".npy")], "not found")
    check(["pull", "not a repo!", "-o", out], "not an embedded zoo name", "Hub repo id")
    monkeypatch.delenv("HF_TOKEN")
    check(["pull", pushed.private, "--cache-dir", cache, "-o", out], "private", "HF_TOKEN")
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    check(["pull", pushed.private, "--cache-dir", cache, "-o", out], "rejected the token")
    monkeypatch.setenv("HF_TOKEN", hub.tokens["bob"])  # a valid token without access to alice's private repo
    check(["pull", pushed.private, "--cache-dir", cache, "-o", out], "not found", "no access")

    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    check(
        ["pull", pushed.public, "--cache-dir", tmp_path / "empty", "-o", out],
        "not in the local Hub cache",
        "HF_HUB_OFFLINE",
    )


def test_hub_downloads_are_hash_checked(pushed, monkeypatch, tmp_path):
    """A cached blob that no longer matches its sha256 / git blob id is refused, online and offline."""
    cache = tmp_path / "cache"
    assert invoke("pull", pushed.public, "--cache-dir", cache).exit_code == 0
    snapshot = cache / f"models--{pushed.public.replace('/', '--')}" / "snapshots" / pushed.commit
    for name, kind in (("model.safetensors", "sha256"), ("config.json", "git blob id")):
        blob = (snapshot / name).resolve()
        good = blob.read_bytes()
        damaged = bytearray(good)
        damaged[-2] ^= 0x01  # one bit: same size, so huggingface_hub's own size check cannot see it
        blob.write_bytes(bytes(damaged))
        out = tmp_path / "out"
        one_error_line(
            invoke("pull", pushed.public, "--cache-dir", cache, "-o", out), name, kind, "does not match", "pull again"
        )
        assert_nothing_at(out)
        import huggingface_hub.constants as constants

        with monkeypatch.context() as offline:
            offline.setattr(constants, "HF_HUB_OFFLINE", True)
            one_error_line(invoke("pull", pushed.public, "--cache-dir", cache), "does not match")
        blob.write_bytes(good)
    assert invoke("pull", pushed.public, "--cache-dir", cache, "-o", tmp_path / "out").exit_code == 0
