"""`export_web`: what ``vinr export MODEL --web DIR`` does — a self-contained static player folder.

The folder holds the page (``index.html``, ``player.js``, ``style.css``: package data in ``vinr_zoo/web``),
``model.onnx`` exported at opset 17 (IR 8, which onnxruntime-web opens), ``card.json`` (the model card
facts the page shows) and onnxruntime-web's WASM build, pinned below with its sha256.

onnxruntime-web is a third-party binary (14 MB of WASM), never kept in this repository. It comes from, in
order: ``ort_web`` (a folder holding the files), the cache ``$XDG_CACHE_HOME/vinr-zoo/onnxruntime-web/<version>``,
``npm pack onnxruntime-web@<version>`` when ``npm`` is on PATH (the files are extracted into the cache).
Every file is checked against `ORT_WEB_SHA256` before it is used. Where none works the page loads the same
version from a public CDN with subresource-integrity hashes (`ORT_WEB_SRI`), and then needs the network.

The WebGPU build (``ort.webgpu.min.js`` and its asyncify WASM, 27 MB) is optional: copied when the source
has it (the npm package and so the cache always do), else the page loads it from the CDN when asked for.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from vinr_zoo._atomic import atomic_dir, atomic_path, check_output
from vinr_zoo._system import cache_dir
from vinr_zoo.checksums import file_sha256, sha256_bytes
from vinr_zoo.contract import ONNX_NAME
from vinr_zoo.errors import OptionError, VinrError
from vinr_zoo.export.onnx import export_onnx
from vinr_zoo.sources import resolve_source

ORT_WEB_VERSION = "1.30.0"
# onnxruntime-web 1.30 opens opset <= 26 and IR <= 13; 17 (IR 8) is the contract's floor and works everywhere.
WEB_OPSET = 17
# sha256 of the files of the npm package onnxruntime-web@1.30.0 (dist/); the export refuses anything else.
ORT_WEB_SHA256 = {
    "ort.wasm.min.js": "faece07e84faa9001f5104bbe4e5c70861d06cb2376a0dea1fa0ad33a67adc81",
    "ort-wasm-simd-threaded.mjs": "e13f7f94fc51b4ca72b12faeb1ee95f4ace6dfbc8939bc718aabdc0a27c4299b",
    "ort-wasm-simd-threaded.wasm": "3398c10d07d229bd91b364548e130e0e51a8e5704b88c7c083ebbeb78842dee2",
}
ORT_WEBGPU_SHA256 = {
    "ort.webgpu.min.js": "7d65dad7eb4564ad98db9924a259af2e2c68ebfbdbf254fa5d728f1c5736e07a",
    "ort-wasm-simd-threaded.asyncify.mjs": "3d1c85995364bb643302fc6fd877a0c3ba5ae72401815e0f24828a53d9191e28",
    "ort-wasm-simd-threaded.asyncify.wasm": "39f9f0894d478800487ed9f7dbe92618498db320cf55c8e3d89adff8dce658da",
}
# The same files' subresource-integrity hashes, for the CDN fallback (sha384, as browsers prefer).
ORT_WEB_SRI = {
    "ort.wasm.min.js": "sha384-Bw6URI+Gvoadw0do7/QrSHUC9D1vCYYK5OSqChFyhyV5mzPL4oe2rOAFljAnS8Sq",
    "ort-wasm-simd-threaded.mjs": "sha384-XcXA/MtAf0WpB8e023xQH9CM7RIjiugakT7x99DIwpFf7k56BIFFcAPerIF7FDad",
    "ort-wasm-simd-threaded.wasm": "sha384-vjBJ1z7qrhkTyYsNqKeF6c7N+nOJSU94czEo+tvZcu8G75JparGq9kB+kTnEUNVM",
    "ort.webgpu.min.js": "sha384-6BOUZhMpgaXRZBIj89pTWET0c7xcMe1yHACreuaBy2kUZwLd2tzCmv7MzwZccHYH",
    "ort-wasm-simd-threaded.asyncify.mjs": "sha384-qViEcCGzsR/m8nlQwIsbYh7afN4thuraqFYDQY6huvmoLVoZq/eYawQ1wrv8nnhA",
    "ort-wasm-simd-threaded.asyncify.wasm": "sha384-EPVDLTxuO663dkZO/pcKJF6vOyyfq/5z9FY1oksN0UWFX2ABH4wDDZQHeNoUleWR",
}
ORT_WEB_CDN = f"https://cdn.jsdelivr.net/npm/onnxruntime-web@{ORT_WEB_VERSION}/dist/"
PAGE_FILES = ("index.html", "vinr.js", "player.js", "style.css")
CARD_FILE = "card.json"
NPM_TIMEOUT_S = 600


@dataclass
class WebExport:
    """What `export_web` wrote. ``ort_source``: ``"folder"``, ``"cache"``, ``"npm"`` or ``"cdn"``."""

    folder: Path
    ort_source: str
    card: dict
    webgpu_local: bool = False
    files: list[str] = field(default_factory=list)

    @property
    def needs_network(self) -> bool:
        return self.ort_source == "cdn"

    def note(self) -> str | None:
        """One line when the folder is not self-contained."""
        if not self.needs_network:
            return None
        return (
            f"onnxruntime-web {ORT_WEB_VERSION} not found locally (no --ort-web folder, no cache, npm failed or "
            f"missing): the page loads it from {ORT_WEB_CDN} (integrity-checked), so it needs the network"
        )


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/vinr-zoo/onnxruntime-web/<version>`` (default ``~/.cache``)."""
    return cache_dir("onnxruntime-web", ORT_WEB_VERSION)


