"""Placeholder for the TensorRT backend (``--runtime trt``), planned in issue #5.

It registers the name so ``--runtime trt`` fails with one clear `RuntimeUnavailable` line instead of an
"unknown runtime" error; ``tensorrt`` is imported lazily, only when the backend is opened.
"""

from __future__ import annotations

from vinr_zoo.errors import RuntimeUnavailable
from vinr_zoo.runtimes.base import Backend, missing_package, register_backend


@register_backend
class TrtBackend(Backend):
    name = "trt"

    def __init__(self, model=None, *, device: str = "cuda", **options):
        super().__init__()
        self.model = model
        self.device = device
        self.options = options

    @classmethod
    def from_source(cls, source, *, device: str = "cuda", **options) -> TrtBackend:
        return cls(source.onnx_path or source.model, device=device, **options)

    def open_impl(self) -> None:
        try:
            import tensorrt  # noqa: F401
        except ImportError:
            raise missing_package("trt", "tensorrt") from None
        raise RuntimeUnavailable("the trt runtime is not built yet in this version (planned: issue #5); use --runtime ort")
