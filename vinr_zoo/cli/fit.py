"""``vinr fit``: a video → a model directory (FitOptions → `fit_video`), on one process or under torchrun."""

from __future__ import annotations

import contextlib
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from vinr_zoo.cli.app import Device, Loss, Precision, Sampling, command, console
from vinr_zoo.cli.app import size as app_size
from vinr_zoo.distributed import PeerError, process_group, read_video_once_per_node
from vinr_zoo.errors import OptionError
from vinr_zoo.fit import FitOptions, check_fit_output, fit_video
from vinr_zoo.models import list_architectures
from vinr_zoo.video import read_video, resolve_video_path

ARCHS = ", ".join(list_architectures())
# FitOptions field -> flag, where the names differ (an error names what the user typed).
FIT_FLAGS = {
    "arch": "--arch",
    "hidden_features": "--width",
    "hidden_layers": "--depth",
    "first_omega_0": "--omega-0",
    "hidden_omega_0": "--omega-0",
    "time_omega_0": "--omega-t",
    "temporal_weight": "--temporal",
    "perceptual_weight": "--perceptual",
    "scene_cuts": "--scene-cuts",
    "output": "--output",
}


@dataclass
class ReadOptions:
    """How to read the input video (``vinr fit`` and ``vinr stvsr``)."""

    frames: int | None = None
    start: int = 0
    size: tuple[int, int] | None = None

    def as_kwargs(self) -> dict:
        return {"frames": self.frames, "start": self.start, "size": self.size}


