"""Exporters: a model → ONNX (`vinr_zoo.export.onnx`), ONNX → TensorRT engine (`vinr_zoo.export.trt`),
and validation of an exported file against torch (`vinr_zoo.export.validate`).

Import the submodules directly; this package imports nothing, so the optional ``onnx`` and ``tensorrt``
packages are needed only by the code that uses them.
"""
