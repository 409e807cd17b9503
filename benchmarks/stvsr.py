"""Space-time super-resolution on carphone: the fitted model against trilinear and bicubic + frame blend.

Runs `vinr_zoo.evaluate.stvsr_protocol` (the same code as `vinr eval stvsr`) on the first 33 frames at
176x144 for (scale_s, scale_t) in (2, 2) and (1, 4): fit on the low-resolution, low-frame-rate clip,
render back on the full grid, score all / kept / held-out frames (PSNR RGB).
Writes results/stvsr.{json,png}. Usage: python benchmarks/stvsr.py [--steps 800]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import grouped_bars, machine, save, table  # noqa: E402

from vinr_zoo.evaluate import stvsr_protocol  # noqa: E402
from vinr_zoo.fit import FitOptions  # noqa: E402
from vinr_zoo.video import read_video, sample_clip  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--cases", default="2x2,1x4", help="SxT pairs")
    args = ap.parse_args()
    clip = read_video(sample_clip("carphone"), frames=33)
    rows, reports = [], []
    for case in args.cases.split(","):
        s, t = (int(v) for v in case.split("x"))
        report = stvsr_protocol(clip, scale_s=s, scale_t=t, options=FitOptions(steps=args.steps))
        reports.append(report.to_dict())
        for method, subsets in report.results.items():
            for subset in ("all", "held_out"):
                sc = subsets.get(subset)
                if sc is not None:
                    rows.append(
                        {
                            "scale_s": s,
                            "scale_t": t,
                            "method": method,
                            "frames": subset,
                            "psnr_rgb": sc.psnr_rgb,
                            "ssim": sc.ssim,
                        }
                    )
        print(report.summary(), flush=True)
    print(table(rows, ["scale_s", "scale_t", "method", "frames", "psnr_rgb", "ssim"]))
    result = {"benchmark": "stvsr", "steps": args.steps, "machine": machine(), "rows": rows, "reports": reports}
    print(f"results -> {save('stvsr', result)}")

    _plot(rows)


def _plot(rows) -> None:
    cases = list(dict.fromkeys((r["scale_s"], r["scale_t"]) for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    series = {
        m: [
            next(
                r["psnr_rgb"]
                for r in rows
                if (r["scale_s"], r["scale_t"]) == c and r["method"] == m and r["frames"] == "held_out"
            )
            for c in cases
        ]
        for m in methods
    }
    grouped_bars("stvsr", [f"S={s}, T={t}" for s, t in cases], series, ylabel="held-out frames PSNR (dB)", bottom=20)


if __name__ == "__main__":
    main()
