"""Sine MLP → ONNX, built node by node from `SineMLP.folded_layers()`, plus reading such files back.

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
  unless ``verbose=False`` (PERF_NOTES.md).

``onnx`` is an optional extra, so it is imported here only; a missing package raises `RuntimeUnavailable`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vinr_zoo._atomic import atomic_path, check_output
from vinr_zoo.config import SineMLPConfig
from vinr_zoo.errors import ConfigError, ModelLoadError, RuntimeUnavailable, ShapeError, VinrError
from vinr_zoo.errors import first_line as _first_line
from vinr_zoo.export.spec import (
    COORDINATE_CONVENTION,
    META_CONFIG,
    META_CONVENTION,
    META_PRECISION,
    META_VERSION,
    PRECISIONS,
    SPEC,
    OnnxSpec,
    contract_problems,
)

try:  # the "onnx" extra is optional: importing vinr_zoo.export must not need it
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:  # pragma: no cover - exercised only without the extra
    onnx = None

FP16_MAX = 65504.0
# Protobuf refuses messages over 2 GiB; stay clear of it instead of failing inside onnx.
MAX_INLINE_BYTES = 1_800_000_000


def require_onnx():
    if onnx is None:
        raise RuntimeUnavailable("ONNX export and .onnx models need the onnx package: pip install 'vinr-zoo[onnx]'")
    return onnx


# ---- opsets ------------------------------------------------------------------------------------
def default_opset(spec: OnnxSpec = SPEC) -> int:
    """The newest opset both onnx and the installed onnxruntime know (never below ``spec.min_opset``)."""
    require_onnx()
    from vinr_zoo.runtimes.ort import max_supported_opset

    newest = onnx.defs.onnx_opset_version()
    ort_max = max_supported_opset()
    if ort_max is None:  # onnxruntime missing (export --no-validate): the floor is the safest choice
        return spec.min_opset
    return max(spec.min_opset, min(newest, ort_max))


def check_opset(opset: int, spec: OnnxSpec = SPEC) -> int:
    require_onnx()
    newest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or isinstance(opset, bool) or not spec.min_opset <= opset <= newest:
        raise VinrError(f"--opset must be an integer in [{spec.min_opset}, {newest}] (onnx {onnx.__version__}), got {opset!r}")
    return opset


# ---- building ----------------------------------------------------------------------------------
def build_onnx(model, *, opset: int | None = None, precision: str = "fp32", spec: OnnxSpec = SPEC):
    """The `onnx.ModelProto` of ``model`` (a `SineMLP`) under the ONNX contract.

    ``precision="fp16"`` stores every layer after the first in float16. The first layer and its sine stay
    fp32: with ω0 = 30 folded in, first-layer arguments reach tens of radians, where float16's spacing
    (0.03 at 32) would shift the sine by that much. I/O stays float32, with Cast nodes inside.
    """
    require_onnx()
    if precision not in PRECISIONS:
        raise VinrError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    opset = default_opset(spec) if opset is None else check_opset(opset, spec)
    config: SineMLPConfig = model.config
    layers = [(w.detach().cpu().float().numpy(), b.detach().cpu().float().numpy()) for w, b in model.folded_layers()]
    nbytes = sum(w.nbytes + b.nbytes for w, b in layers)
    if nbytes > MAX_INLINE_BYTES:
        raise VinrError(f"the model holds {nbytes / 1e9:.1f} GB of weights, too many for a single-file ONNX export")

    f16 = precision == "fp16"
    nodes, initializers = [], []
    x = spec.input_name
    last = len(layers) - 1
    for i, (w, b) in enumerate(layers):
        name = "head" if i == last else f"layers.{i}"
        low = f16 and i > 0
        dtype = np.float16 if low else np.float32
        if low:
            big = max(float(np.abs(w).max(initial=0.0)), float(np.abs(b).max(initial=0.0)))
            if big > FP16_MAX:
                raise VinrError(f"{name} has a folded weight of {big:.3g}, beyond float16's range; export fp32 only")
        if low and i == 1:
            nodes.append(helper.make_node("Cast", [x], ["sin.0.fp16"], name="to_fp16", to=TensorProto.FLOAT16))
            x = "sin.0.fp16"
        # MatMul takes W transposed ([in, out]), so the graph never needs a Transpose.
        initializers += [
            numpy_helper.from_array(np.ascontiguousarray(w.T, dtype=dtype), f"{name}.weight"),
            numpy_helper.from_array(b.astype(dtype), f"{name}.bias"),
        ]
        if i == last:
            out = f"{name}.out.fp16" if f16 else spec.output_name
        else:
            out = f"{name}.pre"
        nodes += [
            helper.make_node("MatMul", [x, f"{name}.weight"], [f"{name}.matmul"], name=f"{name}.matmul"),
            helper.make_node("Add", [f"{name}.matmul", f"{name}.bias"], [out], name=f"{name}.add"),
        ]
        if i < last:
            nodes.append(helper.make_node("Sin", [out], [f"sin.{i}"], name=f"sin.{i}"))
            x = f"sin.{i}"
    if f16:
        nodes.append(helper.make_node("Cast", [out], [spec.output_name], name="to_fp32", to=TensorProto.FLOAT))

    n = spec.dynamic_axis
    graph = helper.make_graph(
        nodes,
        "sine_mlp",
        [helper.make_tensor_value_info(spec.input_name, TensorProto.FLOAT, [n, spec.in_features])],
        [helper.make_tensor_value_info(spec.output_name, TensorProto.FLOAT, [n, config.out_features])],
        initializers,
        doc_string="SIREN sine MLP with every omega folded into the weights: (x, y, t) -> RGB.",
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="vinr-zoo",
        producer_version=_version(),
        doc_string=f"vinr-zoo sine MLP, {config.hidden_layers} sine layers x {config.hidden_features}, {precision}",
    )
    # The lowest IR version that carries this opset, so older runtimes still open the file.
    proto.ir_version = helper.find_min_ir_version_for(list(proto.opset_import))
    helper.set_model_props(
        proto,
        {
            META_CONFIG: config.to_json(),
            META_CONVENTION: COORDINATE_CONVENTION,
            META_PRECISION: precision,
            META_VERSION: _version(),
        },
    )
    return proto


def check_onnx(proto) -> None:
    """``onnx.checker.check_model(full_check=True)`` (strict shape inference); a failure is our bug."""
    require_onnx()
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise VinrError(f"the exported graph fails onnx.checker: {str(exc).splitlines()[0]}") from None


# ---- reading -----------------------------------------------------------------------------------
def load_onnx(path: str | os.PathLike[str]):
    """Read an .onnx file (without external data); anything that is not an ONNX model raises `ModelLoadError`."""
    require_onnx()
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"ONNX file {path} not found")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError, RuntimeWarning-like errors, or OSError
        raise ModelLoadError(f"{path} is not an ONNX model ({_first_line(exc)})") from None
    # Protobuf happily parses many byte strings into an almost empty message; require the essentials.
    if proto.ir_version < 3 or not proto.opset_import or not proto.graph.node:
        raise ModelLoadError(f"{path} is not an ONNX model (no graph, opset or IR version in it)")
    check_external_data(proto, path)
    return proto


def _tensors(graph):
    """Every TensorProto a graph holds: initializers, sparse ones, node attributes, subgraphs."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    yield from _node_tensors(graph.node)


