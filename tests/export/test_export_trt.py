"""vinr_zoo/export/trt.py and vinr_zoo/runtimes/trt.py: TensorRT engines and the ``trt`` runtime.

TensorRT and a CUDA GPU are absent on the development machines, so most tests run against a fake
``tensorrt`` module (tests/fakes/fake_tensorrt.py; tests named ``fake_trt`` take the fixture from
tests/conftest.py) that records the builder calls and runs the engine's ONNX graph in numpy, honouring the
layer precisions it was given. Only ``test_gpu_*`` uses the real thing; under ``-m gpu`` they fail rather
than skip where tensorrt or the GPU is missing (tests/gpu_gate.py).
"""

from __future__ import annotations

import contextlib
import json
import sys

import numpy as np
import pytest
import torch
from fakes.fake_tensorrt import FAKE_GPU_CAPABILITY, FAKE_GPU_NAME, FAKE_VERSION, LayerType, fake_gpu, make_fake_trt
from typer.testing import CliRunner

from vinr_zoo import SineMLP, SineMLPConfig, SourceVideo
from vinr_zoo.cli import app
from vinr_zoo.contract import SPEC
from vinr_zoo.decode import open_backend, resolve_source
from vinr_zoo.errors import ModelLoadError, OutputExistsError, RuntimeUnavailable, ShapeError, VinrError
from vinr_zoo.export.onnx import build_onnx, export_onnx
from vinr_zoo.export.trt import (
    BatchProfile,
    EngineInfo,
    EngineMismatch,
    GpuInfo,
    build_engine_bytes,
    check_engine,
    engine_file_name,
    export_engine,
    metadata_path,
    read_engine_info,
    require_tensorrt,
)
from vinr_zoo.export.validate import reference_outputs
from vinr_zoo.runtimes import backend_class
from vinr_zoo.runtimes.trt import TrtBackend

SOURCE = SourceVideo(width=24, height=16, frames=4, fps=24.0, name="synthetic")
FAKE_GPU = GpuInfo(FAKE_GPU_NAME, ".".join(map(str, FAKE_GPU_CAPABILITY)))
runner = CliRunner()


def make_model(width: int = 32, layers: int = 3, seed: int = 0) -> SineMLP:
    torch.manual_seed(seed)
    model = SineMLP(SineMLPConfig(hidden_features=width, hidden_layers=layers, source=SOURCE)).eval()
    with torch.no_grad():  # outputs spanning [-1, 1] like a fitted model
        model.head.weight.mul_(10.0)
    return model


