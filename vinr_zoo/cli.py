"""The ``vinr`` command line: a thin Typer layer over the library API.

Every `VinrError` becomes one line on stderr and exit code 1 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import contextlib
import functools
import math
import shlex
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from vinr_zoo.errors import GridError, NotBuiltYet, VinrError

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


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


class Loss(str, Enum):
    l1 = "l1"
    mse = "mse"


class Device(str, Enum):
    cpu = "cpu"
    cuda = "cuda"


def _size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    from vinr_zoo.video import parse_size

    return parse_size(text)


def _numbers(option: str, text: str, sep: str, count: int, form: str) -> tuple[float, ...]:
    parts = text.split(sep)
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise GridError(f"{option} {text!r} must look like {form} (finite numbers)")
    return values


def _roi(text: str | None) -> tuple[float, float, float, float] | None:
    return None if text is None else _numbers("--roi", text, ",", 4, "X,Y,W,H, e.g. 0,0,64,48")


def _time_range(text: str | None) -> tuple[float, float] | None:
    return None if text is None else _numbers("--time-range", text, ":", 2, "A:B in source frames, e.g. 0:10")


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
                # One line whatever the message holds (a library's multi-line reason, a newline in a path).
                typer.echo("error: " + " ".join(str(exc).split()), err=True)
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
    loss: Annotated[Loss, typer.Option(case_sensitive=False, help="Reconstruction loss (l1: the seed's; mse: SIREN's).")] = Loss.l1,
    temporal: Annotated[float, typer.Option(help="Weight of the temporal-consistency loss (|∂RGB/∂t|).")] = 0.0,
    perceptual: Annotated[float, typer.Option(help="Weight of the VGG16 relu3_3 perceptual loss on patches.")] = 0.0,
    vgg_weights: Annotated[str | None, typer.Option(help="VGG16 safetensors file or Hub repo id.")] = None,
    precision: Annotated[Precision, typer.Option(case_sensitive=False, help="Hidden layers in bf16 where the hardware has it (auto), or force fp32/bf16; the first layer stays fp32.")] = Precision.auto,
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
    """Fit VIDEO into a sine MLP and write a model directory (config.json, model.safetensors, README.md).

    Under torchrun (torchrun --nproc-per-node N -m vinr_zoo.cli fit ...) the N processes fit one model:
    --batch-size is the total over all of them, and rank 0 writes the files.
    """
    from vinr_zoo.distributed import PeerError, process_group

    if minutes is not None:
        _positive_finite("--minutes", minutes)
    try:
        with process_group(device.value) as dist:
            _fit(dist, video, output, width=width, depth=depth, omega_0=omega_0, omega_t=omega_t, steps=steps,
                 minutes=minutes, lr=lr, batch_size=batch_size, loss=loss, temporal=temporal, perceptual=perceptual,
                 vgg_weights=vgg_weights, precision=precision, seed=seed, device=device, frames=frames, start=start,
                 size=size, checkpoint_every=checkpoint_every, resume=resume, overwrite=overwrite, quiet=quiet)  # fmt: skip
    except PeerError:  # the rank that failed printed why
        raise typer.Exit(1) from None


def _fit(dist, video: str, output: Path, *, width, depth, omega_0, omega_t, steps, minutes, lr, batch_size, loss,
         temporal, perceptual, vgg_weights, precision, seed, device, frames, start, size, checkpoint_every, resume,
         overwrite, quiet) -> None:  # fmt: skip
    from vinr_zoo.distributed import read_video_once_per_node
    from vinr_zoo.fit import FitOptions, check_fit_output, fit_video
    from vinr_zoo.video import read_video, resolve_video_path

    clip = read_video_once_per_node(
        dist, lambda: read_video(resolve_video_path(video), frames=frames, start=start, size=_size(size))
    )
    options = FitOptions(
        hidden_features=width, hidden_layers=depth, first_omega_0=omega_0, hidden_omega_0=omega_0,
        time_omega_0=omega_t, steps=steps, minutes=minutes, lr=lr, batch_size=batch_size,
        temporal_weight=temporal, perceptual_weight=perceptual, vgg_weights=vgg_weights, seed=seed,
        device=device.value, checkpoint_every=checkpoint_every, loss=loss.value,
        precision=precision.value,
    )  # fmt: skip
    options.validate()
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
    eval_line = "vinr " + shlex.join(["eval", str(output), "--reference", video, *(["--start", str(start)] if start else [])])
    with _fit_progress(quiet or not dist.is_main, options) as on_step:
        result = fit_video(clip, options, output, resume=resume, overwrite=overwrite, callback=on_step,
                           command=command_line, eval_command=eval_line, dist=dist)  # fmt: skip
    if dist.is_main:
        typer.echo(
            f"wrote {result.model_dir}  steps {result.steps}  {result.wall_time_s:.1f} s  "
            f"PSNR {result.psnr:.2f} dB (RGB, all {clip.num_frames} training frames)"
        )


@contextlib.contextmanager
def _fit_progress(quiet: bool, options):
    """A live bar: step, loss, running PSNR, elapsed and time left (by steps or by the time budget)."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("fit"), BarColumn(), TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
        TextColumn("left {task.fields[left]}"), console=_stderr_console(), transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("fit", total=1.0, status="starting", left="?")

        def on_step(info) -> None:
            if info.step % 5 and info.step != 1:
                return
            total = f"/{info.total_steps}" if info.total_steps else ""
            done = min(max(info.progress, 1e-9), 1.0)
            left = info.elapsed_s * (1 - done) / done
            progress.update(
                task, completed=done, left=f"{left:4.0f}s",
                status=f"step {info.step}{total}  loss {info.loss:.4f}  PSNR {info.psnr:5.2f} dB",
            )  # fmt: skip

        yield on_step


