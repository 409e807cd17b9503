"""Motion between kept frames: the motion MLP (key frames + flow) against the sine MLP, a linear blend and DIS flow.

STVSR protocol with S = 1, T = 4 (`vinr_zoo.evaluate.stvsr_protocol`): every 4th frame is fitted, the held-out
frames in between are scored (PSNR RGB pooled over frames). Each fitted method gets the same wall-clock budget
(``--minutes``, default 3) and the same parameter budget (``--width`` x ``--layers`` of a sine MLP; the motion MLP
splits it between its key-frame and flow networks, within 10 %). The two fits of a clip run one after the other,
their order alternating from clip to clip. Baselines on the same kept frames: a linear blend and DIS-flow
interpolation (`vinr_zoo.flow.interpolate` when that module exists, else the same recipe with OpenCV here).
Renders run on ONNX Runtime (the same numbers as torch within 1e-4). Decode cost: multiply-accumulates per pixel relative to the sine MLP, and measured px/s on torch and ORT.

Writes results/motion.{json,png}. Usage: python benchmarks/motion.py [--minutes 3] [--clips bikes,bigbuckbunny,carphone]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import grouped_bars, machine, save, table  # noqa: E402

from vinr_zoo.decode import open_backend, resolve_source  # noqa: E402
from vinr_zoo.evaluate import stvsr_protocol  # noqa: E402
from vinr_zoo.fit import FitOptions  # noqa: E402
from vinr_zoo.metrics import ScoreAccumulator  # noqa: E402
from vinr_zoo.models import SineMLPConfig, VinrModel  # noqa: E402
from vinr_zoo.video import read_video, sample_clip  # noqa: E402

CLIPS = {"bikes": (29, (320, 136)), "bigbuckbunny": (33, (320, 180)), "carphone": (33, (176, 144))}
SCALE_T = 4


# ---- DIS-flow interpolation -----------------------------------------------------------------------------
def _flow_module():
    try:
        from vinr_zoo import flow
    except ImportError:
        return None
    return flow if hasattr(flow, "interpolate") else None


def _dis(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import cv2

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY), None)


def _warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    import cv2

    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def dis_interpolate(f0: np.ndarray, f1: np.ndarray, tau: float) -> np.ndarray:
    """uint8 frames → float32 [0, 1] frame at τ: DIS both ways, Super SloMo's flows to t, backward warps, blend."""
    shared = _flow_module()
    if shared is not None:
        out = np.asarray(shared.interpolate(f0, f1, tau), dtype=np.float32)
        return out / 255.0 if out.max() > 1.5 else out
    a, b = f0.astype(np.float32) / 255.0, f1.astype(np.float32) / 255.0
    f01, f10 = _dis(f0, f1), _dis(f1, f0)
    ft0 = -(1 - tau) * tau * f01 + tau * tau * f10
    ft1 = (1 - tau) ** 2 * f01 - tau * (1 - tau) * f10
    return np.clip((1 - tau) * _warp(a, ft0) + tau * _warp(b, ft1), 0.0, 1.0)


def baselines(frames: np.ndarray) -> dict[str, dict]:
    n = (len(frames) - 1) // SCALE_T * SCALE_T + 1
    accs = {"linear blend": ScoreAccumulator(ssim=False), "DIS flow": ScoreAccumulator(ssim=False)}
    for j in range(n):
        m, r = divmod(j, SCALE_T)
        if r == 0:
            continue
        tau = r / SCALE_T
        ref = frames[j].astype(np.float32) / 255.0
        a, b = frames[m * SCALE_T], frames[(m + 1) * SCALE_T]
        accs["linear blend"].add((1 - tau) * a.astype(np.float32) / 255.0 + tau * b.astype(np.float32) / 255.0, ref)
        accs["DIS flow"].add(dis_interpolate(a, b, tau), ref)
    return {k: {"held_out": v.result().psnr_rgb} for k, v in accs.items()}


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
    args = ap.parse_args()
    archs = args.methods.split(",")
    info = machine()
    rows, fits, cost = [], [], {}
    for ci, name in enumerate(args.clips.split(",")):
        frames, size = CLIPS[name]
        clip = read_video(sample_clip(name), frames=frames, size=size)
        t0 = time.perf_counter()
        base = baselines(clip.frames)
        row = {"clip": f"{name} {size[0]}x{size[1]}"}
        for k, v in base.items():
            row[f"{k} held-out"] = v["held_out"]
        print(f"{name}: baselines in {time.perf_counter() - t0:.1f} s: {base}", flush=True)
        order = archs if ci % 2 == 0 else archs[::-1]
        for arch in order:
            budget = {"steps": args.steps} if args.steps else {"minutes": args.minutes}
            options = FitOptions(arch=arch, hidden_features=args.width, hidden_layers=args.layers, **budget)
            with tempfile.TemporaryDirectory(prefix="vinr-motion-bench-") as tmp:
                report = stvsr_protocol(
                    clip, scale_s=1, scale_t=SCALE_T, options=options, runtime="ort", save_model=Path(tmp) / "m"
                )
                model = VinrModel.from_pretrained(Path(tmp) / "m")
            res = report.results["model"]
            if report.results.get("flow") and report.results["flow"].get("held_out"):  # the protocol's own DIS baseline
                row["DIS flow (stvsr protocol) held-out"] = report.results["flow"]["held_out"].psnr_rgb
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
        rows.append(row)
    sine_macs = macs_per_pixel(SineMLPConfig(hidden_features=args.width, hidden_layers=args.layers))
    for c in cost.values():
        c["macs_ratio_vs_sine"] = c["macs_per_px"] / sine_macs
    columns = ["clip", "linear blend held-out", "DIS flow held-out"]
    for arch in archs:
        columns += [f"{arch} held-out", f"{arch} kept"]
    what = f"{args.steps} steps" if args.steps else f"{args.minutes:g} min"
    print(f"\nbudget {what} per fit, every {SCALE_T}th frame kept; machine {info}")
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
        "scale_t": SCALE_T,
        "width": args.width,
        "layers": args.layers,
        "machine": info,
        "rows": rows,
        "decode_cost": cost,
        "fits": fits,
        "dis": "vinr_zoo.flow.interpolate" if _flow_module() else "benchmarks/motion.py dis_interpolate (cv2)",
    }
    print(f"results -> {save(args.name, payload)}")
    methods = ["linear blend", "DIS flow", *archs]
    series = {m: [r[f"{m} held-out"] for r in rows] for m in methods}
    grouped_bars(
        args.name, [r["clip"].split()[0] for r in rows], series, ylabel="held-out frames PSNR RGB (dB)", bottom=20
    )


if __name__ == "__main__":
    main()