def rand_coords(n: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def one_error_line(res) -> str:
    assert res.exit_code == 1, res.output
    lines = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, res.output
    return lines[0]


@pytest.fixture()
def model_dir(tmp_path):
    return make_model().save_pretrained(tmp_path / "model")


# ---- profile arithmetic ----------------------------------------------------------------------------
def test_default_profile_is_the_convention():
    p = BatchProfile()
    assert (p.min, p.opt, p.max) == (1, 65536, 1048576)
    assert p.shapes() == ((1, 3), (65536, 3), (1048576, 3))


@pytest.mark.parametrize(
    "args,phrase",
    [
        ((8, 4, 16), "min <= opt <= max"),
        ((1, 32, 16), "min <= opt <= max"),
        ((0, 4, 16), "min_batch must be an integer"),
        ((1, 4, 2.5), "max_batch must be an integer"),
        ((1, 4, 1 << 40), "max_batch must be an integer"),
        ((True, 4, 16), "min_batch must be an integer"),
    ],
)
def test_profile_validation(args, phrase):
    with pytest.raises(VinrError, match=phrase):
        BatchProfile(*args)


def test_profile_pieces_split_at_max_and_pad_below_min():
    p = BatchProfile(4, 32, 64)
    assert p.pieces(150) == [(0, 64, 64), (64, 128, 64), (128, 150, 22)]
    assert p.pieces(130) == [(0, 64, 64), (64, 128, 64), (128, 130, 4)]  # 2 rows padded to min 4
    assert p.pieces(3) == [(0, 3, 4)]
    assert p.pieces(64) == [(0, 64, 64)]
    assert p.pieces(100, chunk=40) == [(0, 40, 40), (40, 80, 40), (80, 100, 20)]
    assert p.pieces(100, chunk=1000) == p.pieces(100)  # chunk never exceeds max
    covered = [i for s, e, _ in BatchProfile(1, 5, 7).pieces(1000) for i in range(s, e)]
    assert covered == list(range(1000))


# ---- missing package / GPU -------------------------------------------------------------------------
def test_missing_tensorrt_names_the_package_and_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    fake_gpu(monkeypatch)
    with pytest.raises(RuntimeUnavailable) as info:
        require_tensorrt("the trt runtime")
    msg = str(info.value)
    assert "tensorrt package" in msg and "pip install 'vinr-zoo[trt]'" in msg and "\n" not in msg


def test_no_gpu_names_cuda(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", make_fake_trt())
    fake_gpu(monkeypatch, available=False)
    with pytest.raises(RuntimeUnavailable, match="needs an NVIDIA GPU with CUDA, and torch sees none"):
        require_tensorrt("vinr export --trt")


def test_neither_package_nor_gpu_says_both(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeUnavailable) as info:
        require_tensorrt("vinr export --trt")
    msg = str(info.value)
    assert msg.startswith("vinr export --trt needs an NVIDIA GPU with CUDA and the tensorrt package")
    assert "pip install 'vinr-zoo[trt]'" in msg


def test_tensorrt_older_than_10_is_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", make_fake_trt("8.6.1"))
    fake_gpu(monkeypatch)
    with pytest.raises(RuntimeUnavailable, match=r"needs TensorRT >= 10, found 8\.6\.1"):
        require_tensorrt()


def test_cli_export_trt_without_tensorrt_writes_nothing(monkeypatch, model_dir, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # as on this machine, also where tensorrt exists
    out = tmp_path / "out"
    line = one_error_line(runner.invoke(app, ["export", str(model_dir), "-o", str(out), "--trt"]))
    assert "tensorrt" in line and "pip install 'vinr-zoo[trt]'" in line
    assert not out.exists()  # not even model.onnx: TensorRT is checked first
    one_error_line(runner.invoke(app, ["export", str(model_dir), "--trt"]))
    assert not (model_dir / "model.onnx").exists()


def test_cli_export_trt_without_gpu_writes_nothing(monkeypatch, model_dir, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", make_fake_trt())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    line = one_error_line(runner.invoke(app, ["export", str(model_dir), "-o", str(tmp_path / "o"), "--trt"]))
    assert "CUDA" in line and "sees none" in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "args,phrase",
    [
        (["--min-batch", "100", "--opt-batch", "10"], "min <= opt <= max"),
        (["--max-batch", "0"], "--max-batch must be an integer"),
        (["--workspace", "0"], "--workspace must be a number of MiB"),
    ],
)
def test_cli_export_trt_bad_options_are_checked_first(model_dir, tmp_path, args, phrase):
    line = one_error_line(runner.invoke(app, ["export", str(model_dir), "-o", str(tmp_path / "o"), "--trt", *args]))
    assert phrase in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", ["decode", "parity"])
def test_cli_runtime_trt_without_tensorrt(monkeypatch, model_dir, tmp_path, command):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    args = [command, str(model_dir), "--runtime", "trt"]
    if command == "decode":
        args += ["-o", str(tmp_path / "x.npy"), "-q"]
    line = one_error_line(runner.invoke(app, args))
    assert "the trt runtime needs" in line and "tensorrt" in line and "pip install 'vinr-zoo[trt]'" in line
    assert not (tmp_path / "x.npy").exists()


def test_backend_is_registered_and_checks_its_arguments():
    assert backend_class("trt") is TrtBackend
    with pytest.raises(VinrError, match="precision must be one of"):
        TrtBackend(b"", precision="int8")
    with pytest.raises(VinrError, match="chunk must be positive"):
        TrtBackend(b"", chunk=0)
    with pytest.raises(VinrError, match=r"\.engine or \.onnx path or ONNX bytes"):
        TrtBackend(make_model())


# ---- engine metadata ---------------------------------------------------------------------------------
def engine_info(**changes) -> EngineInfo:
    fields = dict(
        tensorrt=FAKE_VERSION,
        gpu=FAKE_GPU.name,
        compute_capability="9.0",
        precision="fp16",
        profile=BatchProfile(1, 256, 4096),
        workspace_mib=512,
        onnx_sha256="a" * 64,
        engine_sha256="b" * 64,
    )
    fields.update(changes)
    return EngineInfo(**fields)


def test_engine_file_name_is_per_gpu_version_and_precision():
    assert engine_file_name(FAKE_GPU, "10.3.0", "fp16") == "model.fake-gpu-80gb-hbm3.10.3.0.fp16.engine"
    assert metadata_path("d/model.x.engine").name == "model.x.engine.json"
    assert engine_file_name(GpuInfo("NVIDIA A100-SXM4-80GB", "8.0"), "10.0.1.6", "fp32") == (
        "model.nvidia-a100-sxm4-80gb.10.0.1.6.fp32.engine"
    )


def test_engine_info_round_trips():
    info = engine_info(notes=["x"])
    data = json.loads(info.to_json())
    assert data["profile"] == {"min": 1, "opt": 256, "max": 4096}
    assert data["gpu"] == FAKE_GPU.name and data["compute_capability"] == "9.0" and data["tensorrt"] == FAKE_VERSION
    assert EngineInfo.from_json(info.to_json()) == info


@pytest.mark.parametrize(
    "changes,phrase",
    [
        (
            {"gpu": "NVIDIA A100-SXM4-80GB", "compute_capability": "8.0"},
            "built for NVIDIA A100-SXM4-80GB (compute 8.0)",
        ),
        ({"compute_capability": "8.9"}, "compute 8.9"),
        ({"tensorrt": "10.0.1"}, "built with TensorRT 10.0.1, this is TensorRT 10.3.0"),
        ({"precision": "fp32"}, "it is fp32, fp16 was asked for"),
    ],
)
def test_mismatched_engine_is_refused_with_the_reason(changes, phrase):
    with pytest.raises(EngineMismatch) as info:
        check_engine("m.engine", engine_info(**changes), FAKE_GPU, FAKE_VERSION, "fp16")
    msg = str(info.value)
    assert phrase in msg and msg.startswith("refusing TensorRT engine m.engine") and "vinr export MODEL --trt" in msg
    assert isinstance(info.value, ModelLoadError)


def test_matching_engine_passes_and_stale_onnx_is_refused():
    check_engine("m.engine", engine_info(), FAKE_GPU, FAKE_VERSION, "fp16", onnx_sha256="a" * 64)
    check_engine("m.engine", engine_info(), FAKE_GPU, FAKE_VERSION, None)  # any precision
    with pytest.raises(EngineMismatch, match="built from another ONNX export"):
        check_engine("m.engine", engine_info(), FAKE_GPU, FAKE_VERSION, "fp16", onnx_sha256="c" * 64)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"format": 99}',
        json.dumps({**json.loads(engine_info().to_json()), "profile": {"min": 9, "opt": 1, "max": 2}}),
    ],
)
def test_malformed_metadata_is_a_load_error(tmp_path, text):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"x")
    metadata_path(engine).write_text(text)
    with pytest.raises(ModelLoadError, match="not valid vinr-zoo engine metadata"):
        read_engine_info(engine)