def _verified(folder: Path, pins: dict[str, str], *, strict: bool) -> bool:
    """All of ``pins`` in ``folder`` with their sha256. ``strict``: a missing or different file raises."""
    for name, expected in pins.items():
        path = folder / name
        if not path.is_file():
            if strict:
                raise OptionError(
                    "ort_web", f"{folder} has no {name} (onnxruntime-web {ORT_WEB_VERSION}'s dist/ files)"
                )
            return False
        actual = file_sha256(path)
        if actual != expected:
            if strict:
                raise VinrError(
                    f"{path} has sha256 {actual[:16]}…, not onnxruntime-web {ORT_WEB_VERSION}'s {expected[:16]}…; "
                    "refusing to ship it"
                )
            return False
    return True


def _npm_into_cache(cache: Path) -> bool:
    """``npm pack onnxruntime-web@<version>``, then the pinned files (checked) into ``cache``. False on failure."""
    npm = shutil.which("npm")
    if npm is None:
        return False
    pins = {**ORT_WEB_SHA256, **ORT_WEBGPU_SHA256}
    with tempfile.TemporaryDirectory(prefix="vinr-ort-web-") as tmp:
        try:
            run = subprocess.run(
                [npm, "pack", f"onnxruntime-web@{ORT_WEB_VERSION}", "--pack-destination", tmp, "--silent"],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        tarballs = list(Path(tmp).glob("onnxruntime-web-*.tgz"))
        if run.returncode != 0 or len(tarballs) != 1:
            return False
        blobs = {}
        try:
            with tarfile.open(tarballs[0], "r:gz") as tar:
                for name in pins:  # read only the named members: nothing in the archive is extracted by path
                    member = tar.getmember(f"package/dist/{name}")
                    f = tar.extractfile(member) if member.isfile() else None
                    if f is None:
                        return False
                    blobs[name] = f.read()
        except (OSError, KeyError, tarfile.TarError):
            return False
    for name, data in blobs.items():
        if sha256_bytes(data) != pins[name]:
            raise VinrError(
                f"npm's onnxruntime-web@{ORT_WEB_VERSION} {name} does not match the pinned sha256; refusing it"
            )
    for name, data in blobs.items():
        with atomic_path(cache / name) as tmp_path:
            tmp_path.write_bytes(data)
    return True


def locate_ort_web(ort_web: str | os.PathLike[str] | None = None) -> tuple[Path | None, str]:
    """``(folder holding the verified files, source)``; ``(None, "cdn")`` when there is none."""
    if ort_web is not None:
        folder = Path(ort_web)
        if not folder.is_dir():
            raise OptionError("ort_web", f"{folder} is not a folder")
        _verified(folder, ORT_WEB_SHA256, strict=True)
        return folder, "folder"
    cache = default_cache_dir()
    if _verified(cache, ORT_WEB_SHA256, strict=False):
        return cache, "cache"
    try:
        fetched = _npm_into_cache(cache)
    except OSError:
        fetched = False
    if fetched and _verified(cache, ORT_WEB_SHA256, strict=False):
        return cache, "npm"
    return None, "cdn"


def model_card(config, opset: int) -> dict:
    """The facts the page's card shows (source size, fps, parameters, PSNR) plus what its grid maths needs."""
    source = config.source
    training = config.training or {}
    return {
        "architecture": config.architecture,
        "title": config.TITLE,
        "shape": config.describe_shape(),
        "parameters": config.num_params,
        "source": None
        if source is None
        else {
            "width": source.width,
            "height": source.height,
            "frames": source.frames,
            "fps": source.fps,
            "name": source.name,
        },
        "psnr_rgb": training.get("final_psnr_rgb"),
        "psnr_y": training.get("final_psnr_y"),
        "ssim": training.get("final_ssim"),
        "opset": opset,
    }


def page_files() -> dict[str, bytes]:
    web = resources.files("vinr_zoo") / "web"
    return {name: (web / name).read_bytes() for name in PAGE_FILES}


def export_web(
    model, out_dir: str | os.PathLike[str], *, ort_web: str | os.PathLike[str] | None = None, overwrite: bool = False
) -> WebExport:
    """Write the player folder ``out_dir`` for ``model`` (a model directory, zoo name, Hub id or loaded model).

    The folder is built beside ``out_dir`` and renamed into place when complete; an existing one is refused
    unless ``overwrite``.
    """
    out_dir = Path(out_dir)
    check_output(out_dir, overwrite)
    if out_dir.exists() and not out_dir.is_dir():
        raise OptionError("web", f"{out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not is_player_folder(out_dir):
        # --overwrite replaces the whole folder: never a model directory or anything else given by mistake.
        raise OptionError(
            "web", f"{out_dir} is not a player folder written by 'vinr export --web'; refusing to replace it"
        )
    torch_model = resolve_source(model).require_model()
    if torch_model.config.source is None:
        raise VinrError("the model's config.json has no source video, so the player cannot know its size")
    ort_dir, ort_source = locate_ort_web(ort_web)
    pages = page_files()
    webgpu = False
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        export_onnx(torch_model, tmp, opset=WEB_OPSET)
        card = model_card(torch_model.config, WEB_OPSET)
        if isinstance(model, (str, os.PathLike)):
            card["name"] = Path(model).name if Path(model).is_dir() else str(model)
        if ort_dir is not None:
            for name in ORT_WEB_SHA256:
                shutil.copyfile(ort_dir / name, tmp / name)
            _verified(tmp, ORT_WEB_SHA256, strict=True)  # the copies, not only the sources
            webgpu = _verified(ort_dir, ORT_WEBGPU_SHA256, strict=False)
            if webgpu:
                for name in ORT_WEBGPU_SHA256:
                    shutil.copyfile(ort_dir / name, tmp / name)
                webgpu = _verified(tmp, ORT_WEBGPU_SHA256, strict=False)
        card["ort"] = {
            "version": ORT_WEB_VERSION,
            "local": ort_dir is not None,
            "webgpu_local": webgpu,
            "cdn": ORT_WEB_CDN,
            "integrity": ORT_WEB_SRI,
        }
        card["model"] = ONNX_NAME
        (tmp / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
        for name, data in pages.items():
            (tmp / name).write_bytes(data)
        files = sorted(p.name for p in tmp.iterdir())
    return WebExport(out_dir, ort_source, card, webgpu, files)


def is_player_folder(path: str | os.PathLike[str]) -> bool:
    """A folder `export_web` wrote (what ``vinr serve`` serves as it is)."""
    path = Path(path)
    return path.is_dir() and all((path / n).is_file() for n in (*PAGE_FILES, CARD_FILE, ONNX_NAME))
