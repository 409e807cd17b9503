"""Runtime backends behind one interface: ``torch``, ``ort`` (ONNX Runtime), ``trt`` (TensorRT)."""

from vinr_zoo.runtimes import ort, pyt, trt  # noqa: F401  (register the backends; ort/trt import their packages lazily)
from vinr_zoo.runtimes.base import Backend, available_backends, backend_class, register_backend

__all__ = ["Backend", "available_backends", "backend_class", "register_backend"]
