"""``vinr decode``, ``vinr export`` and ``vinr parity``: render a model, export it, compare its runtimes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vinr_zoo.cli.app import Device, Runtime, command, positive_finite, print_table, progress
from vinr_zoo.cli.app import roi as parse_roi
from vinr_zoo.cli.app import size as parse_size
from vinr_zoo.cli.app import time_range as parse_time_range
from vinr_zoo.contract import TRT_PROFILE, TRT_WORKSPACE_MIB
from vinr_zoo.convert import ExportOptions, export_model
from vinr_zoo.decode import DEFAULT_BATCH
from vinr_zoo.decode import decode as run_decode
from vinr_zoo.distributed import PeerError, process_group
from vinr_zoo.errors import OptionError
from vinr_zoo.parity import PARITY_COLUMNS, check_parity
from vinr_zoo.webplayer import export_web

EXPORT_FLAGS = {"output": "-o/--output", "workspace_mib": "--workspace", "ort_web": "--ort-web", "web": "--web"}
PARITY_FLAGS = {"n_random": "--random"}


@command()
def decode(
    model: Annotated[
        str, typer.Argument(help="Model directory, .onnx file, embedded zoo name or Hub repo id (user/repo[@rev]).")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help=".mp4/.mkv/.mov, .npy, or a folder for PNGs.")],
    scale_s: Annotated[float, typer.Option("--scale-s", help="Spatial scale (non-integer allowed).")] = 1.0,
    scale_t: Annotated[float, typer.Option("--scale-t", help="Temporal scale; output fps = fps * scale_t.")] = 1.0,
    size: Annotated[str | None, typer.Option(help="Explicit output size WxH (overrides --scale-s).")] = None,
    frames: Annotated[int | None, typer.Option(help="Write only the first N output frames.")] = None,
    roi: Annotated[
        str | None,
        typer.Option(metavar="X,Y,W,H", help="Render only this region, in source pixels (fractions allowed)."),
    ] = None,
    time_range: Annotated[
        str | None,
        typer.Option(
            "--time-range",
            metavar="A:B",
            help="Render only source frames A..B, inclusive (fractional instants allowed).",
        ),
    ] = None,
    runtime: Annotated[
        Runtime | None,
        typer.Option(case_sensitive=False, help="Inference runtime (default: torch; ort for a bare .onnx)."),
    ] = None,
    device: Annotated[Device, typer.Option(case_sensitive=False)] = Device.cpu,
    batch: Annotated[int, typer.Option(help="Coordinates per inference call.")] = DEFAULT_BATCH,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Render MODEL at (--scale-s, --scale-t) to a video, a PNG folder or .npy.

    Under torchrun each process renders a contiguous range of output frames (the bar shows rank 0's).
    """
    for name, value in (("--scale-s", scale_s), ("--scale-t", scale_t)):
        positive_finite(name, value)
    # gloo even for --device cuda (each rank still renders on GPU LOCAL_RANK): the ranks exchange only paths
    # and barriers, never tensors.
    try:
        with (
            process_group(device.value, backend="gloo") as dist,
            progress(quiet or not dist.is_main, "decoding") as update,
        ):
            result = run_decode(
                model,
                output,
                scale_s=scale_s,
                scale_t=scale_t,
                size=parse_size(size),
                frames=frames,
                roi=parse_roi(roi),
                time_range=parse_time_range(time_range),
                runtime=runtime.value if runtime else None,
                device=device.value,
                batch=batch,
                overwrite=overwrite,
                on_frame=update,
                dist=dist,
            )
    except PeerError:  # the rank that failed printed why
        raise typer.Exit(1) from None
    if not dist.is_main:
        return
    note = " (odd size padded by one pixel for yuv420p)" if result.padded else ""
    typer.echo(
        f"wrote {result.path}: {result.width}x{result.height}, {result.frames} frames @ {result.fps:.3f} fps "
        f"[{result.runtime}]{note}"
    )


