"""The TensorRT backend (``--runtime trt``): a serialized engine run on a CUDA GPU with torch device buffers.

Which engine: an explicit ``.engine`` file, else one for this GPU, TensorRT version and precision found
beside the model's ONNX (written by ``vinr export --trt``), else one built on first use from the ONNX by
the ``build`` callable the caller passes (the decode layer passes the exporter's `export_engine`; a runner
never exports, after Polygraphy's loaders) and cached under ``$XDG_CACHE_HOME/vinr-zoo/trt/<first 16 hex
digits of the ONNX sha256>/``, so a model folder is never written to implicitly. Without
an explicit ``precision`` an fp32 engine is preferred, then an fp16 one; a build is fp32. Every
engine's JSON is checked before TensorRT sees the plan: another GPU, TensorRT version or precision, or an
engine built from another ONNX, raises `EngineMismatch` with one line instead of a crash.

Inference: coordinates come as a CPU ``[N, 3]`` tensor (the `Backend` contract); N is split into pieces
within the engine's profile (`BatchProfile.pieces`: at most ``max`` rows; a piece under ``min`` rows is
padded with zeros and the padded outputs dropped), each copied into a preallocated CUDA buffer, run with
``execute_async_v3`` on torch's current stream and copied back.

``device``: TensorRT is GPU-only, so ``"cpu"`` (the decoder's default) and ``"cuda"`` mean the current
GPU; ``"cuda:i"`` picks one. ``tensorrt`` is imported lazily, only when the backend is opened.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import torch

from vinr_zoo import engine_file as ef
from vinr_zoo.checksums import sha256_bytes
from vinr_zoo.contract import PRECISIONS, SPEC
from vinr_zoo.errors import ModelLoadError, OptionError, RuntimeUnavailable, ShapeError, VinrError
from vinr_zoo.onnx_file import inspect_onnx
from vinr_zoo.runtimes.base import Backend, loaded, register_backend

# Builds an engine: (ONNX bytes, output folder, precision, profile, workspace MiB, device) → engine path.
EngineBuilder = Callable[..., Path]


@register_backend
class TrtBackend(Backend):
    """TensorRT over an ``.engine`` file, or over an ``.onnx`` file / ONNX bytes (engine found or built)."""

    name = "trt"
    # Where the I/O buffers live. Always "cuda" in use; tests with a fake tensorrt module set "cpu".
    buffer_device_type = "cuda"

    def __init__(
        self,
        model: str | os.PathLike[str] | bytes | Callable[[], bytes],
        *,
        device: str | None = "cuda",
        precision: str | None = None,
        profile=None,
        workspace_mib: int | None = None,
        chunk: int | None = None,
        search_dirs: list[str | os.PathLike[str]] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        build: EngineBuilder | None = None,
        label: str | None = None,
        expect_config=None,
    ):
        super().__init__()
        if isinstance(model, torch.nn.Module) or not (isinstance(model, (bytes, str, os.PathLike)) or callable(model)):
            raise VinrError(f"the trt backend needs an .engine or .onnx path or ONNX bytes, got {type(model).__name__}")
        if precision is not None and precision not in PRECISIONS:
            raise OptionError("precision", f"must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if chunk is not None and int(chunk) < 1:
            raise OptionError("chunk", f"must be positive, got {chunk}")
        self.model = model if isinstance(model, bytes) or callable(model) else Path(model)
        self.is_engine = isinstance(self.model, Path) and self.model.suffix.lower() in (".engine", ".plan")
        self.label = label or (str(self.model) if isinstance(self.model, Path) else "<in-memory ONNX>")
        if build is not None and not callable(build):
            raise VinrError("build must be a callable that builds an engine (or None)")
        self.device_arg = device
        self.requested_precision = precision
        self.profile_arg = profile  # used only when an engine has to be built
        self.workspace_mib = workspace_mib
        self.chunk_arg = None if chunk is None else int(chunk)
        if search_dirs is None:
            search_dirs = [self.model.parent] if isinstance(self.model, Path) and not self.is_engine else []
        self.search_dirs = [Path(d) for d in search_dirs]
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.build = build
        self.expect_config = expect_config
        self.precision = precision or "fp32"
        self.device = None  # the CUDA device, once open
        self.engine_path: Path | None = self.model if self.is_engine else None
        self.built = False
        self.profile = None
        self._trt_version = ""
        self._gpu = None
        self._engine = self._context = None
        self._in = self._out = None

    # ---- lifecycle ----------------------------------------------------------------------------------
    def open_impl(self) -> None:
        trt_export = ef
        trt, dev = trt_export.require_tensorrt("the trt runtime", self.device_arg)
        self.device = dev
        self._trt_version = str(trt.__version__)
        self._gpu = trt_export.current_gpu(dev)
        path = self.engine_path if self.is_engine else self._find_or_build(trt_export)
        info = trt_export.read_engine_info(path)
        trt_export.check_engine(path, info, self._gpu, self._trt_version, self.requested_precision)
        try:
            plan = path.read_bytes()
        except OSError as exc:
            raise ModelLoadError(f"cannot read {path}: {exc.strerror or exc}") from None
        if sha256_bytes(plan) != info.engine_sha256:
            raise trt_export.EngineMismatch(
                f"{path} does not match the checksum in {trt_export.metadata_path(path).name} (replaced or "
                "truncated); rebuild it with 'vinr export MODEL --trt --overwrite'"
            )
        self.engine_path, self.precision = path, info.precision
        logger = trt_export.shared_logger(trt)
        logger.messages.clear()
        with torch.cuda.device(dev):
            runtime = trt.Runtime(logger)
            engine = runtime.deserialize_cuda_engine(plan)
            if engine is None:
                raise ModelLoadError(f"TensorRT cannot deserialize {path}: {logger.last_error()}")
            self.profile = self._check_io(trt, engine, trt_export)
            context = engine.create_execution_context()
            if context is None:
                raise RuntimeUnavailable(f"TensorRT could not create an execution context: {logger.last_error()}")
            rows = max(self.profile.min, min(self.chunk_arg or self.profile.max, self.profile.max))
            buf = torch.device(self.buffer_device_type, dev.index) if self.buffer_device_type == "cuda" else "cpu"
            self._in = torch.zeros(rows, SPEC.in_features, device=buf, dtype=torch.float32)
            self._out = torch.empty(rows, SPEC.out_features, device=buf, dtype=torch.float32)
        self._runtime, self._engine, self._context, self._logger = runtime, engine, context, logger

    def _find_or_build(self, trt_export) -> Path:
        data = self._read_onnx() if isinstance(self.model, Path) else loaded(self.model)
        sha = sha256_bytes(data)
        wanted = [self.requested_precision] if self.requested_precision else ["fp32", "fp16"]
        cache = (self.cache_dir or trt_export.default_cache_dir()) / sha[:16]
        for folder in [*self.search_dirs, cache]:
            for precision in wanted:
                path = folder / trt_export.engine_file_name(self._gpu, self._trt_version, precision)
                if path.is_file():
                    info = trt_export.read_engine_info(path)
                    trt_export.check_engine(path, info, self._gpu, self._trt_version, precision, onnx_sha256=sha)
                    return path
        if self.build is None:
            raise ModelLoadError(
                f"no TensorRT engine for {self._gpu.name} / TensorRT {self._trt_version} ({'/'.join(wanted)}) "
                f"beside {self.label}; build one with 'vinr export MODEL --trt'"
            )
        options = {"workspace_mib": self.workspace_mib} if self.workspace_mib is not None else {}
        engine = self.build(
            data,
            cache,
            precision=wanted[0],
            profile=self.profile_arg,
            device=str(self.device),
            overwrite=True,
            what="the trt runtime",
            **options,
        )
        self.built = True
        return engine

    def _read_onnx(self) -> bytes:
        if not self.model.is_file():
            raise ModelLoadError(f"ONNX file {self.model} not found")
        if self.expect_config is not None:
            if inspect_onnx(self.model).config.to_json() != self.expect_config.to_json():
                raise ModelLoadError(
                    f"{self.label} was not exported from the config.json beside it (an older fit?); "
                    "re-export it with 'vinr export --trt --overwrite'"
                )
        return self.model.read_bytes()

    def _check_io(self, trt, engine, trt_export):
        """The engine's I/O must be the ONNX contract; returns its optimization profile over N."""
        io = {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            io[name] = (engine.get_tensor_mode(name), engine.get_tensor_dtype(name))
        want = {SPEC.input_name: trt.TensorIOMode.INPUT, SPEC.output_name: trt.TensorIOMode.OUTPUT}
        if set(io) != set(want) or any(io[n][0] != mode for n, mode in want.items()):
            raise ShapeError(f"{self.engine_path} does not follow the ONNX contract: tensors {sorted(io)}")
        bad = [n for n, (_, dtype) in io.items() if dtype != trt.float32]
        if bad:
            raise ShapeError(f"{self.engine_path}: tensor(s) {', '.join(bad)} are not float32")
        lo, opt, hi = (tuple(s) for s in engine.get_tensor_profile_shape(SPEC.input_name, 0))
        return trt_export.BatchProfile(int(lo[0]), int(opt[0]), int(hi[0]))

    def close_impl(self) -> None:
        # Context before engine before runtime: TensorRT objects must not outlive what created them.
        self._context = self._engine = self._runtime = None
        self._in = self._out = None

    def describe(self) -> str:
        if self._engine is None:
            return "TensorRT (cuda)"
        built = ", built now" if self.built else ""
        return (
            f"TensorRT {self._trt_version} ({self._gpu.name}, {self.precision}, profile {self.profile.describe()}, "
            f"{self.engine_path.name}{built})"
        )

    # ---- inference ----------------------------------------------------------------------------------
    def _stream(self) -> int:
        return torch.cuda.current_stream(self.device).cuda_stream if self._in.is_cuda else 0

    def infer_impl(self, coords: torch.Tensor) -> torch.Tensor:
        n = coords.shape[0]
        out = torch.empty(n, SPEC.out_features, dtype=torch.float32)
        ctx = self._context
        with torch.cuda.device(self.device) if self._in.is_cuda else contextlib.nullcontext():
            for start, stop, rows in self.profile.pieces(n, self._in.shape[0]):
                m = stop - start
                x, y = self._in[:rows], self._out[:rows]
                x[:m].copy_(coords[start:stop])
                if rows > m:
                    x[m:].zero_()
                if not ctx.set_input_shape(SPEC.input_name, (rows, SPEC.in_features)):
                    raise VinrError(f"TensorRT refused {rows} rows (profile {self.profile.describe()})")
                ctx.set_tensor_address(SPEC.input_name, x.data_ptr())
                ctx.set_tensor_address(SPEC.output_name, y.data_ptr())
                if not ctx.execute_async_v3(self._stream()):
                    raise VinrError(
                        f"TensorRT inference failed on {self.engine_path.name}: {self._logger.last_error()}"
                    )
                # A copy to pageable host memory on the current stream waits for the engine to finish.
                out[start:stop].copy_(y[:m])
        return out
