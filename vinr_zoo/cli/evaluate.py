"""``vinr eval`` (a model against a reference clip) and ``vinr stvsr`` (the space-time super-resolution protocol).

``vinr eval stvsr VIDEO ...``, the protocol's first spelling, still works: the app rewrites it to
``vinr stvsr VIDEO ...`` before parsing (`vinr_zoo.cli.app.VinrGroup`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from vinr_zoo.cli.app import Device, Loss, Precision, Runtime, Sampling, command, print_table, progress
from vinr_zoo.cli.app import size as parse_size
from vinr_zoo.cli.fit import ARCHS, FIT_FLAGS, fit_progress
from vinr_zoo.decode import DEFAULT_BATCH
from vinr_zoo.errors import VinrError
from vinr_zoo.evaluate import evaluate_model, stvsr_protocol, write_json
from vinr_zoo.fit import FitOptions


@command("eval")
def evaluate(
    model: Annotated[
        str,
        typer.Argument(
            metavar="MODEL", help="Model directory, .onnx file, zoo name or Hub repo id (user/repo or user/repo@rev)."
        ),
    ],
    video: Annotated[str | None, typer.Argument(metavar="VIDEO", hidden=True)] = None,
    reference: Annotated[
        str | None,
        typer.Option("--reference", "-r", help="Video to score MODEL against (a file, folder, .npy or sample:NAME)."),
    ] = None,
    frames: Annotated[
        int | None, typer.Option(help="Read only this many frames (default: the model's source frame count).")
    ] = None,
    start: Annotated[int, typer.Option(help="First frame to read.")] = 0,
    size: Annotated[
        str | None, typer.Option(help="Resize to WxH (area averaging) when reading (default: the model's source size).")
    ] = None,
    runtime: Annotated[
        Runtime, typer.Option(case_sensitive=False, help="Inference runtime (decode speed is measured on it).")
    ] = Runtime.torch,
    device: Annotated[Device, typer.Option(case_sensitive=False)] = Device.cpu,
    batch: Annotated[int, typer.Option(help="Coordinates per inference call.")] = DEFAULT_BATCH,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the numbers to this JSON file (replaced atomically).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Measure MODEL against its reference video: PSNR on RGB and on Y (BT.601 luma), SSIM, parameters, bits per
    pixel of the weights (fp32, fp16) and decode speed.

    Scores use the float output clamped to [0, 1], not 8-bit frames, like the PSNR the fit records.
    """
    if video is not None:
        raise VinrError(f"unexpected argument {video!r}; the reference goes in --reference: vinr eval MODEL -r VIDEO")
    if reference is None:
        raise VinrError("pass the video to score against: vinr eval MODEL --reference VIDEO")
    with progress(quiet, "evaluating") as update:
        report = evaluate_model(
            model,
            reference,
            frames=frames,
            start=start,
            size=parse_size(size),
            runtime=runtime.value,
            device=device.value,
            batch=batch,
            on_frame=update,
        )
    print_table(("metric", "value"), report.table_rows(), title=f"vinr eval {model}")
    if json_out is not None:
        write_json(json_out, report.to_dict())
        typer.echo(f"wrote {json_out}")


