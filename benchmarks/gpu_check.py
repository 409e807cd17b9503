"""The prepared GPU check: one call on a lent GPU machine (one H200, torch with CUDA, no TensorRT, no
internet) that measures what a CPU machine cannot, in well under 8 minutes, and writes one JSON.

    bash benchmarks/gpu_check.sh --prepare      # here: writes .gpu_check/carphone32.npy (the clip, as .npy)
    bash benchmarks/gpu_check.sh                # there, with .gpu_check carried: writes $OUT/gpu_check.json
    python benchmarks/gpu_check.py --device cpu --fit-minutes 0.05 --quick   # a dry run on a CPU machine

Measured, all in one run on one device (ratios, as the machine may be shared):
1. the bf16 and fp32 matmul roofline: an 8192³ product, and the decode-shaped product (65,536 × w) @ (w × w);
2. ``vinr fit --device cuda --minutes 1`` on 32 frames of carphone (176x144): steps/s and PSNR (the CLI,
   in a subprocess, with the defaults of ``vinr fit``);
3. torch-CUDA decode throughput (px/s) for widths 128 / 256 / 512 (4 sine layers), fp32, against the
   fp32 decode-shaped roofline (2 x params FLOP per pixel);
4. CUDA vs CPU parity of one decode (max abs difference of the float renders, 8-bit agreement).
The clip travels as .npy so the machine needs no PyAV; vinr_zoo runs from the checkout (PYTHONPATH).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vinr_zoo.coords import SpaceTimeGrid
from vinr_zoo.decode import render, to_uint8
from vinr_zoo.models import SineMLP, SineMLPConfig
from vinr_zoo.runtimes.pyt import TorchBackend

CLIP = Path(".gpu_check/carphone32.npy")


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str, seconds: float, warmup: int = 3) -> float:
    """Median seconds of one ``fn()`` call over about ``seconds`` of repeats."""
    for _ in range(warmup):
        fn()
    sync(device)
    times, end = [], time.perf_counter() + seconds
    while len(times) < 3 or time.perf_counter() < end:
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def roofline(device: str, dtype: torch.dtype, m: int, k: int, n: int, seconds: float) -> float:
    """FLOP/s of (m × k) @ (k × n) on ``device`` in ``dtype``."""
    a = torch.randn(m, k, device=device, dtype=dtype)
    b = torch.randn(k, n, device=device, dtype=dtype)
    out = torch.empty(m, n, device=device, dtype=dtype)
    return 2.0 * m * k * n / timed(lambda: torch.mm(a, b, out=out), device, seconds)


def fit_check(device: str, minutes: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "fit"
        cmd = [
            sys.executable,
            "-m",
            "vinr_zoo.cli",
            "fit",
            str(CLIP),
            "-o",
            str(out),
            "--device",
            device,
            "--minutes",
            str(minutes),
            "-q",
        ]
        t = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if done.returncode != 0:
            return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:], "command": " ".join(cmd)}
        training = json.loads((out / "config.json").read_text())["training"]
    steps, fit_s = training["steps"], training["wall_time_s"]
    return {
        "minutes": minutes,
        "steps": steps,
        "fit_seconds": fit_s,
        "steps_per_s": round(steps / fit_s, 2),
        "psnr_rgb": training.get("final_psnr_rgb"),
        "precision": training.get("precision"),
        "batch_size": training.get("batch_size"),
        "process_seconds": round(wall, 1),
        "device": training.get("device"),
    }


def decode_check(device: str, width: int, rows: int, seconds: float, fp32_flops: float) -> dict:
    torch.manual_seed(0)
    model = SineMLP(SineMLPConfig(hidden_features=width, hidden_layers=4))
    coords = torch.rand(rows, 3) * 2 - 1
    with TorchBackend(model, device=device) as backend:
        s = timed(lambda: backend.infer(coords), device, seconds, warmup=2)
        detail = backend.describe()
    px_s = rows / s
    flop_px = 2.0 * model.num_params
    return {
        "width": width,
        "params": model.num_params,
        "rows_per_call": rows,
        "px_per_s": round(px_s),
        "roofline_px_per_s": round(fp32_flops / flop_px),
        "ratio_to_roofline": round(px_s * flop_px / fp32_flops, 3),
        "backend": detail,
    }


def parity_check(device: str) -> dict:
    torch.manual_seed(1)
    model = SineMLP(SineMLPConfig(hidden_features=256, hidden_layers=4))
    with torch.no_grad():
        model.head.weight.mul_(10.0)  # outputs spanning [-1, 1], like a fitted model
    grid = SpaceTimeGrid.build(176, 144, 32, scale_s=1.5, scale_t=2.5).head(3)
    renders = {}
    for dev in ("cpu", device):
        with TorchBackend(model, device=dev) as backend:
            renders[dev] = np.stack(list(render(backend, grid)))
    a, b = renders["cpu"], renders[device]
    return {
        "grid": f"{grid.width}x{grid.height}x{grid.frames}",
        "max_abs": float(np.abs(a - b).max()),
        "frac_8bit_equal": float(np.mean(to_uint8(a) == to_uint8(b))),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--fit-minutes", type=float, default=1.0)
    ap.add_argument("--quick", action="store_true", help="short timings (a dry run)")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".")) / "gpu_check.json")
    args = ap.parse_args()
    dev = args.device
    secs = 0.3 if args.quick else 2.0
    result: dict = {
        "device": torch.cuda.get_device_name(0) if dev.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    big = 2048 if args.quick or not dev.startswith("cuda") else 8192
    rows = 65536
    result["roofline_tflops"] = {
        "bf16_square": roofline(dev, torch.bfloat16, big, big, big, secs) / 1e12,
        "fp32_square": roofline(dev, torch.float32, big, big, big, secs) / 1e12,
        **{f"fp32_decode_w{w}": roofline(dev, torch.float32, rows, w, w, secs) / 1e12 for w in (128, 256, 512)},
        **{f"bf16_decode_w{w}": roofline(dev, torch.bfloat16, rows, w, w, secs) / 1e12 for w in (128, 256, 512)},
    }
    print(json.dumps(result, indent=2), flush=True)
    result["fit"] = fit_check(dev, args.fit_minutes)
    print(json.dumps(result["fit"]), flush=True)
    decode_rows = 1 << 20 if dev.startswith("cuda") and not args.quick else rows
    result["decode"] = [
        decode_check(dev, w, decode_rows, secs, result["roofline_tflops"][f"fp32_decode_w{w}"] * 1e12)
        for w in (128, 256, 512)
    ]
    result["parity"] = parity_check(dev)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