def _node_tensors(nodes):
    for node in nodes:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("sparse_tensor"):
                yield from (attr.sparse_tensor.values, attr.sparse_tensor.indices)
            for sparse in attr.sparse_tensors:
                yield from (sparse.values, sparse.indices)
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for sub in attr.graphs:
                yield from _tensors(sub)


def check_external_data(proto, path: str | os.PathLike[str]) -> None:
    """Refuse external data that would make a runtime read a file outside the model's folder.

    An ONNX tensor may keep its bytes in another file, named by a ``location`` the file itself chooses;
    ``../../home/me/.ssh/id_rsa`` or ``/etc/shadow`` would be read into a weight (and could leak through
    the output). Our exports are single files; a location inside the folder, existing, is accepted.
    """
    path = Path(path)
    folder = path.resolve().parent
    tensors = itertools.chain(_tensors(proto.graph), *(_node_tensors(f.node) for f in proto.functions))
    for tensor in tensors:
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        target = (folder / location).resolve()
        if not location or Path(location).is_absolute() or not target.is_relative_to(folder):
            raise ModelLoadError(
                f"{path}: tensor {tensor.name!r} keeps its data in {location!r}, outside the model's folder; "
                "refusing to load it"
            )
        if not target.is_file():
            raise ModelLoadError(f"{path}: tensor {tensor.name!r} keeps its data in {location!r}, which is missing")


