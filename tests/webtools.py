"""Helpers of the web player tests (tests/test_web.py, tests/test_serve.py): skip-or-fail, Chromium, vinr serve."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from vinr_zoo.webplayer import locate_ort_web

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


def need(reason: str):
    """Skip with ``reason``; under VINR_REQUIRE_BROWSER=1 fail instead (CI must run these)."""
    if os.environ.get("VINR_REQUIRE_BROWSER") == "1":
        pytest.fail(f"VINR_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def ort_web_folder() -> Path:
    """A folder with onnxruntime-web's pinned files: the cache, filled by ``npm pack`` when needed."""
    folder, _ = locate_ort_web()
    if folder is None:
        need("onnxruntime-web is not cached and 'npm pack onnxruntime-web' failed or npm is missing")
    return folder


class Served:
    def __init__(self, folder: Path, *extra: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vinr_zoo.cli", "serve", str(folder), "--port", "0", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.line = line = self.proc.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:(\d+)/)", line)
        if not match:
            self.proc.kill()
            raise AssertionError(f"no URL from vinr serve: {line!r} {self.proc.stderr.read()!r}")
        self.url, self.port = match.group(1), int(match.group(2))

    def get(self, path: str) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.putrequest("GET", path, skip_host=False, skip_accept_encoding=True)  # the raw path, unnormalised
        conn.endheaders()
        r = conn.getresponse()
        body = r.read()
        conn.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body

    def stop(self) -> tuple[int, str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, out, err