@command("stvsr", flags=FIT_FLAGS)
def stvsr(
    video: Annotated[
        str,
        typer.Argument(
            metavar="VIDEO", help="The video to downsample, fit and score (a file, folder, .npy or sample:NAME)."
        ),
    ],
    scale_s: Annotated[
        int | None, typer.Option("--scale-s", help="Integer spatial factor S: fit on the clip area-downsampled by S.")
    ] = None,
    scale_t: Annotated[
        int | None, typer.Option("--scale-t", help="Integer temporal factor T: fit on every T-th frame.")
    ] = None,
    reference: Annotated[str | None, typer.Option("--reference", "-r", hidden=True)] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="Score this model (zoo name, folder or Hub repo) fitted on the downsampled clip; no fit."
        ),
    ] = None,
    arch: Annotated[
        str | None, typer.Option("--arch", help=f"Model family to fit: {ARCHS} (default sine_mlp).")
    ] = None,
    width: Annotated[int | None, typer.Option(help="Hidden features per sine layer (fit default: 256).")] = None,
    depth: Annotated[int | None, typer.Option(help="Number of sine layers (fit default: 4).")] = None,
    omega_t: Annotated[
        float | None, typer.Option("--omega-t", help="ω0 the first layer applies to t (fit default: 3).")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps (fit default: 2000 unless --minutes).")] = None,
    minutes: Annotated[float | None, typer.Option(help="Wall-clock fit budget in minutes.")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak Adam learning rate (fit default: 1e-3).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Random pixels per fit step (fit default: 16384).")] = None,
    sampling: Annotated[
        Sampling | None, typer.Option(case_sensitive=False, help="How fit steps draw pixels (fit default: error).")
    ] = None,
    loss: Annotated[
        Loss | None, typer.Option(case_sensitive=False, help="Reconstruction loss of the fit (fit default: mse).")
    ] = None,
    final_lr_ratio: Annotated[
        float | None,
        typer.Option(help="Learning rate at the end of the cosine, a fraction of --lr (fit default: 0.01)."),
    ] = None,
    precision: Annotated[
        Precision | None, typer.Option(case_sensitive=False, help="Fit precision (fit default: auto).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed of the fit (default: 0).")] = None,
    frames: Annotated[int | None, typer.Option(help="Read only this many frames.")] = None,
    start: Annotated[int, typer.Option(help="First frame to read.")] = 0,
    size: Annotated[str | None, typer.Option(help="Resize to WxH (area averaging) when reading.")] = None,
    runtime: Annotated[
        Runtime, typer.Option(case_sensitive=False, help="Inference runtime for the render.")
    ] = Runtime.torch,
    device: Annotated[Device, typer.Option(case_sensitive=False)] = Device.cpu,
    batch: Annotated[int, typer.Option(help="Coordinates per inference call.")] = DEFAULT_BATCH,
    save_model: Annotated[Path | None, typer.Option(help="Keep the fitted model directory here.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --save-model directory.")] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the numbers to this JSON file (replaced atomically).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Space-time super-resolution: fit on VIDEO area-downsampled by S keeping every T-th frame, render back on
    the full grid, and score all, kept and held-out frames next to trilinear, bicubic + frame-blend and
    optical-flow (DIS, bidirectional warp) baselines.
    """
    if reference is not None:
        raise VinrError("vinr stvsr takes the video as an argument, not --reference: vinr stvsr VIDEO")
    if scale_s is None or scale_t is None:
        raise VinrError("usage: vinr stvsr VIDEO --scale-s S --scale-t T (integers, e.g. 2 and 2)")
    given = {
        "arch": arch,
        "hidden_features": width,
        "hidden_layers": depth,
        "time_omega_0": omega_t,
        "steps": steps,
        "minutes": minutes,
        "lr": lr,
        "batch_size": batch_size,
        "sampling": sampling.value if sampling is not None else None,
        "loss": loss.value if loss is not None else None,
        "final_lr_ratio": final_lr_ratio,
        "seed": seed,
        "precision": precision.value if precision is not None else None,
    }
    chosen = {k: v for k, v in given.items() if v is not None}
    if model is not None:
        if chosen or save_model is not None:
            flags = [FIT_FLAGS.get(k, "--" + k.replace("_", "-")) for k in chosen] + ["--save-model"] * bool(save_model)
            raise VinrError(f"--model scores a fitted model as it is; leave out {', '.join(flags)}")
        options = None
    else:
        options = FitOptions(device=device.value, **chosen)
        options.validate()  # before the clip is read
    fit_bar, scoring = contextlib.ExitStack(), {}
    with fit_bar, contextlib.ExitStack() as score_bar:
        on_step = fit_bar.enter_context(fit_progress(quiet or options is None, options or FitOptions()))

        def on_frame(done: int, total: int) -> None:
            if "update" not in scoring:
                fit_bar.close()  # rich shows one live display at a time: end the fit bar first
                scoring["update"] = score_bar.enter_context(progress(quiet, "scoring")) or (lambda d, t: None)
            scoring["update"](done, total)

        report = stvsr_protocol(
            video,
            scale_s=scale_s,
            scale_t=scale_t,
            options=options,
            frames=frames,
            start=start,
            size=parse_size(size),
            runtime=runtime.value,
            batch=batch,
            save_model=save_model,
            overwrite=overwrite,
            fit_callback=on_step,
            on_frame=on_frame,
            model=model,
        )
    typer.echo(report.summary())
    print_table(
        ("method", "frames", "PSNR RGB dB", "PSNR Y dB", "SSIM"),
        report.table_rows(),
        title=f"vinr stvsr (x{scale_s} space, x{scale_t} time)",
        right=(2, 3, 4),
    )
    if json_out is not None:
        write_json(json_out, report.to_dict())
        typer.echo(f"wrote {json_out}")
