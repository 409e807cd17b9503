"""Scene cuts in time: nothing is interpolated across a cut, and each shot gets its own stretch of the t axis.

A clip of ``T`` frames has its frames at ``t_k = 2 k / (T - 1) - 1``. A *cut* at ``c`` (recorded in config.json
as ``source.scene_cuts``) means a new shot starts at frame ``c``. The families apply, before anything else:

1. **Snap.** An instant strictly between frames ``c - 1`` and ``c`` renders frame ``c - 1`` while it is less
   than half-way (``τ < 0.5``), frame ``c`` from half-way on — what ffmpeg's ``minterpolate`` does at a scene
   change (it repeats a frame rather than blending two shots).
2. **Separate.** Shot ``s`` (the number of cuts at or before its frames) is moved ``s · CUT_GAP`` along the
   network's time input: frames on each side of a cut sit ``CUT_GAP`` apart in the network's input instead of
   one frame step, so the low time frequency of the first layer does not have to jump between two shots in
   one frame (measured on bikes 0–60, one cut at 30: the frames next to the cut lost 3–5 dB to their
   neighbours without it).

With no cuts both are the identity and the graph has no extra node. In ONNX the two take Floor, Clip, Cast,
Gather, Mul, Add and Sub on ``t`` (opset 17, fp32), tables of ``T - 1`` intervals baked in as constants.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from vinr_zoo.config import check_scene_cuts

# Distance, in normalised t, between the last frame of a shot and the first of the next (part of the format:
# changing it changes what every model with cuts renders, so it would need a new schema_version).
CUT_GAP = 4.0


class SceneTime:
    """The snap-and-separate map of one clip (``frames`` instants, new shots at ``cuts``)."""

    @classmethod
    def of(cls, config) -> SceneTime:
        """The map of a model's config (its ``source.scene_cuts``; none without a source)."""
        source = config.source
        if source is None or not source.scene_cuts:
            return cls(1)
        return cls(source.frames, source.scene_cuts)

    def __init__(self, frames: int, cuts: Sequence[int] = ()):
        self.frames = int(frames)
        self.cuts = check_scene_cuts(list(cuts), self.frames, "scene_cuts") if self.frames > 1 else []
        intervals = max(0, self.frames - 1)
        cut_after = np.zeros(intervals, np.float32)  # interval i (frames i, i + 1) crosses a cut
        for c in self.cuts:
            cut_after[c - 1] = 1.0
        self.cut_table = cut_after
        # shot of frame k: the number of cuts at or before k
        self.shot_table = np.searchsorted(np.asarray(self.cuts), np.arange(self.frames), side="right").astype(
            np.float32
        )

    @property
    def active(self) -> bool:
        return bool(self.cuts)

    def _parts(self, t: torch.Tensor):
        """``(snapped t, shot of the instant rendered)``, both ``[N, 1]``, with the ONNX graph's float32 steps."""
        T = self.frames
        dev, dt = t.device, t.dtype
        step = torch.tensor(2.0 / (T - 1), dtype=dt, device=dev)
        inv = torch.tensor((T - 1) / 2.0, dtype=dt, device=dev)
        u = (t + 1.0) * inv
        i0 = torch.floor(u).clamp(0.0, float(T - 2))
        tau = u - i0
        idx = i0.long().squeeze(1)
        cut = torch.from_numpy(self.cut_table).to(dev, dt)[idx][:, None]
        shot = torch.from_numpy(self.shot_table).to(dev, dt)[idx][:, None]
        r = torch.floor(tau + 0.5)
        snapped = t + cut * (r - tau) * step
        return snapped, shot + cut * r

    def snap(self, t: torch.Tensor) -> torch.Tensor:
        """Instants inside a cut interval moved to the nearer frame (step 1 of the module docstring)."""
        return self._parts(t)[0] if self.active else t

    def network_time(self, t: torch.Tensor) -> torch.Tensor:
        """Snapped and separated: what a single network over (x, y, t) sees as its time input."""
        if not self.active:
            return t
        snapped, shot = self._parts(t)
        return snapped + shot * CUT_GAP

    def shot_offset(self, frame_index: torch.Tensor) -> torch.Tensor:
        """``CUT_GAP`` × the shot of each (whole-number, float) frame index."""
        table = torch.from_numpy(self.shot_table * CUT_GAP).to(frame_index.device, frame_index.dtype)
        return table[frame_index.long().squeeze(1)][:, None]

    # ---- the same in ONNX ------------------------------------------------------------------------------
    def onnx_parts(self, g, t: str) -> tuple[str, str]:
        """Graph nodes for `_parts`: names of ``(snapped t, shot)`` (`vinr_zoo.models.graph.GraphBuilder` ``g``)."""
        T = self.frames
        one = g.const("cuts.one", 1.0)
        u = g.node("Mul", [g.node("Add", [t, one], "cuts.t_plus_1"), g.const("cuts.inv_step", (T - 1) / 2.0)], "cuts.u")
        i0 = g.node(
            "Clip",
            [g.node("Floor", [u], "cuts.u_floor"), g.const("cuts.zero", 0.0), g.const("cuts.last", float(T - 2))],
            "cuts.i0",
        )
        tau = g.node("Sub", [u, i0], "cuts.tau")
        cut = g.lookup(self.cut_table, i0, "cuts.cut")
        shot = g.lookup(self.shot_table, i0, "cuts.shot")
        r = g.node("Floor", [g.node("Add", [tau, g.const("cuts.half", 0.5)], "cuts.tau_half")], "cuts.r")
        move = g.node(
            "Mul",
            [
                g.node("Mul", [cut, g.node("Sub", [r, tau], "cuts.r_tau")], "cuts.cut_r_tau"),
                g.const("cuts.step", 2.0 / (T - 1)),
            ],
            "cuts.move",
        )
        snapped = g.node("Add", [t, move], "cuts.snapped")
        return snapped, g.node("Add", [shot, g.node("Mul", [cut, r], "cuts.cut_r")], "cuts.shot_now")

    def onnx_network_time(self, g, t: str) -> str:
        if not self.active:
            return t
        snapped, shot = self.onnx_parts(g, t)
        return g.node("Add", [snapped, g.node("Mul", [shot, g.const("cuts.gap", CUT_GAP)], "cuts.offset")], "cuts.t")

    def onnx_shot_offset(self, g, frame_index: str, out: str) -> str:
        return g.lookup(self.shot_table * CUT_GAP, frame_index, out)
