"""Exporters: ONNX (and TensorRT engines built from it).

Names are re-exported lazily so that importing ``vinr_zoo.export.spec`` (as the runtimes do) never
imports the optional ``onnx`` package.
"""

from __future__ import annotations

_LAZY = {
    "export_onnx": "vinr_zoo.export.onnx",
    "build_onnx": "vinr_zoo.export.onnx",
    "inspect_onnx": "vinr_zoo.export.onnx",
    "load_onnx": "vinr_zoo.export.onnx",
    "default_opset": "vinr_zoo.export.onnx",
    "ExportResult": "vinr_zoo.export.onnx",
    "validate_onnx": "vinr_zoo.export.validate",
    "ValidationReport": "vinr_zoo.export.validate",
    "SPEC": "vinr_zoo.export.spec",
    "OnnxSpec": "vinr_zoo.export.spec",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
