"""Shared bits of the benchmark scripts: machine description, result files, plots."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    import torch

    from vinr_zoo._system import cpu_name

    info = {
        "cpu": cpu_name(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def matmul_gflops(width: int = 256, rows: int = 4096, seconds: float = 2.0) -> float:
    """Measured fp32 matmul throughput of this machine, now (the roofline for ratios)."""
    import torch

    a, w = torch.randn(rows, width), torch.randn(width, width)
    out = torch.empty(rows, width)
    torch.mm(a, w, out=out)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.mm(a, w, out=out)
        n += 1
    return 2.0 * rows * width * width * n / (time.perf_counter() - start) / 1e9


def save(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def plot_path(name: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS / f"{name}.png"


def table(rows: list[dict], columns: list[str]) -> str:
    """A markdown table (so it can be pasted into README)."""
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        out.append("| " + " | ".join(_fmt(r.get(c, "")) for c in columns) + " |")
    return "\n".join(out)


def _fmt(v) -> str:
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def grouped_bars(name: str, groups: list[str], series: dict[str, list[float]], *, ylabel: str, bottom: float) -> Path:
    """A grouped bar chart (one bar per series in each group) written to results/NAME.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series.items()):
        ax.bar([j + i * width for j in range(len(groups))], values, width, label=label)
    ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(groups))], groups)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=bottom)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    path = plot_path(name)
    fig.savefig(path, dpi=120)
    return path
