"""Runtime backends behind one interface: ``torch``, ``ort`` (ONNX Runtime), ``trt`` (TensorRT)."""

from vinr_zoo.runtimes import pyt  # noqa: F401  (registers the torch backend)
from vinr_zoo.runtimes.base import Backend, available_backends, backend_class, register_backend

__all__ = ["Backend", "available_backends", "backend_class", "register_backend"]
