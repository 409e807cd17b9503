"""The ``vinr`` command line: a thin Typer layer over the library API.

Every `VinrError` becomes one line on stderr and exit code 1 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import functools
import math
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from vinr_zoo.errors import NotBuiltYet, VinrError

app = typer.Typer(
    name="vinr",
    help="Fit videos into sine MLPs, export them to ONNX/TensorRT, render them at any space-time scale.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_state = {"debug": False}


class Runtime(str, Enum):
    torch = "torch"
    ort = "ort"
    trt = "trt"


class Device(str, Enum):
    cpu = "cpu"
    cuda = "cuda"


def _size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    from vinr_zoo.video import parse_size

    return parse_size(text)


def _positive_finite(name: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise VinrError(f"{name} must be a finite number > 0, got {value}")


def command(*args, **kwargs):
    """``app.command`` that turns a `VinrError` into one ``error:`` line and a non-zero exit."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            try:
                return fn(*a, **k)
            except VinrError as exc:
                if _state["debug"]:
                    raise
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2 if isinstance(exc, NotBuiltYet) else 1) from None
            except KeyboardInterrupt:
                typer.echo("interrupted", err=True)
                raise typer.Exit(130) from None

        return app.command(*args, **kwargs)(wrapper)

    return decorate


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False) -> None:
    _state["debug"] = debug


