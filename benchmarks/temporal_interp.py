"""Frames between training frames: fit on every k-th frame of 33 carphone frames, score the others.

For k in (4, 2): the model sees frames 0, k, 2k, ..., 32 (176x144) and is rendered at scale_t = k, which
lands exactly on the original 33 frame instants. Held-out frames are scored (PSNR, RGB) against the
original, next to plain linear interpolation in time between the training frames. Variants: the
defaults (ω_t = 3) and ω_t = 30 (ω0 on every axis, plain SIREN).
Writes results/temporal_interp.{json,png}. Usage: python benchmarks/temporal_interp.py [--steps 600]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import grouped_bars, machine, save, table  # noqa: E402

from vinr_zoo.coords import SpaceTimeGrid  # noqa: E402
from vinr_zoo.decode import render, to_unit  # noqa: E402
from vinr_zoo.fit import FitOptions, fit_video  # noqa: E402
from vinr_zoo.metrics import PsnrAccumulator  # noqa: E402
from vinr_zoo.runtimes.pyt import TorchBackend  # noqa: E402
from vinr_zoo.video import Video, read_video, sample_clip  # noqa: E402


def linear_in_time(train: np.ndarray, k: int) -> np.ndarray:
    """Blend neighbouring training frames: frame i sits between i//k and i//k + 1."""
    frames = []
    for i in range((train.shape[0] - 1) * k + 1):
        a, w = divmod(i, k)
        b = min(a + 1, train.shape[0] - 1)
        frames.append((1 - w / k) * train[a] + (w / k) * train[b])
    return np.stack(frames)


def score(pred: np.ndarray, truth: np.ndarray, k: int) -> tuple[float, float]:
    seen, held = PsnrAccumulator(), PsnrAccumulator()
    for i in range(truth.shape[0]):
        (seen if i % k == 0 else held).add(pred[i], truth[i])
    return held.psnr, seen.psnr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--ks", default="4,2")
    args = ap.parse_args()
    full = read_video(sample_clip("carphone"), frames=33)
    truth = full.frames.astype(np.float32) / 255.0
    tmp = Path(tempfile.mkdtemp(prefix="tinterp-"))
    rows = []
    for k in (int(v) for v in args.ks.split(",")):
        train = Video(full.frames[::k].copy(), full.fps / k, full.name, full.sha256)
        held, seen = score(linear_in_time(truth[::k], k), truth, k)
        rows.append({"scale_t": k, "variant": "linear blend", "held_out_psnr": held, "train_psnr": seen})
        print(rows[-1], flush=True)
        for label, omega_t in (("default (ω_t=3)", 3.0), ("ω_t=30", 30.0)):
            opts = FitOptions(hidden_features=args.width, time_omega_0=omega_t, steps=args.steps)
            model = fit_video(train, opts, tmp / f"k{k}-{omega_t}").model
            grid = SpaceTimeGrid.build(full.width, full.height, train.num_frames, scale_t=k)
            assert grid.frames == 33
            with TorchBackend(model) as backend:
                pred = np.stack([to_unit(f) for f in render(backend, grid)])
            held, seen = score(pred, truth, k)
            rows.append({"scale_t": k, "variant": label, "held_out_psnr": held, "train_psnr": seen})
            print(rows[-1], flush=True)
    for r in rows:
        base = next(b for b in rows if b["scale_t"] == r["scale_t"] and b["variant"] == "linear blend")
        r["vs_linear_db"] = r["held_out_psnr"] - base["held_out_psnr"]
    print(table(rows, ["scale_t", "variant", "held_out_psnr", "vs_linear_db", "train_psnr"]))
    result = {
        "benchmark": "temporal_interp",
        "steps": args.steps,
        "width": args.width,
        "machine": machine(),
        "rows": rows,
    }
    print(f"results -> {save('temporal_interp', result)}")
    _plot(rows)


def _plot(rows) -> None:
    ks = sorted({r["scale_t"] for r in rows})
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    series = {
        v: [next(r["held_out_psnr"] for r in rows if r["scale_t"] == k and r["variant"] == v) for k in ks]
        for v in variants
    }
    grouped_bars(
        "temporal_interp", [f"1 frame in {k} seen" for k in ks], series, ylabel="held-out PSNR (dB)", bottom=15
    )


if __name__ == "__main__":
    main()
