"""`open_player_server`: what ``vinr serve`` does — the web player over HTTP, on 127.0.0.1 unless told otherwise.

MODEL is either a folder `export_web` wrote (served as it is) or anything `export_web` takes (built into a
temporary folder, removed when the server closes). The server is Python's ``ThreadingHTTPServer`` with a
handler that serves regular files inside that folder and nothing else: the URL path is percent-decoded
once, any ``.`` / ``..`` segment, backslash or NUL is refused, and the resolved path (symlinks followed)
must still lie inside the folder; everything else, directories included, is a 404. Every answer carries
``Cross-Origin-Opener-Policy: same-origin`` and ``Cross-Origin-Embedder-Policy: require-corp`` so the
page is cross-origin isolated and onnxruntime-web may use WASM threads.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import urllib.parse
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from vinr_zoo.errors import OptionError, VinrError
from vinr_zoo.webplayer import WebExport, export_web, is_player_folder

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".onnx": "application/octet-stream",
    ".png": "image/png",
}
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


@dataclass
class ServeOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    ort_web: str | os.PathLike[str] | None = None


def resolve_request(root: Path, raw_path: str) -> Path | None:
    """The file inside ``root`` (already resolved) that ``raw_path`` names, or None (a 404)."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(raw_path).path, errors="strict")
    if "\x00" in path or "\\" in path or not path.startswith("/"):
        return None
    parts = path[1:].split("/")
    if parts == [""]:
        parts = ["index.html"]
    if any(p in ("", ".", "..") for p in parts):
        return None
    try:
        target = root.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a symlink loop, a name the OS refuses
        return None
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target


class PlayerHandler(BaseHTTPRequestHandler):
    server: PlayerServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(body=False)

    def _answer(self, *, body: bool) -> None:
        try:
            target = resolve_request(self.server.root, self.path)
        except UnicodeDecodeError:
            target = None
        if target is None:
            self._not_found(body)
            return
        try:
            f = open(target, "rb")  # noqa: SIM115 (closed below)
        except OSError:
            self._not_found(body)
            return
        with f:
            size = os.fstat(f.fileno()).st_size
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", CONTENT_TYPES.get(target.suffix.lower(), "application/octet-stream"))
            self.send_header("Content-Length", str(size))
            self._common_headers()
            self.end_headers()
            if body:
                try:
                    shutil.copyfileobj(f, self.wfile, 1 << 20)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

    def _not_found(self, body: bool) -> None:
        text = b"404 not found\n"
        self.send_response(HTTPStatus.NOT_FOUND)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(text)))
        self._common_headers()
        self.end_headers()
        if body:
            self.wfile.write(text)

    def _common_headers(self) -> None:
        for key, value in ISOLATION_HEADERS.items():
            self.send_header(key, value)

    def log_message(self, format, *args) -> None:  # the library never prints
        if self.server.log is not None:
            self.server.log(format % args)


class PlayerServer(ThreadingHTTPServer):
    """Serves one player folder; a context manager that also removes a folder it built."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, root: Path, address: tuple[str, int], *, built: WebExport | None = None, log=None):
        self.root = Path(root).resolve()
        self.built = built
        self.log = log
        self._cleanup: Path | None = None
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, PlayerHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def server_close(self) -> None:
        super().server_close()
        if self._cleanup is not None:
            shutil.rmtree(self._cleanup, ignore_errors=True)
            self._cleanup = None


def open_player_server(model, options: ServeOptions | None = None, *, log=None) -> PlayerServer:
    """Bind a `PlayerServer` for ``model`` (a player folder, or a model to build one from); not yet serving.

    Use it as a context manager and call ``serve_forever()``; closing it removes a folder it built.
    """
    options = options or ServeOptions()
    if not isinstance(options.port, int) or isinstance(options.port, bool) or not 0 <= options.port <= 65535:
        raise OptionError("port", f"must be an integer in [0, 65535], got {options.port!r}")
    if not options.host:
        raise OptionError("host", "must not be empty")
    built, tmp = None, None
    if isinstance(model, (str, os.PathLike)) and is_player_folder(model):
        root = Path(model)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="vinr-serve-"))
        try:
            built = export_web(model, tmp / "player", ort_web=options.ort_web)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        root = built.folder
    try:
        server = PlayerServer(root, (options.host, options.port), built=built, log=log)
    except OSError as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise VinrError(f"cannot listen on {options.host}:{options.port}: {exc.strerror or exc}") from None
    server._cleanup = tmp
    return server
