"""tests/gpu_gate.py: under ``-m gpu`` a gpu test that skips fails; otherwise it skips as usual."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from gpu_gate import selected_by_gpu

CHILD_TESTS = """
import pytest

@pytest.mark.gpu
@pytest.mark.skipif(True, reason="needs tensorrt and a CUDA GPU")
def test_gpu_skipif():
    pass

@pytest.mark.gpu
def test_gpu_skip_inside():
    pytest.skip("no GPU here")

@pytest.mark.gpu
def test_gpu_runs():
    pass

@pytest.mark.skipif(True, reason="not a gpu test")
def test_plain_skip():
    pass
"""


@pytest.mark.parametrize(
    "markexpr,marks,selected",
    [
        ("gpu", ["gpu"], True),
        ("gpu", ["gpu", "skipif"], True),
        ("gpu and not slow", ["gpu"], True),
        ("gpu or slow", ["gpu"], True),
        ("gpu or slow", ["gpu", "slow"], False),  # selected as slow as well: not only for the GPU
        ("not slow", ["gpu"], False),
        ("not gpu", ["gpu"], False),
        ("", ["gpu"], False),
        ("gpu", ["slow"], False),
    ],
)
def test_selected_by_gpu(markexpr, marks, selected):
    assert selected_by_gpu(markexpr, [getattr(pytest.mark, m).mark for m in marks]) is selected


def run_child(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text(Path(__file__).with_name("gpu_gate.py").read_text())
    (tmp_path / "test_child.py").write_text(CHILD_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    gpu: needs a CUDA GPU\n    slow: slow\n")
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", *args, str(tmp_path)]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_with_m_gpu_a_skipping_gpu_test_fails(tmp_path):
    proc = run_child(tmp_path, "-m", "gpu")
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "ERROR test_child.py::test_gpu_skipif" in out  # skipped at setup (skipif): now an error there
    assert "FAILED test_child.py::test_gpu_skip_inside" in out
    assert "PASSED test_child.py::test_gpu_runs" in out and "test_plain_skip" not in out.split("short test summary")[-1]
    assert "selected this gpu test, but it skipped" in out and "needs tensorrt and a CUDA GPU" in out
    assert "SKIPPED" not in out


@pytest.mark.parametrize("args", [(), ("-m", "not slow")])
def test_without_selecting_gpu_they_skip(tmp_path, args):
    proc = run_child(tmp_path, *args)
    assert proc.returncode == 0, proc.stdout
    assert "1 passed, 3 skipped" in proc.stdout
