"""The package's import structure: the layer contract holds, and no import cycle exists anywhere.

lint-imports (the contract in pyproject.toml) checks the direction between layers; this also checks
inside layers and subpackages, and that the check itself can fail.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _cycles(package: str) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), imports inside functions included."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=True)
    modules = sorted(graph.modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.find_modules_directly_imported_by(v)):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for m in modules:
        if m not in index:
            visit(m)
    return found


def test_no_import_cycle_anywhere_in_the_package():
    assert _cycles("vinr_zoo") == []


def test_nothing_inside_the_package_imports_the_facade():
    graph = grimp.build_graph("vinr_zoo", exclude_type_checking_imports=True)
    importers = sorted(graph.find_modules_that_directly_import("vinr_zoo"))
    assert importers == [], f"these modules import the facade vinr_zoo/__init__.py: {importers}"


@pytest.mark.skipif(not LINT.exists(), reason="lint-imports is not installed (the dev extra brings it)")
def test_the_layer_contract_holds_and_a_back_import_breaks_it(tmp_path):
    ok = subprocess.run([str(LINT)], cwd=ROOT, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 kept, 0 broken" in ok.stdout
    # The same contract over a copy of the package where a runtime imports the exporter, inside a function.
    shutil.copytree(ROOT / "vinr_zoo", tmp_path / "vinr_zoo", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    ort = tmp_path / "vinr_zoo" / "runtimes" / "ort.py"
    ort.write_text(ort.read_text() + "\n\ndef _back():\n    from vinr_zoo.export import onnx  # noqa: F401\n")
    env = {"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(tmp_path)}
    broken = subprocess.run([str(LINT)], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "vinr_zoo.runtimes.ort -> vinr_zoo.export.onnx" in broken.stdout