def test_engine_without_metadata_is_refused(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="has no m.engine.json beside it"):
        read_engine_info(engine)


# ---- the builder configuration (fake tensorrt) -------------------------------------------------------
def test_fake_trt_fp32_build_config(fake_trt, tmp_path):
    onnx_bytes = build_onnx(make_model()).SerializeToString()
    report = build_engine_bytes(
        onnx_bytes,
        trt=fake_trt,
        profile=BatchProfile(2, 300, 5000),
        workspace_mib=256,
        timing_cache=tmp_path / "t.cache",
    )
    (build,) = fake_trt.record["builds"]
    net, config = build["network"], build["config"]
    assert net.flags == 0
    assert config.pools == {"MemoryPoolType.WORKSPACE": 256 << 20}
    (profile,) = config.profiles
    assert profile.shapes == {"coords": ((2, 3), (300, 3), (5000, 3))}
    assert config.flags == set() and config.cleared == {"BuilderFlag.TF32"} and report.pinned_fp32 == []
    assert all(layer.precision_set is None and not layer.output_types for layer in net.layers)
    assert report.engine.startswith(b"FAKEENGINE")


def test_fake_trt_fp16_pins_only_the_first_layer_and_its_sine(fake_trt):
    model = make_model(layers=3)
    build_engine_bytes(build_onnx(model).SerializeToString(), trt=fake_trt, precision="fp16")
    (build,) = fake_trt.record["builds"]
    net, config = build["network"], build["config"]
    assert config.flags == {"BuilderFlag.FP16", "BuilderFlag.OBEY"}  # and TF32 cleared: pinned layers are true fp32
    pinned = [layer for layer in net.layers if layer.precision_set is not None]
    assert {layer.node for layer in pinned} == {"layers.0.matmul", "layers.0.add", "sin.0"}
    assert [layer.type for layer in pinned] == [
        LayerType.MATRIX_MULTIPLY,
        LayerType.SHUFFLE,
        LayerType.ELEMENTWISE,
        LayerType.UNARY,
    ]
    assert all(
        layer.precision_set == fake_trt.float32 and layer.output_types == {0: fake_trt.float32} for layer in pinned
    )
    later = [layer for layer in net.layers if layer.node not in {"layers.0.matmul", "layers.0.add", "sin.0"}]
    assert later and all(layer.precision_set is None and not layer.output_types for layer in later)
    # Constants of the first layer keep their fp32 weights and get no precision.
    assert all(layer.type != LayerType.CONSTANT for layer in pinned)


