"""ONNX → serialized TensorRT engine (``vinr export --trt``), plus what the ``trt`` runtime shares with it.

An engine only runs on the GPU model and TensorRT version it was built with, so it is written as
``model.<gpu-slug>.<tensorrt-version>.<precision>.engine`` beside a small JSON file (same name plus
``.json``) recording the TensorRT version, GPU name, compute capability, precision, the optimization
profile over N and the sha256 of the ONNX it came from. The runtime reads that JSON first and refuses an
engine built elsewhere with one clear line (deserializing a foreign plan can crash or silently misbehave).

The build (`build_engine_bytes`) is written against TensorRT 10's Python API directly rather than through
Polygraphy's ``CreateConfig`` / ``EngineBytesFromNetwork``: those log through Polygraphy's global logger
(printed lines; this library never prints), report failures as ``PolygraphyException``, and write the
timing cache in place; what remains (one profile, a workspace limit, a flag, the timing cache, pinning
the first layer) is a few calls, and tests exercise them against a fake ``tensorrt`` module.

``tensorrt`` is optional (``pip install 'vinr-zoo[trt]'``) and imported lazily, here and in
``vinr_zoo/runtimes/trt.py`` only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vinr_zoo._atomic import atomic_path, check_output
from vinr_zoo.errors import ModelLoadError, RuntimeUnavailable, ShapeError, VinrError
from vinr_zoo.errors import first_line as _first_line
from vinr_zoo.export.spec import PRECISIONS, SPEC, OnnxSpec

# CONVENTIONS.md "ONNX contract": one optimization profile over N, min / opt / max.
DEFAULT_MIN_BATCH = 1
DEFAULT_OPT_BATCH = 65536
DEFAULT_MAX_BATCH = 1048576
# TensorRT dimensions are int32; keep N (and N x width activations) well inside that.
MAX_BATCH_LIMIT = 1 << 27
# Scratch memory for tactics (cuBLAS GEMMs); activations are not part of it. MiB.
DEFAULT_WORKSPACE_MIB = 1024
MIN_TENSORRT_MAJOR = 10
ENGINE_FORMAT = 1  # version of the JSON beside each engine
INSTALL_HINT = "pip install 'vinr-zoo[trt]' (after a CUDA build of torch)"


class EngineMismatch(ModelLoadError):
    """A TensorRT engine built for another GPU, TensorRT version or precision, or from another ONNX."""


# ---- the optimization profile ---------------------------------------------------------------------
@dataclass(frozen=True)
class BatchProfile:
    """The one optimization profile over N: ``min <= opt <= max`` rows per inference call."""

    min: int = DEFAULT_MIN_BATCH
    opt: int = DEFAULT_OPT_BATCH
    max: int = DEFAULT_MAX_BATCH

    def __post_init__(self) -> None:
        for name in ("min", "opt", "max"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_BATCH_LIMIT:
                raise VinrError(f"--{name}-batch must be an integer in [1, {MAX_BATCH_LIMIT:,}], got {value!r}")
        if not self.min <= self.opt <= self.max:
            raise VinrError(
                f"the TensorRT profile needs min <= opt <= max batch, got {self.min:,} / {self.opt:,} / {self.max:,}"
            )

    def shapes(self, width: int = SPEC.in_features) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        return (self.min, width), (self.opt, width), (self.max, width)

    def pieces(self, n: int, chunk: int | None = None) -> list[tuple[int, int, int]]:
        """Split ``n`` rows into ``(start, stop, rows_run)`` calls the profile accepts.

        Pieces hold at most ``min(chunk, max)`` rows. A piece smaller than ``min`` (only the last one can
        be) is padded with zero rows up to ``min``: rows are independent, so padding changes nothing but
        the work done, and the padded outputs are dropped.
        """
        size = self.max if chunk is None else max(1, min(int(chunk), self.max))
        return [(s, min(s + size, n), max(min(s + size, n) - s, self.min)) for s in range(0, n, size)]

    def describe(self) -> str:
        return f"{self.min:,} / {self.opt:,} / {self.max:,}"


# ---- this machine ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class GpuInfo:
    name: str
    compute_capability: str  # "9.0"


def _load_tensorrt():
    """``(module, None)``, or ``(None, (missing, reason))`` where ``missing`` says the package is not installed."""
    try:
        import tensorrt as trt
    except ImportError:
        return None, (True, f"needs the tensorrt package: {INSTALL_HINT}")
    except OSError as exc:  # the wheel is there but its CUDA/TensorRT libraries are not
        return None, (False, f"cannot load tensorrt's libraries ({_first_line(exc)}); {INSTALL_HINT}")
    version = str(getattr(trt, "__version__", ""))
    major = re.match(r"\d+", version)
    if major is None or int(major.group()) < MIN_TENSORRT_MAJOR:
        return None, (False, f"needs TensorRT >= {MIN_TENSORRT_MAJOR}, found {version or 'unknown'}: "
                             "pip install -U 'vinr-zoo[trt]'")  # fmt: skip
    return trt, None


def import_tensorrt(what: str = "the trt runtime"):
    """The ``tensorrt`` module (TensorRT >= 10), or `RuntimeUnavailable` saying what is missing and how to install it."""
    trt, problem = _load_tensorrt()
    if trt is None:
        raise RuntimeUnavailable(f"{what} {problem[1]}")
    return trt


def require_tensorrt(what: str = "the trt runtime", device: str | int | None = None):
    """``(tensorrt, torch.device)``: TensorRT importable and a CUDA GPU torch can use, else one clear line."""
    import torch

    no_gpu = not torch.cuda.is_available()
    trt, problem = _load_tensorrt()
    if trt is None and no_gpu and problem[0]:  # say both at once rather than one after the other
        raise RuntimeUnavailable(
            f"{what} needs an NVIDIA GPU with CUDA and the tensorrt package; neither is available here "
            f"({_torch_build()}); on a CUDA machine: {INSTALL_HINT}"
        )
    if trt is None:
        raise RuntimeUnavailable(f"{what} {problem[1]}")
    if no_gpu:
        raise RuntimeUnavailable(
            f"{what} needs an NVIDIA GPU with CUDA, and torch sees none ({_torch_build()}); TensorRT runs only "
            "on NVIDIA GPUs"
        )
    return trt, cuda_device(device)


def cuda_device(device: str | int | None = None):
    """``cuda:i`` for ``device``; ``None``, ``"cpu"`` and ``"cuda"`` mean the current GPU (TensorRT is GPU-only)."""
    import torch

    if device is None or device in ("cpu", "cuda"):
        return torch.device("cuda", torch.cuda.current_device())
    try:
        dev = torch.device(device) if not isinstance(device, int) else torch.device("cuda", device)
    except (RuntimeError, TypeError):
        raise VinrError(f"unknown device {device!r} (TensorRT runs on cuda or cuda:N)") from None
    if dev.type != "cuda":
        raise VinrError(f"TensorRT runs on a CUDA GPU, not {device!r}")
    index = dev.index if dev.index is not None else torch.cuda.current_device()
    if index >= torch.cuda.device_count():
        raise VinrError(f"--device {device}: torch sees {torch.cuda.device_count()} CUDA GPU(s)")
    return torch.device("cuda", index)


def current_gpu(device) -> GpuInfo:
    import torch

    major, minor = torch.cuda.get_device_capability(device)
    return GpuInfo(torch.cuda.get_device_name(device), f"{major}.{minor}")


def _torch_build() -> str:
    import torch

    cuda = torch.version.cuda
    return f"torch {torch.__version__}, " + (f"CUDA {cuda}" if cuda else "a CPU-only build")


# ---- engine files and their metadata --------------------------------------------------------------
def slug(text: str) -> str:
    """``"NVIDIA H100 80GB HBM3"`` → ``"nvidia-h100-80gb-hbm3"`` (file-name safe)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "gpu"


