"""The contracts every layer agrees on, in one place (stdlib only): the files of a model directory, the ONNX
graph's inputs and outputs, the TensorRT optimization profile (docs/CONVENTIONS.md).

Exporters, validators, runtimes and the Hub code read names, axes and tolerances from here instead of
repeating literals.
"""

from __future__ import annotations

from dataclasses import dataclass

from vinr_zoo.errors import RuntimeUnavailable

# ---- a model directory ----------------------------------------------------------------------------------
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
ONNX_NAME = "model.onnx"
ONNX_FP16_NAME = "model.fp16.onnx"
# What a directory needs to load; what a pull fetches (never engines: they belong to one GPU and TensorRT).
REQUIRED_FILES = (CONFIG_NAME, WEIGHTS_NAME)
PULL_FILES = (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME, ONNX_NAME)

# ---- TensorRT -----------------------------------------------------------------------------------------------
# The one optimization profile over N: min / opt / max rows per inference call.
TRT_PROFILE = (1, 65536, 1048576)
TRT_WORKSPACE_MIB = 1024

# Keys under which an exported file carries what a decoder needs (ModelProto.metadata_props).
META_CONFIG = "vinr_zoo.config"
META_CONVENTION = "vinr_zoo.coordinates"
META_PRECISION = "vinr_zoo.precision"
META_VERSION = "vinr_zoo.version"

# The coordinate convention written into every file, so a bare .onnx says how to query it.
COORDINATE_CONVENTION = (
    "vinr-zoo coordinates v1: input 'coords' float32 [N, 3], rows (x, y, t), each in [-1, 1]. "
    "x, y: pixel areas (align_corners=False): column i of W has centre x = (2i + 1) / W - 1, rows the same with H. "
    "t: frame instants (align_corners=True): frame k of T is at t = 2k / (T - 1) - 1 (t = 0 when T == 1). "
    "Output 'rgb' float32 [N, 3] in [-1, 1]: clamp, map to [0, 1] with (v + 1) / 2, round to uint8 for 8-bit. "
    "Source video size and fps are in the vinr_zoo.config JSON."
)

PRECISIONS = ("fp32", "fp16")


@dataclass(frozen=True)
class OnnxSpec:
    """Names, axes, opsets and validation tolerances of the exported graph."""

    input_name: str = "coords"
    output_name: str = "rgb"
    dynamic_axis: str = "N"
    in_features: int = 3
    out_features: int = 3
    # Opset 17 is the floor the contract promises (LayerNorm-era runtimes, TensorRT 8.6+ parse it).
    min_opset: int = 17
    # The newest opset TensorRT 10's ONNX parser takes (NVIDIA's ONNX operator support list: opset 25).
    max_trt_opset: int = 25
    # Max |ORT - torch| on RGB in [-1, 1]. fp32 measured 1e-7 (random init) to 4e-6 (models fitted on
    # carphone, width 32-128): only MatMul summation order and the folded ω differ. 1e-4 keeps a 25x
    # margin and still catches a wrong weight or a dropped layer (errors of 1e-2 and more).
    atol_fp32: float = 1e-4
    # fp16 keeps the first layer (and its sine) in fp32; later layers round weights and activations to
    # 11 significant bits. Measured max |fp16 - torch|: 0.9e-3 / 1.8e-3 on fitted carphone models (width
    # 128 / 32), up to 4.7e-3 on synthetic wide models (tests/export/test_export_onnx.py). 2e-2 ≈ 2.5 levels of 8-bit.
    atol_fp16: float = 2e-2
    # Fraction of decoded 8-bit pixels (any channel) that may differ from torch's decode. fp32: 99.9 %
    # identical (measured 0 - 0.02 %, flips at rounding boundaries). fp16: measured 3 - 10 %, by one level.
    max_8bit_diff_fp32: float = 1e-3
    max_8bit_diff_fp16: float = 0.25

    def max_8bit_diff(self, precision: str) -> float:
        return self.max_8bit_diff_fp16 if precision == "fp16" else self.max_8bit_diff_fp32

    def atol(self, precision: str) -> float:
        return self.atol_fp16 if precision == "fp16" else self.atol_fp32

    @property
    def file_names(self) -> dict[str, str]:
        return {"fp32": ONNX_NAME, "fp16": ONNX_FP16_NAME}


SPEC = OnnxSpec()


def contract_problems(
    inputs: list[tuple[str, str, tuple]], outputs: list[tuple[str, str, tuple]], spec: OnnxSpec = SPEC
) -> list[str]:
    """Every way a graph's I/O differs from the contract, as short phrases (empty when it conforms).

    ``inputs`` / ``outputs`` are ``(name, dtype, shape)`` with dtype a numpy name (``"float32"``) and each
    dim an int (fixed) or a str/None (symbolic). Shared by the ONNX file check and the ORT session check.
    """
    problems = []
    for kind, got, name, width in (
        ("input", inputs, spec.input_name, spec.in_features),
        ("output", outputs, spec.output_name, spec.out_features),
    ):
        if len(got) != 1:
            names = ", ".join(repr(g[0]) for g in got) or "none"
            problems.append(f"expected one {kind} {name!r}, found {len(got)} ({names})")
            continue
        got_name, dtype, shape = got[0]
        if got_name != name:
            problems.append(f"{kind} is named {got_name!r}, expected {name!r}")
        if dtype != "float32":
            problems.append(f"{kind} {got_name!r} is {dtype}, expected float32")
        if shape is None or len(shape) != 2:
            problems.append(f"{kind} {got_name!r} has shape {_fmt(shape)}, expected [N, {width}]")
            continue
        if isinstance(shape[0], int):
            problems.append(f"{kind} {got_name!r} has a fixed first dimension {shape[0]}, expected a dynamic N")
        if shape[1] != width:
            problems.append(f"{kind} {got_name!r} has shape {_fmt(shape)}, expected [N, {width}]")
    return problems


def _fmt(shape) -> str:
    if shape is None:
        return "unknown"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def require_onnx():
    """The ``onnx`` module (the optional ``onnx`` extra); missing, a `RuntimeUnavailable` with the install hint."""
    try:
        import onnx
    except ImportError:
        raise RuntimeUnavailable(
            "ONNX export and .onnx models need the onnx package: pip install 'vinr-zoo[onnx]'"
        ) from None
    return onnx
