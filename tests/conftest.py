"""Shared test setup.

huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_DISABLE_XET once, when it is first imported, so
pytest_configure points them at a local Hub look-alike (tests/hub_server.py, on 127.0.0.1) and a throw-away
cache before any test module can import it. The server itself starts on first use (fixture ``hub``).
"""

from __future__ import annotations

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
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE",
                "HUGGINGFACE_HUB_CACHE", "HF_TOKEN_PATH"):  # fmt: skip
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


@pytest.fixture(scope="session")
def hub(tmp_path_factory) -> HubServer:
    """The test Hub (tests/hub_server.py) in a subprocess on the port HF_ENDPOINT names."""
    import huggingface_hub.constants as constants

    endpoint = f"http://127.0.0.1:{_session['port']}"
    assert constants.ENDPOINT == endpoint, f"huggingface_hub talks to {constants.ENDPOINT}, not the test Hub"
    assert constants.HF_HUB_DISABLE_XET and constants.HF_HOME == _session["home"]
    log = tmp_path_factory.mktemp("hub") / "server.log"
    args = [sys.executable, str(Path(__file__).with_name("hub_server.py")), "--port", str(_session["port"])]
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
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