@command()
def fit(
    video: Annotated[str, typer.Argument(help="Video file, PNG/JPEG folder, .npy, or sample:carphone|bikes|bigbuckbunny.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Model directory to write.")],
    width: Annotated[int, typer.Option(help="Hidden features per sine layer.")] = 256,
    depth: Annotated[int, typer.Option(help="Number of sine layers.")] = 4,
    omega_0: Annotated[float, typer.Option("--omega-0", help="ω0 of the first (x, y) and hidden layers.")] = 30.0,
    omega_t: Annotated[float, typer.Option("--omega-t", help="ω0 the first layer applies to t.")] = 3.0,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps (default 2000 unless --minutes).")] = None,
    minutes: Annotated[float | None, typer.Option(help="Wall-clock budget in minutes.")] = None,
    lr: Annotated[float, typer.Option(help="Peak Adam learning rate.")] = 1e-3,
    batch_size: Annotated[int, typer.Option(help="Random pixels per step.")] = 32768,
    temporal: Annotated[float, typer.Option(help="Weight of the temporal-consistency loss (|∂RGB/∂t|).")] = 0.0,
    perceptual: Annotated[float, typer.Option(help="Weight of the VGG16 relu3_3 perceptual loss on patches.")] = 0.0,
    vgg_weights: Annotated[str | None, typer.Option(help="VGG16 safetensors file or Hub repo id.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (init and sampling).")] = 0,
    device: Annotated[Device, typer.Option(case_sensitive=False)] = Device.cpu,
    frames: Annotated[int | None, typer.Option(help="Read only this many frames.")] = None,
    start: Annotated[int, typer.Option(help="First frame to read.")] = 0,
    size: Annotated[str | None, typer.Option(help="Resize to WxH (area averaging) before fitting.")] = None,
    checkpoint_every: Annotated[int, typer.Option(help="Save a resumable checkpoint every N steps.")] = 100,
    resume: Annotated[bool, typer.Option(help="Continue from the checkpoint in the output directory.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing model directory.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Fit VIDEO into a sine MLP and write a model directory (config.json, model.safetensors, README.md)."""
    from vinr_zoo.fit import FitOptions, fit_video
    from vinr_zoo.video import read_video, resolve_video_path

    if minutes is not None:
        _positive_finite("--minutes", minutes)
    clip = read_video(resolve_video_path(video), frames=frames, start=start, size=_size(size))
    options = FitOptions(
        hidden_features=width, hidden_layers=depth, first_omega_0=omega_0, hidden_omega_0=omega_0,
        time_omega_0=omega_t, steps=steps, minutes=minutes, lr=lr, batch_size=batch_size,
        temporal_weight=temporal, perceptual_weight=perceptual, vgg_weights=vgg_weights, seed=seed,
        device=device.value, checkpoint_every=checkpoint_every,
    )  # fmt: skip
    typer.echo(
        f"fitting {clip.name}: {clip.width}x{clip.height}, {clip.num_frames} frames @ {clip.fps:.3f} fps "
        f"-> {output}",
        err=True,
    )
    result = fit_video(clip, options, output, resume=resume, overwrite=overwrite, progress=not quiet)
    typer.echo(
        f"wrote {result.model_dir}  steps {result.steps}  {result.wall_time_s:.1f} s  "
        f"PSNR {result.psnr:.2f} dB (RGB, all {clip.num_frames} training frames)"
    )


@command()
def decode(
    model: Annotated[str, typer.Argument(help="Model directory (later: .onnx, zoo name, Hub id).")],
    output: Annotated[Path, typer.Option("-o", "--output", help=".mp4/.mkv/.mov, .npy, or a folder for PNGs.")],
    scale_s: Annotated[float, typer.Option("--scale-s", help="Spatial scale (non-integer allowed).")] = 1.0,
    scale_t: Annotated[float, typer.Option("--scale-t", help="Temporal scale; output fps = fps * scale_t.")] = 1.0,
    size: Annotated[str | None, typer.Option(help="Explicit output size WxH (overrides --scale-s).")] = None,
    frames: Annotated[int | None, typer.Option(help="Write only the first N output frames.")] = None,
    runtime: Annotated[Runtime, typer.Option(case_sensitive=False, help="Inference runtime.")] = Runtime.torch,
    device: Annotated[Device, typer.Option(case_sensitive=False)] = Device.cpu,
    batch: Annotated[int, typer.Option(help="Coordinates per inference call.")] = 65536,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Render MODEL at (--scale-s, --scale-t) to a video, a PNG folder or .npy."""
    from vinr_zoo.decode import decode as run_decode

    for name, value in (("--scale-s", scale_s), ("--scale-t", scale_t)):
        _positive_finite(name, value)
    with _progress(quiet, "decoding") as update:
        result = run_decode(
            model, output, scale_s=scale_s, scale_t=scale_t, size=_size(size), frames=frames,
            runtime=runtime.value, device=device.value, batch=batch, overwrite=overwrite, on_frame=update,
        )  # fmt: skip
    note = " (odd size padded by one pixel for yuv420p)" if result.padded else ""
    typer.echo(
        f"wrote {result.path}: {result.width}x{result.height}, {result.frames} frames @ {result.fps:.3f} fps "
        f"[{result.runtime}]{note}"
    )


def _progress(quiet: bool, label: str):
    """A rich progress bar driven by ``update(done, total)``; a no-op when quiet or not a terminal."""
    import contextlib

    if quiet:
        return contextlib.nullcontext(None)

    @contextlib.contextmanager
    def bar():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      transient=True, console=_stderr_console()) as progress:  # fmt: skip
            task = progress.add_task(label, total=None)

            def update(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            yield update

    return bar()


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def _not_built(command: str, issue: int) -> None:
    raise NotBuiltYet(f"'vinr {command}' is not built yet in this version (planned: issue #{issue})")


@command()
def export(model: Annotated[str, typer.Argument(help="Model to export.")]) -> None:
    """Export MODEL to ONNX (and with --trt a TensorRT engine)."""
    _not_built("export", 4)


@command()
def parity(model: Annotated[str, typer.Argument(help="Model to check.")]) -> None:
    """Render the same grid on torch and other runtimes and compare."""
    _not_built("parity", 4)


@command()
def pull(name: Annotated[str, typer.Argument(help="Zoo name, local directory or Hub repo id.")]) -> None:
    """Fetch a model from the embedded zoo or the Hugging Face Hub."""
    _not_built("pull", 6)


@command()
def push(directory: Annotated[Path, typer.Argument()], repo_id: Annotated[str, typer.Argument()]) -> None:
    """Upload a model directory to the Hugging Face Hub."""
    _not_built("push", 6)


@command("list")
def list_models() -> None:
    """List the embedded zoo (and Hub models with --hub)."""
    _not_built("list", 6)


@command()
def info(model: Annotated[str, typer.Argument()]) -> None:
    """Show a model's config, metrics and files."""
    _not_built("info", 6)


@command("eval")
def evaluate(model: Annotated[str, typer.Argument()]) -> None:
    """Measure a model against its reference video (PSNR, SSIM, bits per pixel, speed)."""
    _not_built("eval", 7)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
