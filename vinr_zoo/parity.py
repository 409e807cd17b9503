"""Do the runtimes agree? Render one grid on torch and on each other runtime and compare (Polygraphy-style).

`check_parity` renders the same space-time grid (by default a non-integer one: ``scale_s`` 1.5,
``scale_t`` 2.5, first 3 frames) plus random coordinates on the torch backend, the reference, and on every
other runtime asked for, and returns a `ParityReport`: per runtime the max and mean abs error, the PSNR
between the renders, and the fraction of 8-bit pixels that differ; ``bool(report)`` is pass/fail.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vinr_zoo.decode import ModelSource, open_backend, render, resolve_source, source_grid, to_uint8, to_unit
from vinr_zoo.errors import VinrError
from vinr_zoo.export.spec import SPEC
from vinr_zoo.metrics import PsnrAccumulator

REFERENCE = "torch"
DEFAULT_SCALE_S = 1.5
DEFAULT_SCALE_T = 2.5
DEFAULT_FRAMES = 3
DEFAULT_RANDOM = 16384
# Config fields that decide the function a file computes; --onnx must match the model on all of them.
_ARCH_FIELDS = ("in_features", "out_features", "hidden_features", "hidden_layers", "first_omega_0",
                "hidden_omega_0", "time_omega_0")  # fmt: skip


@dataclass
class RuntimeParity:
    """One runtime against the reference."""

    runtime: str
    details: str
    precision: str
    atol: float
    max_8bit_diff: float
    max_abs: float
    mean_abs: float
    psnr: float  # dB between the two renders, RGB clamped to [0, 1]
    frac_8bit: float  # fraction of rendered pixels whose uint8 RGB differs in any channel
    values: int

    @property
    def failures(self) -> list[str]:
        out = []
        if not self.max_abs <= self.atol:  # NaN fails
            out.append(f"{self.runtime}: max abs error {self.max_abs:.3g} > atol {self.atol:g}")
        if not self.frac_8bit <= self.max_8bit_diff:
            out.append(
                f"{self.runtime}: {self.frac_8bit:.4%} of 8-bit pixels differ from {REFERENCE} "
                f"(allowed {self.max_8bit_diff:.4%})"
            )
        return out

    def __bool__(self) -> bool:
        return not self.failures


@dataclass
class ParityReport:
    reference: str
    inputs: str
    results: list[RuntimeParity] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.results) and all(self.results)

    @property
    def failures(self) -> list[str]:
        return [f for r in self.results for f in r.failures]

    def table(self) -> str:
        """A plain-text table, one row per runtime (the CLI prints it)."""
        head = ("runtime", "precision", "max abs", "mean abs", "PSNR dB", "8-bit px differ", "atol", "result")
        rows = [head]
        for r in self.results:
            psnr = "inf" if math.isinf(r.psnr) else f"{r.psnr:.1f}"
            rows.append((r.runtime, r.precision, f"{r.max_abs:.2e}", f"{r.mean_abs:.2e}", psnr,
                         f"{r.frac_8bit:.4%}", f"{r.atol:.0e}", "ok" if r else "FAIL"))  # fmt: skip
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        lines = [f"reference: {self.reference}", f"inputs: {self.inputs}"]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
        lines += [f"{r.runtime}: {r.details}" for r in self.results]
        return "\n".join(lines)


class _Accumulator:
    """Error statistics over float outputs and 8-bit renders, streamed frame by frame."""

    def __init__(self) -> None:
        self.max_abs = 0.0
        self.sum_abs = 0.0
        self.values = 0
        self.psnr = PsnrAccumulator()
        self.pixels = 0
        self.pixels_differ = 0

    def add(self, ref: np.ndarray, got: np.ndarray, *, image: bool) -> None:
        diff = np.abs(np.asarray(got, np.float64) - np.asarray(ref, np.float64))
        if not np.isfinite(diff).all():
            self.max_abs = math.nan
        elif not math.isnan(self.max_abs):
            self.max_abs = max(self.max_abs, float(diff.max(initial=0.0)))
        self.sum_abs += float(np.nansum(diff))
        self.values += diff.size
        if image:
            self.psnr.add(to_unit(ref), to_unit(np.nan_to_num(got, nan=0.0)))
            differ = np.any(to_uint8(ref) != to_uint8(np.nan_to_num(got, nan=0.0)), axis=-1)
            self.pixels += differ.size
            self.pixels_differ += int(differ.sum())

    @property
    def mean_abs(self) -> float:
        return self.sum_abs / max(self.values, 1) if not math.isnan(self.max_abs) else math.nan


def check_parity(
    model,
    runtimes: list[str] | tuple[str, ...] = ("ort",),
    *,
    onnx: str | os.PathLike[str] | None = None,
    atol: float | None = None,
    max_8bit_diff: float | None = None,
    scale_s: float = DEFAULT_SCALE_S,
    scale_t: float = DEFAULT_SCALE_T,
    frames: int | None = DEFAULT_FRAMES,
    n_random: int = DEFAULT_RANDOM,
    seed: int = 0,
    device: str = "cpu",
    batch: int = 65536,
) -> ParityReport:
    """Compare every runtime in ``runtimes`` with the torch backend on one grid plus random coordinates.

    ``onnx`` picks the file the ``ort`` runtime loads (default: the model directory's model.onnx, else an
    in-memory export). ``atol`` and ``max_8bit_diff`` (the fraction of decoded 8-bit pixels allowed to
    differ) default to the contract's values for the file's precision (`OnnxSpec`).
    """
    src = resolve_source(model)
    src.require_model()  # the reference needs torch weights
    if atol is not None and not (math.isfinite(atol) and atol > 0):
        raise VinrError(f"--atol must be a finite number > 0, got {atol}")
    if max_8bit_diff is not None and not 0 <= max_8bit_diff <= 1:
        raise VinrError(f"the allowed fraction of differing 8-bit pixels must be in [0, 1], got {max_8bit_diff}")
    if n_random < 0:
        raise VinrError(f"--random must be >= 0, got {n_random}")
    others = [r for r in dict.fromkeys(runtimes) if r != REFERENCE]
    if not others:
        raise VinrError(f"name at least one runtime to compare with {REFERENCE} (e.g. --runtime ort)")
    if onnx is not None:
        src = _with_onnx(src, Path(onnx))

    grid = source_grid(src.config, scale_s=scale_s, scale_t=scale_t)
    if frames is not None:
        grid = grid.head(frames)
    random = torch.rand(n_random, SPEC.in_features, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    inputs = (f"{grid.width}x{grid.height}, {grid.frames} frame(s) at scale_s {scale_s:g}, scale_t {scale_t:g}"
              f" + {n_random:,} random coords")  # fmt: skip

    with open_backend(src, REFERENCE, device=device) as ref_backend:
        reference = ref_backend.describe()
        ref_frames = list(render(ref_backend, grid, batch=batch))
        ref_random = ref_backend.infer(random).numpy() if n_random else None

    report = ParityReport(reference=reference, inputs=inputs)
    for name in others:
        acc = _Accumulator()
        # An explicit --onnx file is compared whatever fit it came from (same network shape checked above).
        options = {"expect_config": None} if onnx is not None and name == "ort" else {}
        with open_backend(src, name, device=device, **options) as backend:
            details = backend.describe()
            precision = getattr(backend, "precision", "fp32")
            for ref, got in zip(ref_frames, render(backend, grid, batch=batch), strict=True):
                acc.add(ref, got, image=True)
            if ref_random is not None:
                acc.add(ref_random, backend.infer(random).numpy(), image=False)
        report.results.append(
            RuntimeParity(
                runtime=name, details=details, precision=precision,
                atol=atol if atol is not None else SPEC.atol(precision),
                max_8bit_diff=max_8bit_diff if max_8bit_diff is not None else SPEC.max_8bit_diff(precision),
                max_abs=acc.max_abs, mean_abs=acc.mean_abs, psnr=acc.psnr.psnr,
                frac_8bit=acc.pixels_differ / max(acc.pixels, 1), values=acc.values,
            )
        )  # fmt: skip
    return report


def _with_onnx(src: ModelSource, path: Path) -> ModelSource:
    """``src`` with its ONNX file replaced by ``path``, after checking the file encodes the same network."""
    from vinr_zoo.export.onnx import inspect_onnx

    info = inspect_onnx(path)
    mismatched = [k for k in _ARCH_FIELDS if getattr(info.config, k) != getattr(src.config, k)]
    if mismatched:
        pairs = ", ".join(f"{k} {getattr(info.config, k)} vs {getattr(src.config, k)}" for k in mismatched)
        raise VinrError(f"--onnx {path} encodes a different network than {src.location}: {pairs}")
    return dataclasses.replace(src, onnx_path=path)
