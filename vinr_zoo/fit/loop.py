"""`fit_video`: the fit loop — build the family's model, step, checkpoint, score, write the model directory.

Under torchrun (`vinr_zoo.distributed`) each process draws its share of the batch from its own generator,
the gradients are summed over the processes once per step, and rank 0 alone writes files.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vinr_zoo._atomic import atomic_dir
from vinr_zoo._system import cpu_name
from vinr_zoo.cards import training_metrics, write_model_card
from vinr_zoo.contract import WEIGHTS_NAME
from vinr_zoo.distributed import SINGLE, DistContext, DistributedError
from vinr_zoo.errors import OptionError, OutputExistsError, VinrError
from vinr_zoo.fit.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from vinr_zoo.fit.losses import train_step
from vinr_zoo.fit.options import FitOptions, lr_at, scene_cuts_for
from vinr_zoo.fit.perceptual import load_vgg16
from vinr_zoo.fit.sampling import PixelSampler
from vinr_zoo.fit.scoring import measure_scores
from vinr_zoo.metrics import Scores, json_number, mse_to_psnr, ssim_available
from vinr_zoo.models import VinrModel, model_class
from vinr_zoo.version import __version__
from vinr_zoo.video import Video


@dataclass
class StepInfo:
    step: int
    total_steps: int | None
    loss: float
    psnr: float  # running estimate from the batch MSE, RGB in [0, 1]
    elapsed_s: float
    progress: float  # 0..1 of the run (steps or time budget)
    lr: float
    model: VinrModel | None = field(default=None, repr=False)  # the live model (for benchmarks' snapshots)


@dataclass
class FitResult:
    model_dir: Path
    model: VinrModel
    steps: int
    wall_time_s: float
    psnr: float
    history: list[dict] = field(default_factory=list)
    scores: Scores | None = None  # PSNR RGB / Y and SSIM on the training clip (rank 0 only)


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
        raise DistributedError(f"batch_size {options.batch_size} is smaller than the {dist.world_size} processes")
    if options.temporal_weight > 0 and video.num_frames < 2:
        raise OptionError("temporal_weight", "needs a clip of at least 2 frames")
    device = torch.device(options.device)

    family = model_class(options.arch)
    source = video.source_info()
    source.scene_cuts = scene_cuts_for(options, video.frames)
    config = family.config_for_fit(options, source)
    torch.manual_seed(options.seed)
    model = family(config).to(device)
    dist.broadcast_parameters(model)
    # The family's own preparation (e.g. optical flow between frames); deterministic, before any checkpoint is read.
    model.fit_setup(video, options)
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr)
    generator = torch.Generator().manual_seed(dist.sampler_seed(options.seed))
    sampler = PixelSampler(video, device, generator, options.sampling)
    step, elapsed_before, history = 0, 0.0, []
    if resume:
        # Every rank reads the checkpoint (on several machines -o must be on a shared filesystem).
        step, elapsed_before, history = load_checkpoint(
            ckpt_path, model, optimizer, generator, options, video, dist, sampler=sampler
        )
        dist.check_same("the checkpoint step to resume from", step)
    vgg = None
    if options.perceptual_weight > 0:
        vgg = load_vgg16(options.vgg_weights).to(device)

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
        lr = lr_at(options, progress, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss, mse = train_step(model, optimizer, sampler, options, vgg, dist)
        step += 1
        elapsed = elapsed_before + time.perf_counter() - start
        info = StepInfo(step, max_steps, loss, mse_to_psnr(mse / 4.0), elapsed, progress, lr, model)
        if step % 10 == 0 or step == 1:
            history.append(
                {"step": step, "loss": round(loss, 6), "psnr": round(info.psnr, 3), "time_s": round(elapsed, 2)}
            )
        if callback is not None:
            callback(info)
        if step - last_ckpt >= options.checkpoint_every:
            rng = dist.all_gather_object((generator.get_state(), torch.get_rng_state(), sampler.state()))
            if dist.is_main:
                save_checkpoint(ckpt_path, model, optimizer, rng, options, video, step, elapsed, history)
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
        **({"final_lr_ratio": options.final_lr_ratio} if options.schedule == "cosine" else {}),
        "sampling": options.sampling,
        "precision": options.resolved_precision(),
        "seed": options.seed,
        "losses": _loss_names(options),
        # a perfect fit has an infinite PSNR: JSON null (not the non-standard Infinity), left off the card
        "final_psnr_rgb": json_number(final_psnr, 3),
        "final_psnr_y": json_number(scores.psnr_y, 3),
        **({"final_ssim": json_number(scores.ssim, 4)} if scores.ssim is not None else {}),
        "device": _hardware(device),
        **({"processes": dist.world_size} if dist.enabled else {}),
        "vinr_zoo": __version__,
        "torch": torch.__version__,
    }
    if command:
        config.training["command"] = command
    with atomic_dir(out, overwrite=True) as tmp:
        model.save_pretrained(tmp)
        write_model_card(tmp, config, training_metrics(config.training), eval_command=eval_command, model_ref=str(out))
    dist.broadcast_object(final_psnr)  # releases the other ranks once the model directory is in place
    return FitResult(out, model, step, wall, final_psnr, history, scores)


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
