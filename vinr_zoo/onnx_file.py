"""Reading ONNX files: is it an ONNX model, is it safe to open, does it follow the contract, what config is in it.

Both the runtimes (before a session opens a file) and the exporter (checks, validation) use this; the
writer is `vinr_zoo.export.onnx`. ``onnx`` is an optional extra: a missing package raises `RuntimeUnavailable`.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vinr_zoo.config import ModelConfig
from vinr_zoo.contract import META_CONFIG, META_PRECISION, SPEC, OnnxSpec, contract_problems, require_onnx
from vinr_zoo.errors import ConfigError, ModelLoadError, ShapeError, first_line
from vinr_zoo.models import config_from_json


def load_onnx(path: str | os.PathLike[str]):
    """Read an .onnx file (without external data); anything that is not an ONNX model raises `ModelLoadError`."""
    onnx = require_onnx()
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"ONNX file {path} not found")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError, RuntimeWarning-like errors, or OSError
        raise ModelLoadError(f"{path} is not an ONNX model ({first_line(exc)})") from None
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
    TensorProto = require_onnx().TensorProto
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
    onnx = require_onnx()
    helper, TensorProto = onnx.helper, onnx.TensorProto
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
    config: ModelConfig
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
        config = config_from_json(meta[META_CONFIG])
    except ConfigError as exc:
        raise ConfigError(f"{path}: {META_CONFIG} metadata: {str(exc).removeprefix('config.json: ')}") from None
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    return OnnxInfo(path, config, meta.get(META_PRECISION, "fp32"), opset, meta)
