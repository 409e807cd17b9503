"""Does an exported file reproduce the torch model? (after Optimum's ``validate_model_outputs``)

The file runs in ONNX Runtime, through the ``ort`` backend a decoder would use, on fresh coordinates:
random ones over the whole cube, and a real render grid (a region at the non-integer scales 1.5 in space
and 2.5 in time). Checks come in order: the I/O contract (names, dtypes, dynamic N), the shape of every
result, then the max abs difference against ``atol``. Every input set is measured before one typed error
(`ShapeError` or `AtolError`) is raised, so its message names all failures.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np
import torch

from vinr_zoo.comparator import Feed, compare
from vinr_zoo.contract import SPEC, OnnxSpec, require_onnx
from vinr_zoo.coords import SpaceTimeGrid
from vinr_zoo.errors import AtolError
from vinr_zoo.runtimes.ort import OrtBackend

# The render grid: a source region this big (or the whole frame, if smaller), at these scales, this many frames.
GRID_REGION = 128
GRID_SCALE_S = 1.5
GRID_SCALE_T = 2.5
GRID_FRAMES = 2
# A model without a source video is checked on a grid over this pseudo source.
FALLBACK_SOURCE = (64, 48, 8)


@dataclass
class OutputCheck:
    """One input set: how far the file's output is from torch's."""

    inputs: str
    rows: int
    max_abs: float
    mean_abs: float


@dataclass
class ValidationReport:
    label: str
    precision: str
    atol: float
    runtime: str
    checks: list[OutputCheck] = field(default_factory=list)

    @property
    def max_abs(self) -> float:
        return max((c.max_abs for c in self.checks), default=0.0)

    def __bool__(self) -> bool:
        return all(c.max_abs <= self.atol for c in self.checks)  # NaN compares False: fails

    def summary(self) -> str:
        rows = sum(c.rows for c in self.checks)
        sets = " + ".join(c.inputs for c in self.checks)
        return f"max abs diff {self.max_abs:.2e} <= atol {self.atol:.0e} on {rows:,} coords ({sets})"


def validation_inputs(config, *, n_random: int = 4096, seed: int = 0) -> list[tuple[str, torch.Tensor]]:
    """Fresh coordinates: uniform random in [-1, 1]^3, and a region of a non-integer-scale render grid."""
    gen = torch.Generator().manual_seed(seed)
    sets = [("random", torch.rand(n_random, 3, generator=gen) * 2 - 1)] if n_random else []
    src = config.source
    w, h, t = (src.width, src.height, src.frames) if src is not None else FALLBACK_SOURCE
    rw, rh = min(w, GRID_REGION), min(h, GRID_REGION)
    grid = SpaceTimeGrid.build(
        w, h, t, scale_s=GRID_SCALE_S, scale_t=GRID_SCALE_T, roi=((w - rw) // 2, (h - rh) // 2, rw, rh)
    ).head(GRID_FRAMES)
    label = f"grid {grid.width}x{grid.height}x{grid.frames} @ {GRID_SCALE_S:g}/{GRID_SCALE_T:g}"
    sets.append((label, grid.coords(0, len(grid))))
    return sets


@torch.inference_mode()
def reference_outputs(model, coords: torch.Tensor, chunk: int = 8192, spec: OnnxSpec = SPEC) -> torch.Tensor:
    """The torch model's own forward (ω not folded), in cache-sized chunks, on its device."""
    device = next(model.parameters()).device
    out = torch.empty(coords.shape[0], spec.out_features)
    for s in range(0, coords.shape[0], chunk):
        out[s : s + chunk] = model(coords[s : s + chunk].to(device)).float().cpu()
    return out


def validate_onnx(
    model,
    onnx_model: str | os.PathLike[str] | bytes,
    *,
    precision: str = "fp32",
    atol: float | None = None,
    label: str | None = None,
    inputs: list[tuple[str, torch.Tensor]] | None = None,
    device: str = "cpu",
    spec: OnnxSpec = SPEC,
) -> ValidationReport:
    """Run ``onnx_model`` in ONNX Runtime and compare with ``model``; raise `ShapeError` / `AtolError`."""
    atol = spec.atol(precision) if atol is None else float(atol)
    label = label or (str(onnx_model) if not isinstance(onnx_model, bytes) else "<in-memory ONNX>")
    feeds = [Feed(name, coords) for name, coords in (validation_inputs(model.config) if inputs is None else inputs)]
    expected = [reference_outputs(model, f.coords, spec=spec).numpy() for f in feeds]
    report = ValidationReport(label, precision, atol, runtime="")
    with OrtBackend(onnx_model, device=device, label=label) as backend:  # opening checks the I/O contract
        report.runtime = backend.describe()
        for feed, stats in compare(backend, feeds, expected, label=label, spec=spec):
            report.checks.append(OutputCheck(feed.label, stats.rows, stats.max_abs, stats.mean_abs))
    if not report:
        failed = [c for c in report.checks if not c.max_abs <= atol]
        detail = "; ".join(f"max abs diff {c.max_abs:.3g} on {c.rows:,} coords ({c.inputs})" for c in failed)
        raise AtolError(
            f"{label} ({precision}) does not reproduce the torch model within atol {atol:g}: {detail}",
            max_abs_diff=max(c.max_abs if not math.isnan(c.max_abs) else math.inf for c in failed),
            atol=atol,
        )
    return report


def reference_evaluator_outputs(onnx_model, coords: np.ndarray) -> np.ndarray:
    """Outputs of ``onnx.reference.ReferenceEvaluator`` (pure numpy, slow): a second, independent runtime."""
    require_onnx()
    from onnx.reference import ReferenceEvaluator

    model = onnx_model if not isinstance(onnx_model, (str, os.PathLike)) else str(onnx_model)
    return ReferenceEvaluator(model).run(None, {SPEC.input_name: np.asarray(coords, np.float32)})[0]