def test_fake_trt_timing_cache_is_reused_and_a_foreign_one_replaced(fake_trt, tmp_path):
    onnx_bytes = build_onnx(make_model()).SerializeToString()
    cache = tmp_path / "caches" / "timing.cache"
    build_engine_bytes(onnx_bytes, trt=fake_trt, timing_cache=cache)
    assert cache.read_bytes() == b"|build"
    report = build_engine_bytes(onnx_bytes, trt=fake_trt, timing_cache=cache)
    assert fake_trt.record["timing_cache_loaded"] == [b"", b"|build"]  # the second build started from the first's
    assert cache.read_bytes() == b"|build|build" and not report.notes
    cache.write_bytes(b"OTHER-GPU")
    report = build_engine_bytes(onnx_bytes, trt=fake_trt, timing_cache=cache)
    assert "from another GPU or TensorRT version" in report.notes[0]
    assert cache.read_bytes() == b"|build"
    assert not list(cache.parent.glob(".*.tmp"))


def test_fake_trt_parse_and_build_failures(fake_trt):
    with pytest.raises(ModelLoadError, match="cannot parse the ONNX model: ModelImporter"):
        build_engine_bytes(b"not onnx", trt=fake_trt)
    fake_trt.fail_build = True
    with pytest.raises(VinrError, match="failed to build the engine: Error Code 2: out of memory while building$"):
        build_engine_bytes(build_onnx(make_model()).SerializeToString(), trt=fake_trt)


def test_fake_trt_wrong_io_names_are_a_shape_error(fake_trt):
    proto = build_onnx(make_model())
    proto.graph.input[0].name = "xyz"
    for node in proto.graph.node:
        node.input[:] = ["xyz" if i == "coords" else i for i in node.input]
    with pytest.raises(ShapeError, match=r"inputs \['xyz'\]"):
        build_engine_bytes(proto.SerializeToString(), trt=fake_trt)


