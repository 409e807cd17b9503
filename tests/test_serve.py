"""vinr serve without a browser: only files inside its folder, isolation headers, loopback, clean Ctrl-C."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from webtools import Served, ort_web_folder


def fake_player(tmp_path: Path) -> Path:
    folder = tmp_path / "player"
    (folder / "sub").mkdir(parents=True)
    for name in ("index.html", "vinr.js", "player.js", "style.css", "card.json", "model.onnx"):
        (folder / name).write_text(name)
    (folder / "ort-wasm-simd-threaded.wasm").write_bytes(b"\0asm")
    (folder / "ort-wasm-simd-threaded.mjs").write_text("export {}")
    (folder / "sub" / "inner.txt").write_text("inner")
    (tmp_path / "secret.txt").write_text("SECRET")
    (folder / "link-out").symlink_to(tmp_path / "secret.txt")
    (folder / "dir-out").symlink_to(tmp_path)
    return folder


@pytest.mark.timeout(60)
def test_serve_answers_only_files_inside_its_folder(tmp_path):
    server = Served(fake_player(tmp_path))
    try:
        status, headers, body = server.get("/")
        assert status == 200 and body == b"index.html"
        assert headers["cross-origin-opener-policy"] == "same-origin"
        assert headers["cross-origin-embedder-policy"] == "require-corp"
        assert headers["content-type"].startswith("text/html")
        assert server.get("/ort-wasm-simd-threaded.wasm")[1]["content-type"] == "application/wasm"
        assert server.get("/ort-wasm-simd-threaded.mjs")[1]["content-type"].startswith("text/javascript")
        assert server.get("/player.js?v=1")[1]["content-type"].startswith("text/javascript")
        assert server.get("/sub/inner.txt")[0] == 200
        for path in (
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E%2Fsecret.txt",
            "/..%2fsecret.txt",
            "/sub/../../secret.txt",
            "/sub/%2e%2e/%2e%2e/secret.txt",
            "/%252e%252e/secret.txt",
            "/..\\secret.txt",
            "/link-out",
            "/dir-out/secret.txt",
            "//etc/passwd",
            "/%2fetc%2fpasswd",
            "/etc/passwd",
            "/index.html%00.txt",
            "/%ff",
            "/sub/",
            "/sub",
            "/missing.js",
            "http://127.0.0.1/../secret.txt",
        ):
            status, _, body = server.get(path)
            assert status == 404 and b"SECRET" not in body, path
    finally:
        code, out, err = server.stop()
    assert code in (0, 130) and out.strip().splitlines()[-1] == "stopped" and err == "", (code, out, err)


def test_serve_listens_on_loopback_unless_told_and_refuses_a_bad_port(tmp_path):
    server = Served(fake_player(tmp_path))
    assert server.url.startswith("http://127.0.0.1:")
    server.stop()
    run = subprocess.run(
        [sys.executable, "-m", "vinr_zoo.cli", "serve", str(tmp_path / "player"), "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1 and run.stderr.strip() == "error: --port must be an integer in [0, 65535], got 70000"


@pytest.mark.timeout(300)
def test_serve_builds_a_model_into_a_temporary_folder_and_removes_it():
    server = Served(Path("carphone-tiny"), "--ort-web", str(ort_web_folder()))
    try:
        status, headers, body = server.get("/model.onnx")
        assert status == 200 and headers["content-type"] == "application/octet-stream" and len(body) > 1000
        assert server.get("/ort-wasm-simd-threaded.wasm")[0] == 200
        assert json.loads(server.get("/card.json")[2])["source"]["width"] == 88
    finally:
        code, out, err = server.stop()
    built = Path(re.search(r"serving (\S+) at", server.line).group(1))
    assert code == 0 and not built.exists() and not built.parent.exists(), (code, out, err)
