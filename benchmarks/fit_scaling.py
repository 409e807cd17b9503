"""What a fit costs as the clip grows: bikes at 320x136 and 640x272, 32 and 120 frames, each for the same time.

Each configuration runs `vinr fit` (defaults, ``--minutes``) in its own process, so its peak resident memory
(``ru_maxrss``, read in that process after the fit) is its own. Reported per configuration: pixels, steps,
steps/s, pixels fitted per second (steps x batch / s), PSNR RGB on all its frames, peak RSS, and peak RSS
minus the clip held as uint8: the fit keeps the video as uint8 (on the device it fits on) and draws float
batches from it, so that difference should stay about constant as the clip grows (no float copy of the
video). The machine's one-minute load average before each fit is recorded beside it.

Writes results/fit_scaling.{json,png}. Usage: python benchmarks/fit_scaling.py [--minutes 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, plot_path, save, table  # noqa: E402

CONFIGS = [((320, 136), 32), ((320, 136), 120), ((640, 272), 32), ((640, 272), 120)]

# Runs in the child: the real CLI, then its own peak RSS (Linux reports KiB) and the fit's numbers.
CHILD = """
import json, resource, sys
from vinr_zoo.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print("VINR_PEAK_RSS", peak, flush=True)
"""


def run_one(size: tuple[int, int], frames: int, minutes: float, out: Path) -> dict:
    argv = [sys.executable, "-c", CHILD, "fit", "sample:bikes", "--size", f"{size[0]}x{size[1]}"]
    argv += ["--frames", str(frames), "--minutes", str(minutes), "-q", "-o", str(out), "--overwrite"]
    load = os.getloadavg()[0]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    peak = int(next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("VINR_PEAK_RSS")))
    t = json.loads((out / "config.json").read_text())["training"]
    pixels = size[0] * size[1] * frames
    return {
        "size": f"{size[0]}x{size[1]}",
        "frames": frames,
        "pixels": pixels,
        "steps": t["steps"],
        "steps_per_s": round(t["steps"] / t["wall_time_s"], 2),
        "px_per_s": round(t["steps"] * t["batch_size"] / t["wall_time_s"]),
        "psnr_rgb": t["final_psnr_rgb"],
        "peak_rss_mb": round(peak / 2**20, 1),
        "clip_uint8_mb": round(pixels * 3 / 2**20, 1),
        "rss_minus_clip_mb": round((peak - pixels * 3) / 2**20, 1),
        "load_before": round(load, 2),
    }


def plot(rows: list[dict], minutes: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    labels = [f"{r['size']}\n{r['frames']} fr" for r in rows]
    a.bar(labels, [r["psnr_rgb"] for r in rows], color="#4c72b0")
    a.set_ylabel(f"PSNR RGB after {minutes:g} min (dB)")
    a.set_ylim(bottom=min(r["psnr_rgb"] for r in rows) - 3)
    b.bar(labels, [r["clip_uint8_mb"] for r in rows], label="clip as uint8", color="#dd8452")
    b.bar(
        labels,
        [r["rss_minus_clip_mb"] for r in rows],
        bottom=[r["clip_uint8_mb"] for r in rows],
        label="everything else",
        color="#55a868",
    )
    b.set_ylabel("peak RSS (MB)")
    b.legend(fontsize=8)
    for ax in (a, b):
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"vinr fit on bikes: same {minutes:g}-minute budget, defaults", fontsize=9)
    fig.tight_layout()
    path = plot_path("fit_scaling")
    fig.savefig(path, dpi=110)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=1.0)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="vinr-fit-scaling-") as tmp:
        for i, (size, frames) in enumerate(CONFIGS):
            rows.append(run_one(size, frames, args.minutes, Path(tmp) / f"m{i}"))
            print(rows[-1], flush=True)
    columns = ["size", "frames", "pixels", "steps", "steps_per_s", "px_per_s", "psnr_rgb", "peak_rss_mb"]
    print(table(rows, [*columns, "clip_uint8_mb", "rss_minus_clip_mb", "load_before"]))
    print("results ->", save("fit_scaling", {"benchmark": "fit_scaling", "minutes": args.minutes,
                                             "machine": machine(), "rows": rows}))  # fmt: skip
    print("plot ->", plot(rows, args.minutes))


if __name__ == "__main__":
    main()
