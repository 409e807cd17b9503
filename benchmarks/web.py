"""Milliseconds per frame in the browser player (onnxruntime-web WASM, 1 and 2 threads) vs Python onnxruntime.

    .venv/bin/python benchmarks/web.py             # ≈ 4 min on the 2-vCPU dev machine
    .venv/bin/python benchmarks/web.py --repeats 3 # quicker

Same machine, same model.onnx (the player folder's, opset 17), same output grid: zoo models carphone-w128
and carphone-w256 at 176x144 (scale_s 1) and 352x288 (scale_s 2), frame instant 7.5. The browser is Debian's
headless Chromium driven by Playwright; its time is ``window.vinr.renderFrame``'s (coordinates, every
``session.run`` of 131,072-row chunks, the 8-bit mapping). Python's is the same work: SpaceTimeGrid frame
coordinates, one ``InferenceSession.run`` with ``intra_op_num_threads`` = the browser's thread count, and
`to_uint8`. Medians of ``--repeats`` timed frames after two warm-up frames; each (model, size) is measured
browser 1 thread, browser 2 threads, Python 1, Python 2 one after the other, so a neighbour process slowing
the shared machine down hits them alike. Ratio = browser ms / Python ms at the same thread count;
``browser_Nt_run_ms`` is the browser's ``session.run`` time alone (the rest is JS coordinates and 8-bit mapping).
Writes ``benchmarks/results/web.json`` and ``web.png``.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _common import machine, plot_path, save, table

from vinr_zoo.coords import SpaceTimeGrid
from vinr_zoo.metrics import to_uint8
from vinr_zoo.serve import ServeOptions, open_player_server
from vinr_zoo.webplayer import ORT_WEB_VERSION, export_web, locate_ort_web

MODELS = ("carphone-w128", "carphone-w256")
SCALES = (1.0, 2.0)  # 176x144 and 352x288 from the 176x144 source
K = 7.5
THREADS = (1, 2)
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]


def python_ms(onnx_path: Path, source: dict, scale_s: float, threads: int, repeats: int) -> float:
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    grid = SpaceTimeGrid.build(source["width"], source["height"], source["frames"], scale_s=scale_s, time_range=(K, K))
    times = []
    for i in range(repeats + 2):
        start = time.perf_counter()
        coords = grid.frame_coords(0).numpy()
        rgb = session.run(["rgb"], {"coords": coords})[0]
        to_uint8(rgb.reshape(grid.height, grid.width, 3))
        if i >= 2:
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def browser_ms(context, url: str, scale_s: float, threads: int, repeats: int) -> tuple[float, dict]:
    page = context.new_page()
    try:
        page.goto(f"{url}?threads={threads}")
        ready = page.evaluate("window.vinr.ready")
        if not ready.get("ok"):
            raise SystemExit(f"the player failed: {ready}")
        info = page.evaluate("window.vinr.info")
        times, runs = [], []
        for i in range(repeats + 2):
            out = page.evaluate("o => window.vinr.renderFrame(o)", {"scale_s": scale_s, "k": K})
            if i >= 2:
                times.append(out["ms"])
                runs.append(out["run_ms"])
        base64.b64decode(out["rgb"])  # the pixels came back
        info["run_ms"] = statistics.median(runs)
        return statistics.median(times), info
    finally:
        page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sys.exit("needs playwright (pip install playwright) and chromium (apt-get install chromium)")
    chromium = shutil.which("chromium")
    ort_dir, _ = locate_ort_web()
    if chromium is None or ort_dir is None:
        sys.exit("needs /usr/bin/chromium and onnxruntime-web (npm, or the cache)")

    rows, work = [], Path(tempfile.mkdtemp(prefix="vinr-bench-web-"))
    profile = work / "chromium-profile"
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(str(profile), executable_path=chromium, args=CHROMIUM_ARGS)
            for name in MODELS:
                built = export_web(name, work / name, ort_web=ort_dir)
                folder, card = built.folder, built.card
                server = open_player_server(folder, ServeOptions(port=0))
                thread = threading.Thread(target=server.serve_forever, daemon=True)
                thread.start()
                try:
                    for scale_s in SCALES:
                        s = card["source"]
                        size = f"{round(s['width'] * scale_s)}x{round(s['height'] * scale_s)}"
                        row = {"model": name, "size": size, "params": card["parameters"]}
                        for n in THREADS:
                            row[f"browser_{n}t_ms"], info = browser_ms(context, server.url, scale_s, n, args.repeats)
                            assert info["threads"] == n and info["crossOriginIsolated"], info
                            row[f"browser_{n}t_run_ms"] = info["run_ms"]  # session.run alone
                        for n in THREADS:
                            row[f"python_{n}t_ms"] = python_ms(folder / "model.onnx", s, scale_s, n, args.repeats)
                        for n in THREADS:
                            row[f"ratio_{n}t"] = row[f"browser_{n}t_ms"] / row[f"python_{n}t_ms"]
                        rows.append(row)
                        print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
                finally:
                    server.shutdown()
                    server.server_close()
            version = context.browser.version if context.browser else "unknown"
            context.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    import onnxruntime

    kinds = (("browser", "_ms"), ("browser", "_run_ms"), ("python", "_ms"), ("ratio", ""))
    columns = ["model", "size"] + [f"{c}_{n}t{u}" for n in THREADS for c, u in kinds]
    print(table(rows, columns))
    payload = {
        "machine": {**machine(), "load_average": list(os.getloadavg())},
        "chromium": version,
        "onnxruntime_web": ORT_WEB_VERSION,
        "onnxruntime": onnxruntime.__version__,
        "frame_instant": K,
        "repeats": args.repeats,
        "rows": rows,
    }
    print(f"wrote {save('web', payload)} and {plot(rows)}")


def plot(rows: list[dict]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [f"{r['model'].removeprefix('carphone-')}\n{r['size']}" for r in rows]
    series = {
        "browser WASM 1 thread": [r["browser_1t_ms"] for r in rows],
        "browser WASM 2 threads": [r["browser_2t_ms"] for r in rows],
        "Python ORT 1 thread": [r["python_1t_ms"] for r in rows],
        "Python ORT 2 threads": [r["python_2t_ms"] for r in rows],
    }
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series.items()):
        ax.bar(np.arange(len(groups)) + i * width, values, width, label=label)
    ax.set_xticks(np.arange(len(groups)) + width * (len(series) - 1) / 2, groups)
    ax.set_ylabel("ms per frame (lower is better)")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    path = plot_path("web")
    fig.savefig(path, dpi=120)
    return path


if __name__ == "__main__":
    main()
