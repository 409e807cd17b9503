"""vinr export --web and vinr serve: the browser player renders what Python's onnxruntime renders.

Browser tests drive Debian's /usr/bin/chromium headless through Playwright (``executable_path``; nothing is
downloaded) against a real ``vinr serve`` subprocess on 127.0.0.1. onnxruntime-web comes from the cache or
``npm pack`` (vinr_zoo.webplayer). Missing chromium / playwright / npm skips those tests with the reason,
unless ``VINR_REQUIRE_BROWSER=1`` (CI), where they fail. ``VINR_SCREENSHOT=1`` saves docs/player.png.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from webtools import CHROMIUM_ARGS, Served, chromium_path, need, ort_web_folder

from vinr_zoo.contract import META_CONFIG
from vinr_zoo.coords import SpaceTimeGrid
from vinr_zoo.errors import VinrError
from vinr_zoo.export.onnx import build_onnx
from vinr_zoo.metrics import to_uint8
from vinr_zoo.models import load_model
from vinr_zoo.webplayer import ORT_WEB_SHA256, WEB_OPSET, export_web

ROOT = Path(__file__).resolve().parents[1]
MODEL = "carphone-w128"


# ---- fixtures -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ort_web() -> Path:
    return ort_web_folder()


@pytest.fixture(scope="module")
def player(ort_web, tmp_path_factory) -> Path:
    return export_web(MODEL, tmp_path_factory.mktemp("web") / "player", ort_web=ort_web).folder


@pytest.fixture(scope="module")
def served(player):
    server = Served(player)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need("playwright is not installed (pip install playwright)")
    exe = chromium_path()
    if exe is None:
        need("chromium is not installed (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="vinr-chromium-")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=exe, args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 760}
        )
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def page(browser, served):
    page = browser.new_page()
    page.goto(served.url + "?threads=2")
    assert page.evaluate("window.vinr.ready") == {"ok": True}, page.evaluate("window.vinr.error")
    yield page
    page.close()


# ---- Python's render of the same grid -----------------------------------------------------------------------
def python_frame(folder: Path, k: float, **grid_args) -> tuple[SpaceTimeGrid, np.ndarray]:
    import onnxruntime

    config = load_model(ROOT / "checkpoints" / MODEL).config
    s = config.source
    grid = SpaceTimeGrid.build(s.width, s.height, s.frames, time_range=(k, k), **grid_args)
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    rgb = session.run(["rgb"], {"coords": grid.frame_coords(0).numpy()})[0]
    return grid, to_uint8(rgb.reshape(grid.height, grid.width, 3))


def page_frame(page, **opts) -> np.ndarray:
    out = page.evaluate("opts => window.vinr.renderFrame(opts)", opts)
    rgb = np.frombuffer(base64.b64decode(out["rgb"]), dtype=np.uint8)
    return rgb.reshape(out["height"], out["width"], 3)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "opts",
    [
        {"scale_s": 1.37, "k": 3.5},  # non-integer scale and a between-frames instant
        {"scale_s": 2.6, "k": 7.0, "roi": [30.5, 20.25, 64.3, 48.7]},  # a zoomed region, fractional pixels
    ],
    ids=["scale-1.37", "roi"],
)
def test_the_page_renders_what_python_onnxruntime_renders(page, player, opts):
    grid_args = {"scale_s": opts["scale_s"], "roi": tuple(opts["roi"]) if "roi" in opts else None}
    grid, want = python_frame(player, opts["k"], **grid_args)
    axes = page.evaluate("opts => window.vinr.grid(opts)", opts)
    # The JS grid is bit-identical to SpaceTimeGrid's float32 axes.
    assert (axes["width"], axes["height"]) == (grid.width, grid.height)
    np.testing.assert_array_equal(np.float32(axes["xs"]), grid.xs().astype(np.float32))
    np.testing.assert_array_equal(np.float32(axes["ys"]), grid.ys().astype(np.float32))
    assert np.float32(axes["t"]) == grid.ts().astype(np.float32)[0]
    got = page_frame(page, **opts)
    assert got.shape == want.shape
    diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
    assert (diff <= 1).mean() >= 0.999, f"max diff {diff.max()}, {(diff > 1).mean():.4%} of values off by > 1"


@pytest.mark.timeout(600)
def test_every_embedded_zoo_model_opens_in_the_browser_and_matches_torch(browser, served, player):
    """The portability promise, per shipped file: each zoo model.onnx loads in onnxruntime-web and renders
    what the torch model renders (8-bit values within 1), at a non-integer scale between two frames."""
    from vinr_zoo import zoo
    from vinr_zoo.decode import render
    from vinr_zoo.runtimes.pyt import TorchBackend

    entries = zoo.list_zoo()
    assert len(entries) >= 10, "the embedded zoo is not installed"
    page = browser.new_page()
    try:
        for entry in entries:
            shutil.copyfile(entry.path / "model.onnx", player / f"zoo-{entry.name}.onnx")
            page.goto(served.url + f"?model=zoo-{entry.name}.onnx")
            assert page.evaluate("window.vinr.ready") == {"ok": True}, (entry.name, page.evaluate("window.vinr.error"))
            model = load_model(entry.path)
            s = model.config.source
            grid = SpaceTimeGrid.build(s.width, s.height, s.frames, scale_s=0.37, time_range=(1.5, 1.5))
            with TorchBackend(model) as backend:
                want = to_uint8(next(render(backend, grid)))
            got = page_frame(page, scale_s=0.37, k=1.5)
            assert got.shape == want.shape, entry.name
            diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
            assert (diff <= 1).mean() >= 0.999, f"{entry.name}: max diff {diff.max()}"
            assert want.std() > 5, entry.name  # a real picture
    finally:
        page.close()


@pytest.mark.timeout(300)
def test_the_motion_family_plays_in_the_browser_too(browser, served, player):
    """The player knows no family: a motion_mlp file (Floor, Clip, Slice, Concat besides MatMul/Add/Sin) renders
    in onnxruntime-web between two key instants as Python onnxruntime renders it."""
    import onnxruntime
    import torch

    from vinr_zoo.config import SourceVideo
    from vinr_zoo.models.motion import MotionMLP, MotionMLPConfig

    torch.manual_seed(0)
    config = MotionMLPConfig(
        hidden_features=32,
        hidden_layers=3,
        flow_features=8,
        flow_layers=2,
        key_frames=5,
        source=SourceVideo(48, 40, 5, 25.0, "synthetic.mp4"),
    )
    model = MotionMLP(config)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)  # a busier picture and visible flows than the near-zero initialisation gives
    (player / "motion.onnx").write_bytes(build_onnx(model).SerializeToString())
    page = browser.new_page()
    try:
        page.goto(served.url + "?model=motion.onnx")
        assert page.evaluate("window.vinr.ready") == {"ok": True}, page.evaluate("window.vinr.error")
        grid = SpaceTimeGrid.build(48, 40, 5, scale_s=1.7, time_range=(1.4, 1.4))
        session = onnxruntime.InferenceSession(str(player / "motion.onnx"), providers=["CPUExecutionProvider"])
        want = to_uint8(
            session.run(["rgb"], {"coords": grid.frame_coords(0).numpy()})[0].reshape(grid.height, grid.width, 3)
        )
        got = page_frame(page, scale_s=1.7, k=1.4)
        assert got.shape == want.shape and want.std() > 5
        diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
        assert (diff <= 1).mean() >= 0.999, f"max diff {diff.max()}"
    finally:
        page.close()


@pytest.mark.timeout(300)
def test_dragging_a_rectangle_zooms_and_the_page_shows_the_card(page, served):
    assert page.evaluate("crossOriginIsolated")
    card = page.locator("#card").inner_text()
    assert "176×144, 32 frames" in card and "29.970" in card and "50,435" in card and "29.449 dB" in card
    assert "WASM, 2 threads" in page.locator("#runtime").inner_text()
    page.fill("#scale-s", "1.5")
    page.dispatch_event("#scale-s", "change")
    page.wait_for_function("document.getElementById('out-size').textContent === '264×216'")
    box = page.locator("#stage").bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + 0.25 * w, y + 0.2 * h)
    page.mouse.down()
    page.mouse.move(x + 0.5 * w, y + 0.4 * h, steps=5)
    page.mouse.move(x + 0.75 * w, y + 0.7 * h, steps=5)
    page.mouse.up()
    page.wait_for_function("document.getElementById('roi-label').textContent !== 'whole frame'")
    label = page.locator("#roi-label").inner_text()
    rx, ry, rw, rh = (float(v) for v in re.findall(r"[\d.]+", label))
    assert abs(rx - 44) < 2 and abs(ry - 28.8) < 2 and abs(rw - 88) < 2 and abs(rh - 72) < 2, label
    page.wait_for_function("document.getElementById('ms').textContent !== '–'")
    if os.environ.get("VINR_SCREENSHOT") == "1":
        page.wait_for_timeout(300)
        page.screenshot(path=str(ROOT / "docs" / "player.png"))
    page.dblclick("#stage")
    page.wait_for_function("document.getElementById('roi-label').textContent === 'whole frame'")
    # scale_t 2.5 over 32 frames: floor(31 * 2.5) + 1 = 78 output frames; scrub to one, play, pause.
    page.fill("#scale-t", "2.5")
    page.dispatch_event("#scale-t", "change")
    assert page.locator("#scrub").get_attribute("max") == "77"
    page.evaluate(
        "s => { s.value = '10'; s.dispatchEvent(new Event('input')); }", page.locator("#scrub").element_handle()
    )
    page.wait_for_function("document.getElementById('frame-label').textContent.startsWith('frame 11/78 (t = 4.00)')")
    page.click("#play")
    page.wait_for_function("!document.getElementById('frame-label').textContent.startsWith('frame 11/')", timeout=60000)
    page.click("#play")
    assert page.locator("#play").inner_text() == "Play"


def _bad_models(folder: Path) -> dict[str, Path]:
    model = load_model(ROOT / "checkpoints" / "carphone-tiny")
    renamed = build_onnx(model, opset=WEB_OPSET)
    renamed.graph.input[0].name = "x"
    for node in renamed.graph.node:
        node.input[:] = ["x" if i == "coords" else i for i in node.input]
    bare = build_onnx(model, opset=WEB_OPSET)
    kept = [p for p in bare.metadata_props if p.key != META_CONFIG]
    del bare.metadata_props[:]
    bare.metadata_props.extend(kept)
    paths = {"renamed": folder / "renamed.onnx", "bare": folder / "bare.onnx", "junk": folder / "junk.onnx"}
    paths["renamed"].write_bytes(renamed.SerializeToString())
    paths["bare"].write_bytes(bare.SerializeToString())
    paths["junk"].write_bytes(b"\xff" * 64)
    return paths


@pytest.mark.timeout(300)
def test_a_file_that_breaks_the_contract_gets_one_message_on_the_page(page, tmp_path):
    bad = _bad_models(tmp_path)
    expected = {
        "renamed": "renamed.onnx does not follow the ONNX contract: input is named 'x', expected 'coords'",
        "bare": f"bare.onnx has no {META_CONFIG} entry in metadata_props",
        "junk": "junk.onnx is not an ONNX model",
    }
    for key, path in bad.items():
        page.set_input_files("#file", str(path))
        page.wait_for_function("window.vinr.error !== null")
        message = page.locator("#error").inner_text()
        assert expected[key] in message and "\n" not in message, message
        assert page.locator("#error").is_visible()
        page.evaluate("window.vinr.error = null")
    # The good model is still there and renders.
    assert page_frame(page, scale_s=0.5, k=0).shape == (72, 88, 3)


# ---- the export -----------------------------------------------------------------------------------------------
@pytest.mark.timeout(300)
def test_export_web_writes_a_self_contained_folder(ort_web, tmp_path):
    out = tmp_path / "web"
    run = subprocess.run(
        [sys.executable, "-m", "vinr_zoo.cli", "export", "carphone-tiny", "--web", str(out), "--ort-web", str(ort_web)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr
    assert "note:" not in run.stdout
    names = {p.name for p in out.iterdir()}
    assert {"index.html", "vinr.js", "player.js", "style.css", "card.json", "model.onnx", *ORT_WEB_SHA256} <= names
    card = json.loads((out / "card.json").read_text())
    config = load_model(ROOT / "checkpoints" / "carphone-tiny").config
    assert card["source"]["width"] == config.source.width and card["source"]["fps"] == config.source.fps
    assert card["parameters"] == config.num_params and card["psnr_rgb"] == config.training["final_psnr_rgb"]
    assert card["ort"]["local"] is True and card["opset"] == 17
    import onnx

    proto = onnx.load(str(out / "model.onnx"))
    assert proto.opset_import[0].version == 17 and proto.ir_version == 8
    again = subprocess.run(
        [sys.executable, "-m", "vinr_zoo.cli", "export", "carphone-tiny", "--web", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert again.returncode == 1 and "already exists (pass --overwrite" in again.stderr
    model_dir = tmp_path / "model"
    shutil.copytree(ROOT / "checkpoints" / "carphone-tiny", model_dir)
    with pytest.raises(VinrError, match="is not a player folder written by 'vinr export --web'; refusing"):
        export_web(model_dir, model_dir, ort_web=ort_web, overwrite=True)
    assert (model_dir / "model.safetensors").is_file()


def test_a_tampered_onnxruntime_web_file_is_refused(ort_web, tmp_path):
    copy = tmp_path / "ort"
    shutil.copytree(ort_web, copy)
    path = copy / "ort.wasm.min.js"
    path.write_bytes(path.read_bytes() + b"\n// tampered")
    with pytest.raises(VinrError, match=r"ort\.wasm\.min\.js has sha256 .* refusing to ship it"):
        export_web("carphone-tiny", tmp_path / "web", ort_web=copy)
    assert not (tmp_path / "web").exists()


def test_without_any_onnxruntime_web_the_page_uses_the_cdn(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "no-npm-here"))
    result = export_web("carphone-tiny", tmp_path / "web")
    assert result.ort_source == "cdn" and result.needs_network
    assert "needs the network" in result.note() and "\n" not in result.note()
    card = json.loads((tmp_path / "web" / "card.json").read_text())
    assert card["ort"]["local"] is False and card["ort"]["cdn"].startswith("https://")
    assert set(card["ort"]["integrity"]) >= set(ORT_WEB_SHA256)
    assert not any((tmp_path / "web" / name).exists() for name in ORT_WEB_SHA256)


class _CdnHandler(__import__("http.server").server.SimpleHTTPRequestHandler):
    """A stand-in for the public CDN on another port (another origin): CORS and cross-origin CORP headers."""

    extensions_map = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", "": "x/y"}

    def end_headers(self):
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cross-Origin-Resource-Policy", "cross-origin")
        super().end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.timeout(300)
def test_without_local_files_the_page_loads_onnxruntime_web_integrity_checked(browser, player, ort_web, tmp_path):
    import functools
    import threading
    from http.server import ThreadingHTTPServer

    cdn = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_CdnHandler, directory=str(ort_web)))
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    folder = tmp_path / "player"
    shutil.copytree(player, folder, ignore=shutil.ignore_patterns("ort*"))
    card = json.loads((folder / "card.json").read_text())
    card["ort"].update(local=False, webgpu_local=False, cdn=f"http://127.0.0.1:{cdn.server_address[1]}/")
    (folder / "card.json").write_text(json.dumps(card))
    server = Served(folder)
    page = browser.new_page()
    try:
        page.goto(server.url + "?threads=2")
        assert page.evaluate("window.vinr.ready") == {"ok": True}, page.evaluate("window.vinr.error")
        assert page.evaluate("window.vinr.info")["ortLocal"] is False
        _, want = python_frame(player, 2.0, scale_s=0.75)
        got = page_frame(page, scale_s=0.75, k=2.0)
        assert (np.abs(got.astype(np.int16) - want) <= 1).mean() >= 0.999
        # A file that does not match its pinned hash is refused by the browser.
        card["ort"]["integrity"]["ort.wasm.min.js"] = "sha384-" + "A" * 64
        (folder / "card.json").write_text(json.dumps(card))
        page.goto(server.url)
        assert page.evaluate("window.vinr.ready")["ok"] is False
        assert "could not load" in page.locator("#error").inner_text()
    finally:
        page.close()
        server.stop()
        cdn.shutdown()
        cdn.server_close()


def test_the_page_files_are_package_data_in_the_wheel():
    import tomllib

    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "vinr_zoo.web" in setup["packages"]
    patterns = setup["package-data"]["vinr_zoo.web"]
    files = [p for p in (ROOT / "vinr_zoo" / "web").iterdir() if p.is_file()]
    assert files and all(any(p.match(pat) for pat in patterns) for p in files), patterns
