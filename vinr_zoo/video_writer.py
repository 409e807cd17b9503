"""Video out: mp4/mkv/mov (H.264, yuv420p), PNG folders and ``.npy``, each written to a temporary name first
and renamed when the last frame is in, so an interrupted write never leaves a half file at the target.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from vinr_zoo._atomic import check_output, default_mode, put_in_place
from vinr_zoo.errors import VideoError

WRITE_CONTAINERS = {".mp4", ".mkv", ".mov"}


def _ff_reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def output_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return "npy"
    if suffix in WRITE_CONTAINERS:
        return "video"
    if suffix == "" or str(path).endswith(os.sep):
        return "png"
    raise VideoError(f"cannot write {path}: use .mp4/.mkv/.mov (H.264), .npy, or a folder name (PNG sequence)")


class VideoWriter:
    """Stream frames to mp4/mkv/mov (H.264, yuv420p), a PNG folder or ``.npy``; atomic on close.

    ``frames`` (the total count) is needed for ``.npy`` so the array can be memory-mapped. H.264 in
    yuv420p needs even sides: odd sizes are padded by repeating the last row/column (ffmpeg would
    refuse them), and `padded` says so.

    Several processes can fill one ``.npy`` or PNG output (a sharded decode): each writer gets
    ``part=(start, stop)``, the output frames it writes. The one without ``staging`` owns the output: it
    creates the temporary file or folder (`staging_path`) and renames it on `close`, which its caller
    calls once every part is in. The others get ``staging=owner.staging_path``, fill their frames in
    place, and never rename or delete anything.
    """

    def __init__(
        self,
        path,
        *,
        width: int,
        height: int,
        fps: float,
        frames: int | None = None,
        overwrite: bool = False,
        crf: int = 12,
        part: tuple[int, int] | None = None,
        staging: Path | None = None,
    ):
        self.path = Path(path)
        self.kind = output_kind(self.path)
        if part is not None and self.kind == "video":
            raise VideoError(f"{self.path}: only .npy and PNG outputs can be written in parts")
        self._staged = staging is not None
        if not self._staged:  # the owner checked the target
            check_output(self.path, overwrite)
        self.width, self.height, self.fps, self.total = width, height, float(fps), frames
        self.start, self.stop = part if part is not None else (0, frames)
        self.crf = crf
        self.count = 0
        self.padded = self.kind == "video" and (width % 2 or height % 2)
        self._tmp: Path | None = Path(staging) if staging is not None else None
        self._closed = False

    def __enter__(self) -> VideoWriter:
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @property
    def staging_path(self) -> Path | None:
        """The temporary file or folder the frames go to until `close` renames it (None before `open`)."""
        return self._tmp

    def open(self) -> None:
        if self._staged:
            if not self._tmp.exists():
                raise VideoError(
                    f"{self._tmp} is not visible from this process: with several machines, the "
                    "output must be on a filesystem they all share"
                )
            if self.kind == "npy":
                self._array = np.load(self._tmp, mmap_mode="r+")
                if self._array.shape != (self.total, self.height, self.width, 3):
                    raise VideoError(f"{self._tmp} holds {self._array.shape}, not the announced frames")
            return
        parent = self.path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VideoError(f"cannot create folder {parent}: {exc.strerror or exc}") from None
        try:
            if self.kind == "png":
                self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=parent))
            else:
                fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=".tmp" + self.path.suffix, dir=parent)
                os.close(fd)
                self._tmp = Path(tmp)
        except OSError as exc:
            raise VideoError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        if self.kind == "npy":
            if self.total is None:
                raise VideoError("writing .npy needs the frame count up front")
            self._array = np.lib.format.open_memmap(
                self._tmp, mode="w+", dtype=np.uint8, shape=(self.total, self.height, self.width, 3)
            )
        elif self.kind == "video":
            import av

            self._container = av.open(str(self._tmp), mode="w")
            rate = Fraction(self.fps).limit_denominator(1001)
            stream = self._container.add_stream("libx264", rate=rate)
            stream.width = self.width + self.width % 2
            stream.height = self.height + self.height % 2
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(self.crf), "preset": "medium"}
            self._stream = stream

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise VideoError(f"frame must be uint8 {self.height}x{self.width}x3, got {frame.dtype} {frame.shape}")
        index = self.start + self.count  # the frame's place in the whole output
        if self.kind == "npy":
            if index >= self.stop:
                raise VideoError(f"more frames than the {self.stop - self.start} announced")
            self._array[index] = frame
        elif self.kind == "png":
            from PIL import Image

            Image.fromarray(frame).save(self._tmp / f"frame_{index:06d}.png", compress_level=1)
        else:
            import av

            if self.padded:
                frame = np.pad(frame, ((0, self.height % 2), (0, self.width % 2), (0, 0)), mode="edge")
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            for packet in self._stream.encode(vf):
                self._container.mux(packet)
        self.count += 1

    def close(self) -> Path:
        if self._closed:
            return self.path
        try:
            if self.kind == "npy":
                if self.count != self.stop - self.start:
                    raise VideoError(f"wrote {self.count} of {self.stop - self.start} frames")
                self._array.flush()
                del self._array
            if self._staged:  # the owner renames the output once every part is in
                self._closed = True
                return self.path
            if self.kind == "video":
                for packet in self._stream.encode():
                    self._container.mux(packet)
                self._container.close()
            put_in_place(self._tmp, self.path)
        except BaseException:  # a failed flush or rename, or Ctrl-C during either: no temp file stays behind
            self.abort()
            raise
        self._closed = True
        return self.path

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._staged:  # the owner removes the temporary output
            self.__dict__.pop("_array", None)
            return
        if self.kind == "video" and hasattr(self, "_container"):
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - best effort while already failing
                pass
        if self._tmp is not None and self._tmp.exists():
            shutil.rmtree(self._tmp) if self._tmp.is_dir() else self._tmp.unlink()


def write_video(path, frames: np.ndarray, fps: float, *, overwrite: bool = False) -> Path:
    """Write a whole ``[T, H, W, 3]`` uint8 array (convenience over `VideoWriter`)."""
    t, h, w, _ = frames.shape
    with VideoWriter(path, width=w, height=h, fps=fps, frames=t, overwrite=overwrite) as writer:
        for frame in frames:
            writer.write(frame)
    return Path(path)


def join_videos(parts: list[Path], path, *, fps: float, overwrite: bool = False) -> Path:
    """Concatenate H.264 files written by `VideoWriter` with the same size and fps, without re-encoding.

    A remux: the packets of each part are copied in order, their timestamps moved by the start time of
    the part's first frame (frame count so far / fps). Every part starts with a keyframe and references
    nothing outside itself, so the joined file decodes to exactly the parts' frames one after another.
    Parts whose codec parameters differ (size, fps, SPS/PPS) are refused rather than joined into a file
    some players would misread.
    """
    import av

    path = Path(path)
    if output_kind(path) != "video":
        raise VideoError(f"cannot join video parts into {path}: use .mp4/.mkv/.mov")
    check_output(path, overwrite)
    if not parts:
        raise VideoError(f"no video parts to join into {path}")
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    rate = Fraction(float(fps)).limit_denominator(1001)
    try:
        with av.open(str(tmp), mode="w") as out:
            out_stream, reference, frames_before = None, None, 0
            for part in parts:
                try:
                    src = av.open(str(part))
                except (av.error.FFmpegError, OSError) as exc:
                    raise VideoError(f"{part} is not a readable video part ({_ff_reason(exc)})") from None
                with src:
                    stream = src.streams.video[0]
                    ctx = stream.codec_context
                    params = (
                        ctx.name,
                        ctx.width,
                        ctx.height,
                        ctx.pix_fmt,
                        bytes(ctx.extradata or b""),
                        stream.time_base,
                    )
                    if out_stream is None:
                        out_stream, reference = out.add_stream_from_template(stream), params
                    elif params != reference:
                        raise VideoError(
                            f"{part} was encoded with other settings than {parts[0]}; "
                            "it cannot be joined without re-encoding"
                        )
                    tb = stream.time_base
                    shift = round(Fraction(frames_before) / rate / tb) - (stream.start_time or 0)
                    count = 0
                    for packet in src.demux(stream):
                        if packet.pts is None and packet.dts is None:  # the demuxer's end-of-stream marker
                            continue
                        if packet.pts is not None:
                            packet.pts += shift
                        if packet.dts is not None:
                            packet.dts += shift
                        packet.stream = out_stream
                        out.mux(packet)
                        count += 1
                    frames_before += count
        default_mode(tmp)
        os.replace(tmp, path)
    except av.error.FFmpegError as exc:
        raise VideoError(f"cannot join the video parts into {path} ({_ff_reason(exc)})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path