@command()
def decode(
    model: Annotated[str, typer.Argument(help="Model directory, .onnx file, embedded zoo name or Hub repo id (user/repo[@rev]).")],
    output: Annotated[Path, typer.Option("-o", "--output", help=".mp4/.mkv/.mov, .npy, or a folder for PNGs.")],
    scale_s: Annotated[float, typer.Option("--scale-s", help="Spatial scale (non-integer allowed).")] = 1.0,
    scale_t: Annotated[float, typer.Option("--scale-t", help="Temporal scale; output fps = fps * scale_t.")] = 1.0,
    size: Annotated[str | None, typer.Option(help="Explicit output size WxH (overrides --scale-s).")] = None,
    frames: Annotated[int | None, typer.Option(help="Write only the first N output frames.")] = None,
    roi: Annotated[str | None, typer.Option(metavar="X,Y,W,H", help="Render only this region, in source pixels (fractions allowed).")] = None,
    time_range: Annotated[str | None, typer.Option("--time-range", metavar="A:B", help="Render only source frames A..B, inclusive (fractional instants allowed).")] = None,
    runtime: Annotated[Runtime | None, typer.Option(case_sensitive=False, help="Inference runtime (default: torch; ort for a bare .onnx).")] = None,
    device: Annotated[Device, typer.Option(case_sensitive=False)] = Device.cpu,
    batch: Annotated[int, typer.Option(help="Coordinates per inference call.")] = 65536,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Render MODEL at (--scale-s, --scale-t) to a video, a PNG folder or .npy.

    Under torchrun each process renders a contiguous range of output frames (the bar shows rank 0's).
    """
    from vinr_zoo.decode import decode as run_decode
    from vinr_zoo.distributed import PeerError, process_group

    for name, value in (("--scale-s", scale_s), ("--scale-t", scale_t)):
        _positive_finite(name, value)
    # gloo even for --device cuda (each rank still renders on GPU LOCAL_RANK): the ranks exchange only paths
    # and barriers, never tensors.
    try:
        with process_group(device.value, backend="gloo") as dist, _progress(quiet or not dist.is_main, "decoding") as update:
            result = run_decode(
                model, output, scale_s=scale_s, scale_t=scale_t, size=_size(size), frames=frames, roi=_roi(roi),
                time_range=_time_range(time_range), runtime=runtime.value if runtime else None, device=device.value, batch=batch, overwrite=overwrite, on_frame=update,
                dist=dist,
            )  # fmt: skip
    except PeerError:  # the rank that failed printed why
        raise typer.Exit(1) from None
    if not dist.is_main:
        return
    note = " (odd size padded by one pixel for yuv420p)" if result.padded else ""
    typer.echo(
        f"wrote {result.path}: {result.width}x{result.height}, {result.frames} frames @ {result.fps:.3f} fps "
        f"[{result.runtime}]{note}"
    )


def _progress(quiet: bool, label: str):
    """A rich progress bar driven by ``update(done, total)``; a no-op when quiet or not a terminal."""
    if quiet or not sys.stderr.isatty():
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


@command()
def export(
    model: Annotated[str, typer.Argument(help="Model directory to export.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Folder for model.onnx (default: the model directory).")
    ] = None,
    opset: Annotated[
        int | None, typer.Option(help="ONNX opset (default: the newest the installed onnxruntime supports, >= 17).")
    ] = None,
    fp16: Annotated[
        bool, typer.Option("--fp16", help="Also write model.fp16.onnx (first layer fp32, float32 I/O).")
    ] = False,
    validate: Annotated[
        bool, typer.Option(help="Check parity with torch in ONNX Runtime before writing.")
    ] = True,
    atol: Annotated[float | None, typer.Option(help="Max abs difference allowed for fp32 (default 1e-4).")] = None,
    atol_fp16: Annotated[
        float | None, typer.Option("--atol-fp16", help="Max abs difference allowed for fp16 (default 2e-2).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace existing ONNX files (and the engine, with --trt).")] = False,
    trt: Annotated[bool, typer.Option("--trt", help="Also build a TensorRT engine for this GPU from model.onnx (needs tensorrt and a CUDA GPU); with --fp16 an fp16 engine (first layer and its sine fp32).", rich_help_panel="TensorRT")] = False,
    min_batch: Annotated[int, typer.Option("--min-batch", help="Smallest N of the engine's optimization profile.", rich_help_panel="TensorRT")] = 1,
    opt_batch: Annotated[int, typer.Option("--opt-batch", help="N the engine is tuned for.", rich_help_panel="TensorRT")] = 65536,
    max_batch: Annotated[int, typer.Option("--max-batch", help="Largest N per inference call.", rich_help_panel="TensorRT")] = 1048576,
    workspace: Annotated[int, typer.Option(help="Builder workspace limit in MiB.", rich_help_panel="TensorRT")] = 1024,
    timing_cache: Annotated[Path | None, typer.Option("--timing-cache", help="Timing cache file reused across builds (default: ~/.cache/vinr-zoo/trt/timing.<gpu>.<version>.cache).", rich_help_panel="TensorRT")] = None,
) -> None:
    """Export MODEL to ONNX (model.onnx: coords [N,3] -> rgb [N,3], ω folded, config in metadata)."""
    from vinr_zoo.decode import resolve_source
    from vinr_zoo.export.onnx import export_onnx

    engine_target = None
    if trt:  # every TensorRT check before anything is written
        from vinr_zoo.export.trt import trt_export_target

        engine_target = trt_export_target(model if output is None else output, "fp16" if fp16 else "fp32",
                                          (min_batch, opt_batch, max_batch), workspace, overwrite)  # fmt: skip
    src = resolve_source(model)
    if output is None:
        if not Path(model).is_dir():
            raise VinrError("pass -o OUT_DIR (MODEL is not a model directory to write into)")
        output = Path(model)
    onnx_path = output / "model.onnx"
    if trt and not overwrite and onnx_path.is_file():
        from vinr_zoo.export.trt import check_onnx_is_current

        check_onnx_is_current(onnx_path, src.require_model().config)
        typer.echo(f"using {onnx_path} (already exported from this model)")
    else:
        result = export_onnx(
            src.require_model(), output, opset=opset, fp16=fp16, validate=validate, atol=atol, atol_fp16=atol_fp16,
            overwrite=overwrite,
        )  # fmt: skip
        for precision, path in result.paths.items():
            size = path.stat().st_size / 1e6
            check = result.validation.get(precision)
            note = f"; onnxruntime {check.summary()}" if check is not None else "; not validated"
            typer.echo(f"wrote {path} ({precision}, opset {result.opset}, {size:.2f} MB){note}")
    if engine_target is not None:
        from vinr_zoo.export.trt import export_engine

        built = export_engine(onnx_path, output, precision=engine_target.precision, profile=engine_target.profile,
                              workspace_mib=workspace, timing_cache=timing_cache, overwrite=overwrite)  # fmt: skip
        info = built.info
        typer.echo(
            f"wrote {built.engine} (TensorRT {info.tensorrt}, {info.gpu}, compute {info.compute_capability}, "
            f"{info.precision}, profile N {info.profile.describe()}, {built.engine.stat().st_size / 1e6:.2f} MB, "
            f"built in {info.build_seconds:.1f} s) and {built.metadata.name}"
        )


@command()
def parity(
    model: Annotated[str, typer.Argument(help="Model directory (torch weights are the reference).")],
    runtime: Annotated[
        list[Runtime] | None,
        typer.Option(case_sensitive=False, help="Runtime to compare with torch (repeatable; default ort)."),
    ] = None,
    onnx: Annotated[
        Path | None, typer.Option(help="ONNX file for the ort runtime (default: model.onnx, else exported in memory).")
    ] = None,
    atol: Annotated[
        float | None, typer.Option(help="Max abs error allowed (default: 1e-4 fp32, 2e-2 fp16 files).")
    ] = None,
    max_8bit_diff: Annotated[
        float | None,
        typer.Option("--max-8bit-diff", help="Max fraction of 8-bit pixels that may differ (default 0.001 fp32, 0.25 fp16)."),
    ] = None,
    scale_s: Annotated[float, typer.Option("--scale-s", help="Spatial scale of the compared grid.")] = 1.5,
    scale_t: Annotated[float, typer.Option("--scale-t", help="Temporal scale of the compared grid.")] = 2.5,
    frames: Annotated[int, typer.Option(help="Compare only the first N output frames.")] = 3,
    random: Annotated[int, typer.Option(help="Random coordinates compared as well.")] = 16384,
    device: Annotated[Device, typer.Option(case_sensitive=False)] = Device.cpu,
) -> None:
    """Render the same grid on torch and other runtimes and compare (exit 1 when tolerances fail)."""
    from vinr_zoo.parity import check_parity

    for name, value in (("--scale-s", scale_s), ("--scale-t", scale_t)):
        _positive_finite(name, value)
    runtimes = [r.value for r in runtime] if runtime else ["ort"]
    report = check_parity(
        model, runtimes, onnx=onnx, atol=atol, max_8bit_diff=max_8bit_diff, scale_s=scale_s, scale_t=scale_t,
        frames=frames, n_random=random, device=device.value,
    )  # fmt: skip
    typer.echo(report.table())
    if not report:
        for line in report.failures:
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(1)


@command()
def pull(
    name: Annotated[str, typer.Argument(help="Zoo name, local directory, or Hub id user/repo or user/repo@REV.")],
    revision: Annotated[str | None, typer.Option("--revision", help="Hub branch, tag or commit sha.")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Also copy the model directory here.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --output directory.")] = False,
    cache_dir: Annotated[Path | None, typer.Option(help="Hub cache (default: HF_HUB_CACHE under HF_HOME).")] = None,
) -> None:
    """Fetch and validate a model: embedded zoo name, then local directory, then Hub repo (HF_TOKEN, HF_HUB_OFFLINE)."""
    from vinr_zoo.hub import pull as run_pull

    result = run_pull(name, revision=revision, output=output, overwrite=overwrite, cache_dir=cache_dir)
    r, c = result.resolved, result.config
    where = {"zoo": "embedded zoo, sha256 verified", "local": "local directory", "hub": "Hugging Face Hub"}[r.kind]
    typer.echo(f"pulled {r.label} ({where})")
    if r.commit:
        typer.echo(f"commit: {r.commit}")
    typer.echo(f"path: {result.path}")
    src = f", source {c.source.width}x{c.source.height}, {c.source.frames} frames" if c.source else ""
    typer.echo(f"valid: {', '.join(result.files)}; {c.num_params:,} parameters{src}")


@command()
def push(
    directory: Annotated[Path, typer.Argument(help="Model directory (config.json + model.safetensors).")],
    repo_id: Annotated[str, typer.Argument(help="Hub repo id user/repo (created if missing).")],
    private: Annotated[bool, typer.Option("--private", help="Create the repo private.")] = False,
    revision: Annotated[str | None, typer.Option("--revision", help="Branch to commit to (created if new).")] = None,
    message: Annotated[str | None, typer.Option("--message", "-m", help="Commit message.")] = None,
    with_onnx: Annotated[bool, typer.Option("--with-onnx", help="Also upload model.onnx (see vinr export).")] = False,
) -> None:
    """Upload a validated model directory to the Hub in one commit, with a model card (token: HF_TOKEN)."""
    from vinr_zoo.hub import push as run_push

    result = run_push(directory, repo_id, private=private, revision=revision, commit_message=message,
                      with_onnx=with_onnx)  # fmt: skip
    typer.echo(f"pushed {directory} to {result.repo_id}@{result.revision}: {', '.join(result.files)}")
    typer.echo(f"commit: {result.commit}")
    typer.echo(f"url: {result.commit_url}")


@command("list")
def list_models(
    pattern: Annotated[str, typer.Argument(help="Only embedded models whose name matches this shell pattern, e.g. 'bikes-*'.")] = "*",
    hub: Annotated[
        str | None, typer.Option("--hub", metavar="AUTHOR", help="Also list AUTHOR's vinr-zoo models on the Hub.")
    ] = None,
) -> None:
    """List the embedded zoo (name, parameters, source clip, PSNR, SSIM, size on disk) and, with --hub, Hub models."""
    from vinr_zoo.hub import human_size, list_hub_models
    from vinr_zoo.zoo import list_zoo

    entries = list_zoo(pattern)
    if entries:
        rows = [("NAME", "PARAMS", "SOURCE", "PSNR", "SSIM", "SIZE")] + [
            (e.name, f"{e.params:,}", e.source or "-",
             f"{e.metrics['psnr_rgb']:.2f} dB" if "psnr_rgb" in e.metrics else "-",
             f"{e.metrics['ssim']:.4f}" if "ssim" in e.metrics else "-", human_size(e.size_bytes))
            for e in entries
        ]  # fmt: skip
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            typer.echo("  ".join(cell.rjust(w) if i in (1, 3, 4, 5) else cell.ljust(w)
                                 for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip())  # fmt: skip
        typer.echo("PSNR: RGB, SSIM: mean over frames, both on the training frames (vinr info NAME for the card)")
    else:
        typer.echo("the embedded zoo is empty (no checkpoints installed)" if pattern == "*"
                   else f"no embedded model matches {pattern!r} (vinr list shows them all)")  # fmt: skip
    if hub is None:
        return
    models = list_hub_models(hub)
    typer.echo("")
    if not models:
        typer.echo(f"no vinr-zoo models by {hub} on the Hub")
        return
    rows = [("REPO", "UPDATED", "DOWNLOADS", "")] + [
        (m.repo_id, m.last_modified or "-", str(m.downloads), "private" if m.private else "") for m in models
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@command()
def info(
    model: Annotated[str, typer.Argument(help="Zoo name, local directory, or Hub id user/repo or user/repo@REV.")],
    revision: Annotated[str | None, typer.Option("--revision", help="Hub branch, tag or commit sha.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print config, card metadata and files as JSON.")] = False,
) -> None:
    """Show a model's config, model-card metrics and files."""
    import json

    from vinr_zoo.card import training_metrics
    from vinr_zoo.hub import human_size, model_details

    d = model_details(model, revision=revision)
    r, c, card = d.resolved, d.config, d.card
    if as_json:
        payload = {
            "model": r.label, "kind": r.kind, "commit": r.commit, "path": str(r.path), "config": c.to_dict(),
            "card": None if card is None else {"library_name": card.library_name, "license": card.license,
                                               "tags": card.tags, "metrics": [list(m) for m in card.metrics]},
            "files": dict(d.files),
        }  # fmt: skip
        typer.echo(json.dumps(payload, indent=2))
        return
    typer.echo(f"model: {r.label} ({r.kind})")
    if r.commit:
        typer.echo(f"commit: {r.commit}")
    typer.echo(f"path: {r.path}")
    typer.echo(f"architecture: {c.architecture}, {c.hidden_layers} sine layers x {c.hidden_features} features, "
               f"{c.num_params:,} parameters")  # fmt: skip
    typer.echo(f"omega_0: {c.first_omega_0:g} (x, y), {c.hidden_omega_0:g} (hidden), {c.time_omega_0:g} (t)")
    if c.source is not None:
        s = c.source
        typer.echo(f"source: {s.name or '?'}, {s.width}x{s.height}, {s.frames} frames @ {s.fps:.3f} fps")
    t = c.training
    if t:
        m = training_metrics(t)
        psnr = f", final PSNR {m['psnr_rgb']:.2f} dB (RGB)" if "psnr_rgb" in m else ""
        psnr += f", {m['psnr_y']:.2f} dB (Y)" if "psnr_y" in m else ""
        psnr += f", SSIM {m['ssim']:.4f}" if "ssim" in m else ""
        typer.echo(f"training: {t.get('steps', '?')} steps, {t.get('wall_time_s', '?')} s, "
                   f"losses {', '.join(t.get('losses') or []) or '?'}{psnr}")  # fmt: skip
    if card is None:
        typer.echo("card: none (no README.md)")
    else:
        typer.echo(f"card: library {card.library_name or '-'}, license {card.license or '-'}, "
                   f"tags {', '.join(card.tags) or '-'}")  # fmt: skip
        for metric, value, dataset in card.metrics:
            typer.echo(f"metric: {metric} = {value} ({dataset})")
    typer.echo("files:")
    width = max(len(name) for name, _ in d.files)
    for name, size in d.files:
        typer.echo(f"  {name.ljust(width)}  {human_size(size)}")


_EVAL_PANEL = "vinr eval MODEL --reference VIDEO"
_STVSR_PANEL = "vinr eval stvsr VIDEO --scale-s S --scale-t T"
_BOTH_PANEL = "Both forms"


@command("eval")
def evaluate(
    model: Annotated[str, typer.Argument(metavar="MODEL|stvsr", help="Model directory, .onnx file, zoo name or Hub repo id (user/repo or user/repo@rev); or the word stvsr for the super-resolution protocol (a model directory named stvsr: write ./stvsr).")],
    video: Annotated[str | None, typer.Argument(metavar="VIDEO", help="stvsr only: the video to downsample, fit and score (a file, folder, .npy or sample:NAME).")] = None,
    reference: Annotated[str | None, typer.Option("--reference", "-r", help="Video to score MODEL against (a file, folder, .npy or sample:NAME).", rich_help_panel=_EVAL_PANEL)] = None,
    frames: Annotated[int | None, typer.Option(help="Read only this many frames (eval default: the model's source frame count).", rich_help_panel=_BOTH_PANEL)] = None,
    start: Annotated[int, typer.Option(help="First frame to read.", rich_help_panel=_BOTH_PANEL)] = 0,
    size: Annotated[str | None, typer.Option(help="Resize to WxH (area averaging) when reading (eval default: the model's source size).", rich_help_panel=_BOTH_PANEL)] = None,
    runtime: Annotated[Runtime, typer.Option(case_sensitive=False, help="Inference runtime (decode speed is measured on it).", rich_help_panel=_BOTH_PANEL)] = Runtime.torch,
    device: Annotated[Device, typer.Option(case_sensitive=False, rich_help_panel=_BOTH_PANEL)] = Device.cpu,
    batch: Annotated[int, typer.Option(help="Coordinates per inference call.", rich_help_panel=_BOTH_PANEL)] = 65536,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the numbers to this JSON file (replaced atomically).", rich_help_panel=_BOTH_PANEL)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.", rich_help_panel=_BOTH_PANEL)] = False,
    scale_s: Annotated[int | None, typer.Option("--scale-s", help="Integer spatial factor S: fit on the clip area-downsampled by S.", rich_help_panel=_STVSR_PANEL)] = None,
    scale_t: Annotated[int | None, typer.Option("--scale-t", help="Integer temporal factor T: fit on every T-th frame.", rich_help_panel=_STVSR_PANEL)] = None,
    width: Annotated[int | None, typer.Option(help="Hidden features per sine layer (fit default: 256).", rich_help_panel=_STVSR_PANEL)] = None,
    depth: Annotated[int | None, typer.Option(help="Number of sine layers (fit default: 4).", rich_help_panel=_STVSR_PANEL)] = None,
    omega_t: Annotated[float | None, typer.Option("--omega-t", help="ω0 the first layer applies to t (fit default: 3).", rich_help_panel=_STVSR_PANEL)] = None,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps (fit default: 2000 unless --minutes).", rich_help_panel=_STVSR_PANEL)] = None,
    minutes: Annotated[float | None, typer.Option(help="Wall-clock fit budget in minutes.", rich_help_panel=_STVSR_PANEL)] = None,
    lr: Annotated[float | None, typer.Option(help="Peak Adam learning rate (fit default: 1e-3).", rich_help_panel=_STVSR_PANEL)] = None,
    batch_size: Annotated[int | None, typer.Option(help="Random pixels per fit step (fit default: 32768).", rich_help_panel=_STVSR_PANEL)] = None,
    precision: Annotated[Precision | None, typer.Option(case_sensitive=False, help="Fit precision (fit default: auto).", rich_help_panel=_STVSR_PANEL)] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed of the fit (default: 0).", rich_help_panel=_STVSR_PANEL)] = None,
    save_model: Annotated[Path | None, typer.Option(help="Keep the fitted model directory here.", rich_help_panel=_STVSR_PANEL)] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --save-model directory.", rich_help_panel=_STVSR_PANEL)] = False,
) -> None:
    """Measure a model against its reference video, or run the space-time super-resolution protocol.

    vinr eval MODEL --reference VIDEO: PSNR on RGB and on Y (BT.601 luma), SSIM, parameters, bits per pixel of
    the weights (fp32, fp16) and decode speed. Scores use the float output clamped to [0, 1], not 8-bit
    frames, like the PSNR the fit records.

    vinr eval stvsr VIDEO --scale-s S --scale-t T: fit on VIDEO area-downsampled by S keeping every T-th frame,
    render back on the full grid, and score all, kept and held-out frames next to trilinear and
    bicubic + frame-blend baselines.
    """
    from vinr_zoo import evaluate as ev

    fit_args = {"hidden_features": width, "hidden_layers": depth, "time_omega_0": omega_t, "steps": steps,
                "minutes": minutes, "lr": lr, "batch_size": batch_size, "seed": seed,
                "precision": precision.value if precision is not None else None}  # fmt: skip
    if model != "stvsr":
        stvsr_only = {"--scale-s": scale_s, "--scale-t": scale_t, "--width": width, "--depth": depth,
                      "--omega-t": omega_t, "--steps": steps, "--minutes": minutes, "--lr": lr,
                      "--batch-size": batch_size, "--precision": precision, "--seed": seed,
                      "--save-model": save_model, "--overwrite": overwrite or None}  # fmt: skip
        given = [name for name, value in stvsr_only.items() if value is not None]
        if given:
            raise VinrError(f"{', '.join(given)}: only for 'vinr eval stvsr VIDEO' (MODEL is {model!r})")
        if video is not None:
            raise VinrError(f"unexpected argument {video!r}; the reference goes in --reference: vinr eval MODEL -r VIDEO")
        if reference is None:
            raise VinrError("pass the video to score against: vinr eval MODEL --reference VIDEO")
        with _progress(quiet, "evaluating") as update:
            report = ev.evaluate_model(
                model, reference, frames=frames, start=start, size=_size(size), runtime=runtime.value,
                device=device.value, batch=batch, on_frame=update,
            )  # fmt: skip
        _print_table(f"vinr eval {model}", ("metric", "value"), report.table_rows())
    else:
        if reference is not None:
            raise VinrError("vinr eval stvsr takes the video as an argument, not --reference: vinr eval stvsr VIDEO")
        if video is None or scale_s is None or scale_t is None:
            raise VinrError("usage: vinr eval stvsr VIDEO --scale-s S --scale-t T (integers, e.g. 2 and 2)")
        if minutes is not None:
            _positive_finite("--minutes", minutes)
        from vinr_zoo.fit import FitOptions

        options = FitOptions(device=device.value, **{k: v for k, v in fit_args.items() if v is not None})
        fit_bar, scoring = contextlib.ExitStack(), {}
        with fit_bar, contextlib.ExitStack() as score_bar:
            on_step = fit_bar.enter_context(_fit_progress(quiet, options))

            def on_frame(done: int, total: int) -> None:
                if "update" not in scoring:
                    fit_bar.close()  # rich shows one live display at a time: end the fit bar first
                    scoring["update"] = score_bar.enter_context(_progress(quiet, "scoring")) or (lambda d, t: None)
                scoring["update"](done, total)

            report = ev.stvsr_protocol(
                video, scale_s=scale_s, scale_t=scale_t, options=options, frames=frames, start=start,
                size=_size(size), runtime=runtime.value, batch=batch, save_model=save_model, overwrite=overwrite,
                fit_callback=on_step, on_frame=on_frame,
            )  # fmt: skip
        typer.echo(report.summary())
        _print_table(f"vinr eval stvsr (x{scale_s} space, x{scale_t} time)",
                     ("method", "frames", "PSNR RGB dB", "PSNR Y dB", "SSIM"), report.table_rows())  # fmt: skip
    if json_out is not None:
        ev.write_json(json_out, report.to_dict())
        typer.echo(f"wrote {json_out}")


def _print_table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, name in enumerate(columns):
        table.add_column(name, justify="right" if i >= 2 else "left")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt  # temp files are removed and "interrupted" printed, as for Ctrl-C


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    app()


if __name__ == "__main__":
    main()