@command(flags=FIT_FLAGS)
def fit(
    video: Annotated[
        str, typer.Argument(help="Video file, PNG/JPEG folder, .npy, or sample:carphone|bikes|bigbuckbunny.")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Model directory to write.")],
    arch: Annotated[str, typer.Option("--arch", help=f"Model family: {ARCHS}.")] = "sine_mlp",
    width: Annotated[int, typer.Option(help="Hidden features per sine layer.")] = 256,
    depth: Annotated[int, typer.Option(help="Number of sine layers.")] = 4,
    omega_0: Annotated[float, typer.Option("--omega-0", help="ω0 of the first (x, y) and hidden layers.")] = 30.0,
    omega_t: Annotated[float, typer.Option("--omega-t", help="ω0 the first layer applies to t.")] = 3.0,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps (default 2000 unless --minutes).")] = None,
    minutes: Annotated[float | None, typer.Option(help="Wall-clock budget in minutes.")] = None,
    lr: Annotated[float, typer.Option(help="Peak Adam learning rate.")] = 1e-3,
    final_lr_ratio: Annotated[
        float, typer.Option(help="Learning rate at the end of the cosine decay, as a fraction of --lr.")
    ] = 0.01,
    batch_size: Annotated[int, typer.Option(help="Random pixels per step.")] = 16384,
    sampling: Annotated[
        Sampling,
        typer.Option(
            case_sensitive=False,
            help="How each step's pixels are drawn: error (half where the network was last wrong) or uniform.",
        ),
    ] = Sampling.error,
    loss: Annotated[
        Loss,
        typer.Option(
            case_sensitive=False,
            help="Reconstruction loss on RGB in [-1, 1]: mse (SIREN's, what PSNR measures) or l1 (the seed's).",
        ),
    ] = Loss.mse,
    temporal: Annotated[float, typer.Option(help="Weight of the temporal-consistency loss (|∂RGB/∂t|).")] = 0.0,
    perceptual: Annotated[float, typer.Option(help="Weight of the VGG16 relu3_3 perceptual loss on patches.")] = 0.0,
    vgg_weights: Annotated[str | None, typer.Option(help="VGG16 safetensors file or Hub repo id.")] = None,
    precision: Annotated[
        Precision,
        typer.Option(
            case_sensitive=False,
            help="Hidden layers in bf16 where the hardware has it (auto), or force fp32/bf16; the first layer stays fp32.",
        ),
    ] = Precision.auto,
    seed: Annotated[int, typer.Option(help="Random seed (init and sampling).")] = 0,
    device: Annotated[Device, typer.Option(case_sensitive=False)] = Device.cpu,
    scene_cuts: Annotated[
        str,
        typer.Option(
            "--scene-cuts",
            help="Hard cuts between shots: auto (detect them), none, or the frames that start a new shot "
            "(e.g. 30,76). Shots are kept apart: nothing is interpolated across a cut.",
        ),
    ] = "auto",
    frames: Annotated[int | None, typer.Option(help="Read only this many frames.")] = None,
    start: Annotated[int, typer.Option(help="First frame to read.")] = 0,
    size: Annotated[str | None, typer.Option(help="Resize to WxH (area averaging) before fitting.")] = None,
    checkpoint_every: Annotated[int, typer.Option(help="Save a resumable checkpoint every N steps.")] = 100,
    resume: Annotated[bool, typer.Option(help="Continue from the checkpoint in the output directory.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing model directory.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Fit VIDEO into a model (default: a sine MLP) and write a model directory (config.json, model.safetensors, README.md).

    Under torchrun (torchrun --nproc-per-node N -m vinr_zoo.cli fit ...) the N processes fit one model:
    --batch-size is the total over all of them, and rank 0 writes the files.
    """
    options = FitOptions(
        arch=arch,
        hidden_features=width,
        hidden_layers=depth,
        first_omega_0=omega_0,
        hidden_omega_0=omega_0,
        time_omega_0=omega_t,
        steps=steps,
        minutes=minutes,
        lr=lr,
        final_lr_ratio=final_lr_ratio,
        batch_size=batch_size,
        temporal_weight=temporal,
        perceptual_weight=perceptual,
        vgg_weights=vgg_weights,
        seed=seed,
        device=device.value,
        checkpoint_every=checkpoint_every,
        loss=loss.value,
        precision=precision.value,
        scene_cuts=parse_scene_cuts(scene_cuts),
        sampling=sampling.value,
    )
    options.validate()
    read = ReadOptions(frames=frames, start=start, size=app_size(size))
    try:
        with process_group(device.value) as dist:
            _fit(dist, video, read, options, output, resume=resume, overwrite=overwrite, quiet=quiet)
    except PeerError:  # the rank that failed printed why
        raise typer.Exit(1) from None


def parse_scene_cuts(text: str) -> str | list[int]:
    """``auto`` / ``none`` / ``30,76`` → FitOptions.scene_cuts (a list it validates itself)."""
    text = text.strip().lower()
    if text in ("auto", "none"):
        return text
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise OptionError("scene_cuts", f"must be auto, none or frame numbers like 30,76, got {text!r}") from None


def _fit(
    dist,
    video: str,
    read: ReadOptions,
    options: FitOptions,
    output: Path,
    *,
    resume: bool,
    overwrite: bool,
    quiet: bool,
) -> None:
    clip = read_video_once_per_node(dist, lambda: read_video(resolve_video_path(video), **read.as_kwargs()))
    dist.from_main(lambda: check_fit_output(output, resume=resume, overwrite=overwrite))  # a bad -o: the only line
    if dist.is_main:
        procs = f" on {dist.world_size} processes" if dist.enabled else ""
        typer.echo(
            f"fitting {clip.name}: {clip.width}x{clip.height}, {clip.num_frames} frames @ {clip.fps:.3f} fps "
            f"-> {output}{procs}",
            err=True,
        )
    command_line = "vinr " + shlex.join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("vinr") else None
    # frames and size default to the ones recorded in config.json; --start is not recorded
    eval_line = "vinr " + shlex.join(
        ["eval", str(output), "--reference", video, *(["--start", str(read.start)] if read.start else [])]
    )
    with fit_progress(quiet or not dist.is_main, options) as on_step:
        result = fit_video(
            clip,
            options,
            output,
            resume=resume,
            overwrite=overwrite,
            callback=on_step,
            command=command_line,
            eval_command=eval_line,
            dist=dist,
        )
    if dist.is_main:
        typer.echo(
            f"wrote {result.model_dir}  steps {result.steps}  {result.wall_time_s:.1f} s  "
            f"PSNR {result.psnr:.2f} dB (RGB, all {clip.num_frames} training frames)"
        )


@contextlib.contextmanager
def fit_progress(quiet: bool, options):
    """A live bar: step, loss, running PSNR, elapsed and time left (by steps or by the time budget)."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("fit"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TextColumn("left {task.fields[left]}"),
        console=console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("fit", total=1.0, status="starting", left="?")

        def on_step(info) -> None:
            if info.step % 5 and info.step != 1:
                return
            total = f"/{info.total_steps}" if info.total_steps else ""
            done = min(max(info.progress, 1e-9), 1.0)
            left = info.elapsed_s * (1 - done) / done
            progress.update(
                task,
                completed=done,
                left=f"{left:4.0f}s",
                status=f"step {info.step}{total}  loss {info.loss:.4f}  PSNR {info.psnr:5.2f} dB",
            )

        yield on_step
