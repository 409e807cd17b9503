"""Render a fitted model on any space-time grid, on any runtime, frame by frame with bounded memory."""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vinr_zoo._atomic import check_output
from vinr_zoo.config import ModelConfig
from vinr_zoo.coords import SpaceTimeGrid
from vinr_zoo.distributed import SINGLE, DistContext
from vinr_zoo.errors import OptionError, VideoError, VinrError
from vinr_zoo.export.onnx import build_onnx
from vinr_zoo.export.trt import export_engine
from vinr_zoo.metrics import to_uint8, to_unit  # noqa: F401  (re-exported: decode's colour mapping)
from vinr_zoo.runtimes import Backend, backend_class
from vinr_zoo.sources import ModelSource, resolve_source  # noqa: F401  (re-exported: what decode starts from)
from vinr_zoo.video_writer import VideoWriter, join_videos, output_kind

DEFAULT_BATCH = 65536


def default_runtime(source: ModelSource) -> str:
    """torch when there are torch weights, else ONNX Runtime (a bare ``.onnx`` file)."""
    return "torch" if source.model is not None else "ort"


def open_backend(source: ModelSource, runtime: str | None = None, *, device: str = "cpu", **options) -> Backend:
    """Construct (not yet open) the backend ``runtime`` (default: `default_runtime`) for a resolved source.

    The runners get *loaders*: the source's ONNX file when it has one, else an export of its torch weights
    made in memory when the runner opens; the TensorRT runner also gets the engine builder, used when no
    engine for this GPU is found.
    """
    runtime = runtime or default_runtime(source)
    cls = backend_class(runtime)
    if runtime == "torch":
        return cls(source.require_model(), device=device, **options)
    if source.onnx_path is not None:
        model = source.onnx_path
        if source.model is not None:
            options.setdefault("expect_config", source.config)
    else:
        torch_model = source.require_model()
        model = functools.partial(_onnx_bytes, torch_model)
        options.setdefault("label", f"{source.location} (exported in memory)")
    if runtime == "trt":
        dirs = [d for d in (source.onnx_path.parent if source.onnx_path else None, source.folder) if d is not None]
        options.setdefault("search_dirs", list(dict.fromkeys(dirs)))
        options.setdefault("build", _build_engine)
    return cls(model, device=device, **options)


def _onnx_bytes(model) -> bytes:
    return build_onnx(model).SerializeToString()


def _build_engine(*args, **kwargs) -> Path:
    return export_engine(*args, **kwargs).engine


def source_grid(config: ModelConfig, **grid_args) -> SpaceTimeGrid:
    if config.source is None:
        raise VinrError("the model's config.json has no source video size; give an explicit size and frame count")
    s = config.source
    return SpaceTimeGrid.build(s.width, s.height, s.frames, **grid_args)


def render(backend: Backend, grid: SpaceTimeGrid, *, batch: int = DEFAULT_BATCH) -> Iterator[np.ndarray]:
    """Yield each output frame as float32 ``[H, W, 3]`` in the network's [-1, 1] range (unclamped)."""
    if batch < 1:
        raise OptionError("batch", f"must be positive, got {batch}")
    axes = grid._axes()
    ppf = grid.pixels_per_frame
    for j in range(grid.frames):
        frame = torch.empty(ppf, 3)
        for s in range(0, ppf, batch):
            e = min(s + batch, ppf)
            frame[s:e] = backend.infer(grid.coords(j * ppf + s, j * ppf + e, axes))
        yield frame.view(grid.height, grid.width, 3).numpy()


def frame_range(grid: SpaceTimeGrid, start: int, stop: int) -> SpaceTimeGrid:
    """Output frames ``start..stop-1`` of ``grid``: the same coordinates, bit for bit, as in the whole grid."""
    return dataclasses.replace(grid, t_positions=grid.t_positions[start:stop])


@dataclass
class DecodeResult:
    path: Path
    width: int
    height: int
    frames: int
    fps: float
    runtime: str
    padded: bool = False