def test_fake_trt_export_engine_writes_engine_and_metadata(fake_trt, tmp_path):
    model = make_model()
    export_onnx(model, tmp_path, validate=False)
    res = export_engine(
        tmp_path / "model.onnx",
        tmp_path,
        precision="fp16",
        profile=BatchProfile(1, 64, 256),
        workspace_mib=128,
        timing_cache=tmp_path / "tc",
    )
    assert res.engine == tmp_path / "model.fake-gpu-80gb-hbm3.10.3.0.fp16.engine"
    info = read_engine_info(res.engine)
    assert (info.gpu, info.compute_capability, info.tensorrt, info.precision) == (
        FAKE_GPU.name,
        "9.0",
        "10.3.0",
        "fp16",
    )
    assert info.profile == BatchProfile(1, 64, 256) and info.workspace_mib == 128
    import hashlib

    assert info.onnx_sha256 == hashlib.sha256((tmp_path / "model.onnx").read_bytes()).hexdigest()
    assert info.engine_sha256 == hashlib.sha256(res.engine.read_bytes()).hexdigest()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        export_engine(tmp_path / "model.onnx", tmp_path, precision="fp16")
    export_engine(tmp_path / "model.onnx", tmp_path, precision="fp16", overwrite=True)


def test_fake_trt_failed_build_leaves_nothing(fake_trt, tmp_path):
    fake_trt.fail_build = True
    out = tmp_path / "out"
    with pytest.raises(VinrError, match="failed to build"):
        export_engine(build_onnx(make_model()).SerializeToString(), out)
    assert not out.exists() or not any(out.iterdir())


# ---- the runtime (fake tensorrt, CPU buffers) ----------------------------------------------------------
@pytest.fixture()
def exported(fake_trt, tmp_path):
    """A model directory with model.onnx and an fp32 engine with a small profile (min 4, max 64)."""
    model = make_model()
    d = model.save_pretrained(tmp_path / "exported")
    export_onnx(model, d, validate=False)
    res = export_engine(d / "model.onnx", d, profile=BatchProfile(4, 32, 64), timing_cache=tmp_path / "tc")
    return model, d, res.engine


def test_fake_trt_runtime_splits_pads_and_matches_torch(fake_trt, exported):
    model, d, engine = exported
    coords = rand_coords(150)
    with TrtBackend(engine) as backend:
        got = backend.infer(coords)
        assert backend.infer(coords[:2]).shape == (2, 3)
        assert "TensorRT 10.3.0 (Fake GPU 80GB HBM3, fp32, profile 4 / 32 / 64" in backend.describe()
    (ctx,) = fake_trt.record["engines"][-1].contexts
    assert ctx.calls == [(64, 3), (64, 3), (22, 3), (4, 3)]  # split at max 64; 2 rows padded to min 4
    assert torch.allclose(got, reference_outputs(model, coords), atol=SPEC.atol_fp32, rtol=0)


def test_fake_trt_runtime_finds_the_exported_engine_through_the_decoder(fake_trt, exported):
    model, d, engine = exported
    backend = open_backend(resolve_source(d), "trt", device="cpu")  # decode's default device means "the GPU"
    with backend:
        assert backend.engine_path == engine and not backend.built
        got = backend.infer(rand_coords(100))
    assert torch.allclose(got, reference_outputs(model, rand_coords(100)), atol=SPEC.atol_fp32, rtol=0)


def test_fake_trt_runtime_refuses_a_foreign_or_altered_engine(fake_trt, exported):
    _, d, engine = exported
    meta = metadata_path(engine)
    good = meta.read_text()
    meta.write_text(good.replace('"tensorrt": "10.3.0"', '"tensorrt": "10.1.0"'))
    with pytest.raises(EngineMismatch, match="built with TensorRT 10.1.0, this is TensorRT 10.3.0"):
        TrtBackend(engine).open()
    meta.write_text(good)
    with pytest.raises(EngineMismatch, match="it is fp32, fp16 was asked for"):
        TrtBackend(engine, precision="fp16").open()
    engine.write_bytes(engine.read_bytes() + b"x")
    with pytest.raises(EngineMismatch, match="does not match the checksum"):
        TrtBackend(engine).open()
    assert not fake_trt.record["engines"]  # TensorRT never saw a refused plan


