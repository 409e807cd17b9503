"""Fit steps/s: one process vs torchrun with 2 processes on this machine, and one GPU when there is one.

    .venv/bin/python benchmarks/scale_out.py              # ≈ 1 min on a 2-vCPU machine
    .venv/bin/python benchmarks/scale_out.py --steps 200  # longer runs, steadier numbers

Each configuration is a real ``vinr fit`` command (``python -m vinr_zoo.cli``, or ``torchrun --standalone
--nproc-per-node 2 -m vinr_zoo.cli`` for 2 processes) on the same clip with the same *total* batch; the
steps/s come from the ``wall_time_s`` the fit records for its training loop (start-up, video decoding and
the final PSNR are reported separately as the command's wall time). CPU configurations give every run the
same cores: 1 process x all threads, 1 process x 1 thread, N processes x 1 thread.

Writes ``benchmarks/results/scale_out.json``.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, save, table  # noqa: E402

CAVEAT = (
    "A 2-core machine says little about a cluster: two processes split the same two cores one process can "
    "already use with two threads, and add an all-reduce per step. Speed-up from torchrun needs ranks with "
    "their own cores or GPUs (one rank per GPU, or per socket), where the per-step all-reduce of the "
    "model's gradients (under 1 MB) is small next to the step."
)


def run_fit(out: Path, args: argparse.Namespace, *, procs: int, threads: int | None, device: str = "cpu") -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_PORT")}
    if threads is not None:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    launcher = [sys.executable, "-m", "vinr_zoo.cli"]
    if procs > 1:
        launcher = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            str(procs),
            "-m",
            "vinr_zoo.cli",
        ]
    batch = args.batch_size * (args.gpu_batch_factor if device == "cuda" else 1)
    cmd = [
        *launcher,
        "fit",
        "sample:carphone",
        "--frames",
        str(args.frames),
        "--width",
        str(args.width),
        "--depth",
        str(args.depth),
        "--batch-size",
        str(batch),
        "--steps",
        str(args.steps),
        "--checkpoint-every",
        str(10 * args.steps),
        "--device",
        device,
        "-q",
        "-o",
        str(out),
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    training = json.loads((out / "config.json").read_text())["training"]
    return {
        "processes": procs,
        "threads_each": threads if threads is not None else "default",
        "device": device,
        "batch": batch,
        "steps": training["steps"],
        "steps_per_s": training["steps"] / training["wall_time_s"],
        "command_wall_s": wall,
        "psnr_db": training["final_psnr_rgb"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=8192)
    ap.add_argument("--procs", type=int, default=2, help="Processes of the torchrun configuration.")
    ap.add_argument("--gpu-batch-factor", type=int, default=8, help="The GPU run's batch is this many times larger.")
    args = ap.parse_args()
    cpus = os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="vinr-scale-out-"))
    load_before = os.getloadavg()
    rows = [
        run_fit(tmp / "p1-all", args, procs=1, threads=None),
        run_fit(tmp / "p1-t1", args, procs=1, threads=1),
        run_fit(tmp / f"p{args.procs}-t1", args, procs=args.procs, threads=max(1, cpus // args.procs)),
    ]
    # Against the faster one-process row: beside another job, torch's OpenMP threads can stall each other
    # (measured here: 1.4 steps/s with 2 threads vs 46 with 1, while a neighbour held a core).
    base = max(r["steps_per_s"] for r in rows if r["processes"] == 1)
    for r in rows:
        r["speedup_vs_best_1_process"] = r["steps_per_s"] / base
    import torch

    if torch.cuda.is_available():
        rows.append(run_fit(tmp / "gpu", args, procs=1, threads=None, device="cuda"))
        gpu_note = f"GPU: {torch.cuda.get_device_name(0)}, batch x{args.gpu_batch_factor}"
    else:
        gpu_note = "no CUDA GPU on this machine: the single-GPU row is skipped"
    columns = [
        "processes",
        "threads_each",
        "device",
        "batch",
        "steps",
        "steps_per_s",
        "speedup_vs_best_1_process",
        "command_wall_s",
        "psnr_db",
    ]
    print(table(rows, columns))
    load = f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} (1 min; this machine has {cpus} CPUs)"
    print(f"\n{load}\n{gpu_note}")
    print(f"\n{CAVEAT}")
    path = save(
        "scale_out",
        {"machine": machine(), "settings": vars(args), "rows": rows, "note": CAVEAT, "gpu": gpu_note, "load": load},
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
