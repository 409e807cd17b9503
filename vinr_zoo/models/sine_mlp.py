"""The sine MLP family (``architecture: "sine_mlp"``): SIREN (Sitzmann et al. 2020) with a lower frequency on time.

The first layer computes ``sin(first_omega_0 · (W · (x, y, (time_omega_0 / first_omega_0) · t) + b))``; a high
frequency on t makes the model fail between frames (temporal interpolation benchmark: ω_t = 30 scores
19.1 dB on held-out frames, ω_t = 3 27.9 dB), so ``time_omega_0`` defaults to 3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vinr_zoo.config import SCHEMA_VERSION, ModelConfig, SourceVideo, check_float, check_int
from vinr_zoo.contract import PRECISIONS, SPEC, OnnxSpec, require_onnx
from vinr_zoo.errors import VinrError
from vinr_zoo.models.base import VinrModel
from vinr_zoo.models.cuts import SceneTime
from vinr_zoo.models.graph import GraphBuilder
from vinr_zoo.models.registry import register_model

ARCHITECTURE = "sine_mlp"
# Limits that keep a malicious or corrupted config from allocating absurd tensors.
MAX_HIDDEN_FEATURES = 4096
MAX_HIDDEN_LAYERS = 64
MAX_OMEGA = 1e4
FP16_MAX = 65504.0


@dataclass
class SineMLPConfig(ModelConfig):
    """Hyper-parameters of the sine MLP (docs/CONVENTIONS.md, "The network")."""

    ARCHITECTURE = ARCHITECTURE
    TITLE = "sine MLP (SIREN)"

    in_features: int = 3
    out_features: int = 3
    hidden_features: int = 256
    hidden_layers: int = 4
    first_omega_0: float = 30.0
    hidden_omega_0: float = 30.0
    # The first layer sees t at this frequency instead of first_omega_0 (see the module docstring).
    time_omega_0: float = 3.0
    source: SourceVideo | None = None
    training: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    architecture: str = ARCHITECTURE

    def validate_fields(self) -> None:
        check_int("in_features", self.in_features, 3, 3)
        check_int("out_features", self.out_features, 1, 4)
        check_int("hidden_features", self.hidden_features, 1, MAX_HIDDEN_FEATURES)
        check_int("hidden_layers", self.hidden_layers, 1, MAX_HIDDEN_LAYERS)
        for key in ("first_omega_0", "hidden_omega_0", "time_omega_0"):
            check_float(key, getattr(self, key), MAX_OMEGA)

    @property
    def num_params(self) -> int:
        w, n = self.hidden_features, self.hidden_layers
        return (self.in_features * w + w) + (n - 1) * (w * w + w) + (w * self.out_features + self.out_features)

    def describe(self) -> str:
        return (
            f"{self.hidden_layers} sine layers of {self.hidden_features} features, {self.num_params:,} parameters, "
            f"ω0 = {self.first_omega_0:g} on x, y and hidden layers, {self.time_omega_0:g} on t"
        )

    def describe_shape(self) -> str:
        return f"{self.hidden_layers} sine layers of {self.hidden_features}"

    def info_lines(self) -> list[str]:
        return [f"omega_0: {self.first_omega_0:g} (x, y), {self.hidden_omega_0:g} (hidden), {self.time_omega_0:g} (t)"]

    def card_slug(self) -> str:
        return f"sine-mlp-{self.hidden_features}x{self.hidden_layers}"


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


@register_model
class SineMLP(VinrModel):
    """Maps (x, y, t) in [-1, 1] to RGB in [-1, 1].

    ``hidden_layers`` counts the sine layers (the first one included), each ``hidden_features`` wide,
    followed by a linear head.
    """

    config_class = SineMLPConfig

    def __init__(self, config: SineMLPConfig | None = None, **kwargs):
        if config is None:
            config = SineMLPConfig(**kwargs)
        elif kwargs:
            raise TypeError("pass either a config or keyword arguments, not both")
        super().__init__(config)
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
        self.scene_time = SceneTime.of(c)

    def network_input(self, coords: torch.Tensor) -> torch.Tensor:
        """``coords`` with t through the scene-cut map (`vinr_zoo.models.cuts`; the identity without cuts)."""
        if not self.scene_time.active:
            return coords
        return torch.cat((coords[:, 0:2], self.scene_time.network_time(coords[:, 2:3])), dim=1)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        h = self.network_input(coords) * self.input_scale
        for layer in self.layers:
            h = layer(h)
        return self.head(h)

    @torch.no_grad()
    def folded_layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Weights with every ω folded in: ``[(W, b), ...]``, sine after each but the last.

        ``sin(ω(Wx + b)) = sin((ωW)x + ωb)``, and the time factor scales the first layer's t column,
        so a runtime needs only MatMul + Add + Sin (the ONNX contract in docs/CONVENTIONS.md).
        """
        folded = []
        for i, layer in enumerate(self.layers):
            w = layer.linear.weight.detach().clone() * layer.omega_0
            if i == 0:
                w = w * self.input_scale.to(w)
            folded.append((w, layer.linear.bias.detach().clone() * layer.omega_0))
        folded.append((self.head.weight.detach().clone(), self.head.bias.detach().clone()))
        return folded

    # ---- family hooks ------------------------------------------------------------------------------------
    @classmethod
    def config_for_fit(cls, options: Any, source: SourceVideo) -> SineMLPConfig:
        return SineMLPConfig(
            hidden_features=options.hidden_features,
            hidden_layers=options.hidden_layers,
            first_omega_0=options.first_omega_0,
            hidden_omega_0=options.hidden_omega_0,
            time_omega_0=options.time_omega_0,
            source=source,
        )

    def fit_forward(self, coords: torch.Tensor, precision: str) -> torch.Tensor:
        # bf16: the hidden layers under autocast; the first layer and its sine stay fp32 (bf16 keeps only
        # 8 mantissa bits, coarser than the pixel spacing of x and y near ±1).
        if precision == "fp32":
            return self(coords)
        h = self.layers[0](self.network_input(coords) * self.input_scale)
        with torch.autocast(coords.device.type, dtype=torch.bfloat16):
            for layer in self.layers[1:]:
                h = layer(h)
            return self.head(h).float()

    def onnx_graph(self, *, precision: str = "fp32", spec: OnnxSpec = SPEC) -> tuple[list, list]:
        """MatMul + Add + Sin from the folded weights.

        ``precision="fp16"`` stores every layer after the first in float16. The first layer and its sine
        stay fp32: with ω0 = 30 folded in, first-layer arguments reach tens of radians, where float16's
        spacing (0.03 at 32) would shift the sine by that much. I/O stays float32, with Cast nodes inside.
        """
        onnx = require_onnx()
        helper, numpy_helper, TensorProto = onnx.helper, onnx.numpy_helper, onnx.TensorProto
        if precision not in PRECISIONS:
            raise VinrError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        layers = [(w.detach().cpu().float().numpy(), b.detach().cpu().float().numpy()) for w, b in self.folded_layers()]
        f16 = precision == "fp16"
        x = spec.input_name
        if self.scene_time.active:  # t through the scene-cut map first (Slice, Floor, Gather, ...; fp32)
            g = GraphBuilder()
            t = self.scene_time.onnx_network_time(g, g.columns(x, 2, 3, "t"))
            x = g.node("Concat", [g.columns(x, 0, 2, "xy"), t], "coords_in", axis=1)
            nodes, initializers = g.graph()
        else:
            nodes, initializers = [], []
        last = len(layers) - 1
        for i, (w, b) in enumerate(layers):
            name = "head" if i == last else f"layers.{i}"
            low = f16 and i > 0
            dtype = np.float16 if low else np.float32
            if low:
                big = max(float(np.abs(w).max(initial=0.0)), float(np.abs(b).max(initial=0.0)))
                if big > FP16_MAX:
                    raise VinrError(
                        f"{name} has a folded weight of {big:.3g}, beyond float16's range; export fp32 only"
                    )
            if low and i == 1:
                nodes.append(helper.make_node("Cast", [x], ["sin.0.fp16"], name="to_fp16", to=TensorProto.FLOAT16))
                x = "sin.0.fp16"
            # MatMul takes W transposed ([in, out]), so the graph never needs a Transpose.
            initializers += [
                numpy_helper.from_array(np.ascontiguousarray(w.T, dtype=dtype), f"{name}.weight"),
                numpy_helper.from_array(b.astype(dtype), f"{name}.bias"),
            ]
            out = (f"{name}.out.fp16" if f16 else spec.output_name) if i == last else f"{name}.pre"
            nodes += [
                helper.make_node("MatMul", [x, f"{name}.weight"], [f"{name}.matmul"], name=f"{name}.matmul"),
                helper.make_node("Add", [f"{name}.matmul", f"{name}.bias"], [out], name=f"{name}.add"),
            ]
            if i < last:
                nodes.append(helper.make_node("Sin", [out], [f"sin.{i}"], name=f"sin.{i}"))
                x = f"sin.{i}"
        if f16:
            nodes.append(helper.make_node("Cast", [out], [spec.output_name], name="to_fp32", to=TensorProto.FLOAT))
        return nodes, initializers
