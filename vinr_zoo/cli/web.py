"""``vinr serve``: the browser player over HTTP (127.0.0.1 unless --host says otherwise)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vinr_zoo.cli.app import command
from vinr_zoo.serve import DEFAULT_HOST, DEFAULT_PORT, ServeOptions, open_player_server

SERVE_FLAGS = {"ort_web": "--ort-web"}


@command(flags=SERVE_FLAGS)
def serve(
    model: Annotated[
        str, typer.Argument(help="A folder written by 'vinr export --web', or a model (directory, zoo name, Hub id).")
    ],
    port: Annotated[int, typer.Option(help="TCP port (0: any free one).")] = DEFAULT_PORT,
    host: Annotated[str, typer.Option(help="Interface to listen on; only this machine by default.")] = DEFAULT_HOST,
    ort_web: Annotated[
        Path | None,
        typer.Option("--ort-web", metavar="DIR", help="Folder holding onnxruntime-web's files (as for export --web)."),
    ] = None,
) -> None:
    """Serve MODEL's web player (cross-origin isolated, so WASM threads work); Ctrl-C stops it."""
    with open_player_server(model, ServeOptions(host=host, port=port, ort_web=ort_web)) as server:
        if server.built is not None and server.built.note():
            typer.echo(f"note: {server.built.note()}")
        typer.echo(f"serving {server.root} at {server.url} (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            typer.echo("stopped")
