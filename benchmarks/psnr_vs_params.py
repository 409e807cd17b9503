"""PSNR against parameter count on one clip: 32 frames of carphone (176x144), 4 sine layers, one width each.

A fixed step budget per width (steps, not minutes, so the numbers do not depend on how busy the machine
is; the wall time is reported beside them). PSNR: RGB over all frames; bpp: fp32 weight bits per pixel.
Writes results/psnr_vs_params.{json,png}. Usage: python benchmarks/psnr_vs_params.py [--widths 64,128,256,384]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, plot_path, save, table  # noqa: E402

from vinr_zoo.fit import FitOptions, fit_video  # noqa: E402
from vinr_zoo.video import read_video, sample_clip  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="64,128,256,384")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--frames", type=int, default=32)
    args = ap.parse_args()
    clip = read_video(sample_clip("carphone"), frames=args.frames)
    pixels = clip.width * clip.height * clip.num_frames
    tmp = Path(tempfile.mkdtemp(prefix="params-"))
    rows = []
    for width in (int(w) for w in args.widths.split(",")):
        r = fit_video(clip, FitOptions(hidden_features=width, steps=args.steps), tmp / f"w{width}")
        params = r.model.num_params
        rows.append(
            {
                "width": width,
                "params": params,
                "bpp_fp32": params * 32 / pixels,
                "steps": r.steps,
                "wall_s": r.wall_time_s,
                "psnr": r.psnr,
            }
        )
        print(rows[-1], flush=True)
    print(table(rows, ["width", "params", "bpp_fp32", "steps", "wall_s", "psnr"]))
    result = {
        "benchmark": "psnr_vs_params",
        "clip": f"carphone 176x144x{args.frames}",
        "steps": args.steps,
        "machine": machine(),
        "rows": rows,
    }
    print(f"results -> {save('psnr_vs_params', result)}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogx([r["params"] for r in rows], [r["psnr"] for r in rows], marker="o")
    for r in rows:
        ax.annotate(f"w{r['width']}", (r["params"], r["psnr"]), textcoords="offset points", xytext=(4, -10), fontsize=8)
    ax.set_xlabel("parameters")
    ax.set_ylabel("PSNR (dB, RGB)")
    ax.set_title(f"carphone 176x144x{args.frames}, {args.steps} steps each")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(plot_path("psnr_vs_params"), dpi=120)


if __name__ == "__main__":
    main()