def check_onnx_file(path: str | os.PathLike[str], spec: OnnxSpec = SPEC) -> None:
    """What a runtime checks before it creates a session: an ONNX model, its external data, the I/O contract."""
    check_contract(load_onnx(path), str(path), spec)


def onnx_io(proto) -> tuple[list[tuple[str, str, tuple]], list[tuple[str, str, tuple]]]:
    """``(inputs, outputs)`` as ``(name, numpy dtype name, shape)``; initializers listed as inputs are skipped."""
    inits = {t.name for t in proto.graph.initializer}

    def describe(vi):
        t = vi.type.tensor_type
        try:
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(t.elem_type)).name
        except (KeyError, TypeError, ValueError):
            dtype = TensorProto.DataType.Name(t.elem_type) if vi.type.HasField("tensor_type") else "not a tensor"
        shape = None
        if t.HasField("shape"):
            shape = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim)
        return vi.name, dtype, shape

    inputs = [describe(v) for v in proto.graph.input if v.name not in inits]
    return inputs, [describe(v) for v in proto.graph.output]


def check_contract(proto, where: str, spec: OnnxSpec = SPEC) -> None:
    problems = contract_problems(*onnx_io(proto), spec)
    if problems:
        raise ShapeError(f"{where} does not follow the ONNX contract: {'; '.join(problems)}")


def read_metadata(proto) -> dict[str, str]:
    return {p.key: p.value for p in proto.metadata_props}


@dataclass
class OnnxInfo:
    """What a bare .onnx file says about itself."""

    path: Path
    config: SineMLPConfig
    precision: str
    opset: int
    metadata: dict[str, str] = field(default_factory=dict)


def inspect_onnx(path: str | os.PathLike[str], spec: OnnxSpec = SPEC) -> OnnxInfo:
    """Load ``path``, check the I/O contract and read the config from ``metadata_props``."""
    path = Path(path)
    proto = load_onnx(path)
    check_contract(proto, str(path), spec)
    meta = read_metadata(proto)
    if META_CONFIG not in meta:
        raise ModelLoadError(
            f"{path} has no {META_CONFIG} entry in metadata_props (not written by 'vinr export'), so its "
            "source video size is unknown"
        )
    try:
        config = SineMLPConfig.from_json(meta[META_CONFIG])
    except (ConfigError, TypeError) as exc:
        raise ConfigError(f"{path}: {META_CONFIG} metadata: {str(exc).removeprefix('config.json: ')}") from None
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    return OnnxInfo(path, config, meta.get(META_PRECISION, "fp32"), opset, meta)


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
        raise VinrError(f"-o {out_dir} must be a folder (the export writes model.onnx into it)")
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
                from vinr_zoo.export.validate import validate_onnx

                tol = tolerances[precision] if tolerances[precision] is not None else spec.atol(precision)
                result.validation[precision] = validate_onnx(
                    model, tmp, precision=precision, atol=tol, label=path.name, spec=spec
                )
        # Leaving the stack renames every temp file into place; an exception above removed them all.
    return result


def _version() -> str:
    from vinr_zoo import __version__

    return __version__


__all__ = [
    "ExportResult",
    "OnnxInfo",
    "build_onnx",
    "check_contract",
    "check_external_data",
    "check_onnx_file",
    "check_onnx",
    "default_opset",
    "export_onnx",
    "inspect_onnx",
    "load_onnx",
    "read_metadata",
]
