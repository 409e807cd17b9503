"""The backend interface every runtime implements (after Polygraphy's runners).

``open()`` → ``infer(coords)`` → ``close()``, or ``with backend: ...``. ``coords`` is a float32
``[N, 3]`` CPU tensor; the result is a float32 ``[N, 3]`` CPU tensor of RGB in [-1, 1] (unclamped).
Backends own their batching (chunk sizes that suit the runtime), so a caller may pass any N.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from vinr_zoo.errors import RuntimeUnavailable, VinrError


class Backend:
    name: ClassVar[str] = "base"

    def __init__(self) -> None:
        self.is_open = False

    # Subclasses implement the *_impl hooks; the public methods keep the state checks in one place.
    def open_impl(self) -> None:
        pass

    def infer_impl(self, coords: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def close_impl(self) -> None:
        pass

    def open(self) -> Backend:
        if not self.is_open:
            self.open_impl()
            self.is_open = True
        return self

    def infer(self, coords: torch.Tensor) -> torch.Tensor:
        if not self.is_open:
            raise VinrError(f"{self.name} backend used before open()")
        if coords.ndim != 2 or coords.shape[1] != 3:
            raise VinrError(f"coords must be [N, 3], got {tuple(coords.shape)}")
        if coords.shape[0] == 0:
            return torch.empty(0, 3)
        return self.infer_impl(coords.to(torch.float32).contiguous())

    def close(self) -> None:
        if self.is_open:
            self.close_impl()
            self.is_open = False

    def __enter__(self) -> Backend:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> str:
        """One line for logs and tables (e.g. the execution provider)."""
        return self.name


def loaded(source):
    """``source()`` if it is a loader (a callable), else ``source`` (Polygraphy's ``invoke_if_callable``).

    Runners take loaders so that expensive work (an in-memory ONNX export, an engine build) happens when
    the runner opens, and so that ``runtimes`` never imports the exporters that make those files.
    """
    return source() if callable(source) else source


_BACKENDS: dict[str, type[Backend]] = {}
# Which pip extra brings each runtime's package, for the "missing package" message.
EXTRAS = {"torch": None, "ort": "onnx", "trt": "trt"}


def register_backend(cls: type[Backend]) -> type[Backend]:
    _BACKENDS[cls.name] = cls
    return cls


def backend_class(name: str) -> type[Backend]:
    if name not in _BACKENDS:
        raise RuntimeUnavailable(f"unknown runtime {name!r}; choose one of {', '.join(sorted(_BACKENDS))}")
    return _BACKENDS[name]


def available_backends() -> list[str]:
    return sorted(_BACKENDS)


def missing_package(runtime: str, package: str) -> RuntimeUnavailable:
    extra = EXTRAS.get(runtime)
    hint = f"pip install 'vinr-zoo[{extra}]'" if extra else f"pip install {package}"
    return RuntimeUnavailable(f"the {runtime} runtime needs the {package} package: {hint}")
