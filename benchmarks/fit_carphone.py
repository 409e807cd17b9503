"""PSNR against wall time for fitting 32 frames of carphone (176x144): the default recipe, the one before it,
and SIREN's. ``--clip bikes`` or ``--clip bigbuckbunny`` runs the same comparison on another shipped clip
(its first 32 frames at full size), written to results/fit_<clip>.{json,png}.

- default: `vinr fit` defaults (MSE, Adam 1e-3 with warm-up + cosine decay to 1 % over the budget, ω_t = 3,
  16,384 pixels a step, half of them drawn in proportion to each pixel's last error
  (`vinr_zoo/fit/sampling.py`), in 4,096-row chunks). A separate run per budget, since the schedule spans it.
- previous: the defaults when this benchmark was written (L1, cosine to 5 %, 32,768 uniform pixels a step),
  otherwise the same.
- siren: SIREN's recipe (MSE, constant Adam 1e-4, ω0 = 30 on x, y and t); one run, snapshots at each
  budget (a constant learning rate does not depend on the budget).

PSNR: RGB in [0, 1] over all 32 frames, clamped float output. Writes results/fit_carphone.{json,png}.
Usage: python benchmarks/fit_carphone.py [--minutes 1,2,5] [--frames 32] [--clip carphone]
       [--recipes default,previous,siren]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, matmul_gflops, plot_path, save, table  # noqa: E402

from vinr_zoo.fit import FitOptions, fit_video, measure_psnr  # noqa: E402
from vinr_zoo.video import read_video, sample_clip  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", default="1,2,5")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--clip", default="carphone", choices=["carphone", "bikes", "bigbuckbunny"])
    ap.add_argument("--recipes", default="default,previous,siren")
    args = ap.parse_args()
    budgets = [float(m) for m in args.minutes.split(",")]
    chosen = args.recipes.split(",")
    name = "fit_carphone" if args.clip == "carphone" else f"fit_{args.clip}"
    clip = read_video(sample_clip(args.clip), frames=args.frames)
    roofline = matmul_gflops()
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="fitbench-"))
    previous = {"batch_size": 32768, "sampling": "uniform", "loss": "l1", "final_lr_ratio": 0.05}
    recipes = {"default": {}, "previous": previous}
    recipes = {k: v for k, v in recipes.items() if k in chosen}
    for minutes in budgets:
        for recipe, extra in recipes.items():  # the two alternate, so a slow spell of the machine hits both
            options = FitOptions(hidden_features=args.width, minutes=minutes, **extra)
            r = fit_video(clip, options, tmp / f"{recipe}-{minutes}")
            load = os.getloadavg()[0]
            rows.append(
                {
                    "recipe": recipe,
                    "minutes": minutes,
                    "steps": r.steps,
                    "psnr": r.psnr,
                    "steps_per_s": r.steps / r.wall_time_s,
                    "load_after": round(load, 2),
                }
            )
            print(rows[-1], flush=True)

    marks = sorted(budgets)
    snapshots: dict[float, tuple[int, float]] = {}
    paused = [0.0]

    def snapshot(info):
        # Evaluation time is paused out of the budget so each mark sees the training time only.
        pending = [m for m in marks if m not in snapshots and info.elapsed_s - paused[0] >= m * 60]
        for m in pending:
            t0 = time.perf_counter()
            info.model.eval()
            snapshots[m] = (info.step, measure_psnr(info.model, clip))
            info.model.train()
            paused[0] += time.perf_counter() - t0
            print({"recipe": "siren", "minutes": m, "steps": info.step, "psnr": snapshots[m][1]}, flush=True)
        if len(snapshots) == len(marks):
            raise StopIteration

    if "siren" not in chosen:
        marks = []
    siren = FitOptions(
        hidden_features=args.width,
        time_omega_0=30.0,
        lr=1e-4,
        schedule="constant",
        loss="mse",
        minutes=max(marks, default=1.0) * 10,
        batch_size=32768,
        sampling="uniform",
    )
    try:
        if marks:
            fit_video(clip, siren, tmp / "siren", callback=snapshot)
    except StopIteration:
        pass
    for m in marks:
        step, p = snapshots[m]
        rows.append({"recipe": "siren", "minutes": m, "steps": step, "psnr": p, "steps_per_s": step / (m * 60)})

    result = {
        "benchmark": name,
        "clip": args.clip,
        "size": [clip.width, clip.height],
        "frames": args.frames,
        "width": args.width,
        "machine": machine(),
        "matmul_gflops": roofline,
        "rows": rows,
    }
    print(table(rows, ["recipe", "minutes", "steps", "steps_per_s", "psnr", "load_after"]))
    print(f"fp32 matmul on this machine: {roofline:.0f} GFLOP/s; results -> {save(name, result)}")
    _plot(rows, name, f"Fitting {args.clip} {clip.width}x{clip.height}x{args.frames}")


def _plot(rows, name: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for recipe in ("default", "previous", "siren"):
        pts = sorted((r["minutes"], r["psnr"]) for r in rows if r["recipe"] == recipe)
        if not pts:
            continue
        ax.plot(*zip(*pts, strict=True), marker="o", label=recipe)
    ax.set_xlabel("wall time (min)")
    ax.set_ylabel("PSNR (dB, RGB, all frames)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(plot_path(name), dpi=120)


if __name__ == "__main__":
    main()
