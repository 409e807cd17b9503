"""TensorRT engine files: the optimization profile, the JSON beside each engine, and loading tensorrt.

An engine only runs on the GPU model and TensorRT version it was built with, so it is written as
``model.<gpu-slug>.<tensorrt-version>.<precision>.engine`` beside a small JSON file (same name plus
``.json``) recording the TensorRT version, GPU name, compute capability, precision, the optimization
profile over N and the sha256 of the ONNX it came from. Readers check that JSON first and refuse an
engine built elsewhere with one clear line (deserializing a foreign plan can crash or silently misbehave).

The builder (`vinr_zoo.export.trt`) and the runtime (`vinr_zoo.runtimes.trt`) both use this module.
``tensorrt`` is optional (``pip install 'vinr-zoo[trt]'``) and imported lazily.
"""

from __future__ import annotations

import json
import os
import re
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vinr_zoo._system import cache_dir
from vinr_zoo.contract import SPEC, TRT_PROFILE, TRT_WORKSPACE_MIB
from vinr_zoo.errors import ModelLoadError, OptionError, RuntimeUnavailable, VinrError, first_line

# One optimization profile over N, min / opt / max (docs/CONVENTIONS.md, "TensorRT engines").
DEFAULT_MIN_BATCH, DEFAULT_OPT_BATCH, DEFAULT_MAX_BATCH = TRT_PROFILE
# TensorRT dimensions are int32; keep N (and N x width activations) well inside that.
MAX_BATCH_LIMIT = 1 << 27
# Scratch memory for tactics (cuBLAS GEMMs); activations are not part of it. MiB.
DEFAULT_WORKSPACE_MIB = TRT_WORKSPACE_MIB
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
                raise OptionError(f"{name}_batch", f"must be an integer in [1, {MAX_BATCH_LIMIT:,}], got {value!r}")
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
        return None, (False, f"cannot load tensorrt's libraries ({first_line(exc)}); {INSTALL_HINT}")
    version = str(getattr(trt, "__version__", ""))
    major = re.match(r"\d+", version)
    if major is None or int(major.group()) < MIN_TENSORRT_MAJOR:
        return None, (
            False,
            f"needs TensorRT >= {MIN_TENSORRT_MAJOR}, found {version or 'unknown'}: pip install -U 'vinr-zoo[trt]'",
        )
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
        raise OptionError("device", f"{device}: torch sees {torch.cuda.device_count()} CUDA GPU(s)")
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
            raise ModelLoadError(f"{where} is not valid vinr-zoo engine metadata ({first_line(exc)})") from None
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
        raise ModelLoadError(f"cannot read {meta}: {first_line(exc)}") from None
    return EngineInfo.from_json(text, str(meta))


def check_engine(
    engine: str | os.PathLike[str],
    info: EngineInfo,
    gpu: GpuInfo,
    tensorrt_version: str,
    precision: str | None = None,
    onnx_sha256: str | None = None,
) -> None:
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


# ---- logging --------------------------------------------------------------------------------------
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
            return first_line(errors[-1]) if errors else default

    return _Collector()


_LOGGERS: dict[int, tuple] = {}


def shared_logger(trt):
    """One logger per process and ``tensorrt`` module (TensorRT warns when builders and runtimes differ)."""
    held = _LOGGERS.get(id(trt))
    if held is None or held[0] is not trt:  # the module is held too, so its id is never reused
        held = _LOGGERS[id(trt)] = (trt, make_logger(trt))
    return held[1]


def default_cache_dir() -> Path:
    """Where engines built on first use and the shared timing caches live (``$XDG_CACHE_HOME/vinr-zoo/trt``)."""
    return cache_dir("trt")
