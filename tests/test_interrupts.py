"""Nothing half-written: a real ``vinr`` process stopped mid-write leaves nothing at its target.

Ctrl-C (SIGINT) and SIGTERM: the temporary file is removed, ``interrupted`` is the last stderr line, exit 130.
SIGKILL cannot be caught: a stale ``.NAME.*.tmp`` sibling may stay, but the target name never holds a partial
file. An interrupted fit keeps its last checkpoint, and ``--resume`` finishes bit-exactly like a run that was
never stopped (CPU).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from vinr_zoo.fit import CHECKPOINT_NAME
from vinr_zoo.zoo import get_entry

# One thread each: these tests must not compete with whatever else runs on the machine.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# 300 steps: long enough (~1 s) that a signal sent at the first checkpoint lands mid-fit.
STEPS = 300
FIT = [
    "fit",
    "sample:carphone",
    "--frames",
    "4",
    "--size",
    "44x36",
    "--width",
    "16",
    "--depth",
    "2",
    "--batch-size",
    "2048",
    "--checkpoint-every",
    "5",
    "--steps",
    str(STEPS),
    "--seed",
    "3",
    "-q",
]
# A render that takes far longer than the test waits (704x576, 113 frames): it is always stopped mid-way.
BIG_DECODE = ["--scale-s", "8", "--scale-t", "16", "-q"]


def vinr(*args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vinr_zoo.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        start_new_session=True,
    )


def run_vinr(*args) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "vinr_zoo.cli", *map(str, args)], capture_output=True, text=True, env=ENV, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def in_process(*args):
    from typer.testing import CliRunner

    from vinr_zoo.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def wait_until(proc: subprocess.Popen, ready, what: str, timeout: float = 120) -> None:
    """Poll ``ready()`` every few ms; fail if the process ends (or time runs out) first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"vinr exited ({proc.returncode}) before {what}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no {what} after {timeout} s")
        time.sleep(0.005)


def stop(proc: subprocess.Popen, sig: int) -> tuple[int, str]:
    assert proc.poll() is None, "the process finished before it could be interrupted"
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, err


def temps(folder: Path, target: Path) -> list[str]:
    """Temporary siblings of ``target`` (``.NAME.*`` or ``.STEM.*``)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith((f".{target.name}.", f".{target.stem}.")))


def assert_interrupted_cleanly(code: int, err: str) -> None:
    assert code == 130, err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == "interrupted", err


# ---- decode -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sig,name",
    [
        (signal.SIGINT, "out.npy"),
        (signal.SIGINT, "out.mp4"),
        (signal.SIGINT, "frames"),
        (signal.SIGTERM, "out.mkv"),
        (signal.SIGKILL, "out.npy"),
        (signal.SIGKILL, "frames"),
    ],
    ids=["sigint-npy", "sigint-mp4", "sigint-png", "sigterm-mkv", "sigkill-npy", "sigkill-png"],
)
def test_a_stopped_decode_leaves_nothing_at_the_target(tmp_path, sig, name):
    target = tmp_path / name
    proc = vinr("decode", get_entry("carphone-tiny").path, "-o", target, *BIG_DECODE)
    wait_until(proc, lambda: temps(tmp_path, target), "a temporary output file")
    if name == "frames":  # a PNG folder: wait for frames to land in the temporary folder
        wait_until(proc, lambda: any(p.is_dir() and any(p.iterdir()) for p in tmp_path.iterdir()), "a first frame")
    else:
        time.sleep(0.3)  # some frames into the render
    code, err = stop(proc, sig)
    assert not target.exists(), f"{target} exists after {signal.Signals(sig).name}"
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
        # The stale temp (if any) carries another name and does not block the next run.
        rerun = in_process("decode", get_entry("carphone-tiny").path, "-o", target, "--frames", "1", "-q")
        assert rerun.exit_code == 0, rerun.output
        assert target.exists()
    else:
        assert_interrupted_cleanly(code, err)
        assert temps(tmp_path, target) == [], "the temporary file was not removed"
        assert list(tmp_path.iterdir()) == []


# ---- fit + resume --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference_fit(tmp_path_factory) -> dict[str, torch.Tensor]:
    """The same fit, never interrupted."""
    out = tmp_path_factory.mktemp("fit") / "straight"
    run_vinr(*FIT, "-o", out)
    assert not (out / CHECKPOINT_NAME).exists()  # a finished model directory holds no checkpoint
    return load_file(str(out / "model.safetensors"))


def checkpoint_step(path: Path) -> int:
    load_file(str(path))  # complete and readable
    with safe_open(str(path), framework="pt") as f:
        return int(f.metadata()["step"])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_an_interrupted_fit_resumes_to_the_same_model(tmp_path, reference_fit, sig):
    out = tmp_path / "m"
    ckpt = out / CHECKPOINT_NAME
    proc = vinr(*FIT, "-o", out)
    wait_until(proc, ckpt.is_file, "a first checkpoint")
    code, err = stop(proc, sig)

    for name in ("model.safetensors", "config.json", "README.md"):
        assert not (out / name).exists(), f"{name} written by an unfinished fit"
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:
        assert_interrupted_cleanly(code, err)
        assert len(err.splitlines()) == 2  # the "fitting ..." banner, then "interrupted"
        assert temps(out, ckpt) == [], "an interrupted checkpoint write left its temporary file"
        assert [p.name for p in out.iterdir()] == [CHECKPOINT_NAME]
    step = checkpoint_step(ckpt)
    assert 0 < step < STEPS and step % 5 == 0

    # Without --resume the checkpoint is protected; with it the fit continues from `step`.
    refused = in_process(*FIT, "-o", out)
    assert refused.exit_code == 1 and "--resume" in refused.stderr
    resumed = run_vinr(*FIT, "--resume", "-o", out)
    assert f"steps {STEPS}" in resumed.stdout
    assert not ckpt.exists() and temps(out, ckpt) == []
    got = load_file(str(out / "model.safetensors"))
    assert got.keys() == reference_fit.keys()
    for key, tensor in reference_fit.items():
        assert torch.equal(got[key], tensor), f"{key} differs from the uninterrupted fit (resumed from step {step})"
    assert np.isfinite(sum(float(t.abs().sum()) for t in got.values()))
