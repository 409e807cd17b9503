"""Model → ONNX file: the family's graph (`VinrModel.onnx_graph`) wrapped in a model under the contract,
checked, validated against torch and written atomically. Reading files back is `vinr_zoo.onnx_file`.

The sine MLP's graph is built node by node from its folded weights.

Why ``onnx.helper`` rather than ``torch.onnx.export`` (measured here: torch 2.13 CPU, onnx 1.23, ORT 1.32,
width 256 × 4 sine layers, N = 100,000):

- ``onnx.helper`` from the folded weights: ≈ 70 ms; the graph is exactly MatMul + Add + Sin (14 nodes),
  holding the same fp32 numbers the torch backend multiplies; max |ORT − torch forward| = 1.5e-7; one
  self-contained file; no dependency on torch's exporter, and the fp16 variant (first layer kept in fp32,
  casts inside) is a few lines instead of a post-pass over an exported graph.
- TorchScript exporter (``dynamo=False``, deprecated in torch 2.x): ≈ 150 ms, Gemm + Mul + Sin + Constant
  (ω applied by a Mul per layer, 19 nodes), max error 1.0e-7.
- ``dynamo=True``: needs the ``onnxscript`` package (not installed here: ``ModuleNotFoundError``); it
  works where installed but writes ``.onnx.data`` external data for larger models and prints progress
  unless ``verbose=False``.

``onnx`` is an optional extra, so it is imported here only; a missing package raises `RuntimeUnavailable`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vinr_zoo._atomic import atomic_path, check_output
from vinr_zoo.contract import (
    COORDINATE_CONVENTION,
    META_CONFIG,
    META_CONVENTION,
    META_PRECISION,
    META_VERSION,
    PRECISIONS,
    SPEC,
    OnnxSpec,
    require_onnx,
)
from vinr_zoo.errors import OptionError, VinrError
from vinr_zoo.export.validate import validate_onnx
from vinr_zoo.runtimes.ort import max_supported_opset
from vinr_zoo.version import __version__

# Protobuf refuses messages over 2 GiB; stay clear of it instead of failing inside onnx.
MAX_INLINE_BYTES = 1_800_000_000


# ---- opsets ------------------------------------------------------------------------------------
def default_opset(spec: OnnxSpec = SPEC) -> int:
    """The oldest opset that expresses the graph (17): the file then opens on old runtimes too.

    MatMul, Add, Sin, Cast and Floor are unchanged for float32 from opset 17 to 28, so a newer opset buys
    nothing; with 28 (the newest onnx 1.23 knows) onnxruntime 1.17 refuses the IR version and
    onnxruntime-web 1.30 the opset. ``opset=`` raises it.
    """
    return spec.min_opset


def check_opset(opset: int, spec: OnnxSpec = SPEC, *, for_tensorrt: bool = False) -> int:
    onnx = require_onnx()
    newest = onnx.defs.onnx_opset_version()
    if for_tensorrt:
        newest = min(newest, spec.max_trt_opset)
    if not isinstance(opset, int) or isinstance(opset, bool) or not spec.min_opset <= opset <= newest:
        limit = "TensorRT's ONNX parser" if for_tensorrt else f"onnx {onnx.__version__}"
        raise OptionError("opset", f"must be an integer in [{spec.min_opset}, {newest}] ({limit}), got {opset!r}")
    ort_max = max_supported_opset()
    if ort_max is not None and opset > ort_max:
        raise OptionError("opset", f"{opset} is newer than the installed onnxruntime runs (at most {ort_max})")
    return opset


# ---- building ----------------------------------------------------------------------------------
def build_onnx(model, *, opset: int | None = None, precision: str = "fp32", spec: OnnxSpec = SPEC):
    """The `onnx.ModelProto` of ``model`` (any registered family) under the ONNX contract.

    The family builds the nodes (`VinrModel.onnx_graph`); this adds the graph's I/O with a dynamic N, the
    opset, the lowest IR version that opset allows (so older runtimes still open the file) and the
    metadata a bare file needs to be decoded.
    """
    onnx = require_onnx()
    helper, TensorProto = onnx.helper, onnx.TensorProto
    if precision not in PRECISIONS:
        raise OptionError("precision", f"must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    opset = default_opset(spec) if opset is None else check_opset(opset, spec)
    config = model.config
    nodes, initializers = model.onnx_graph(precision=precision, spec=spec)
    nbytes = sum(t.ByteSize() for t in initializers)
    if nbytes > MAX_INLINE_BYTES:
        raise VinrError(f"the model holds {nbytes / 1e9:.1f} GB of weights, too many for a single-file ONNX export")
    n = spec.dynamic_axis
    graph = helper.make_graph(
        nodes,
        config.architecture,
        [helper.make_tensor_value_info(spec.input_name, TensorProto.FLOAT, [n, spec.in_features])],
        [helper.make_tensor_value_info(spec.output_name, TensorProto.FLOAT, [n, spec.out_features])],
        initializers,
        doc_string=f"vinr-zoo {config.TITLE}: (x, y, t) -> RGB.",
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="vinr-zoo",
        producer_version=__version__,
        doc_string=f"vinr-zoo {config.TITLE}, {config.describe_shape()}, {precision}",
    )
    proto.ir_version = helper.find_min_ir_version_for(list(proto.opset_import))
    helper.set_model_props(
        proto,
        {
            META_CONFIG: config.to_json(),
            META_CONVENTION: COORDINATE_CONVENTION,
            META_PRECISION: precision,
            META_VERSION: __version__,
        },
    )
    return proto


def check_onnx(proto) -> None:
    """``onnx.checker.check_model(full_check=True)`` (strict shape inference); a failure is our bug."""
    onnx = require_onnx()
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise VinrError(f"the exported graph fails onnx.checker: {str(exc).splitlines()[0]}") from None


# ---- export + validate ------------------------------------------------------------------------
@dataclass
class ExportResult:
    paths: dict[str, Path]  # precision -> written file
    opset: int
    validation: dict = field(default_factory=dict)  # precision -> ValidationReport (when validated)


def export_onnx(
    model,
    out_dir: str | os.PathLike[str],
    *,
    opset: int | None = None,
    fp16: bool = False,
    validate: bool = True,
    atol: float | None = None,
    atol_fp16: float | None = None,
    overwrite: bool = False,
    spec: OnnxSpec = SPEC,
) -> ExportResult:
    """Write ``out_dir/model.onnx`` (and ``model.fp16.onnx`` with ``fp16``), each checked and validated.

    Every file is written to a temporary name, checked with ``onnx.checker`` (full check), validated
    against ``model`` in ONNX Runtime (unless ``validate=False``) and only then renamed into place, so a
    failed check leaves nothing behind. Existing files are refused unless ``overwrite``.
    """
    require_onnx()
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OptionError("output", f"{out_dir} must be a folder (the export writes model.onnx into it)")
    precisions = ["fp32", "fp16"] if fp16 else ["fp32"]
    targets = {p: out_dir / spec.file_names[p] for p in precisions}
    for path in targets.values():
        check_output(path, overwrite)
    opset = default_opset(spec) if opset is None else check_opset(opset, spec)
    tolerances = {"fp32": atol, "fp16": atol_fp16}
    for name, value in tolerances.items():
        if value is not None and not (np.isfinite(value) and value > 0):
            raise VinrError(f"the {name} tolerance must be a finite number > 0, got {value}")

    result = ExportResult(paths=dict(targets), opset=opset)
    with contextlib.ExitStack() as stack:
        for precision, path in targets.items():
            proto = build_onnx(model, opset=opset, precision=precision, spec=spec)
            check_onnx(proto)
            tmp = stack.enter_context(atomic_path(path))
            tmp.write_bytes(proto.SerializeToString())
            if validate:
                tol = tolerances[precision] if tolerances[precision] is not None else spec.atol(precision)
                result.validation[precision] = validate_onnx(
                    model, tmp, precision=precision, atol=tol, label=path.name, spec=spec
                )
        # Leaving the stack renames every temp file into place; an exception above removed them all.
    return result