def test_fake_trt_runtime_builds_on_first_use_and_caches(fake_trt, model_dir, tmp_path):
    model = SineMLP.from_pretrained(model_dir)
    src = resolve_source(model_dir)  # no model.onnx: exported in memory
    with open_backend(src, "trt", device="cuda") as first:
        assert first.built and first.engine_path.parent.parent == tmp_path / "xdg-cache" / "vinr-zoo" / "trt"
        got = first.infer(rand_coords(50))
    with open_backend(src, "trt", device="cuda") as second:
        assert not second.built and second.engine_path == first.engine_path
    assert len(fake_trt.record["builds"]) == 1
    assert not any(p.suffix == ".engine" for p in model_dir.iterdir())  # the model folder is not written to
    assert torch.allclose(got, reference_outputs(model, rand_coords(50)), atol=SPEC.atol_fp32, rtol=0)
    with pytest.raises(ModelLoadError, match="no TensorRT engine for Fake GPU"):
        TrtBackend(build_onnx(make_model(seed=3)).SerializeToString()).open()  # no builder given


def test_fake_trt_fp16_engine_within_fp16_tolerance(fake_trt, exported):
    model, d, _ = exported
    export_engine(d / "model.onnx", d, precision="fp16")
    coords = rand_coords(4096)
    with TrtBackend(d / "model.onnx", precision="fp16") as backend:
        got = backend.infer(coords)
        assert backend.precision == "fp16"
    err = float((got - reference_outputs(model, coords)).abs().max())
    assert 1e-5 < err <= SPEC.atol_fp16  # fp16 hidden layers do round; within the contract's tolerance


def test_fake_trt_deserialize_failure_is_one_clear_error(fake_trt, exported):
    _, d, engine = exported
    import hashlib

    engine.write_bytes(b"garbage")
    info = json.loads(metadata_path(engine).read_text())
    info["engine_sha256"] = hashlib.sha256(b"garbage").hexdigest()
    metadata_path(engine).write_text(json.dumps(info))
    with pytest.raises(ModelLoadError, match="cannot deserialize .*magic tag does not match"):
        TrtBackend(engine).open()


# ---- the CLI with the fake ---------------------------------------------------------------------------
def test_fake_trt_cli_export(fake_trt, model_dir, tmp_path):
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "export",
            str(model_dir),
            "-o",
            str(out),
            "--trt",
            "--fp16",
            "--max-batch",
            "4096",
            "--opt-batch",
            "1024",
            "--workspace",
            "64",
            "--no-validate",
        ],
    )
    assert res.exit_code == 0, res.output
    engine = out / "model.fake-gpu-80gb-hbm3.10.3.0.fp16.engine"
    assert (
        f"wrote {engine} (TensorRT 10.3.0, Fake GPU 80GB HBM3, compute 9.0, fp16, profile N 1 / 1,024 / 4,096"
        in res.output
    )
    assert (out / "model.onnx").is_file() and (out / "model.fp16.onnx").is_file() and metadata_path(engine).is_file()
    config = fake_trt.record["builds"][0]["config"]
    assert config.pools["MemoryPoolType.WORKSPACE"] == 64 << 20
    timing = tmp_path / "xdg-cache" / "vinr-zoo" / "trt" / "timing.fake-gpu-80gb-hbm3.10-3-0.cache"
    assert timing.read_bytes() == b"|build"

    again = runner.invoke(app, ["export", str(model_dir), "-o", str(out), "--trt", "--fp16"])
    assert "already exists" in one_error_line(again)

    # fp32 engine next to an existing model.onnx: the ONNX is reused, not rewritten.
    res = runner.invoke(app, ["export", str(model_dir), "-o", str(out), "--trt", "--timing-cache", str(tmp_path / "t")])
    assert res.exit_code == 0, res.output
    assert "using " in res.output and (tmp_path / "t").is_file()
    assert (out / "model.fake-gpu-80gb-hbm3.10.3.0.fp32.engine").is_file()


