"""`FitOptions`: every knob of a fit, validated by field name, and the learning-rate schedule."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vinr_zoo.errors import OptionError
from vinr_zoo.models import list_architectures
from vinr_zoo.scenes import detect_cuts

DEFAULT_STEPS = 2000
LOSSES = ("mse", "l1")


@dataclass
class FitOptions:
    # The model family (a registered architecture, `vinr_zoo.models.list_architectures`).
    arch: str = "sine_mlp"
    hidden_features: int = 256
    hidden_layers: int = 4
    first_omega_0: float = 30.0
    hidden_omega_0: float = 30.0
    time_omega_0: float = 3.0
    steps: int | None = None
    minutes: float | None = None
    lr: float = 1e-3
    # "cosine": decay from lr to lr * final_lr_ratio over the run (steps, or the wall-clock budget);
    # "constant": SIREN's recipe.
    schedule: str = "cosine"
    # 0.01 rather than 0.05: +0.2-0.3 dB at 5,000 steps on carphone (vinr_zoo/fit/losses.py)
    final_lr_ratio: float = 0.01
    # "mse" (SIREN's; the error PSNR measures) or "l1" (the seed's); vinr_zoo/fit/losses.py has the measurements
    loss: str = "mse"
    # "bf16": hidden layers under autocast (the first layer and its sine stay fp32: bf16 keeps only 8
    # mantissa bits, coarser than the pixel spacing of x and y near ±1). Measured on carphone, 300 steps:
    # 29.53 dB bf16 vs 29.50 dB fp32, 1.5x the steps/s on an AVX512-BF16 CPU. "auto" picks bf16 where
    # the hardware computes it natively (AVX512-BF16/AMX CPUs, bf16-capable GPUs), else fp32.
    precision: str = "auto"
    warmup_steps: int = 20
    # 16,384 rather than 32,768: more, smaller steps do better at equal time (vinr_zoo/fit/sampling.py).
    batch_size: int = 16384
    # "error": half of each batch drawn where the network was last seen wrong; "uniform" (vinr_zoo/fit/sampling.py)
    sampling: str = "error"
    chunk_size: int = 4096
    temporal_weight: float = 0.0
    perceptual_weight: float = 0.0
    perceptual_patch: int = 32
    perceptual_patches: int = 2
    vgg_weights: str | None = None
    # Hard cuts between shots: "auto" (`vinr_zoo.scenes.detect_cuts` on the clip), "none", or the frame
    # indices where a new shot starts. Recorded in config.json (source.scene_cuts); `vinr_zoo.models.cuts`
    # keeps the shots apart.
    scene_cuts: str | list[int] = "auto"
    seed: int = 0
    device: str = "cpu"
    checkpoint_every: int = 100

    def validate(self) -> None:
        """Raise `OptionError` naming the first field that is out of range."""

        def positive(name, value, integer=False):
            ok = isinstance(value, (int, float)) and math.isfinite(value) and value > 0
            if not ok or (integer and int(value) != value):
                kind = "a positive integer" if integer else "a finite number > 0"
                raise OptionError(name, f"must be {kind}, got {value!r}")

        if self.arch not in list_architectures():
            raise OptionError("arch", f"must be one of {', '.join(list_architectures())}, got {self.arch!r}")

        for name in ("hidden_features", "hidden_layers", "batch_size", "chunk_size", "checkpoint_every"):
            positive(name, getattr(self, name), integer=True)
        for name in ("lr", "first_omega_0", "hidden_omega_0", "time_omega_0"):
            positive(name, getattr(self, name))
        ratio = self.final_lr_ratio
        if not isinstance(ratio, (int, float)) or not (0 <= ratio <= 1):
            raise OptionError("final_lr_ratio", f"must be a fraction in [0, 1], got {ratio!r}")
        if self.steps is not None:
            positive("steps", self.steps, integer=True)
        if self.minutes is not None:
            positive("minutes", self.minutes)
        for name in ("temporal_weight", "perceptual_weight"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise OptionError(name, f"must be a finite weight >= 0, got {value}")
        cuts = self.scene_cuts
        if isinstance(cuts, str):
            if cuts not in ("auto", "none"):
                raise OptionError("scene_cuts", f"must be auto, none or a list of frame indices, got {cuts!r}")
        elif not isinstance(cuts, (list, tuple)) or not all(
            isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in cuts
        ):
            raise OptionError("scene_cuts", f"must be auto, none or frame indices >= 1, got {cuts!r}")
        elif list(cuts) != sorted(set(cuts)):
            raise OptionError("scene_cuts", f"must be strictly increasing, got {list(cuts)}")
        if self.sampling not in ("error", "uniform"):
            raise OptionError("sampling", f"must be error or uniform, got {self.sampling!r}")
        if self.loss not in LOSSES:
            raise OptionError("loss", f"must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise OptionError("precision", f"must be auto, fp32 or bf16, got {self.precision!r}")
        if self.schedule not in ("cosine", "constant"):
            raise OptionError("schedule", f"must be cosine or constant, got {self.schedule!r}")
        if self.device not in ("cpu", "cuda"):
            raise OptionError("device", f"must be cpu or cuda, got {self.device!r}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise OptionError("device", "is cuda, but torch sees no CUDA GPU")

    def resolved_precision(self) -> str:
        if self.precision != "auto":
            return self.precision
        return "bf16" if native_bf16(self.device) else "fp32"

    @property
    def max_steps(self) -> int | None:
        if self.steps is None and self.minutes is None:
            return DEFAULT_STEPS
        return self.steps


def scene_cuts_for(options: FitOptions, frames) -> list[int]:
    """The cuts to record for a clip of uint8 ``frames [T, H, W, 3]`` (detected, none, or the given ones)."""
    cuts = options.scene_cuts
    if cuts == "auto":
        return detect_cuts(frames)
    if cuts == "none":
        return []
    last = len(frames) - 1
    if cuts and cuts[-1] > last:
        raise OptionError("scene_cuts", f"{cuts[-1]} is past the clip's last frame ({last})")
    return list(cuts)


def native_bf16(device: str) -> bool:
    """Whether ``device`` multiplies bf16 natively (else autocast to bf16 would be slower, not faster)."""
    if device == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def lr_at(options: FitOptions, progress: float, step: int) -> float:
    if options.schedule == "constant":
        return options.lr
    warm = min(1.0, (step + 1) / max(1, options.warmup_steps))
    cos = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return options.lr * warm * (options.final_lr_ratio + (1 - options.final_lr_ratio) * cos)
