"""Shared test setup.

huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_DISABLE_XET once, when it is first imported, so
pytest_configure points them at a local Hub look-alike (tests/fakes/hub_server.py, on 127.0.0.1) and a
throw-away cache before any test module can import it. The server itself starts on first use; the ``hub``
fixture fails any test during which the server got a request it has no route for.

``fake_trt``: a fake ``tensorrt`` module (tests/fakes/fake_tensorrt.py) and GPU for the TensorRT tests.

Under ``-m gpu``, a gpu test that skips fails instead (tests/gpu_gate.py).

Test doubles live in tests/fakes/ and are imported as ``fakes.*``, like tests/clips.py as ``clips``: pytest's
default ``prepend`` import mode puts tests/ (not a package) on sys.path before it imports this file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from gpu_gate import pytest_runtest_makereport  # noqa: F401 - a hook: pytest finds it by name here
from hypothesis import settings

# CI (CI=true) replays the same property-test examples on every run, so a submission cannot pass or fail by
# chance; local runs keep exploring new examples (and remember failures in .hypothesis/).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

HUB_TOKENS = {"alice": "hf_test_alice_write_0001", "bob": "hf_test_bob_write_0002"}
_session: dict = {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pytest_configure(config):
    if "huggingface_hub" in sys.modules:
        raise pytest.UsageError("huggingface_hub was imported before tests/conftest.py could point it at the test Hub")
    port = _free_port()
    home = tempfile.mkdtemp(prefix="vinr-test-hf-home-")
    _session.update(port=port, home=home)
    os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{port}"
    os.environ["HF_HOME"] = home
    os.environ["HF_HUB_DISABLE_XET"] = "1"  # uploads go through the LFS protocol; the test Hub has no Xet backend
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    for var in (
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "HF_HUB_CACHE",
        "HUGGINGFACE_HUB_CACHE",
        "HF_TOKEN_PATH",
    ):
        os.environ.pop(var, None)
    # Requests to the test Hub must never go through a proxy configured for the machine.
    no_proxy = [v for v in os.environ.get("NO_PROXY", "").split(",") if v]
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = ",".join(no_proxy + ["127.0.0.1", "localhost"])


def pytest_unconfigure(config):
    if _session.get("home"):
        shutil.rmtree(_session["home"], ignore_errors=True)


@dataclass
class HubServer:
    endpoint: str
    tokens: dict[str, str]
    log: Path


def _take_unhandled(endpoint: str) -> list[str]:
    """The requests the test Hub had no route for since the last call (the server forgets them)."""
    request = urllib.request.Request(f"{endpoint}/__test/unhandled", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(scope="session")
def _hub_server(tmp_path_factory) -> HubServer:
    """The test Hub (tests/fakes/hub_server.py) in a subprocess on the port HF_ENDPOINT names."""
    import huggingface_hub.constants as constants

    endpoint = f"http://127.0.0.1:{_session['port']}"
    assert constants.ENDPOINT == endpoint, f"huggingface_hub talks to {constants.ENDPOINT}, not the test Hub"
    assert constants.HF_HUB_DISABLE_XET and constants.HF_HOME == _session["home"]
    log = tmp_path_factory.mktemp("hub") / "server.log"
    args = [sys.executable, str(Path(__file__).parent / "fakes" / "hub_server.py"), "--port", str(_session["port"])]
    args += [f"--token={user}={token}" for user, token in HUB_TOKENS.items()]
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the test Hub exited ({proc.returncode}): {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{endpoint}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the test Hub did not answer within 30 s: {log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        yield HubServer(endpoint, dict(HUB_TOKENS), log)
        if proc.poll() is None:  # requests made after the last test's check (a child process still running)
            late = _take_unhandled(endpoint)
            assert not late, f"the test Hub has no route for {', '.join(late)} (see {log})"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def hub(_hub_server: HubServer) -> HubServer:
    """The test Hub; the test fails if the Hub was asked for a route it does not implement meanwhile."""
    yield _hub_server
    unhandled = _take_unhandled(_hub_server.endpoint)
    assert not unhandled, (
        f"the test Hub has no route for {', '.join(unhandled)}: a huggingface_hub call that tests/fakes/hub_server.py "
        "does not implement (add the route, or change the call)"
    )


@pytest.fixture()
def fake_trt(monkeypatch, tmp_path):
    """A fake tensorrt module and GPU; buffers stay on the CPU; caches go to a temporary folder."""
    from fakes.fake_tensorrt import fake_gpu, make_fake_trt

    from vinr_zoo.runtimes.trt import TrtBackend

    trt = make_fake_trt()
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    fake_gpu(monkeypatch)
    monkeypatch.setattr(TrtBackend, "buffer_device_type", "cpu")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return trt
