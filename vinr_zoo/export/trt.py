"""ONNX → serialized TensorRT engine (``vinr export --trt``), written with the JSON `vinr_zoo.engine_file` defines.

The build (`build_engine_bytes`) is written against TensorRT 10's Python API directly rather than through
Polygraphy's ``CreateConfig`` / ``EngineBytesFromNetwork``: those log through Polygraphy's global logger
(printed lines; this library never prints), report failures as ``PolygraphyException``, and write the
timing cache in place; what remains (one profile, a workspace limit, a flag, the timing cache, pinning
the first layer) is a few calls, and tests exercise them against a fake ``tensorrt`` module.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from vinr_zoo._atomic import atomic_path, check_output
from vinr_zoo.checksums import sha256_bytes
from vinr_zoo.contract import PRECISIONS, SPEC, OnnxSpec
from vinr_zoo.engine_file import (  # noqa: F401  (re-exported: what a caller of the builder needs)
    DEFAULT_WORKSPACE_MIB,
    BatchProfile,
    EngineInfo,
    EngineMismatch,
    GpuInfo,
    check_engine,
    current_gpu,
    default_cache_dir,
    engine_file_name,
    import_tensorrt,
    metadata_path,
    read_engine_info,
    require_tensorrt,
    shared_logger,
    slug,
)
from vinr_zoo.errors import ModelLoadError, OptionError, OutputExistsError, RuntimeUnavailable, ShapeError, VinrError
from vinr_zoo.onnx_file import inspect_onnx
from vinr_zoo.version import __version__


def first_layer_indices(network, trt) -> list[int]:
    """Indices of the layers that compute the first sine layer: everything up to and including the first Sin.

    Our ONNX is MatMul → Add → Sin per layer, so the TensorRT parser emits, before the first unary (Sin)
    layer, only the first MatMul, the bias Add and the constants/shuffles feeding them. Constants hold
    fp32 weights already and take no precision, so they are left alone.
    """
    indices = []
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if layer.type != trt.LayerType.CONSTANT:
            indices.append(i)
        if layer.type == trt.LayerType.UNARY:
            return indices
    raise ShapeError("the network has no Sin layer; is this a vinr-zoo sine MLP export?")


def pin_first_layer_fp32(network, trt) -> list[str]:
    """Keep the first layer and its sine in fp32 under ``--fp16``; returns the pinned layer names.

    With ω0 = 30 folded in, the first layer's arguments reach tens of radians, where float16's spacing
    (0.03 at 32) would shift the sine by that much (see vinr_zoo/export/onnx.py, which does the same).
    """
    names = []
    for i in first_layer_indices(network, trt):
        layer = network.get_layer(i)
        layer.precision = trt.float32
        for k in range(layer.num_outputs):
            layer.set_output_type(k, trt.float32)
        names.append(layer.name)
    return names


@dataclass
class BuildReport:
    engine: bytes
    seconds: float
    pinned_fp32: list[str] = field(default_factory=list)
    timing_cache: Path | None = None
    notes: list[str] = field(default_factory=list)


def build_engine_bytes(
    onnx_bytes: bytes,
    *,
    trt,
    precision: str = "fp32",
    profile: BatchProfile = BatchProfile(),
    workspace_mib: int = DEFAULT_WORKSPACE_MIB,
    timing_cache: str | os.PathLike[str] | None = None,
    spec: OnnxSpec = SPEC,
) -> BuildReport:
    """Parse ``onnx_bytes`` and build a serialized engine with one profile over N.

    ``timing_cache``: a file read before the build (if it exists) and rewritten after it (atomically), so
    later builds skip the tactic timing already done on this GPU.
    """
    check_build_options(precision, workspace_mib)
    logger = shared_logger(trt)
    logger.messages.clear()  # so an error reported below is this build's
    builder = trt.Builder(logger)
    if builder is None:
        raise RuntimeUnavailable(f"TensorRT could not create a builder: {logger.last_error()}")
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = [str(parser.get_error(i).desc()) for i in range(parser.num_errors)]
        raise ModelLoadError(f"TensorRT cannot parse the ONNX model: {errors[0] if errors else logger.last_error()}")
    _check_network_io(network, spec)

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mib) << 20)
    trt_profile = builder.create_optimization_profile()
    trt_profile.set_shape(spec.input_name, *profile.shapes(spec.in_features))
    config.add_optimization_profile(trt_profile)

    # TensorRT enables TF32 for fp32 GEMMs by default on Ampere and newer: 10-bit mantissas would move the
    # first layer's arguments (tens of radians) by ~0.01 rad. fp32 layers stay true fp32.
    config.clear_flag(trt.BuilderFlag.TF32)
    report = BuildReport(engine=b"", seconds=0.0)
    if precision == "fp16":
        if not getattr(builder, "platform_has_fast_fp16", True):
            report.notes.append("this GPU has no fast fp16; TensorRT may choose fp32 kernels")
        config.set_flag(trt.BuilderFlag.FP16)
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        report.pinned_fp32 = pin_first_layer_fp32(network, trt)

    cache_path = Path(timing_cache) if timing_cache is not None else None
    cache = None
    if cache_path is not None:
        data = cache_path.read_bytes() if cache_path.is_file() else b""
        cache = config.create_timing_cache(data)
        if not config.set_timing_cache(cache, ignore_mismatch=False):
            # Another GPU or TensorRT version wrote it: start a fresh one rather than mix timings.
            report.notes.append(f"timing cache {cache_path} is from another GPU or TensorRT version; started afresh")
            cache = config.create_timing_cache(b"")
            config.set_timing_cache(cache, ignore_mismatch=False)

    start = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    report.seconds = time.perf_counter() - start
    if serialized is None:
        raise VinrError(f"TensorRT failed to build the engine: {logger.last_error()}")
    report.engine = bytes(serialized)
    if cache is not None:
        with atomic_path(cache_path) as tmp:
            tmp.write_bytes(bytes(config.get_timing_cache().serialize()))
        report.timing_cache = cache_path
    return report


def _check_network_io(network, spec: OnnxSpec) -> None:
    inputs = [network.get_input(i).name for i in range(network.num_inputs)]
    outputs = [network.get_output(i).name for i in range(network.num_outputs)]
    if inputs != [spec.input_name] or outputs != [spec.output_name]:
        raise ShapeError(
            f"the ONNX model has inputs {inputs} and outputs {outputs}; the contract is "
            f"[{spec.input_name!r}] -> [{spec.output_name!r}]"
        )


def check_build_options(precision: str, workspace_mib: int) -> None:
    if precision not in PRECISIONS:
        raise OptionError("precision", f"must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if not isinstance(workspace_mib, int) or isinstance(workspace_mib, bool) or not 1 <= workspace_mib <= 1 << 20:
        raise OptionError("workspace_mib", f"must be a number of MiB in [1, {1 << 20:,}], got {workspace_mib!r}")


def default_timing_cache(gpu: GpuInfo, tensorrt_version: str) -> Path:
    return default_cache_dir() / f"timing.{slug(gpu.name)}.{slug(tensorrt_version)}.cache"


@dataclass
class EngineExport:
    engine: Path
    metadata: Path
    info: EngineInfo
    pinned_fp32: list[str]
    timing_cache: Path | None


def export_engine(
    onnx: str | os.PathLike[str] | bytes,
    out_dir: str | os.PathLike[str],
    *,
    precision: str = "fp32",
    profile: BatchProfile | None = None,
    workspace_mib: int = DEFAULT_WORKSPACE_MIB,
    timing_cache: str | os.PathLike[str] | None = None,
    device: str | None = None,
    overwrite: bool = False,
    what: str = "vinr export --trt",
    spec: OnnxSpec = SPEC,
) -> EngineExport:
    """Build an engine from ``onnx`` (a file or serialized bytes) into ``out_dir``, with its JSON beside it.

    Checks everything it can (options, TensorRT, the GPU, existing outputs) before building; both files go
    to temporary names and are renamed into place only after the build succeeded, engine first.
    """
    profile = profile or BatchProfile()
    check_build_options(precision, workspace_mib)
    trt, dev = require_tensorrt(what, device)
    gpu = current_gpu(dev)
    version = str(trt.__version__)
    target = Path(out_dir) / engine_file_name(gpu, version, precision)
    meta = metadata_path(target)
    for path in (target, meta):
        check_output(path, overwrite)
    if isinstance(onnx, bytes):
        data = onnx
    else:
        try:
            data = Path(onnx).read_bytes()
        except OSError as exc:
            raise ModelLoadError(f"cannot read {onnx}: {exc.strerror or exc}") from None
    cache = Path(timing_cache) if timing_cache is not None else default_timing_cache(gpu, version)

    import torch

    with torch.cuda.device(dev):
        report = build_engine_bytes(
            data,
            trt=trt,
            precision=precision,
            profile=profile,
            workspace_mib=workspace_mib,
            timing_cache=cache,
            spec=spec,
        )
    info = EngineInfo(
        tensorrt=version,
        gpu=gpu.name,
        compute_capability=gpu.compute_capability,
        precision=precision,
        profile=profile,
        workspace_mib=workspace_mib,
        onnx_sha256=sha256_bytes(data),
        engine_sha256=sha256_bytes(report.engine),
        vinr_zoo=__version__,
        build_seconds=round(report.seconds, 3),
        notes=report.notes,
    )
    with contextlib.ExitStack() as stack:
        # Exits run in reverse: the engine is renamed into place before the JSON that vouches for it.
        meta_tmp = stack.enter_context(atomic_path(meta))
        engine_tmp = stack.enter_context(atomic_path(target))
        engine_tmp.write_bytes(report.engine)
        meta_tmp.write_text(info.to_json(), encoding="utf-8")
    return EngineExport(target, meta, info, report.pinned_fp32, report.timing_cache)


@dataclass
class EngineTarget:
    path: Path
    precision: str
    profile: BatchProfile


def trt_export_target(
    out_dir: str | os.PathLike[str],
    precision: str,
    batches: tuple[int, int, int],
    workspace_mib: int,
    overwrite: bool,
    what: str = "vinr export --trt",
) -> EngineTarget:
    """Everything ``vinr export --trt`` can check before it writes anything: options, TensorRT, GPU, outputs."""
    profile = BatchProfile(*batches)
    check_build_options(precision, workspace_mib)
    trt, dev = require_tensorrt(what)
    path = Path(out_dir) / engine_file_name(current_gpu(dev), str(trt.__version__), precision)
    for target in (path, metadata_path(path)):
        check_output(target, overwrite)
    return EngineTarget(path, precision, profile)


def check_onnx_is_current(path: str | os.PathLike[str], config) -> None:
    """An existing model.onnx is reused for the engine only if it was exported from this very config."""
    if inspect_onnx(path).config.to_json() != config.to_json():
        raise OutputExistsError(
            f"{path} was exported from another fit than this model; pass --overwrite to re-export it"
        )