def engine_file_name(gpu: GpuInfo, tensorrt_version: str, precision: str) -> str:
    return f"model.{slug(gpu.name)}.{slug(tensorrt_version).replace('-', '.')}.{precision}.engine"


def metadata_path(engine: str | os.PathLike[str]) -> Path:
    engine = Path(engine)
    return engine.with_name(engine.name + ".json")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class EngineInfo:
    """The JSON written beside every engine."""

    tensorrt: str
    gpu: str
    compute_capability: str
    precision: str
    profile: BatchProfile
    workspace_mib: int
    onnx_sha256: str
    engine_sha256: str
    vinr_zoo: str = ""
    build_seconds: float = 0.0
    format: int = ENGINE_FORMAT
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        data = asdict(self)
        data["profile"] = {"min": self.profile.min, "opt": self.profile.opt, "max": self.profile.max}
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "engine metadata") -> EngineInfo:
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            if data.get("format") != ENGINE_FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {ENGINE_FORMAT}")
            prof = data.pop("profile")
            profile = BatchProfile(int(prof["min"]), int(prof["opt"]), int(prof["max"]))
            known = set(cls.__dataclass_fields__) - {"profile"}
            info = cls(profile=profile, **{k: v for k, v in data.items() if k in known})
            for key in ("tensorrt", "gpu", "compute_capability", "precision", "onnx_sha256", "engine_sha256"):
                if not isinstance(getattr(info, key), str):
                    raise TypeError(f"{key} is not a string")
        except (ValueError, TypeError, KeyError, VinrError) as exc:
            raise ModelLoadError(f"{where} is not valid vinr-zoo engine metadata ({_first_line(exc)})") from None
        return info

    def mismatches(self, gpu: GpuInfo, tensorrt_version: str, precision: str | None = None) -> list[str]:
        """How this engine differs from what this machine (and the caller) needs; empty when it fits."""
        out = []
        if self.gpu != gpu.name or self.compute_capability != gpu.compute_capability:
            out.append(
                f"it was built for {self.gpu} (compute {self.compute_capability}), this GPU is {gpu.name} "
                f"(compute {gpu.compute_capability})"
            )
        if self.tensorrt != tensorrt_version:
            out.append(f"it was built with TensorRT {self.tensorrt}, this is TensorRT {tensorrt_version}")
        if precision is not None and self.precision != precision:
            out.append(f"it is {self.precision}, {precision} was asked for")
        return out


