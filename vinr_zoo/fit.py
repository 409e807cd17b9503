"""Fit a video into a `SineMLP`: random-pixel L1 steps computed in cache-sized chunks, resumable.

Loss (the seed's): L1 on RGB in [-1, 1], plus optional
- temporal consistency: ``|f(x, y, t + δ) - f(x, y, t - δ)|`` at random continuous (x, y, t), δ half a
  frame gap, i.e. a finite-difference ∂RGB/∂t in units of one frame; weight ``temporal_weight``;
- perceptual: L1 between VGG16 relu3_3 features of random patches rendered from the network and the
  same patches of the video; weight ``perceptual_weight``.

Each step draws ``batch_size`` pixels and accumulates gradients over chunks of ``chunk_size`` rows:
the same update as one big batch, but the activations stay in cache (measured 1.7x more steps/s on a
2-vCPU Xeon, PERF_NOTES). Everything random comes from one seeded generator whose state is saved in
the checkpoint, so a resumed fit continues bit-exactly on CPU.

Under torchrun (`vinr_zoo.distributed`) each process draws its share of the batch from its own generator,
the gradients are summed over the processes once per step, and rank 0 alone writes files.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vinr_zoo._atomic import atomic_dir, atomic_path
from vinr_zoo._system import cpu_name
from vinr_zoo.card import training_metrics, write_model_card
from vinr_zoo.config import SineMLPConfig
from vinr_zoo.coords import SpaceTimeGrid, frame_instant_to_t, pixel_centres
from vinr_zoo.distributed import SINGLE, DistContext, DistributedError
from vinr_zoo.errors import OutputExistsError, VinrError
from vinr_zoo.metrics import ScoreAccumulator, Scores, json_number, mse_to_psnr, ssim_available, to_unit
from vinr_zoo.model import WEIGHTS_NAME, SineMLP, load_weights
from vinr_zoo.video import Video

CHECKPOINT_NAME = "fit_checkpoint.safetensors"
DEFAULT_STEPS = 2000


# The command-line flag of each option whose name differs (so an error names what the user typed).
_FLAGS = {"hidden_features": "width", "hidden_layers": "depth", "first_omega_0": "omega-0",
          "hidden_omega_0": "omega-0", "time_omega_0": "omega-t"}  # fmt: skip


@dataclass
class FitOptions:
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
    final_lr_ratio: float = 0.05
    loss: str = "l1"  # the seed's L1; "mse" is SIREN's
    # "bf16": hidden layers under autocast (the first layer and its sine stay fp32: bf16 keeps only 8
    # mantissa bits, coarser than the pixel spacing of x and y near ±1). Measured on carphone, 300 steps:
    # 29.53 dB bf16 vs 29.50 dB fp32, 1.5x the steps/s on an AVX512-BF16 CPU. "auto" picks bf16 where
    # the hardware computes it natively (AVX512-BF16/AMX CPUs, bf16-capable GPUs), else fp32.
    precision: str = "auto"
    warmup_steps: int = 20
    batch_size: int = 32768
    chunk_size: int = 4096
    temporal_weight: float = 0.0
    perceptual_weight: float = 0.0
    perceptual_patch: int = 32
    perceptual_patches: int = 2
    vgg_weights: str | None = None
    seed: int = 0
    device: str = "cpu"
    checkpoint_every: int = 100

    def validate(self) -> None:
        def positive(name, value, integer=False):
            ok = isinstance(value, (int, float)) and math.isfinite(value) and value > 0
            if not ok or (integer and int(value) != value):
                kind = "a positive integer" if integer else "a finite number > 0"
                flag = _FLAGS.get(name, name.replace("_", "-"))
                raise VinrError(f"--{flag} must be {kind}, got {value!r}")

        for name in ("hidden_features", "hidden_layers", "batch_size", "chunk_size", "checkpoint_every"):
            positive(name, getattr(self, name), integer=True)
        for name in ("lr", "first_omega_0", "hidden_omega_0", "time_omega_0"):
            positive(name, getattr(self, name))
        if self.steps is not None:
            positive("steps", self.steps, integer=True)
        if self.minutes is not None:
            positive("minutes", self.minutes)
        for name in ("temporal_weight", "perceptual_weight"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise VinrError(f"--{name.split('_')[0]} must be a finite weight >= 0, got {value}")
        if self.loss not in ("l1", "mse"):
            raise VinrError(f"--loss must be l1 or mse, got {self.loss!r}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise VinrError(f"--precision must be auto, fp32 or bf16, got {self.precision!r}")
        if self.schedule not in ("cosine", "constant"):
            raise VinrError(f"schedule must be cosine or constant, got {self.schedule!r}")
        if self.device not in ("cpu", "cuda"):
            raise VinrError(f"--device must be cpu or cuda, got {self.device!r}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise VinrError("--device cuda was asked for but torch sees no CUDA GPU")

    def resolved_precision(self) -> str:
        if self.precision != "auto":
            return self.precision
        return "bf16" if native_bf16(self.device) else "fp32"

    @property
    def max_steps(self) -> int | None:
        if self.steps is None and self.minutes is None:
            return DEFAULT_STEPS
        return self.steps


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


@dataclass
class StepInfo:
    step: int
    total_steps: int | None
    loss: float
    psnr: float  # running estimate from the batch MSE, RGB in [0, 1]
    elapsed_s: float
    progress: float  # 0..1 of the run (steps or time budget)
    lr: float
    model: SineMLP | None = field(default=None, repr=False)  # the live model (for benchmarks' snapshots)


@dataclass
class FitResult:
    model_dir: Path
    model: SineMLP
    steps: int
    wall_time_s: float
    psnr: float
    history: list[dict] = field(default_factory=list)
    scores: Scores | None = None  # PSNR RGB / Y and SSIM on the training clip (rank 0 only)


class _Sampler:
    """Random training pixels (and patches) of a video held on the device as uint8."""

    def __init__(self, video: Video, device: torch.device, generator: torch.Generator):
        self.T, self.H, self.W = video.num_frames, video.height, video.width
        self.pixels = torch.from_numpy(video.frames).to(device).reshape(-1, 3)
        self.xs = torch.from_numpy(pixel_centres(self.W).astype(np.float32)).to(device)
        self.ys = torch.from_numpy(pixel_centres(self.H).astype(np.float32)).to(device)
        ks = np.arange(self.T, dtype=np.float64)
        self.ts = torch.from_numpy(np.asarray(frame_instant_to_t(ks, self.T), dtype=np.float32)).to(device)
        self.gen = generator
        self.device = device

    def _randint(self, high: int, n: int) -> torch.Tensor:
        return torch.randint(0, high, (n,), generator=self.gen).to(self.device)

    def pixels_batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self._randint(self.T * self.H * self.W, n)
        hw = self.H * self.W
        t, rem = idx // hw, idx % hw
        y, x = rem // self.W, rem % self.W
        coords = torch.stack((self.xs[x], self.ys[y], self.ts[t]), dim=1)
        target = self.pixels[idx].float() / 127.5 - 1.0
        return coords, target

    def between_frames(self, n: int) -> tuple[torch.Tensor, float]:
        """Random continuous (x, y, t) and δ = half a frame gap in normalised time."""
        u = torch.rand(n, 3, generator=self.gen).to(self.device) * 2 - 1
        return u, 1.0 / (self.T - 1)

    def patches(self, count: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``count`` random ``size``² patches: coords ``[count*size*size, 3]``, target ``[count, 3, s, s]``."""
        p = min(size, self.H, self.W)
        k = self._randint(self.T, count)
        y0 = self._randint(self.H - p + 1, count)
        x0 = self._randint(self.W - p + 1, count)
        r = torch.arange(p, device=self.device)
        yy = (y0[:, None, None] + r[None, :, None]).expand(count, p, p)
        xx = (x0[:, None, None] + r[None, None, :]).expand(count, p, p)
        kk = k[:, None, None].expand(count, p, p)
        coords = torch.stack((self.xs[xx], self.ys[yy], self.ts[kk]), dim=-1).reshape(-1, 3)
        flat = (kk * self.H + yy) * self.W + xx
        target = self.pixels[flat.reshape(-1)].float().reshape(count, p, p, 3).permute(0, 3, 1, 2) / 255.0
        return coords, target


