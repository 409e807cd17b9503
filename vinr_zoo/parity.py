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

import torch

from vinr_zoo.comparator import ErrorStats, Feed, combined, compare, outputs
from vinr_zoo.contract import SPEC
from vinr_zoo.decode import open_backend, source_grid
from vinr_zoo.errors import OptionError, VinrError
from vinr_zoo.onnx_file import inspect_onnx
from vinr_zoo.sources import ModelSource, resolve_source

REFERENCE = "torch"
DEFAULT_SCALE_S = 1.5
DEFAULT_SCALE_T = 2.5
DEFAULT_FRAMES = 3
DEFAULT_RANDOM = 16384
PARITY_COLUMNS = ("runtime", "precision", "max abs", "mean abs", "PSNR dB", "8-bit px differ", "atol", "result")


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

    def row(self) -> tuple[str, ...]:
        """The values of `PARITY_COLUMNS`, formatted."""
        psnr = "inf" if math.isinf(self.psnr) else f"{self.psnr:.1f}"
        return (
            self.runtime,
            self.precision,
            f"{self.max_abs:.2e}",
            f"{self.mean_abs:.2e}",
            psnr,
            f"{self.frac_8bit:.4%}",
            f"{self.atol:.0e}",
            "ok" if self else "FAIL",
        )


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
        """A plain-text table, one row per runtime (``vinr parity`` draws the same rows with rich)."""
        rows = [PARITY_COLUMNS] + [r.row() for r in self.results]
        widths = [max(len(row[i]) for row in rows) for i in range(len(PARITY_COLUMNS))]
        lines = [f"reference: {self.reference}", f"inputs: {self.inputs}"]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
        lines += [f"{r.runtime}: {r.details}" for r in self.results]
        return "\n".join(lines)


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
) -> ParityReport:
    """Compare every runtime in ``runtimes`` with the torch backend on one grid plus random coordinates.

    ``onnx`` picks the file the ``ort`` runtime loads (default: the model directory's model.onnx, else an
    in-memory export). ``atol`` and ``max_8bit_diff`` (the fraction of decoded 8-bit pixels allowed to
    differ) default to the contract's values for the file's precision (`OnnxSpec`).
    """
    src = resolve_source(model)
    src.require_model()  # the reference needs torch weights
    if atol is not None and not (math.isfinite(atol) and atol > 0):
        raise OptionError("atol", f"must be a finite number > 0, got {atol}")
    if max_8bit_diff is not None and not 0 <= max_8bit_diff <= 1:
        raise OptionError(
            "max_8bit_diff", f"(the allowed fraction of differing 8-bit pixels) must be in [0, 1], got {max_8bit_diff}"
        )
    if n_random < 0:
        raise OptionError("n_random", f"must be >= 0, got {n_random}")
    others = [r for r in dict.fromkeys(runtimes) if r != REFERENCE]
    if not others:
        raise VinrError(f"name at least one runtime to compare with {REFERENCE} (e.g. --runtime ort)")
    if onnx is not None:
        src = _with_onnx(src, Path(onnx))

    grid = source_grid(src.config, scale_s=scale_s, scale_t=scale_t)
    if frames is not None:
        grid = grid.head(frames)
    random = torch.rand(n_random, SPEC.in_features, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    inputs = (
        f"{grid.width}x{grid.height}, {grid.frames} frame(s) at scale_s {scale_s:g}, scale_t {scale_t:g}"
        f" + {n_random:,} random coords"
    )

    ppf = grid.pixels_per_frame
    axes = grid._axes()
    feeds = [
        Feed(f"frame {j}", grid.coords(j * ppf, (j + 1) * ppf, axes), (grid.height, grid.width))
        for j in range(grid.frames)
    ]
    if n_random:
        feeds.append(Feed("random", random))
    with open_backend(src, REFERENCE, device=device) as ref_backend:
        reference = ref_backend.describe()
        expected = outputs(ref_backend, feeds, label=reference)

    report = ParityReport(reference=reference, inputs=inputs)
    for name in others:
        # An explicit --onnx file is compared whatever fit it came from (same network shape checked above).
        options = {"expect_config": None} if onnx is not None and name == "ort" else {}
        with open_backend(src, name, device=device, **options) as backend:
            details = backend.describe()
            precision = getattr(backend, "precision", "fp32")
            stats: ErrorStats = combined(compare(backend, feeds, expected, label=details))
        report.results.append(
            RuntimeParity(
                runtime=name,
                details=details,
                precision=precision,
                atol=atol if atol is not None else SPEC.atol(precision),
                max_8bit_diff=max_8bit_diff if max_8bit_diff is not None else SPEC.max_8bit_diff(precision),
                max_abs=stats.max_abs,
                mean_abs=stats.mean_abs,
                psnr=stats.psnr,
                frac_8bit=stats.frac_8bit,
                values=stats.values,
            )
        )
    return report


def _with_onnx(src: ModelSource, path: Path) -> ModelSource:
    """``src`` with its ONNX file replaced by ``path``, after checking the file encodes the same network."""
    info = inspect_onnx(path)
    theirs, ours = _network_fields(info.config), _network_fields(src.config)
    mismatched = [k for k in sorted(set(theirs) | set(ours)) if theirs.get(k) != ours.get(k)]
    if mismatched:
        pairs = ", ".join(f"{k} {theirs.get(k)} vs {ours.get(k)}" for k in mismatched)
        raise VinrError(f"the ONNX file {path} encodes a different network than {src.location}: {pairs}")
    return dataclasses.replace(src, onnx_path=path)


def _network_fields(config) -> dict:
    """The config fields that decide the function a file computes (not where it came from or how it was fitted)."""
    return {k: v for k, v in config.to_dict().items() if k not in ("source", "training", "schema_version")}
