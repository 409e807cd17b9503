"""What a MODEL argument resolved to: a config, and the torch model and/or an ONNX file (`ModelSource`).

Every command that renders (decode, parity, eval) starts here: a loaded model, a model directory, an
embedded zoo name or a Hub repo id (`vinr_zoo.names` order), or a bare ``.onnx`` file whose config comes
from its ``metadata_props``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vinr_zoo import names
from vinr_zoo.config import ModelConfig
from vinr_zoo.contract import ONNX_NAME
from vinr_zoo.errors import VinrError
from vinr_zoo.models import VinrModel, load_model
from vinr_zoo.onnx_file import inspect_onnx


@dataclass
class ModelSource:
    config: ModelConfig
    model: VinrModel | None = None
    onnx_path: Path | None = None
    location: str = ""
    kind: str = "memory"  # "local" (a model directory), "zoo", "hub", "onnx" (a bare file) or "memory"

    def require_model(self) -> VinrModel:
        if self.model is None:
            raise VinrError(f"{self.location} holds no torch weights (model.safetensors); this needs them")
        return self.model

    @property
    def folder(self) -> Path | None:
        """The user's own model directory, when the source is one (engines are looked up there; exports
        default to it). Never a zoo or Hub cache folder."""
        return Path(self.location) if self.kind == "local" else None


def resolve_source(source: str | os.PathLike[str] | VinrModel | ModelSource) -> ModelSource:
    """A loaded model, a bare ``.onnx`` file, or any MODEL name → `ModelSource`."""
    if isinstance(source, ModelSource):
        return source
    if isinstance(source, VinrModel):
        return ModelSource(config=source.config, model=source, location="<in-memory model>")
    path = Path(source)
    if path.suffix.lower() == ".onnx" and path.is_file():
        # A bare exported file: the config (source size, fps) comes from its metadata_props.
        return ModelSource(inspect_onnx(path).config, None, path, str(path), "onnx")
    resolved = names.resolve_model(os.fspath(source))
    model = load_model(resolved.path)
    onnx = resolved.path / ONNX_NAME
    location = str(resolved.path) if resolved.kind == "local" else resolved.label
    return ModelSource(model.config, model, onnx if onnx.is_file() else None, location, resolved.kind)