def decode(
    model,
    output: str | os.PathLike[str],
    *,
    scale_s: float = 1.0,
    scale_t: float = 1.0,
    size: tuple[int, int] | None = None,
    frames: int | None = None,
    roi: tuple[float, float, float, float] | None = None,
    time_range: tuple[float, float] | None = None,
    runtime: str | None = None,
    device: str = "cpu",
    batch: int = DEFAULT_BATCH,
    overwrite: bool = False,
    on_frame: Callable[[int, int], None] | None = None,
    dist: DistContext = SINGLE,
) -> DecodeResult:
    """Render ``model`` at (scale_s, scale_t) — or ``size`` — to mp4/mkv/mov, a PNG folder or .npy.

    ``frames`` keeps only the first N output frames (ffmpeg's ``-frames:v``). Under torchrun (``dist``)
    each rank renders a contiguous range of output frames and the output is assembled in order.
    """
    src = resolve_source(model)
    width, height = size if size is not None else (None, None)
    grid = source_grid(
        src.config,
        scale_s=scale_s,
        scale_t=scale_t,
        width=width,
        height=height,
        roi=roi,
        time_range=time_range,
        head=frames,
    )
    fps = grid.output_fps(src.config.source.fps)
    runtime = runtime or default_runtime(src)
    backend = open_backend(src, runtime, device=device)
    if dist.enabled:
        padded = _decode_shard(
            backend, grid, Path(output), fps, batch=batch, overwrite=overwrite, on_frame=on_frame, dist=dist
        )
        return DecodeResult(Path(output), grid.width, grid.height, grid.frames, fps, runtime, padded)
    writer = VideoWriter(output, width=grid.width, height=grid.height, fps=fps, frames=grid.frames, overwrite=overwrite)
    with backend, writer:
        for j, frame in enumerate(render(backend, grid, batch=batch)):
            writer.write(to_uint8(frame))
            if on_frame is not None:
                on_frame(j + 1, grid.frames)
    return DecodeResult(Path(output), grid.width, grid.height, grid.frames, fps, runtime, bool(writer.padded))


def _decode_shard(
    backend: Backend,
    grid: SpaceTimeGrid,
    output: Path,
    fps: float,
    *,
    batch: int,
    overwrite: bool,
    on_frame,
    dist: DistContext,
) -> bool:
    """This rank's contiguous output frames, written into the shared output; rank 0 assembles it.

    .npy and PNG: rank 0 creates the temporary output (the full-size memory-mapped array, or the folder),
    every rank writes its frames in place, and rank 0 renames it after a barrier, so the file is exactly
    what one process writes. Video: each rank encodes its frames as one H.264 part, and rank 0 joins the
    parts without re-encoding (`join_videos`); each part starts with a keyframe, so the encoded bits
    differ from a one-process encode at the part boundaries, while the frame count and timing are
    the same. Returns whether odd sides were padded for yuv420p. Several machines need ``output`` on a
    filesystem they share.
    """
    start, stop = dist.shard(grid.frames)
    shard = frame_range(grid, start, stop)
    size = {"width": grid.width, "height": grid.height, "fps": fps}

    def frames_into(writer) -> None:
        with backend:
            for j, frame in enumerate(render(backend, shard, batch=batch)):
                writer.write(to_uint8(frame))
                if on_frame is not None:
                    on_frame(j + 1, shard.frames)

    if output_kind(output) == "video":

        def make_parts_folder() -> str:
            check_output(output, overwrite)
            try:
                output.parent.mkdir(parents=True, exist_ok=True)
                return tempfile.mkdtemp(prefix=f".{output.name}.parts-", suffix=".tmp", dir=output.parent)
            except OSError as exc:
                raise VideoError(f"cannot write {output}: {exc.strerror or exc}") from None

        parts = Path(dist.from_main(make_parts_folder))
        padded = False
        try:
            if not parts.is_dir():
                raise VideoError(
                    f"{parts} is not visible from rank {dist.rank}: with several machines, the "
                    "output must be on a filesystem they all share"
                )
            if stop > start:
                with VideoWriter(parts / f"part_{dist.rank:06d}{output.suffix}", frames=shard.frames, **size) as w:
                    frames_into(w)
                padded = bool(w.padded)
            dist.barrier()  # every part is in
            if dist.is_main:
                files = sorted(parts.glob(f"part_*{output.suffix}"))
                if len(files) != min(dist.world_size, grid.frames):
                    raise VideoError(
                        f"expected {min(dist.world_size, grid.frames)} video parts in {parts}, found {len(files)}"
                    )
                join_videos(files, output, fps=fps, overwrite=overwrite)
        finally:
            if dist.is_main:
                shutil.rmtree(parts, ignore_errors=True)
        dist.barrier()  # every rank returns once the output is in place
        return padded

    owner = None

    def open_owner() -> str:
        nonlocal owner
        owner = VideoWriter(output, frames=grid.frames, overwrite=overwrite, part=(start, stop), **size)
        owner.open()
        return str(owner.staging_path)

    staging = dist.from_main(open_owner)
    writer = owner or VideoWriter(output, frames=grid.frames, part=(start, stop), staging=Path(staging), **size)
    try:
        if owner is None:
            writer.open()
        frames_into(writer)
        if owner is None:
            writer.close()  # flushes this rank's frames into the shared file
        dist.barrier()  # every part is in
        if owner is not None:
            owner.close()
    except BaseException:
        writer.abort()
        raise
    dist.barrier()
    return False