def read_engine_info(engine: str | os.PathLike[str]) -> EngineInfo:
    meta = metadata_path(engine)
    if not meta.is_file():
        raise ModelLoadError(
            f"{engine} has no {meta.name} beside it (not written by 'vinr export --trt'), so the GPU and "
            "TensorRT version it was built for are unknown; rebuild it with 'vinr export MODEL --trt --overwrite'"
        )
    try:
        text = meta.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"cannot read {meta}: {_first_line(exc)}") from None
    return EngineInfo.from_json(text, str(meta))


def check_engine(engine: str | os.PathLike[str], info: EngineInfo, gpu: GpuInfo, tensorrt_version: str,
                 precision: str | None = None, onnx_sha256: str | None = None) -> None:  # fmt: skip
    """Raise `EngineMismatch` unless ``engine`` (described by ``info``) fits this GPU, TensorRT and request."""
    problems = info.mismatches(gpu, tensorrt_version, precision)
    if problems:
        raise EngineMismatch(
            f"refusing TensorRT engine {engine}: {'; '.join(problems)}. Engines are specific to the GPU and "
            "TensorRT version; build one here with 'vinr export MODEL --trt' (or let --runtime trt build it)"
        )
    if onnx_sha256 is not None and info.onnx_sha256 != onnx_sha256:
        raise EngineMismatch(
            f"TensorRT engine {engine} was built from another ONNX export than this model's (an older fit?); "
            "rebuild it with 'vinr export MODEL --trt --overwrite'"
        )


# ---- the build --------------------------------------------------------------------------------------
def make_logger(trt):
    """A ``trt.ILogger`` that keeps warnings and errors in memory (TensorRT's own Logger prints)."""

    class _Collector(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.messages: deque = deque(maxlen=64)
            sev = trt.ILogger.Severity
            self._errors = (sev.INTERNAL_ERROR, sev.ERROR)
            self._kept = (*self._errors, sev.WARNING)

        def log(self, severity, msg) -> None:
            if severity in self._kept:
                self.messages.append((severity, str(msg)))

        def last_error(self, default: str = "no details logged") -> str:
            errors = [m for s, m in self.messages if s in self._errors]
            return _first_line(errors[-1]) if errors else default

    return _Collector()


_LOGGERS: dict[int, tuple] = {}


def shared_logger(trt):
    """One logger per process and ``tensorrt`` module (TensorRT warns when builders and runtimes differ)."""
    held = _LOGGERS.get(id(trt))
    if held is None or held[0] is not trt:  # the module is held too, so its id is never reused
        held = _LOGGERS[id(trt)] = (trt, make_logger(trt))
    return held[1]


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
        raise VinrError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if not isinstance(workspace_mib, int) or isinstance(workspace_mib, bool) or not 1 <= workspace_mib <= 1 << 20:
        raise VinrError(f"--workspace must be a number of MiB in [1, {1 << 20:,}], got {workspace_mib!r}")


def default_cache_dir() -> Path:
    """Where engines built on first use and the shared timing caches live (``$XDG_CACHE_HOME/vinr-zoo/trt``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vinr-zoo" / "trt"


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
        report = build_engine_bytes(data, trt=trt, precision=precision, profile=profile,
                                    workspace_mib=workspace_mib, timing_cache=cache, spec=spec)  # fmt: skip
    info = EngineInfo(
        tensorrt=version, gpu=gpu.name, compute_capability=gpu.compute_capability, precision=precision,
        profile=profile, workspace_mib=workspace_mib, onnx_sha256=sha256_bytes(data),
        engine_sha256=sha256_bytes(report.engine), vinr_zoo=_version(), build_seconds=round(report.seconds, 3),
        notes=report.notes,
    )  # fmt: skip
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
    from vinr_zoo.errors import OutputExistsError
    from vinr_zoo.export.onnx import inspect_onnx

    if inspect_onnx(path).config.to_json() != config.to_json():
        raise OutputExistsError(
            f"{path} was exported from another fit than this model; pass --overwrite to re-export it"
        )


def _version() -> str:
    from vinr_zoo import __version__

    return __version__


__all__ = [
    "BatchProfile",
    "BuildReport",
    "EngineExport",
    "EngineInfo",
    "EngineMismatch",
    "GpuInfo",
    "build_engine_bytes",
    "check_engine",
    "default_cache_dir",
    "engine_file_name",
    "export_engine",
    "import_tensorrt",
    "metadata_path",
    "pin_first_layer_fp32",
    "read_engine_info",
    "require_tensorrt",
]
