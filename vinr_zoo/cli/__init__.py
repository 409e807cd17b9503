"""The ``vinr`` command line: a thin Typer layer over the library API.

Each command builds the library's options object and calls one library function. Every `VinrError`
becomes one line on stderr and exit code 1 (``--debug`` shows the traceback); an `OptionError` names the
library's field, which the command's flag table turns into the flag the user typed.
"""

from __future__ import annotations

import signal

from vinr_zoo.cli import evaluate, fit, models, render, web  # noqa: F401  (each module adds its commands)
from vinr_zoo.cli.app import app

__all__ = ["app", "main"]


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt  # temp files are removed and "interrupted" printed, as for Ctrl-C


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    app()


if __name__ == "__main__":
    main()
