"""The sine MLP (SIREN, Sitzmann et al. 2020) with a separate, lower frequency on time.

A model directory holds ``config.json`` + ``model.safetensors`` (CONVENTIONS.md); weights are read
with safetensors only, never pickle.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vinr_zoo._atomic import atomic_path
from vinr_zoo.config import SineMLPConfig
from vinr_zoo.errors import ConfigError, ModelLoadError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class SineLayer(nn.Module):
    """``sin(omega_0 * (W x + b))`` with SIREN's initialisation (paper, supplement Sec. 1.5)."""

    def __init__(self, in_features: int, out_features: int, *, omega_0: float, is_first: bool = False):
        super().__init__()
        self.in_features = in_features
        self.omega_0 = float(omega_0)
        self.is_first = is_first
        self.linear = nn.Linear(in_features, out_features)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        # First layer U(-1/in, 1/in); later layers U(±sqrt(6/in)/ω0) so that ω0·(Wx+b) stays ~N(0,1)
        # and activations keep the arcsine distribution through depth.
        bound = 1.0 / self.in_features if self.is_first else math.sqrt(6.0 / self.in_features) / self.omega_0
        self.linear.weight.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # sin(ω(Wx + b)) computed as sin((ωW)x + ωb): scaling the small weight instead of the large
        # activation saves an elementwise pass forward and backward (same parameters, same Adam steps).
        return torch.sin(F.linear(x, self.linear.weight * self.omega_0, self.linear.bias * self.omega_0))


class SineMLP(nn.Module):
    """Maps (x, y, t) in [-1, 1] to RGB in [-1, 1].

    ``hidden_layers`` counts the sine layers (the first one included), each ``hidden_features`` wide,
    followed by a linear head. The first layer computes
    ``sin(first_omega_0 · (W · (x, y, (time_omega_0 / first_omega_0) · t) + b))``.
    """

    def __init__(self, config: SineMLPConfig | None = None, **kwargs):
        super().__init__()
        if config is None:
            config = SineMLPConfig(**kwargs)
        elif kwargs:
            raise TypeError("pass either a config or keyword arguments, not both")
        self.config = config
        c = config
        layers = [SineLayer(c.in_features, c.hidden_features, omega_0=c.first_omega_0, is_first=True)]
        layers += [
            SineLayer(c.hidden_features, c.hidden_features, omega_0=c.hidden_omega_0)
            for _ in range(c.hidden_layers - 1)
        ]
        self.layers = nn.ModuleList(layers)
        self.head = nn.Linear(c.hidden_features, c.out_features)
        with torch.no_grad():
            bound = math.sqrt(6.0 / c.hidden_features) / c.hidden_omega_0
            self.head.weight.uniform_(-bound, bound)
        scale = torch.ones(c.in_features)
        scale[-1] = c.time_omega_0 / c.first_omega_0
        self.register_buffer("input_scale", scale, persistent=False)

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        h = coords * self.input_scale
        for layer in self.layers:
            h = layer(h)
        return self.head(h)

    @torch.no_grad()
    def folded_layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Weights with every ω folded in: ``[(W, b), ...]``, sine after each but the last.

        ``sin(ω(Wx + b)) = sin((ωW)x + ωb)``, and the time factor scales the first layer's t column,
        so a runtime needs only MatMul + Add + Sin (the ONNX contract in CONVENTIONS.md).
        """
        folded = []
        for i, layer in enumerate(self.layers):
            w = layer.linear.weight.detach().clone() * layer.omega_0
            if i == 0:
                w = w * self.input_scale.to(w)
            folded.append((w, layer.linear.bias.detach().clone() * layer.omega_0))
        folded.append((self.head.weight.detach().clone(), self.head.bias.detach().clone()))
        return folded

    # ---- model directories -------------------------------------------------------------------
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
    ) -> SineMLP:
        """Load a model directory, an embedded zoo name, or a Hub repo id ``user/repo[@revision]``.

        An existing directory loads directly; anything else goes through `vinr_zoo.hub.resolve_model`
        (zoo registry with sha256 checks, then the Hub cache / download, ``revision`` pinning a branch, tag
        or commit). Every problem raises a `VinrError` naming the file and the fault.
        """
        name, model_dir = model_dir, Path(model_dir)
        if revision is not None or not model_dir.is_dir():
            from vinr_zoo.hub import resolve_model

            model_dir = resolve_model(
                os.fspath(name), revision=revision, cache_dir=cache_dir, token=token,
                local_files_only=local_files_only,
            ).path  # fmt: skip
        if not model_dir.is_dir():
            raise ModelLoadError(f"model directory {model_dir} does not exist")
        config = load_config(model_dir)
        state = load_weights(model_dir / WEIGHTS_NAME, map_location=map_location)
        # Shapes from a meta-device model: the check allocates nothing, so a config.json that asks for a
        # huge network (within the schema's limits) costs memory only once the weights file backs it.
        with torch.device("meta"):
            expected = cls(config).state_dict()
        missing = sorted(set(expected) - set(state), key=_layer_order)
        extra = sorted(set(state) - set(expected), key=_layer_order)
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {_some(missing)}")
            if extra:
                parts.append(f"unexpected {_some(extra)}")
            raise ModelLoadError(
                f"{model_dir / WEIGHTS_NAME} does not match config.json ({config.hidden_layers} sine layers of "
                f"{config.hidden_features}): {'; '.join(parts)}"
            )
        for key, tensor in state.items():
            if tensor.shape != expected[key].shape:
                raise ModelLoadError(
                    f"{model_dir / WEIGHTS_NAME}: tensor {key} has shape {tuple(tensor.shape)}, "
                    f"config.json implies {tuple(expected[key].shape)}"
                )
            if not tensor.is_floating_point():
                raise ModelLoadError(f"{model_dir / WEIGHTS_NAME}: tensor {key} is {tensor.dtype}, not floating point")
            if not torch.isfinite(tensor).all():
                raise ModelLoadError(f"{model_dir / WEIGHTS_NAME}: tensor {key} holds NaN or inf")
        model = cls(config)
        model.load_state_dict({k: v.float() for k, v in state.items()})
        return model.eval().to(map_location)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        private: bool = False,
        revision: str | None = None,
        commit_message: str | None = None,
        token: str | None = None,
    ):
        """Save to a temporary directory and push it in one commit (the code path of ``vinr push``).

        Returns a `vinr_zoo.hub.PushResult` (``.commit``, ``.commit_url``; ``str()`` is the URL).
        """
        import tempfile

        from vinr_zoo.hub import push

        with tempfile.TemporaryDirectory(prefix="vinr-push-") as tmp:
            self.save_pretrained(tmp)
            return push(tmp, repo_id, private=private, revision=revision, commit_message=commit_message, token=token)


def load_config(model_dir: str | os.PathLike[str]) -> SineMLPConfig:
    path = Path(model_dir) / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(f"{path} is missing (a model directory needs {CONFIG_NAME} and {WEIGHTS_NAME})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    try:
        return SineMLPConfig.from_json(text)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {str(exc).removeprefix('config.json: ')}") from None
    except TypeError as exc:  # a wrong-typed value the dataclass could not take
        raise ConfigError(f"{path}: {exc}") from None


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


def _some(names: list[str], shown: int = 4) -> str:
    """The first few of ``names`` and how many there are in all (an error message stays one short line)."""
    more = f" … ({len(names)} in all)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _layer_order(name: str) -> list:
    """``layers.3.linear.weight`` before ``layers.10.linear.weight``."""
    return [(0, int(p), "") if p.isascii() and p.isdigit() else (1, 0, p) for p in name.split(".")]