def _lr_at(options: FitOptions, progress: float, step: int) -> float:
    if options.schedule == "constant":
        return options.lr
    warm = min(1.0, (step + 1) / max(1, options.warmup_steps))
    cos = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return options.lr * warm * (options.final_lr_ratio + (1 - options.final_lr_ratio) * cos)


def fit_video(
    video: Video,
    options: FitOptions,
    output: str | os.PathLike[str],
    *,
    resume: bool = False,
    overwrite: bool = False,
    callback: Callable[[StepInfo], None] | None = None,
    command: str | None = None,
    eval_command: str | None = None,
    dist: DistContext = SINGLE,
) -> FitResult:
    """Fit ``video`` and write a model directory at ``output`` (atomically, at the end).

    ``command`` (the fit command line, recorded in config.json and on the card) and ``eval_command`` (the
    `vinr eval` line that reproduces the recorded metrics, on the card) are optional.

    ``dist``: this process's place in a torchrun job (`vinr_zoo.distributed.process_group`); every rank
    calls this with the same arguments, ``batch_size`` stays the global batch, rank 0 writes the files.
    """
    options.validate()
    out = Path(output)
    ckpt_path = out / CHECKPOINT_NAME
    dist.from_main(lambda: _check_output_dir(out, resume, overwrite))  # it may delete a stale checkpoint: once
    if options.batch_size < dist.world_size:
        raise DistributedError(f"--batch-size {options.batch_size} is smaller than the {dist.world_size} processes")
    if options.temporal_weight > 0 and video.num_frames < 2:
        raise VinrError("--temporal needs a clip of at least 2 frames")
    device = torch.device(options.device)

    config = SineMLPConfig(
        hidden_features=options.hidden_features, hidden_layers=options.hidden_layers,
        first_omega_0=options.first_omega_0, hidden_omega_0=options.hidden_omega_0,
        time_omega_0=options.time_omega_0, source=video.source_info(),
    )  # fmt: skip
    torch.manual_seed(options.seed)
    model = SineMLP(config).to(device)
    dist.broadcast_parameters(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr)
    generator = torch.Generator().manual_seed(dist.sampler_seed(options.seed))
    step, elapsed_before, history = 0, 0.0, []
    if resume:
        # Every rank reads the checkpoint (on several machines -o must be on a shared filesystem).
        step, elapsed_before, history = _load_checkpoint(ckpt_path, model, optimizer, generator, options, video,
                                                         dist)  # fmt: skip
        dist.check_same("the checkpoint step to resume from", step)
    vgg = None
    if options.perceptual_weight > 0:
        from vinr_zoo.perceptual import load_vgg16

        vgg = load_vgg16(options.vgg_weights).to(device)
    sampler = _Sampler(video, device, generator)

    max_steps = options.max_steps
    budget = options.minutes * 60.0 if options.minutes is not None else None
    start = time.perf_counter()
    last_ckpt = step
    try:
        if dist.is_main:
            out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VinrError(f"cannot create {out}: {exc.strerror or exc}") from None
    model.train()
    while True:
        elapsed = elapsed_before + time.perf_counter() - start
        if budget is not None:  # rank 0's clock decides for all: the lr schedule and the stop must agree
            elapsed = dist.broadcast_float(elapsed)
        progress = max(step / max_steps if max_steps else 0.0, elapsed / budget if budget else 0.0)
        if (max_steps is not None and step >= max_steps) or (budget is not None and elapsed >= budget):
            break
        lr = _lr_at(options, progress, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss, mse = _train_step(model, optimizer, sampler, options, vgg, dist)
        step += 1
        elapsed = elapsed_before + time.perf_counter() - start
        info = StepInfo(step, max_steps, loss, mse_to_psnr(mse / 4.0), elapsed, progress, lr, model)
        if step % 10 == 0 or step == 1:
            history.append({"step": step, "loss": round(loss, 6), "psnr": round(info.psnr, 3), "time_s": round(elapsed, 2)})
        if callback is not None:
            callback(info)
        if step - last_ckpt >= options.checkpoint_every:
            rng = dist.all_gather_object((generator.get_state(), torch.get_rng_state()))
            if dist.is_main:
                _save_checkpoint(ckpt_path, model, optimizer, rng, options, video, step, elapsed, history)
            last_ckpt = step
    wall = elapsed_before + time.perf_counter() - start

    model.eval()
    if not dist.is_main:  # the weights are the same on every rank; rank 0 measures and writes
        return FitResult(out, model, step, wall, dist.broadcast_object(None), history)
    scores = measure_scores(model, video, ssim=ssim_available())
    final_psnr = scores.psnr_rgb
    config.training = {
        "steps": step,
        "wall_time_s": round(wall, 2),
        "batch_size": options.batch_size,
        "lr": options.lr,
        "schedule": options.schedule,
        "precision": options.resolved_precision(),
        "seed": options.seed,
        "losses": _loss_names(options),
        # a perfect fit has an infinite PSNR: JSON null (not the non-standard Infinity), left off the card
        "final_psnr_rgb": json_number(final_psnr, 3),
        "final_psnr_y": json_number(scores.psnr_y, 3),
        **({"final_ssim": json_number(scores.ssim, 4)} if scores.ssim is not None else {}),
        "device": _hardware(device),
        **({"processes": dist.world_size} if dist.enabled else {}),
        "vinr_zoo": _version(),
        "torch": torch.__version__,
    }
    if command:
        config.training["command"] = command
    with atomic_dir(out, overwrite=True) as tmp:
        model.save_pretrained(tmp)
        write_model_card(tmp, config, training_metrics(config.training), eval_command=eval_command, model_ref=str(out))
    dist.broadcast_object(final_psnr)  # releases the other ranks once the model directory is in place
    return FitResult(out, model, step, wall, final_psnr, history, scores)


def _forward(model: SineMLP, x: torch.Tensor, precision: str) -> torch.Tensor:
    if precision == "fp32":
        return model(x)
    h = model.layers[0](x * model.input_scale)
    with torch.autocast(x.device.type, dtype=torch.bfloat16):
        for layer in model.layers[1:]:
            h = layer(h)
        return model.head(h).float()


def _train_step(model, optimizer, sampler: _Sampler, options: FitOptions, vgg,
                dist: DistContext = SINGLE) -> tuple[float, float]:  # fmt: skip
    optimizer.zero_grad(set_to_none=True)
    reconstruction = F.l1_loss if options.loss == "l1" else F.mse_loss
    precision = options.resolved_precision()
    n = options.batch_size  # the global batch: this rank draws its share, the losses divide by all of it
    coords, target = sampler.pixels_batch(dist.share(n))
    total_loss, total_sq = 0.0, 0.0
    for s in range(0, len(coords), options.chunk_size):
        pred = _forward(model, coords[s : s + options.chunk_size], precision)
        tgt = target[s : s + options.chunk_size]
        # Sum over the chunk, divided by the whole batch: the gradient equals one big-batch mean.
        loss = reconstruction(pred, tgt, reduction="sum") / (n * 3)
        loss.backward()
        total_loss += loss.item()
        with torch.no_grad():
            total_sq += float(((pred.clamp(-1, 1) - tgt) ** 2).sum())
    if options.temporal_weight > 0:
        m = max(1, n // 8)
        u, delta = sampler.between_frames(dist.share(m))
        for s in range(0, len(u), options.chunk_size):
            c = u[s : s + options.chunk_size]
            shift = torch.zeros_like(c)
            shift[:, 2] = delta
            diff = _forward(model, (c + shift).clamp(-1, 1), precision) - _forward(
                model, (c - shift).clamp(-1, 1), precision
            )
            loss = options.temporal_weight * diff.abs().sum() / (m * 3)
            loss.backward()
            total_loss += loss.item()
    if vgg is not None:
        p_coords, p_target = sampler.patches(options.perceptual_patches, options.perceptual_patch)
        count, _, p, _ = p_target.shape
        pred = _forward(model, p_coords, precision).reshape(count, p, p, 3).permute(0, 3, 1, 2)
        pred01 = ((pred + 1) * 0.5).clamp(0, 1)
        with torch.no_grad():
            feat_t = vgg(p_target)
        loss = options.perceptual_weight * F.l1_loss(vgg(pred01), feat_t)
        if dist.enabled:  # each rank renders its own patches: the mean over the ranks' patch losses
            loss = loss / dist.world_size
        loss.backward()
        total_loss += loss.item()
    total_loss, total_sq = dist.all_reduce_grads(list(model.parameters()), (total_loss, total_sq))
    optimizer.step()
    return total_loss, total_sq / (n * 3)


@torch.no_grad()
def measure_scores(model: SineMLP, video: Video, *, ssim: bool = True, chunk: int = 4096) -> Scores:
    """PSNR RGB, PSNR Y and (``ssim=True``) SSIM over every frame of ``video``: clamped float output, not
    quantised, as defined in vinr_zoo/metrics.py."""
    # The plain forward in cache-sized chunks: fit sits below the runtimes/decode layer, so it does not
    # borrow their backends (`vinr eval` measures the same numbers through them; a test checks they agree).
    grid = SpaceTimeGrid.source(video.width, video.height, video.num_frames)
    acc = ScoreAccumulator(ssim=ssim)
    device = next(model.parameters()).device
    axes = grid._axes()
    ppf = grid.pixels_per_frame
    with torch.inference_mode():
        for j in range(grid.frames):
            frame = torch.cat([
                model(grid.coords(j * ppf + s, j * ppf + min(s + chunk, ppf), axes).to(device)).float().cpu()
                for s in range(0, ppf, chunk)
            ])  # fmt: skip
            acc.add(to_unit(frame.view(grid.height, grid.width, 3).numpy()), video.frames[j].astype(np.float32) / 255.0)
    return acc.result()


def measure_psnr(model: SineMLP, video: Video, *, chunk: int = 4096) -> float:
    """PSNR (RGB in [0, 1], clamped network output, not quantised) over every frame of ``video``."""
    return measure_scores(model, video, ssim=False, chunk=chunk).psnr_rgb


def _loss_names(options: FitOptions) -> list[str]:
    names = [options.loss]
    if options.temporal_weight > 0:
        names.append(f"temporal:{options.temporal_weight:g}")
    if options.perceptual_weight > 0:
        names.append(f"perceptual_vgg16_relu3_3:{options.perceptual_weight:g}")
    return names


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_name()} ({os.cpu_count()} CPUs, {torch.get_num_threads()} threads)"


def _version() -> str:
    from vinr_zoo import __version__

    return __version__


def _check_output_dir(out: Path, resume: bool, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise VinrError(f"{out} exists and is not a directory")
    ckpt = out / CHECKPOINT_NAME
    if resume:
        if not ckpt.is_file():
            what = "holds a finished model" if (out / WEIGHTS_NAME).exists() else "has no fit checkpoint"
            raise VinrError(f"cannot resume: {out} {what} ({CHECKPOINT_NAME} not found)")
        return
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(f"{out} already exists and is not empty (pass --overwrite, or --resume to continue)")
    parent = out if out.exists() else _first_existing_parent(out)
    if not parent.is_dir():
        raise VinrError(f"cannot write {out}: {parent} is not a folder")
    # Create and delete a file there: os.access says yes to root even where nothing can be created (/proc).
    try:
        fd, probe = tempfile.mkstemp(prefix=".vinr-write-test-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise VinrError(f"cannot write {out}: {exc.strerror or exc}") from None
    if ckpt.exists():
        ckpt.unlink()  # --overwrite: a stale checkpoint must not be resumed later by mistake


def _first_existing_parent(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_fit_output(output: str | os.PathLike[str], *, resume: bool = False, overwrite: bool = False) -> None:
    """The output checks `fit_video` starts with, for callers that want them before reading a video."""
    _check_output_dir(Path(output), resume, overwrite)


# ---- checkpoints ---------------------------------------------------------------------------------
_RESUME_KEYS = ("hidden_features", "hidden_layers", "first_omega_0", "hidden_omega_0", "time_omega_0",
                "batch_size", "chunk_size", "seed", "temporal_weight", "perceptual_weight", "loss", "schedule", "precision")  # fmt: skip


def _rng_keys(rank: int, world_size: int) -> tuple[str, str]:
    """Checkpoint keys of one rank's sampler and torch RNG states (a single process keeps the plain names)."""
    suffix = f".{rank}" if world_size > 1 else ""
    return f"rng.sampler{suffix}", f"rng.torch{suffix}"


def _save_checkpoint(path, model, optimizer, rng_states, options, video, step, elapsed, history) -> None:
    """``rng_states``: ``(sampler state, torch RNG state)`` of every rank, in rank order."""
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for i, param in enumerate(model.parameters()):
        state = optimizer.state.get(param, {})
        for key, value in state.items():
            tensors[f"optim.{i}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    for rank, (sampler_state, torch_state) in enumerate(rng_states):
        sampler_key, torch_key = _rng_keys(rank, len(rng_states))
        tensors[sampler_key], tensors[torch_key] = sampler_state, torch_state
    meta = {
        "step": str(step),
        "processes": str(len(rng_states)),
        "elapsed_s": repr(elapsed),
        "options": json.dumps(asdict(options)),
        "video_sha256": video.sha256,
        "video_shape": json.dumps([video.num_frames, video.height, video.width]),
        "history": json.dumps(history[-200:]),
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def _load_checkpoint(path, model, optimizer, generator, options, video, dist=SINGLE) -> tuple[int, float, list]:
    from safetensors import safe_open

    tensors = load_weights(path)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    try:
        saved = json.loads(meta["options"])
        step = int(meta["step"])
        elapsed = float(meta["elapsed_s"])
        history = json.loads(meta.get("history", "[]"))
        shape = json.loads(meta["video_shape"])
        processes = int(meta.get("processes", "1"))
    except (KeyError, ValueError) as exc:
        raise VinrError(f"{path} is not a vinr fit checkpoint ({exc})") from None
    if processes != dist.world_size:
        # Each process's sampler state is in the checkpoint; another count could not continue the same fit.
        raise DistributedError(
            f"cannot resume {path}: it was written by a fit with {processes} process(es), this one has "
            f"{dist.world_size}; resume with the same count (torchrun --nproc-per-node/--nnodes)"
        )
    changed = [k for k in _RESUME_KEYS if saved.get(k) != getattr(options, k)]
    if changed:
        raise VinrError(
            f"cannot resume {path}: option(s) {', '.join(changed)} differ from the checkpoint "
            f"({', '.join(f'{k}={saved.get(k)!r}' for k in changed)})"
        )
    if meta.get("video_sha256") != video.sha256 or shape != [video.num_frames, video.height, video.width]:
        raise VinrError(f"cannot resume {path}: it was fitted on another video (or other --frames/--size)")
    model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(model_state)
    params = list(model.parameters())
    for i, param in enumerate(params):
        keys = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"optim.{i}.")}
        if keys:
            optimizer.state[param] = {
                k: (v if k != "step" else v.clone()).to(param.device if k != "step" else "cpu") for k, v in keys.items()
            }
    sampler_key, torch_key = _rng_keys(dist.rank, dist.world_size)
    generator.set_state(tensors[sampler_key])
    torch.set_rng_state(tensors[torch_key])
    return step, elapsed, history
