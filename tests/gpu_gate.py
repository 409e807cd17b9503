"""Under ``-m gpu`` a GPU test that skips is a failure: a GPU run must not pass by testing nothing.

On a development machine without tensorrt or CUDA the ``gpu`` tests skip, as they should. When the marker
expression selects them (``pytest -m gpu``, ``-m "gpu and not slow"``, ...) the run was meant to exercise
the GPU, so a skip (a ``skipif`` that found no tensorrt or GPU, or a ``pytest.skip`` inside the test) is
reported as a failure that names the reason. tests/conftest.py imports the hook; tests/test_gpu_gate.py
runs it in a child pytest.
"""

from __future__ import annotations

import re

import pytest


def selected_by_gpu(markexpr: str, marks) -> bool:
    """Whether ``markexpr`` (the ``-m`` expression) selects an item with ``marks`` only because it is ``gpu``.

    True when the item is selected with its marks, and would not be without the ``gpu`` mark: ``-m gpu`` and
    ``-m "gpu and slow"`` select gpu tests explicitly; ``-m "not slow"`` or no ``-m`` at all do not.
    """
    marks = list(marks)
    if not markexpr or not any(m.name == "gpu" for m in marks):
        return False
    try:
        from _pytest.mark import MarkMatcher
        from _pytest.mark.expression import Expression
    except ImportError:  # pragma: no cover - pytest moved its private helpers: fall back to the plain word
        return re.search(r"(?<!not )\bgpu\b", markexpr) is not None
    expr = Expression.compile(markexpr)
    with_gpu = expr.evaluate(MarkMatcher.from_markers(marks))
    without_gpu = expr.evaluate(MarkMatcher.from_markers([m for m in marks if m.name != "gpu"]))
    return with_gpu and not without_gpu


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.skipped and not hasattr(report, "wasxfail"):
        markexpr = item.config.getoption("markexpr", "") or ""
        if selected_by_gpu(markexpr, item.iter_markers()):
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            report.outcome = "failed"
            report.longrepr = (
                f"{item.nodeid}: -m {markexpr!r} selected this gpu test, but it skipped "
                f"({reason}); a GPU run needs tensorrt and a CUDA GPU, it must not skip them"
            )
    return report
