"""Exporters: ONNX (and TensorRT engines built from it)."""