def test_fake_trt_cli_decode_and_parity(fake_trt, model_dir, tmp_path):
    res = runner.invoke(app, ["export", str(model_dir), "--trt", "--max-batch", "100", "--opt-batch", "50"])
    assert res.exit_code == 0, res.output
    dec = runner.invoke(app, ["decode", str(model_dir), "-o", str(tmp_path / "a.npy"), "--runtime", "trt", "-q"])
    assert dec.exit_code == 0, dec.output
    ref = runner.invoke(app, ["decode", str(model_dir), "-o", str(tmp_path / "b.npy"), "-q"])
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert ref.exit_code == 0 and a.shape == (4, 16, 24, 3) and np.mean(a != b) < 1e-2
    ctx = fake_trt.record["engines"][-1].contexts[-1]
    assert max(c[0] for c in ctx.calls) == 100  # each frame's 384 coordinates split at the engine's max

    par = runner.invoke(app, ["parity", str(model_dir), "--runtime", "trt", "--frames", "2", "--random", "1000"])
    assert par.exit_code == 0, par.output
    assert "trt: TensorRT 10.3.0" in par.output and "FAIL" not in par.output


# ---- a real GPU -------------------------------------------------------------------------------------------
def _real_trt_and_gpu() -> bool:
    try:
        import tensorrt  # noqa: F401
    except (ImportError, OSError):
        return False
    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _real_trt_and_gpu(), reason="needs tensorrt and a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_gpu_engine_matches_torch(tmp_path, precision):
    """A real engine: the layers pinned to fp32 are the first layer and its sine, and the outputs match torch."""
    import tensorrt as trt

    from vinr_zoo.export.trt import pin_first_layer_fp32, shared_logger

    model = make_model(width=64, layers=3)
    d = model.save_pretrained(tmp_path / "m")
    export_onnx(model, d, validate=False)
    res = export_engine(
        d / "model.onnx",
        d,
        precision=precision,
        profile=BatchProfile(1, 4096, 65536),
        timing_cache=tmp_path / "timing.cache",
    )
    assert res.info.precision == precision

    # The real parser's network for the same ONNX, pinned as an fp16 build pins it: the layers that carry a
    # precision are exactly the first MatMul, its bias Add (with any shuffle the parser adds to broadcast the
    # bias) and the first Sin; each is fp32 with an fp32 output; nothing of the later layers is pinned.
    logger = shared_logger(trt)
    network = trt.Builder(logger).create_network(0)
    assert trt.OnnxParser(network, logger).parse((d / "model.onnx").read_bytes())
    pinned = pin_first_layer_fp32(network, trt)
    layers = [network.get_layer(i) for i in range(network.num_layers)]
    assert [layer.name for layer in layers if layer.precision_is_set] == pinned
    assert {"layers.0.matmul", "layers.0.add", "sin.0"} <= set(pinned) and pinned[-1] == "sin.0", pinned
    assert not [n for n in pinned if n.startswith(("layers.1", "layers.2", "head", "sin.1", "sin.2"))], pinned
    for layer in layers:
        if layer.precision_is_set:
            assert layer.precision == trt.float32 and layer.get_output_type(0) == trt.float32, layer.name
    # The engine build pinned the same layers under --fp16, and none in fp32 (TF32 off: true fp32 throughout).
    assert res.pinned_fp32 == (pinned if precision == "fp16" else []), res.pinned_fp32

    coords = rand_coords(100_003)  # more than max-batch: split into pieces
    with contextlib.ExitStack() as stack:
        backend = stack.enter_context(TrtBackend(d / "model.onnx", precision=precision, device="cuda"))
        got = backend.infer(coords)
    err = float((got - reference_outputs(model, coords)).abs().max())
    # fp32: 1e-3 (TensorRT may reorder sums and use other GEMM tactics than torch); fp16 (first layer and its sine fp32): the contract's 2e-2, as for model.fp16.onnx.
    assert err <= (1e-3 if precision == "fp32" else SPEC.atol_fp16), err
