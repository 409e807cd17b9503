#!/usr/bin/env bash
# The prepared GPU check (see benchmarks/gpu_check.py): one call on a lent GPU machine, well under 8 minutes.
#   here:  bash benchmarks/gpu_check.sh --prepare    (writes .gpu_check/, which git ignores; carry it)
#   there: bash benchmarks/gpu_check.sh              (writes $OUT/gpu_check.json and $OUT/gpu_check.log)
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [[ "${1:-}" == "--prepare" ]]; then
  PY=${PYTHON:-.venv/bin/python}
  mkdir -p .gpu_check
  "$PY" -c "from vinr_zoo.video import read_video, sample_clip; import numpy as np; np.save('.gpu_check/carphone32.npy', read_video(sample_clip('carphone'), frames=32).frames)"
  ls -l .gpu_check
  exit 0
fi
OUT=${OUT:-.}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout 450 python3 benchmarks/gpu_check.py --out "$OUT/gpu_check.json" "$@" 2>&1 | tee "$OUT/gpu_check.log"
