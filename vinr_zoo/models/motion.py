"""The motion MLP family (``architecture: "motion_mlp"``): key frames plus a flow field, so in-between frames move.

A plain sine MLP cross-fades between the frames it saw. This family splits the job in two networks:

- ``K``, a sine MLP over (x, y, t), represents the fitted ("key") frames at their instants
  ``t_k = 2 k / (T - 1) - 1`` (``T = key_frames``, the frames of the fitted clip);
- ``D``, a small sine MLP over ``(x, y, t0, 2 τ - 1)``, gives flows toward the two key instants around ``t``:
  ``t0 = -1 + step · clip(floor((t + 1) / step), 0, T - 2)``, ``t1 = t0 + step``, ``τ = (t - t0) / step``,
  ``step = 2 / (T - 1)``.

``rgb = (1 - τ) K(p + τ f0, t0) + τ K(p + (1 - τ) f1, t1)`` with ``(f0, f1) = D(...)`` and ``p = (x, y)``
(warped positions clipped to [-1, 1], i.e. border padding). At a key instant τ is 0 (or 1 on the other side
of the floor), so the output is exactly ``K(x, y, t_k)``: the key frames are K's alone and continuous across
the floor's jump.

Fit: the reconstruction loss (pixels of the fitted frames) trains K through `fit_forward`, which at key
instants is K itself. `fit_setup` computes DIS optical flow between consecutive fitted frames both ways;
`fit_extra_loss` trains D on (a) the flows at in-between instants from those, with the quadratic
approximation of Super SloMo (Jiang et al. 2018): ``F_t→0 = -(1 - τ) τ F01 + τ² F10``,
``F_t→1 = (1 - τ)² F01 - τ (1 - τ) F10``, and (b) a photometric term through the render path: both warped
key-frame renderings must agree, ``|K(p + τ f0, t0) - K(p + (1 - τ) f1, t1)|``, with K's weights held fixed
(only the flows move). Randomness comes only from ``sampler.gen``, so a resumed fit is bit-exact.

Export: one ONNX graph of MatMul, Add, Mul, Sub, Sin, Floor, Clip, Slice and Concat (K's nodes appear twice,
sharing initialisers). fp32 only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from vinr_zoo.config import SCHEMA_VERSION, ModelConfig, SourceVideo, check_float, check_int
from vinr_zoo.contract import PRECISIONS, SPEC, OnnxSpec
from vinr_zoo.errors import ConfigError, VinrError
from vinr_zoo.flow import dis_flow
from vinr_zoo.models.base import VinrModel
from vinr_zoo.models.cuts import SceneTime
from vinr_zoo.models.graph import GraphBuilder
from vinr_zoo.models.registry import register_model
from vinr_zoo.models.sine_mlp import SineLayer, SineMLPConfig

ARCHITECTURE = "motion_mlp"
MAX_FEATURES = 4096
MAX_LAYERS = 64
MAX_OMEGA = 1e4
MAX_KEY_FRAMES = 1_000_000


@dataclass
class MotionMLPConfig(ModelConfig):
    """Key-frame network K (``hidden_*``, ``*_omega_0``) and flow network D (``flow_*``)."""

    ARCHITECTURE = ARCHITECTURE
    TITLE = "motion MLP (key frames + flow)"

    hidden_features: int = 249
    hidden_layers: int = 4
    first_omega_0: float = 30.0
    hidden_omega_0: float = 30.0
    time_omega_0: float = 3.0
    flow_features: int = 64
    flow_layers: int = 3
    flow_omega_0: float = 20.0  # D's first layer on x, y and t0
    flow_tau_omega_0: float = 3.0  # D's first layer on 2τ - 1
    # Frames of the fitted clip: the key instants are theirs (T = 1: no motion, rgb = K(x, y, t)).
    key_frames: int = 2
    # Fit-time weights of D's terms (D gets no gradient from the reconstruction loss, so only their ratio
    # matters under Adam): L1 on the flows in pixels, and the photometric agreement on RGB in [-1, 1].
    # Bikes, every 4th frame kept, 200 steps, held-out PSNR RGB by photo_weight: 0: 34.45, 10: 34.60,
    # 25: 34.84, 40: 34.79, 70: 33.96, 150: 32.78 (kept frames 37.20 in every run: K is untouched).
    flow_weight: float = 1.0
    photo_weight: float = 25.0
    source: SourceVideo | None = None
    training: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    architecture: str = ARCHITECTURE

    def validate_fields(self) -> None:
        check_int("hidden_features", self.hidden_features, 1, MAX_FEATURES)
        check_int("hidden_layers", self.hidden_layers, 1, MAX_LAYERS)
        check_int("flow_features", self.flow_features, 1, MAX_FEATURES)
        check_int("flow_layers", self.flow_layers, 1, MAX_LAYERS)
        check_int("key_frames", self.key_frames, 1, MAX_KEY_FRAMES)
        for key in ("first_omega_0", "hidden_omega_0", "time_omega_0", "flow_omega_0", "flow_tau_omega_0"):
            check_float(key, getattr(self, key), MAX_OMEGA)
        for key in ("flow_weight", "photo_weight"):
            value = getattr(self, key)
            if value != 0:
                check_float(key, value, MAX_OMEGA)

    @property
    def key_params(self) -> int:
        return _mlp_params(3, self.hidden_features, self.hidden_layers, 3)

    @property
    def flow_params(self) -> int:
        return _mlp_params(4, self.flow_features, self.flow_layers, 4)

    @property
    def num_params(self) -> int:
        return self.key_params + self.flow_params

    @property
    def macs_per_pixel(self) -> int:
        """Multiply-accumulates per decoded pixel: K twice plus D once (the elementwise glue is ~30 more)."""
        return 2 * _mlp_macs(3, self.hidden_features, self.hidden_layers, 3) + _mlp_macs(
            4, self.flow_features, self.flow_layers, 4
        )

    def describe(self) -> str:
        return (
            f"key-frame sine MLP of {self.hidden_layers} layers of {self.hidden_features} plus a flow sine MLP of "
            f"{self.flow_layers} layers of {self.flow_features} over {self.key_frames} key frames, "
            f"{self.num_params:,} parameters"
        )

    def describe_shape(self) -> str:
        return f"K {self.hidden_layers}x{self.hidden_features}, D {self.flow_layers}x{self.flow_features}"

    def info_lines(self) -> list[str]:
        return [
            f"key frames: {self.key_frames}",
            f"omega_0: K {self.first_omega_0:g} (x, y), {self.hidden_omega_0:g} (hidden), {self.time_omega_0:g} (t); "
            f"D {self.flow_omega_0:g} (x, y, t0), {self.flow_tau_omega_0:g} (tau)",
        ]

    def card_slug(self) -> str:
        return f"motion-mlp-{self.hidden_features}x{self.hidden_layers}"


def _mlp_params(i: int, w: int, layers: int, o: int) -> int:
    return (i * w + w) + (layers - 1) * (w * w + w) + (w * o + o)


def _mlp_macs(i: int, w: int, layers: int, o: int) -> int:
    return i * w + (layers - 1) * w * w + w * o


def budget_split(hidden_features: int, hidden_layers: int) -> tuple[int, int, int]:
    """``(K width, D width, D layers)`` whose parameters match a sine MLP of ``hidden_features`` × ``hidden_layers``.

    D gets a quarter of the width (8 to 64) and 3 layers; K the width that brings the total closest to the
    sine MLP's count.
    """
    target = SineMLPConfig(hidden_features=hidden_features, hidden_layers=hidden_layers).num_params
    dw, dl = min(64, max(8, round(hidden_features / 4))), 3
    rest = target - _mlp_params(4, dw, dl, 4)
    best = min(range(1, max(2, hidden_features + 1)), key=lambda w: abs(_mlp_params(3, w, hidden_layers, 3) - rest))
    return best, dw, dl


class _SineNet(nn.Module):
    """Sine layers then a linear head; the first layer's inputs are scaled by ``input_scale`` (not saved)."""

    def __init__(self, i: int, w: int, layers: int, o: int, first: float, hidden: float, scale: list[float]):
        super().__init__()
        self.layers = nn.ModuleList(
            [SineLayer(i, w, omega_0=first, is_first=True)]
            + [SineLayer(w, w, omega_0=hidden) for _ in range(layers - 1)]
        )
        self.head = nn.Linear(w, o)
        with torch.no_grad():
            bound = math.sqrt(6.0 / w) / hidden
            self.head.weight.uniform_(-bound, bound)
        self.register_buffer("input_scale", torch.tensor(scale, dtype=torch.float32), persistent=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h * self.input_scale
        for layer in self.layers:
            h = layer(h)
        return self.head(h)

    @torch.no_grad()
    def folded(self) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for i, layer in enumerate(self.layers):
            w = layer.linear.weight.detach().float() * layer.omega_0
            if i == 0:
                w = w * self.input_scale.to(w)
            out.append((w.cpu().numpy(), (layer.linear.bias.detach().float() * layer.omega_0).cpu().numpy()))
        out.append((self.head.weight.detach().float().cpu().numpy(), self.head.bias.detach().float().cpu().numpy()))
        return out


@register_model
class MotionMLP(VinrModel):
    """(x, y, t) → RGB: two warped samples of the key-frame network K, blended by the position between key instants."""

    config_class = MotionMLPConfig

    def __init__(self, config: MotionMLPConfig | None = None, **kwargs):
        if config is None:
            config = MotionMLPConfig(**kwargs)
        elif kwargs:
            raise TypeError("pass either a config or keyword arguments, not both")
        super().__init__(config)
        c = config
        self.key = _SineNet(
            3,
            c.hidden_features,
            c.hidden_layers,
            3,
            c.first_omega_0,
            c.hidden_omega_0,
            [1.0, 1.0, c.time_omega_0 / c.first_omega_0],
        )
        self.flow = _SineNet(
            4,
            c.flow_features,
            c.flow_layers,
            4,
            c.flow_omega_0,
            c.hidden_omega_0,
            [1.0, 1.0, 1.0, c.flow_tau_omega_0 / c.flow_omega_0],
        )
        with torch.no_grad():  # start from zero motion (a cross-fade) rather than random flows
            self.flow.head.weight.mul_(0.1)
            self.flow.head.bias.zero_()
        self._setup: dict[str, Any] | None = None
        self.scene_time = SceneTime.of(c)
        if self.scene_time.active and self.scene_time.frames != c.key_frames:
            raise ConfigError(
                f"config.json: source.frames ({self.scene_time.frames}) must equal key_frames ({c.key_frames}) "
                "when the source has scene cuts"
            )

    # ---- the function ------------------------------------------------------------------------------------
    def _timing(self, t: torch.Tensor):
        """``(t0, t1, τ, i0)`` for ``t [N, 1]`` (the same float32 operations as the ONNX graph)."""
        T = self.config.key_frames
        step = torch.tensor(2.0 / (T - 1), dtype=t.dtype, device=t.device)
        inv = torch.tensor((T - 1) / 2.0, dtype=t.dtype, device=t.device)
        u = (t + 1.0) * inv
        i0 = torch.floor(u).clamp(0.0, float(T - 2))
        tau = u - i0
        t0 = i0 * step - 1.0
        return t0, t0 + step, tau, i0

    def _key_times(self, t0, t1, i0):
        """K's time inputs for the key instants ``t0``, ``t1``: each shot moved by its `SceneTime` offset."""
        if not self.scene_time.active:
            return t0, t1
        return t0 + self.scene_time.shot_offset(i0), t1 + self.scene_time.shot_offset(i0 + 1.0)

    def _render(self, xy, t0, t1, tau, k0, k1):
        """``(rgb, a, b, f)``: the blend, its two warped key samples and D's raw output (K sees ``k0``, ``k1``)."""
        key = self.key
        f = self.flow(torch.cat((xy, t0, tau * 2.0 - 1.0), dim=1))
        omt = 1.0 - tau
        p0 = (xy + f[:, 0:2] * tau).clamp(-1.0, 1.0)
        p1 = (xy + f[:, 2:4] * omt).clamp(-1.0, 1.0)
        n = len(xy)
        ab = key(torch.cat((torch.cat((p0, k0), dim=1), torch.cat((p1, k1), dim=1)), dim=0))
        a, b = ab[:n], ab[n:]
        return a * omt + b * tau, a, b, f

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        if self.config.key_frames < 2:
            return self.key(coords)
        xy, t = coords[:, 0:2], self.scene_time.snap(coords[:, 2:3])
        t0, t1, tau, i0 = self._timing(t)
        return self._render(xy, t0, t1, tau, *self._key_times(t0, t1, i0))[0]

    # ---- family hooks ------------------------------------------------------------------------------------
    @classmethod
    def config_for_fit(cls, options: Any, source: SourceVideo) -> MotionMLPConfig:
        kw, dw, dl = budget_split(options.hidden_features, options.hidden_layers)
        return MotionMLPConfig(
            hidden_features=kw,
            hidden_layers=options.hidden_layers,
            first_omega_0=options.first_omega_0,
            hidden_omega_0=options.hidden_omega_0,
            time_omega_0=options.time_omega_0,
            flow_features=dw,
            flow_layers=dl,
            key_frames=source.frames,
            source=source,
        )

    def fit_forward(self, coords: torch.Tensor, precision: str) -> torch.Tensor:
        # At key instants the model is K alone (τ = 0, or τ = 1 on the far side of the floor, where the
        # flow toward t1 is gated to 0): the reconstruction loss on the fitted frames trains K at K's cost.
        if self.config.key_frames >= 2:
            tau = self._timing(coords[:, 2:3])[2]
            if bool(((tau < 1e-5) | (tau > 1.0 - 1e-5)).all()) is False:
                return self(coords)
        if self.scene_time.active:  # at key instants: t plus the shot's offset, as K sees it in forward
            coords = torch.cat((coords[:, 0:2], self.scene_time.network_time(coords[:, 2:3])), dim=1)
        if precision == "fp32":
            return self.key(coords)
        h = self.key.layers[0](coords * self.key.input_scale)
        with torch.autocast(coords.device.type, dtype=torch.bfloat16):
            for layer in self.key.layers[1:]:
                h = layer(h)
            return self.key.head(h).float()

    def fit_setup(self, video, options: Any) -> None:
        """DIS flows between consecutive fitted frames, both ways, in normalised units ``[T - 1, H, W, 2]``."""
        T, H, W = video.num_frames, video.height, video.width
        if T != self.config.key_frames:
            raise VinrError(f"the model has {self.config.key_frames} key frames, the clip {T} frames")
        if T < 2:
            self._setup = None
            return
        f01, f10 = [], []
        crossing = set(self.scene_time.cuts)
        intervals = [k for k in range(T - 1) if k + 1 not in crossing]  # flow within a shot only
        zero = np.zeros((H, W, 2), np.float32)
        for k in range(T - 1):
            a, b = video.frames[k], video.frames[k + 1]
            f01.append(_dis(a, b) if k in intervals else zero)
            f10.append(_dis(b, a) if k in intervals else zero)
        if not intervals:  # every pair of frames crosses a cut: no motion to learn
            self._setup = None
            return
        norm = np.array([2.0 / W, 2.0 / H], dtype=np.float32)
        self._setup = {
            "f01": torch.from_numpy(np.stack(f01) * norm),
            "f10": torch.from_numpy(np.stack(f10) * norm),
            "px": torch.tensor([W / 2.0, H / 2.0], dtype=torch.float32),  # normalised -> pixels
            "intervals": torch.tensor(intervals, dtype=torch.int64),
            "H": H,
            "W": W,
        }

    def fit_extra_loss(self, sampler, options: Any, precision: str, n: int) -> torch.Tensor | None:
        s = self._setup
        if s is None:
            return None
        c = self.config
        device = sampler.device
        m = max(1, n // 8)
        gen = sampler.gen
        intervals = s["intervals"]  # those that do not cross a scene cut
        k = intervals[torch.randint(0, len(intervals), (m,), generator=gen)]
        iy = torch.randint(0, s["H"], (m,), generator=gen)
        ix = torch.randint(0, s["W"], (m,), generator=gen)
        tau = torch.rand(m, 1, generator=gen)
        f01 = s["f01"][k, iy, ix].to(device)
        f10 = s["f10"][k, iy, ix].to(device)
        k, iy, ix, tau = k.to(device), iy.to(device), ix.to(device), tau.to(device)
        omt = 1.0 - tau
        # Super SloMo's flows from the in-between instant to the two key frames; D's outputs are gated by
        # τ and 1 - τ, so the targets for f0, f1 are these divided by the gates (the τ factors cancel).
        g0 = -omt * f01 + tau * f10  # F_t->0 / τ
        g1 = omt * f01 - tau * f10  # F_t->1 / (1 - τ)
        xy = torch.stack((sampler.xs[ix], sampler.ys[iy]), dim=1)
        t0 = sampler.ts[k][:, None]
        t1 = sampler.ts[k + 1][:, None]
        px = s["px"].to(device).repeat(2)
        f = self.flow(torch.cat((xy, t0, tau * 2.0 - 1.0), dim=1))
        err = torch.cat(((f[:, 0:2] - g0) * tau, (f[:, 2:4] - g1) * omt), dim=1)
        loss = c.flow_weight * (err * px).abs().sum() / (m * 4)
        if c.photo_weight > 0:
            # On a quarter of the rows (K runs twice there, forward and backward): both warped key-frame
            # samples must agree. K's weights are held fixed: this term moves the flows, never the key frames.
            mp = max(1, m // 4)
            p0 = (xy[:mp] + f[:mp, 0:2] * tau[:mp]).clamp(-1.0, 1.0)
            p1 = (xy[:mp] + f[:mp, 2:4] * omt[:mp]).clamp(-1.0, 1.0)
            frozen = {name: p.detach() for name, p in self.key.named_parameters()}
            k0, k1 = self._key_times(t0[:mp], t1[:mp], k[:mp, None].float())
            q = torch.cat((torch.cat((p0, k0), dim=1), torch.cat((p1, k1), dim=1)), dim=0)
            ab = torch.func.functional_call(self.key, frozen, (q,))
            loss = loss + c.photo_weight * (ab[:mp] - ab[mp:]).abs().sum() / (mp * 3)
        return loss

    # ---- export ------------------------------------------------------------------------------------------
    def onnx_graph(self, *, precision: str = "fp32", spec: OnnxSpec = SPEC) -> tuple[list, list]:
        """coords → rgb with Slice, Floor, Clip, Concat, MatMul, Add, Mul, Sub, Sin (+ Cast, Gather with cuts; fp32)."""
        if precision not in PRECISIONS:
            raise VinrError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if precision != "fp32":
            raise VinrError(f"the {ARCHITECTURE} family exports fp32 only (K's warped inputs would need fp32 too)")
        T = self.config.key_frames
        g = GraphBuilder()
        const, node = g.const, g.node

        def mlp(prefix, weights, x, out, share=None):
            """MatMul/Add/Sin chain; ``share`` reuses another chain's initialisers (K evaluated twice)."""
            last = len(weights) - 1
            for i, (w, b) in enumerate(weights):
                name = f"{share or prefix}.{'head' if i == last else f'layers.{i}'}"
                if share is None:
                    const(f"{name}.weight", np.ascontiguousarray(w.T))
                    const(f"{name}.bias", b)
                tag = f"{prefix}.{i}"
                h = node("MatMul", [x, f"{name}.weight"], f"{tag}.matmul")
                h = node("Add", [h, f"{name}.bias"], out if i == last else f"{tag}.pre")
                if i < last:
                    x = node("Sin", [h], f"{tag}.sin")
            return out

        key_w = self.key.folded()
        if T < 2:
            mlp("key", key_w, spec.input_name, spec.output_name)
            return g.graph()

        one, zero = const("one", 1.0), const("zero", 0.0)
        xy = g.columns(spec.input_name, 0, 2, "xy")
        t = g.columns(spec.input_name, 2, 3, "t")
        if self.scene_time.active:
            t = self.scene_time.onnx_parts(g, t)[0]
        u = node("Mul", [node("Add", [t, one], "t_plus_1"), const("inv_step", (T - 1) / 2.0)], "u")
        i0 = node("Clip", [node("Floor", [u], "u_floor"), zero, const("last_interval", float(T - 2))], "i0")
        tau = node("Sub", [u, i0], "tau")
        step = const("step", 2.0 / (T - 1))
        t0 = node("Sub", [node("Mul", [i0, step], "i0_step"), one], "t0")
        t1 = node("Add", [t0, step], "t1")
        k0, k1 = t0, t1
        if self.scene_time.active:
            k0 = node("Add", [t0, self.scene_time.onnx_shot_offset(g, i0, "shot0")], "k0")
            i1 = node("Add", [i0, one], "i1")
            k1 = node("Add", [t1, self.scene_time.onnx_shot_offset(g, i1, "shot1")], "k1")
        tau_in = node("Sub", [node("Mul", [tau, const("two", 2.0)], "tau2"), one], "tau_in")
        f = mlp("flow", self.flow.folded(), node("Concat", [xy, t0, tau_in], "flow_in", axis=1), "flow_out")
        omt = node("Sub", [one, tau], "one_minus_tau")
        lo, hi = const("lo", -1.0), const("hi", 1.0)
        f0 = node("Mul", [g.columns(f, 0, 2, "f0"), tau], "f0_tau")
        f1 = node("Mul", [g.columns(f, 2, 4, "f1"), omt], "f1_omt")
        p0 = node("Clip", [node("Add", [xy, f0], "p0_raw"), lo, hi], "p0")
        p1 = node("Clip", [node("Add", [xy, f1], "p1_raw"), lo, hi], "p1")
        a = mlp("key", key_w, node("Concat", [p0, k0], "q0", axis=1), "key_a")
        b = mlp("key_b", key_w, node("Concat", [p1, k1], "q1", axis=1), "key_b_out", share="key")
        node("Add", [node("Mul", [a, omt], "a_w"), node("Mul", [b, tau], "b_w")], spec.output_name)
        return g.graph()


def _dis(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """DIS optical flow from RGB uint8 frame ``a`` to ``b``, ``[H, W, 2]`` float32 in pixels (a's grid).

    `vinr_zoo.flow.dis_flow`; without OpenCV a one-line `RuntimeUnavailable` naming ``pip install 'vinr-zoo[flow]'``.
    """
    return dis_flow(a, b)
