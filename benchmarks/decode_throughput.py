"""Decode throughput (pixels/s) of the torch and ORT backends against this machine's fp32 matmul roofline.

    .venv/bin/python benchmarks/decode_throughput.py            # ≈ 2.5 min
    .venv/bin/python benchmarks/decode_throughput.py --quick    # ≈ 40 s

For each width (4 sine layers + head, ω folded, fp32) and each batch size (coordinates per ``infer``
call: 4,096 = an interactive tile, 65,536 = ``vinr decode``'s default batch) it times both backends
(and the torch backend's previous OpenMP path, for comparison),
and in the same run the fp32 matmul throughput of torch on this machine: (M×w)@(w×w) with M = 4,096
and 65,536 on torch's threads, and as one single-threaded 4,096-row matmul per thread running
concurrently; the roofline uses the best of these. Decoding costs ≈ 2 × params FLOP per pixel
(plus one sine per hidden unit per layer), so the roofline is ``matmul FLOP/s / (2 × params)`` pixels/s.

Measurements are interleaved round by round (matmul, torch, ORT, matmul, ...) and reported as medians, so a
neighbour process slowing the machine down hits all of them alike; the load average is recorded too.
Writes ``benchmarks/results/decode_throughput.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from vinr_zoo import SineMLP, SineMLPConfig
from vinr_zoo._atomic import atomic_path
from vinr_zoo._system import cpu_name
from vinr_zoo.export.onnx import build_onnx
from vinr_zoo.runtimes.ort import OrtBackend
from vinr_zoo.runtimes.pyt import TorchBackend

RESULTS = Path(__file__).resolve().parent / "results"
LAYERS = 4


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def time_call(fn, budget: float, min_reps: int = 2) -> list[float]:
    """Wall times of repeated ``fn()`` calls for about ``budget`` seconds (at least ``min_reps``)."""
    times = []
    end = time.perf_counter() + budget
    while len(times) < min_reps or time.perf_counter() < end:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def bench_width(width: int, batches: list[int], budget: float, rounds: int) -> dict:
    torch.manual_seed(0)
    model = SineMLP(SineMLPConfig(hidden_features=width, hidden_layers=LAYERS)).eval()
    params = model.num_params
    flop_per_px = 2 * params
    gen = torch.Generator().manual_seed(0)
    coords = {n: torch.rand(n, 3, generator=gen) * 2 - 1 for n in batches}
    mats = {m: (torch.randn(m, width), torch.randn(width, width), torch.empty(m, width)) for m in (4096, 65536)}
    threads = torch.get_num_threads()
    pool = ThreadPoolExecutor(threads)
    # The same matmul as `threads` concurrent single-threaded ones (how both backends run on CPU).
    per_thread = [
        (torch.randn(4096, width), torch.randn(width, width), torch.empty(4096, width)) for _ in range(threads)
    ]

    def concurrent_mm() -> None:
        torch.set_num_threads(1)
        try:
            list(pool.map(lambda abo: torch.mm(abo[0], abo[1], out=abo[2]), per_thread))
        finally:
            torch.set_num_threads(threads)

    torch_backend = TorchBackend(model).open()
    # The torch backend as it was before the CPU worker threads: OpenMP threads, torch.sin, 4,096-row chunks.
    torch_omp = TorchBackend(model, workers=1, chunk=4096, sine="torch").open()
    ort_backend = OrtBackend(build_onnx(model).SerializeToString()).open()
    # Warm up every path (first calls allocate, JIT-select kernels, spawn threads).
    for n in batches:
        torch_backend.infer(coords[n])
        torch_omp.infer(coords[n])
        ort_backend.infer(coords[n])
    for a, b, o in mats.values():
        torch.mm(a, b, out=o)

    samples: dict[str, list[float]] = {}
    per = budget / rounds
    for _ in range(rounds):
        for m, (a, b, o) in mats.items():
            samples.setdefault(f"mm{m}", []).extend(time_call(lambda a=a, b=b, o=o: torch.mm(a, b, out=o), per / 3))
        samples.setdefault("mm_concurrent", []).extend(time_call(concurrent_mm, per / 3))
        for n in batches:
            x = coords[n]
            samples.setdefault(f"torch{n}", []).extend(time_call(lambda x=x: torch_backend.infer(x), per))
            samples.setdefault(f"ort{n}", []).extend(time_call(lambda x=x: ort_backend.infer(x), per))
            samples.setdefault(f"omp{n}", []).extend(time_call(lambda x=x: torch_omp.infer(x), per))
    described = {"torch": torch_backend.describe(), "ort": ort_backend.describe()}
    torch_backend.close()
    torch_omp.close()
    ort_backend.close()

    pool.shutdown()
    matmul_omp = max(2 * m * width * width / statistics.median(samples[f"mm{m}"]) for m in mats)
    matmul_concurrent = 2 * threads * 4096 * width * width / statistics.median(samples["mm_concurrent"])
    matmul = max(matmul_omp, matmul_concurrent)
    roofline = matmul / flop_per_px
    rows = []
    for n in batches:
        t_px = n / statistics.median(samples[f"torch{n}"])
        o_px = n / statistics.median(samples[f"ort{n}"])
        omp_px = n / statistics.median(samples[f"omp{n}"])
        rows.append(
            {
                "width": width,
                "params": params,
                "batch": n,
                "torch_px_s": t_px,
                "ort_px_s": o_px,
                "ort_over_torch": o_px / t_px,
                "torch_omp_px_s": omp_px,
                "roofline_px_s": roofline,
                "torch_over_roofline": t_px / roofline,
                "ort_over_roofline": o_px / roofline,
                "samples": {k: len(samples[f"{k}{n}"]) for k in ("torch", "ort", "omp")},
            }
        )
    return {
        "width": width,
        "params": params,
        "matmul_gflop_s": matmul / 1e9,
        "roofline_px_s": roofline,
        "matmul_torch_threads_gflop_s": matmul_omp / 1e9,
        "matmul_concurrent_gflop_s": matmul_concurrent / 1e9,
        **described,
        "rows": rows,
    }


def plot(results: list[dict], path: Path, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batches = sorted({r["batch"] for w in results for r in w["rows"]})
    widths = [w["width"] for w in results]
    fig, axes = plt.subplots(1, len(batches), figsize=(5 * len(batches), 4), squeeze=False)
    for ax, n in zip(axes[0], batches, strict=True):
        xs = np.arange(len(widths))
        rows = [next(r for r in w["rows"] if r["batch"] == n) for w in results]
        ax.bar(xs - 0.27, [r["torch_px_s"] / 1e6 for r in rows], 0.27, label="torch")
        ax.bar(xs, [r["ort_px_s"] / 1e6 for r in rows], 0.27, label="ORT")
        ax.bar(
            xs + 0.27,
            [r["torch_omp_px_s"] / 1e6 for r in rows],
            0.27,
            label="torch, OpenMP path (before)",
            color="lightgray",
        )
        ax.plot(xs, [w["roofline_px_s"] / 1e6 for w in results], "k_", markersize=40, mew=2, label="matmul roofline")
        ax.set_xticks(xs, [str(w) for w in widths])
        ax.set_xlabel(f"width ({LAYERS} sine layers)")
        ax.set_ylabel("Mpx/s")
        ax.set_yscale("log")
        ax.set_title(f"batch {n:,} coords per call")
        ax.legend()
    fig.suptitle(
        f"vinr-zoo decode throughput, fp32, {cpu_name()}, {torch.get_num_threads()} threads; {note}", fontsize=9
    )
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short time budget per point (≈ 40 s in all)")
    parser.add_argument("--widths", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--batches", type=int, nargs="+", default=[4096, 65536])
    parser.add_argument("--budget", type=float, default=None, help="seconds per width and batch, per runtime")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    budget = args.budget if args.budget is not None else (1.5 if args.quick else 5.0)
    rounds = 2 if args.quick else 4

    load_before = load_average()
    start = time.perf_counter()
    results = [bench_width(w, args.batches, budget, rounds) for w in args.widths]
    report = {
        "machine": {
            "cpu": cpu_name(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "onnxruntime": _ort_version(),
            "load_average_before": load_before,
            "load_average_after": load_average(),
        },
        "settings": {"layers": LAYERS, "budget_s": budget, "rounds": rounds, "quick": args.quick},
        "wall_s": round(time.perf_counter() - start, 1),
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "decode_throughput.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    plot(results, args.out / "decode_throughput.png", f"load average {load_before} -> {load_average()}")

    print(
        f"{cpu_name()}; torch {torch.__version__}, onnxruntime {_ort_version()}; load {load_before} -> {load_average()}"
    )
    head = (
        "width  params   batch   matmul GFLOP/s  roofline Mpx/s  torch Mpx/s  ORT Mpx/s  ORT/torch  torch/roof  "
        "ORT/roof  torch-omp Mpx/s"
    )
    print(head)
    for w in results:
        for r in w["rows"]:
            print(
                f"{w['width']:5d}  {w['params']:7,d}  {r['batch']:6,d}  {w['matmul_gflop_s']:14.0f}  "
                f"{w['roofline_px_s'] / 1e6:14.3f}  {r['torch_px_s'] / 1e6:11.3f}  {r['ort_px_s'] / 1e6:9.3f}  "
                f"{r['ort_over_torch']:9.2f}  {r['torch_over_roofline']:10.2f}  {r['ort_over_roofline']:8.2f}  "
                f"{r['torch_omp_px_s'] / 1e6:15.3f}"
            )
    print(
        f"backends: {results[0]['torch']} | {results[0]['ort']} | torch-omp: the torch backend before "
        "its CPU workers (OpenMP threads, torch.sin, chunk 4096)"
    )
    print(f"wrote {args.out / 'decode_throughput.json'} and .png in {report['wall_s']} s")
    return 0


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


if __name__ == "__main__":
    raise SystemExit(main())
