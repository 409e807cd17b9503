"""`VinrModel`: what every model family shares — model directories, weight checks, Hub names.

A model directory holds ``config.json`` + ``model.safetensors`` (docs/CONVENTIONS.md); weights are read with
safetensors only, never pickle. The class knows directories; names (embedded zoo, Hub repo ids) are turned
into directories by `vinr_zoo.names` before a model is built (like huggingface_hub's ``ModelHubMixin``,
whose ``from_pretrained`` resolves and whose ``_from_pretrained`` loads).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from vinr_zoo import cards, hub, names
from vinr_zoo._atomic import atomic_path
from vinr_zoo.config import ModelConfig
from vinr_zoo.contract import CONFIG_NAME, SPEC, WEIGHTS_NAME, OnnxSpec
from vinr_zoo.errors import ConfigError, ModelLoadError, some
from vinr_zoo.models.registry import config_from_json, model_class


class VinrModel(nn.Module):
    """Base class of the model families: ``coords [N, 3]`` (x, y, t) in [-1, 1] → ``rgb [N, 3]`` in [-1, 1].

    A family implements ``__init__(config)``, ``forward``, and the hooks below; `register_model` enters it
    in the registry.
    """

    config_class: ClassVar[type[ModelConfig]] = ModelConfig

    def __init__(self, config: ModelConfig):
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ---- family hooks ------------------------------------------------------------------------------------
    @classmethod
    def config_for_fit(cls, options: Any, source) -> ModelConfig:
        """The config a fit with ``options`` (a `vinr_zoo.fit.FitOptions`) on ``source`` starts from."""
        raise NotImplementedError(f"{cls.__name__} cannot be fitted")

    def fit_forward(self, coords: torch.Tensor, precision: str) -> torch.Tensor:
        """The forward pass a fit step uses (``precision`` "fp32" or "bf16"); default: the plain forward."""
        return self(coords)

    def fit_setup(self, video, options: Any) -> None:
        """Called once before a fit's first step (and before a resume reads its checkpoint), with the
        `vinr_zoo.video.Video` being fitted: precompute what `fit_extra_loss` needs. Must be deterministic."""

    def fit_extra_loss(self, sampler, options: Any, precision: str, n: int) -> torch.Tensor | None:
        """The family's own loss terms for one step, beyond the reconstruction loss (None: nothing).

        ``sampler`` is the fit's `vinr_zoo.fit.sampling.PixelSampler` (draw from ``sampler.gen`` so a resumed
        fit continues bit-exactly); ``n`` is this process's share of the batch. The loop calls ``backward``.
        """
        return None

    def onnx_graph(self, *, precision: str, spec: OnnxSpec = SPEC) -> tuple[list, list]:
        """``(nodes, initializers)`` of an ONNX graph from ``spec.input_name`` to ``spec.output_name``.

        Built with ``onnx.helper``; the exporter adds the graph's I/O, opset, IR version and metadata.
        """
        raise NotImplementedError(f"{type(self).__name__} has no ONNX graph builder")

    # ---- model directories -------------------------------------------------------------------------------
    def save_pretrained(self, save_directory: str | os.PathLike[str]) -> Path:
        """Write ``config.json`` and ``model.safetensors`` (each atomically) into ``save_directory``."""
        from safetensors.torch import save_file

        out = Path(save_directory)
        out.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in self.state_dict().items()}
        with atomic_path(out / WEIGHTS_NAME) as tmp:
            save_file(state, str(tmp), metadata={"format": "pt", "architecture": self.config.architecture})
        with atomic_path(out / CONFIG_NAME) as tmp:
            tmp.write_text(self.config.to_json())
        return out

    @classmethod
    def from_pretrained(
        cls,
        model_dir: str | os.PathLike[str],
        *,
        map_location: str = "cpu",
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        token: str | bool | None = None,
        local_files_only: bool = False,
    ):
        """Load a model directory, an embedded zoo name, or a Hub repo id ``user/repo[@revision]``.

        The name is resolved by `vinr_zoo.names.resolve_model` (one order for every command: an embedded zoo
        name with sha256 checks, then a local directory, then the Hub cache / download, ``revision`` pinning a
        branch, tag or commit; a `pathlib.Path` is always a directory). Called on `VinrModel` itself, the family comes from config.json;
        on a family class, another family's directory is refused. Every problem raises a `VinrError`.
        """
        resolved = names.resolve_model(
            model_dir, revision=revision, cache_dir=cache_dir, token=token, local_files_only=local_files_only
        )
        model = load_model(resolved.path, map_location=map_location)
        if cls is not VinrModel and not isinstance(model, cls):
            raise ModelLoadError(
                f"{resolved.label} is a {model.config.architecture} model, not {cls.config_class.ARCHITECTURE}"
            )
        return model

    def push_to_hub(
        self,
        repo_id: str,
        *,
        private: bool = False,
        revision: str | None = None,
        commit_message: str | None = None,
        token: str | None = None,
    ) -> hub.PushResult:
        """Save to a temporary directory and push it in one commit, with a generated model card.

        Returns a `vinr_zoo.hub.PushResult` (``.commit``, ``.commit_url``; ``str()`` is the URL).
        """
        names.check_repo_id(repo_id)
        with tempfile.TemporaryDirectory(prefix="vinr-push-") as tmp:
            self.save_pretrained(tmp)
            card = cards.card_for_push(None, self.config, repo_id, revision)
            return hub.upload_model_dir(
                Path(tmp),
                repo_id,
                card,
                private=private,
                revision=revision,
                commit_message=commit_message,
                token=token,
            )


# ---- loading ------------------------------------------------------------------------------------------------
def load_config(model_dir: str | os.PathLike[str]) -> ModelConfig:
    """The directory's config.json, parsed by the class its ``architecture`` names."""
    path = Path(model_dir) / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(f"{path} is missing (a model directory needs {CONFIG_NAME} and {WEIGHTS_NAME})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    try:
        return config_from_json(text)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {str(exc).removeprefix('config.json: ')}") from None


def load_weights(path: Path, map_location: str = "cpu") -> dict[str, torch.Tensor]:
    """Read a safetensors file; a missing, truncated or corrupted file raises `ModelLoadError`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise ModelLoadError(f"{path} is missing")
    try:
        return load_file(str(path), device=map_location)
    except (SafetensorError, OSError, ValueError, RuntimeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path} is not a readable safetensors file ({exc})") from None


def load_model(model_dir: str | os.PathLike[str], *, map_location: str = "cpu") -> VinrModel:
    """Build the family config.json names and fill it from model.safetensors, after checking every tensor."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelLoadError(f"model directory {model_dir} does not exist")
    config = load_config(model_dir)
    cls = model_class(config.architecture)
    weights = model_dir / WEIGHTS_NAME
    state = load_weights(weights, map_location=map_location)
    # Shapes from a meta-device model: the check allocates nothing, so a config.json that asks for a
    # huge network (within the schema's limits) costs memory only once the weights file backs it.
    with torch.device("meta"):
        expected = cls(config).state_dict()
    missing = sorted(set(expected) - set(state), key=_layer_order)
    extra = sorted(set(state) - set(expected), key=_layer_order)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {some(missing)}")
        if extra:
            parts.append(f"unexpected {some(extra)}")
        raise ModelLoadError(f"{weights} does not match config.json ({config.describe_shape()}): {'; '.join(parts)}")
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise ModelLoadError(
                f"{weights}: tensor {key} has shape {tuple(tensor.shape)}, config.json implies "
                f"{tuple(expected[key].shape)}"
            )
        if not tensor.is_floating_point():
            raise ModelLoadError(f"{weights}: tensor {key} is {tensor.dtype}, not floating point")
        if not torch.isfinite(tensor).all():
            raise ModelLoadError(f"{weights}: tensor {key} holds NaN or inf")
    model = cls(config)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval().to(map_location)


def _layer_order(name: str) -> list:
    """``layers.3.linear.weight`` before ``layers.10.linear.weight``."""
    return [(0, int(p), "") if p.isascii() and p.isdigit() else (1, 0, p) for p in name.split(".")]
