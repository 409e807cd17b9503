"""Do the embedded zoo's model.onnx files open, and compute the torch model's function, on other runtimes?

Checked here: the installed onnxruntime, onnx.reference (pure numpy), and an older onnxruntime (default
1.17.3, the last release for numpy < 2) in a side virtual environment this script creates with pip.
The browser runtime (onnxruntime-web) is covered by tests/test_web.py.

    python benchmarks/onnx_compat.py [--old-ort 1.17.3] [--venv .venv-ort-old]

Prints a table and writes benchmarks/results/onnx_compat.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch

from vinr_zoo import zoo
from vinr_zoo.export.validate import reference_evaluator_outputs, reference_outputs
from vinr_zoo.sources import resolve_source

RESULTS = Path(__file__).parent / "results"
OLD_RUNNER = """
import json, sys
import numpy as np, onnxruntime as ort
out = {"version": ort.__version__}
for name, path, coords in json.loads(open(sys.argv[1]).read()):
    try:
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        got = sess.run(None, {"coords": np.load(coords)})[0]
        np.save(coords + ".out.npy", got)
        out[name] = "ok"
    except Exception as exc:
        out[name] = "error: " + str(exc).splitlines()[0][:200]
print(json.dumps(out))
"""


def old_runtime(venv: Path, version: str) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", f"onnxruntime=={version}", "numpy<2"], check=True)
    return python


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-ort", default="1.17.3")
    ap.add_argument("--venv", type=Path, default=Path(".venv-ort-old"))
    args = ap.parse_args()
    python = old_runtime(args.venv, args.old_ort)
    gen = torch.Generator().manual_seed(0)
    rows, jobs, expected = [], [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for entry in zoo.list_zoo():
            src = resolve_source(entry.name)
            coords = torch.rand(4096, 3, generator=gen) * 2 - 1
            ref = reference_outputs(src.model, coords).numpy()
            file = Path(tmp) / f"{entry.name}.npy"
            np.save(file, coords.numpy())
            jobs.append((entry.name, str(src.onnx_path), str(file)))
            proto = onnx.load(str(src.onnx_path))
            sess = onnxruntime.InferenceSession(str(src.onnx_path), providers=["CPUExecutionProvider"])
            cur = np.abs(sess.run(None, {"coords": coords.numpy()})[0] - ref).max()
            refev = np.abs(reference_evaluator_outputs(src.onnx_path, coords.numpy()) - ref).max()
            expected[entry.name] = (ref, file)
            rows.append(
                {
                    "model": entry.name,
                    "opset": proto.opset_import[0].version,
                    "ir": proto.ir_version,
                    f"onnxruntime {onnxruntime.__version__}": float(cur),
                    "onnx.reference": float(refev),
                }
            )
        job_file = Path(tmp) / "jobs.json"
        job_file.write_text(json.dumps(jobs))
        runner = Path(tmp) / "runner.py"
        runner.write_text(OLD_RUNNER)
        done = json.loads(
            subprocess.run([str(python), str(runner), str(job_file)], check=True, capture_output=True, text=True).stdout
        )
        old = f"onnxruntime {done['version']}"
        for row in rows:
            status = done[row["model"]]
            ref, file = expected[row["model"]]
            row[old] = float(np.abs(np.load(str(file) + ".out.npy") - ref).max()) if status == "ok" else status
    keys = list(rows[0])
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(f"{row[k]:.2e}" if isinstance(row[k], float) else str(row[k]) for k in keys))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "onnx_compat.json").write_text(json.dumps({"max_abs_vs_torch": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
