"""Decode through the command line against the library and the matmul roofline, phase by phase.

The case: a width-256, 3-sine-layer model of carphone rendered at ``--scale-s 2 --scale-t 2`` over 16 frames
(31 frames of 352x288) to ``.npy``, on torch and ONNX Runtime. Measured in one run, interleaved:

- ``vinr decode`` as a subprocess: wall time of the whole command, and the part after start-up (the command's
  own decode time: imports, model loading and, for ORT, the in-memory export are start-up);
- the same render in this process through `vinr_zoo.decode.decode` (what the command calls);
- its phases: coordinates (`SpaceTimeGrid.coords`), inference (`Backend.infer`), 8-bit conversion and the
  writer, summed over the frames;
- the torch backend's inference alone with numpy's sine, torch's sine, and no sine at all (an instrumented
  copy whose sines are skipped: the ceiling that the matmuls and bias adds leave, wrong output);
- the fp32 matmul roofline: ``(4096 x 256) @ (256 x 256)`` on torch's threads; pixels/s ÷ (roofline / 2
  FLOP per weight) is the fraction of it a decode reaches.

Writes results/decode_cli.{json,png}. Usage: python benchmarks/decode_cli.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, matmul_gflops, plot_path, save, table  # noqa: E402

from vinr_zoo.config import SourceVideo  # noqa: E402
from vinr_zoo.coords import SpaceTimeGrid  # noqa: E402
from vinr_zoo.decode import decode, open_backend, resolve_source, to_uint8  # noqa: E402
from vinr_zoo.models import SineMLP, SineMLPConfig  # noqa: E402
from vinr_zoo.runtimes.pyt import TorchBackend  # noqa: E402
from vinr_zoo.video_writer import VideoWriter  # noqa: E402

CASE = {"width": 256, "layers": 3, "frames": 16, "scale_s": 2.0, "scale_t": 2.0}
BATCH = 65536
TIMED = "VINR_DECODE_SECONDS"
# The child: the real CLI, timed from just before the command runs (imports done) to its end.
CHILD = f"""
import sys, time
from vinr_zoo.cli import app
t0 = time.perf_counter()
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    print("{TIMED}", time.perf_counter() - t0, flush=True)
"""


def make_model(folder: Path) -> Path:
    torch.manual_seed(0)
    cfg = SineMLPConfig(
        hidden_features=CASE["width"],
        hidden_layers=CASE["layers"],
        source=SourceVideo(176, 144, CASE["frames"], 29.97, "carphone_pristine.mp4"),
    )
    SineMLP(cfg).save_pretrained(folder)
    return folder


def cli(model: Path, runtime: str, out: Path) -> tuple[float, float]:
    argv = [sys.executable, "-c", CHILD, "decode", str(model), "-o", str(out), "--overwrite", "-q"]
    argv += ["--scale-s", "2", "--scale-t", "2", "--runtime", runtime]
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    inner = float(next(line.split()[1] for line in done.stdout.splitlines() if line.startswith(TIMED)))
    return wall, inner


def phases(model: Path, runtime: str, out: Path) -> dict:
    src = resolve_source(model)
    s = src.config.source
    grid = SpaceTimeGrid.build(s.width, s.height, s.frames, scale_s=CASE["scale_s"], scale_t=CASE["scale_t"])
    t = {"coords": 0.0, "infer": 0.0, "uint8": 0.0, "write": 0.0}
    t_open = time.perf_counter()
    backend = open_backend(src, runtime)
    writer = VideoWriter(out, width=grid.width, height=grid.height, fps=30.0, frames=grid.frames, overwrite=True)
    with backend, writer:
        t["open"] = time.perf_counter() - t_open
        axes = grid._axes()
        ppf = grid.pixels_per_frame
        for j in range(grid.frames):
            frame = torch.empty(ppf, 3)
            for a in range(0, ppf, BATCH):
                b = min(a + BATCH, ppf)
                t0 = time.perf_counter()
                c = grid.coords(j * ppf + a, j * ppf + b, axes)
                t1 = time.perf_counter()
                frame[a:b] = backend.infer(c)
                t2 = time.perf_counter()
                t["coords"] += t1 - t0
                t["infer"] += t2 - t1
            t0 = time.perf_counter()
            u8 = to_uint8(frame.view(grid.height, grid.width, 3).numpy())
            t1 = time.perf_counter()
            writer.write(u8)
            t["write"] += time.perf_counter() - t1
            t["uint8"] += t1 - t0
    return {**t, "pixels": len(grid)}


def sine_variants(model: Path, frames: int = 4) -> dict[str, float]:
    """Pixels/s of the torch backend's ``infer`` on ``frames`` frames of the case's grid, by sine."""
    src = resolve_source(model)
    s = src.config.source
    grid = SpaceTimeGrid.build(s.width, s.height, s.frames, scale_s=CASE["scale_s"], scale_t=CASE["scale_t"])
    axes = grid._axes()
    coords = [
        grid.coords(a, min(a + BATCH, frames * grid.pixels_per_frame), axes)
        for a in range(0, frames * grid.pixels_per_frame, BATCH)
    ]
    net = SineMLP.from_pretrained(model)
    rates = {}
    for label, sine in (("numpy sine", "numpy"), ("torch sine", "torch"), ("no sine (ceiling)", "numpy")):
        with TorchBackend(net, sine=sine) as backend:
            if label.startswith("no sine"):
                backend._sin_ = lambda t: None
            backend.infer(coords[0])
            t0 = time.perf_counter()
            for c in coords:
                backend.infer(c)
            rates[f"torch infer, {label}"] = sum(len(c) for c in coords) / (time.perf_counter() - t0)
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    params = SineMLPConfig(hidden_features=CASE["width"], hidden_layers=CASE["layers"]).num_params
    samples: dict[str, list[float]] = {}
    parts: dict[str, list[dict]] = {"torch": [], "ort": []}
    with tempfile.TemporaryDirectory(prefix="vinr-decode-cli-") as tmp:
        model = make_model(Path(tmp) / "m")
        out = Path(tmp) / "out.npy"
        pixels = None
        for _ in range(args.repeats):
            samples.setdefault("matmul_gflops", []).append(matmul_gflops(CASE["width"], seconds=2.0))
            for runtime in ("torch", "ort"):
                wall, inner = cli(model, runtime, out)
                pixels = int(np.load(out, mmap_mode="r").size // 3)
                samples.setdefault(f"{runtime} cli wall", []).append(pixels / wall)
                samples.setdefault(f"{runtime} cli command", []).append(pixels / inner)
                t0 = time.perf_counter()
                decode(model, out, scale_s=2, scale_t=2, runtime=runtime, overwrite=True)
                samples.setdefault(f"{runtime} library decode()", []).append(pixels / (time.perf_counter() - t0))
                p = phases(model, runtime, out)
                parts[runtime].append(p)
                samples.setdefault(f"{runtime} infer only", []).append(p["pixels"] / p["infer"])
            for key, rate in sine_variants(model).items():
                samples.setdefault(key, []).append(rate)
    gflops = statistics.median(samples.pop("matmul_gflops"))
    roof = gflops * 1e9 / (2 * params)
    rows = []
    for key, values in samples.items():
        px = statistics.median(values)
        rows.append({"path": key, "Mpx_s": round(px / 1e6, 3), "of_roofline": round(px / roof, 3)})
    phase_rows = []
    for runtime, ps in parts.items():
        med = {k: statistics.median(p[k] for p in ps) for k in ("open", "coords", "infer", "uint8", "write")}
        phase_rows.append({"runtime": runtime, **{k: round(v, 3) for k, v in med.items()}})
    print(f"case {CASE}, {pixels:,} pixels; matmul {gflops:.0f} GFLOP/s -> roofline {roof / 1e6:.3f} Mpx/s")
    print(table(rows, ["path", "Mpx_s", "of_roofline"]))
    print(table(phase_rows, ["runtime", "open", "coords", "infer", "uint8", "write"]))
    payload = {
        "benchmark": "decode_cli",
        "case": CASE,
        "pixels": pixels,
        "matmul_gflops": gflops,
        "roofline_mpx_s": roof / 1e6,
        "machine": machine(),
        "rows": rows,
        "phases_s": phase_rows,
        "samples": samples,
    }
    print("results ->", save("decode_cli", payload))
    _plot(rows)


def _plot(rows) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh([r["path"] for r in rows][::-1], [r["of_roofline"] for r in rows][::-1], color="#4c72b0")
    ax.axvline(0.9, color="k", ls="--", lw=0.8)
    ax.set_xlabel("fraction of the matmul roofline (same run)")
    ax.set_title("vinr decode, width 256 x 3, 2x2 of 16 carphone frames to .npy", fontsize=9)
    fig.tight_layout()
    fig.savefig(plot_path("decode_cli"), dpi=110)


if __name__ == "__main__":
    main()
