"""The ONNX Runtime backend (``--runtime ort``): a model.onnx file, serialized bytes, or a loader returning them.

CPU: ORT's ``Sin`` kernel runs on one thread and ≈ 6x slower than torch's, so one
``run()`` over a large batch leaves the other cores idle during every sine. Instead a small pool of
threads (one per core) keeps several ``run()`` calls on 1,024-row chunks in flight on one session
(``run`` is thread-safe), each with ``intra_op_num_threads=1``: the sines of different chunks overlap
and no OpenMP-style barrier stalls when a neighbour process takes a core. Measured on the 2-vCPU dev
machine (loaded by other jobs), width 256 x 4, N = 65,536, interleaved medians: one run() 0.099 Mpx/s,
sequential 8,192-row run()s 0.085, this pool 0.184 (1.9x one run(); 0.75x the torch backend, whose
numpy sine is faster than ORT's). Chunks of 512-4,096 rows and 3 workers on 2 cores measured within
noise of this. The graph stays plain MatMul + Add + Sin: a range-reduced polynomial sine built from
Mul/Add measured slower than ORT's Sin.

GPU (``device="cuda"``, needs onnxruntime-gpu): TensorRT EP if present, else CUDA EP, with large chunks
and I/O binding so outputs are copied back once per chunk.

``onnxruntime`` is imported lazily, only here: the package is optional (``pip install 'vinr-zoo[onnx]'``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from vinr_zoo.contract import META_CONFIG, META_PRECISION, SPEC, TRT_PROFILE, contract_problems
from vinr_zoo.errors import ModelLoadError, OptionError, RuntimeUnavailable, ShapeError, VinrError
from vinr_zoo.errors import first_line as _first_line
from vinr_zoo.onnx_file import check_onnx_file
from vinr_zoo.runtimes.base import Backend, loaded, missing_package, register_backend

DEFAULT_CHUNK_CPU = 1024
DEFAULT_CHUNK_GPU = 262144
_GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
# ORT tensor type strings → numpy dtype names (what the contract check compares).
_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64"}


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise missing_package("ort", "onnxruntime") from None
    return onnxruntime


def max_supported_opset() -> int | None:
    """Newest ai.onnx opset the installed onnxruntime has both schemas and CPU kernels for; None without ORT.

    ORT publishes no public call for this, so read its registries (pybind internals, guarded): the
    schema registry says which ONNX release it was built with, the kernel registry what it implements.
    """
    try:
        import onnxruntime  # noqa: F401
        from onnxruntime.capi import _pybind_state as capi
    except ImportError:
        return None
    try:
        schemas = max(s.since_version for s in capi.get_all_operator_schema() if s.domain in ("", "ai.onnx"))
        kernels = max(
            k.version_range[0]
            for k in capi.get_all_opkernel_def()
            if k.domain in ("", "ai.onnx") and k.provider == "CPUExecutionProvider"
        )
    except (AttributeError, ValueError, RuntimeError):
        return None
    return min(schemas, kernels)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@register_backend
class OrtBackend(Backend):
    """ONNX Runtime over a file or serialized model that follows the ONNX contract.

    ``threads``: CPU threads in all (default: every core this process may use); on CPU that many
    concurrent ``run()`` calls of ``chunk`` rows each. ``device``: ``"cpu"`` or ``"cuda[:i]"``.
    """

    name = "ort"

    def __init__(
        self,
        model: str | os.PathLike[str] | bytes | Callable[[], bytes],
        *,
        device: str = "cpu",
        threads: int | None = None,
        chunk: int | None = None,
        label: str | None = None,
        expect_config=None,
    ):
        super().__init__()
        # A model directory's config: its model.onnx must have been exported from the same config.json.
        self.expect_config = expect_config
        if isinstance(model, torch.nn.Module) or not (isinstance(model, (bytes, str, os.PathLike)) or callable(model)):
            raise VinrError(f"the ort backend needs an .onnx path or serialized ONNX bytes, got {type(model).__name__}")
        self.model = model if isinstance(model, bytes) or callable(model) else Path(model)
        self.label = label or (str(self.model) if isinstance(self.model, Path) else "<in-memory ONNX>")
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError):
            raise VinrError(f"unknown device {device!r} (use cpu or cuda)") from None
        if dev.type not in ("cpu", "cuda"):
            raise VinrError(f"the ort backend runs on cpu or cuda, not {device!r}")
        self.device = dev
        self.threads = max(1, int(threads)) if threads is not None else _cpu_count()
        default_chunk = DEFAULT_CHUNK_GPU if dev.type == "cuda" else DEFAULT_CHUNK_CPU
        self.chunk = int(chunk) if chunk is not None else default_chunk
        if self.chunk < 1:
            raise OptionError("chunk", f"must be positive, got {chunk}")
        if dev.type == "cuda":
            self.chunk = min(self.chunk, TRT_PROFILE[2])
        self.precision = "fp32"
        self._session = None
        self._pool: ThreadPoolExecutor | None = None
        self._ort_version = ""

    # ---- lifecycle --------------------------------------------------------------------------------
    def open_impl(self) -> None:
        ort = import_onnxruntime()
        self._ort_version = ort.__version__
        if isinstance(self.model, Path):
            if not self.model.is_file():
                raise ModelLoadError(f"ONNX file {self.model} not found")
            # Checked before onnxruntime parses it: an ONNX model, the I/O contract, and no external data
            # outside its folder (a session would read any file the graph names). Bytes are our own exports.
            try:
                check_onnx_file(self.model)
            except ModelLoadError as exc:
                raise ModelLoadError(f"{self.label} cannot be loaded by onnxruntime: {exc}") from None
        gpu = self.device.type == "cuda"
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # errors only: ORT's warnings would go straight to stderr
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.inter_op_num_threads = 1
        # CPU: parallelism comes from concurrent run() calls, one intra-op thread each (see module doc).
        opts.intra_op_num_threads = 1 if not gpu else self.threads
        providers = self._providers(ort) if gpu else ["CPUExecutionProvider"]
        model = str(self.model) if isinstance(self.model, Path) else loaded(self.model)
        try:
            session = ort.InferenceSession(model, sess_options=opts, providers=providers)
        except Exception as exc:  # ORT raises its own pybind exception types (InvalidProtobuf, Fail, ...)
            raise ModelLoadError(f"{self.label} cannot be loaded by onnxruntime: {_first_line(exc)}") from None
        problems = contract_problems(
            [(i.name, _ORT_TYPES.get(i.type, i.type), _shape(i.shape)) for i in session.get_inputs()],
            [(o.name, _ORT_TYPES.get(o.type, o.type), _shape(o.shape)) for o in session.get_outputs()],
        )
        if problems:
            raise ShapeError(f"{self.label} does not follow the ONNX contract: {'; '.join(problems)}")
        if gpu and session.get_providers()[0] not in _GPU_PROVIDERS:
            raise RuntimeUnavailable(
                f"onnxruntime could not start a GPU execution provider for {self.label} "
                f"(it fell back to {session.get_providers()[0]}); check the CUDA/cuDNN libraries"
            )
        meta = session.get_modelmeta().custom_metadata_map
        self.precision = meta.get(META_PRECISION, "fp32")
        if self.expect_config is not None and not _same_config(meta.get(META_CONFIG), self.expect_config):
            raise ModelLoadError(
                f"{self.label} was not exported from the config.json beside it (an older fit?); "
                "re-export it with 'vinr export --overwrite'"
            )
        self._session = session
        if not gpu and self.threads > 1:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="vinr-ort")

    def _providers(self, ort) -> list:
        available = ort.get_available_providers()
        device_id = self.device.index or 0
        chosen: list = []
        if "TensorrtExecutionProvider" in available:
            lo, opt, hi = TRT_PROFILE
            chosen.append(
                (
                    "TensorrtExecutionProvider",
                    {
                        "device_id": device_id,
                        "trt_profile_min_shapes": f"{SPEC.input_name}:{lo}x{SPEC.in_features}",
                        "trt_profile_opt_shapes": f"{SPEC.input_name}:{opt}x{SPEC.in_features}",
                        "trt_profile_max_shapes": f"{SPEC.input_name}:{hi}x{SPEC.in_features}",
                    },
                )
            )
        if "CUDAExecutionProvider" in available:
            chosen.append(("CUDAExecutionProvider", {"device_id": device_id}))
        if not chosen:
            raise RuntimeUnavailable(
                f"device cuda with the ort runtime needs onnxruntime-gpu (this onnxruntime "
                f"{ort.__version__} offers {', '.join(available)}): pip install 'vinr-zoo[trt]'"
            )
        return [*chosen, "CPUExecutionProvider"]

    def close_impl(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._session = None

    def describe(self) -> str:
        if self._session is None:
            return f"onnxruntime ({self.device})"
        provider = self._session.get_providers()[0].removesuffix("ExecutionProvider")
        how = f"{self.threads} concurrent runs x 1 thread" if self._pool is not None else f"{self.threads} thread(s)"
        if self.device.type == "cuda":
            how = f"{self.device}"
        return f"onnxruntime {self._ort_version} ({provider}, {how}, chunk {self.chunk}, {self.precision})"

    # ---- inference ----------------------------------------------------------------------------------
    def _run(self, x: np.ndarray) -> np.ndarray:
        return self._session.run([SPEC.output_name], {SPEC.input_name: x})[0]

    def _run_bound(self, x: np.ndarray) -> np.ndarray:
        binding = self._session.io_binding()
        binding.bind_cpu_input(SPEC.input_name, x)
        binding.bind_output(SPEC.output_name, "cuda", self.device.index or 0)
        self._session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]

    def infer_impl(self, coords: torch.Tensor) -> torch.Tensor:
        x = coords.numpy()
        n = x.shape[0]
        out = np.empty((n, SPEC.out_features), dtype=np.float32)
        run = self._run_bound if self.device.type == "cuda" else self._run
        chunk = self.chunk

        def job(start: int) -> None:
            part = x[start : start + chunk]
            res = run(part)
            if res.shape != (part.shape[0], SPEC.out_features):
                raise ShapeError(
                    f"{self.label}: output {SPEC.output_name!r} has shape {res.shape} for {part.shape[0]} coords, "
                    f"expected ({part.shape[0]}, {SPEC.out_features})"
                )
            out[start : start + chunk] = res

        try:
            if self._pool is None or n <= chunk:
                for start in range(0, n, chunk):
                    job(start)
            else:
                for _ in self._pool.map(job, range(0, n, chunk)):
                    pass
        except Exception as exc:
            if isinstance(exc, VinrError):
                raise
            raise VinrError(f"onnxruntime failed on {self.label}: {_first_line(exc)}") from None
        return torch.from_numpy(out)


def _same_config(text: str | None, config) -> bool:
    if text is None:
        return False
    try:
        return json.loads(text) == json.loads(config.to_json())
    except ValueError:
        return False


def _shape(dims) -> tuple | None:
    if dims is None:
        return None
    return tuple(d if isinstance(d, int) else (d or None) for d in dims)