@command(flags=EXPORT_FLAGS)
def export(
    model: Annotated[str, typer.Argument(help="Model directory to export.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Folder for model.onnx (default: the model directory).")
    ] = None,
    opset: Annotated[
        int | None,
        typer.Option(
            help="ONNX opset (default 17, the oldest that expresses the graph: old runtimes and browsers open it; at most 25 with --trt)."
        ),
    ] = None,
    fp16: Annotated[
        bool, typer.Option("--fp16", help="Also write model.fp16.onnx (first layer fp32, float32 I/O).")
    ] = False,
    validate: Annotated[bool, typer.Option(help="Check parity with torch in ONNX Runtime before writing.")] = True,
    atol: Annotated[float | None, typer.Option(help="Max abs difference allowed for fp32 (default 1e-4).")] = None,
    atol_fp16: Annotated[
        float | None, typer.Option("--atol-fp16", help="Max abs difference allowed for fp16 (default 2e-2).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace existing ONNX files (and the engine, with --trt).")] = False,
    trt: Annotated[
        bool,
        typer.Option(
            "--trt",
            help="Also build a TensorRT engine for this GPU from model.onnx (needs tensorrt and a CUDA GPU); with --fp16 an fp16 engine (first layer and its sine fp32).",
            rich_help_panel="TensorRT",
        ),
    ] = False,
    min_batch: Annotated[
        int,
        typer.Option(
            "--min-batch", help="Smallest N of the engine's optimization profile.", rich_help_panel="TensorRT"
        ),
    ] = TRT_PROFILE[0],
    opt_batch: Annotated[
        int, typer.Option("--opt-batch", help="N the engine is tuned for.", rich_help_panel="TensorRT")
    ] = TRT_PROFILE[1],
    max_batch: Annotated[
        int, typer.Option("--max-batch", help="Largest N per inference call.", rich_help_panel="TensorRT")
    ] = TRT_PROFILE[2],
    workspace: Annotated[
        int, typer.Option(help="Builder workspace limit in MiB.", rich_help_panel="TensorRT")
    ] = TRT_WORKSPACE_MIB,
    timing_cache: Annotated[
        Path | None,
        typer.Option(
            "--timing-cache",
            help="Timing cache file reused across builds (default: ~/.cache/vinr-zoo/trt/timing.<gpu>.<version>.cache).",
            rich_help_panel="TensorRT",
        ),
    ] = None,
    web: Annotated[
        Path | None,
        typer.Option(
            "--web",
            metavar="DIR",
            help="Instead, write a static browser player folder (page, model.onnx at opset 17, onnxruntime-web).",
            rich_help_panel="Web player",
        ),
    ] = None,
    ort_web: Annotated[
        Path | None,
        typer.Option(
            "--ort-web",
            metavar="DIR",
            help="Folder holding onnxruntime-web's ort.wasm.min.js, ort-wasm-simd-threaded.{mjs,wasm} (default: cache, else npm).",
            rich_help_panel="Web player",
        ),
    ] = None,
) -> None:
    """Export MODEL to ONNX (model.onnx: coords [N,3] -> rgb [N,3], ω folded, config in metadata)."""
    if web is not None:
        _export_web(model, web, ort_web, overwrite, others=(output, opset, fp16 or None, trt or None))
        return
    if ort_web is not None:
        raise OptionError("ort_web", "is only used with --web")
    options = ExportOptions(
        output=output,
        opset=opset,
        fp16=fp16,
        validate=validate,
        atol=atol,
        atol_fp16=atol_fp16,
        overwrite=overwrite,
        trt=trt,
        min_batch=min_batch,
        opt_batch=opt_batch,
        max_batch=max_batch,
        workspace_mib=workspace,
        timing_cache=timing_cache,
    )
    summary = export_model(model, options)
    if summary.reused_onnx is not None:
        typer.echo(f"using {summary.reused_onnx} (already exported from this model)")
    if summary.onnx is not None:
        result = summary.onnx
        for precision, path in result.paths.items():
            mb = path.stat().st_size / 1e6
            check = result.validation.get(precision)
            note = f"; onnxruntime {check.summary()}" if check is not None else "; not validated"
            typer.echo(f"wrote {path} ({precision}, opset {result.opset}, {mb:.2f} MB){note}")
    if summary.engine is not None:
        built, info = summary.engine, summary.engine.info
        typer.echo(
            f"wrote {built.engine} (TensorRT {info.tensorrt}, {info.gpu}, compute {info.compute_capability}, "
            f"{info.precision}, profile N {info.profile.describe()}, {built.engine.stat().st_size / 1e6:.2f} MB, "
            f"built in {info.build_seconds:.1f} s) and {built.metadata.name}"
        )


def _export_web(model: str, web: Path, ort_web: Path | None, overwrite: bool, others: tuple) -> None:
    if any(v is not None for v in others):
        raise OptionError("web", "writes its own model.onnx (fp32, opset 17); drop -o/--opset/--fp16/--trt")
    result = export_web(model, web, ort_web=ort_web, overwrite=overwrite)
    typer.echo(
        f"wrote {result.folder}: player page, model.onnx (opset {result.card['opset']}), {len(result.files)} files"
    )
    if result.note():
        typer.echo(f"note: {result.note()}")


@command(flags=PARITY_FLAGS)
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
        typer.Option(
            "--max-8bit-diff", help="Max fraction of 8-bit pixels that may differ (default 0.001 fp32, 0.25 fp16)."
        ),
    ] = None,
    scale_s: Annotated[float, typer.Option("--scale-s", help="Spatial scale of the compared grid.")] = 1.5,
    scale_t: Annotated[float, typer.Option("--scale-t", help="Temporal scale of the compared grid.")] = 2.5,
    frames: Annotated[int, typer.Option(help="Compare only the first N output frames.")] = 3,
    random: Annotated[int, typer.Option(help="Random coordinates compared as well.")] = 16384,
    device: Annotated[Device, typer.Option(case_sensitive=False)] = Device.cpu,
) -> None:
    """Render the same grid on torch and other runtimes and compare (exit 1 when tolerances fail)."""
    for name, value in (("--scale-s", scale_s), ("--scale-t", scale_t)):
        positive_finite(name, value)
    runtimes = [r.value for r in runtime] if runtime else ["ort"]
    report = check_parity(
        model,
        runtimes,
        onnx=onnx,
        atol=atol,
        max_8bit_diff=max_8bit_diff,
        scale_s=scale_s,
        scale_t=scale_t,
        frames=frames,
        n_random=random,
        device=device.value,
    )
    typer.echo(f"reference: {report.reference}")
    typer.echo(f"inputs: {report.inputs}")
    print_table(PARITY_COLUMNS, [r.row() for r in report.results], right=(2, 3, 4, 5, 6))
    for r in report.results:
        typer.echo(f"{r.runtime}: {r.details}")
    if not report:
        for line in report.failures:
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(1)
