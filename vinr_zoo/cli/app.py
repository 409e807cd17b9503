"""The Typer app, the error handling every command shares, and the small parsers and displays they use."""

from __future__ import annotations

import contextlib
import functools
import math
import sys
from enum import Enum

import typer
from typer.core import TyperGroup

from vinr_zoo.errors import GridError, OptionError, VinrError
from vinr_zoo.video import parse_size


class VinrGroup(TyperGroup):
    """The app's command group; it keeps old spellings working by rewriting them before parsing."""

    # old command word, new command, and the old command's flags that take no value (its other options do).
    ALIASES = {("eval", "stvsr"): ("stvsr", {"-q", "--quiet", "--help"})}

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        i = next((k for k, a in enumerate(args) if not a.startswith("-")), len(args))  # after --debug and such
        for (command, word), (new, flags) in self.ALIASES.items():
            if i >= len(args) or args[i] != command:
                continue
            j = i + 1  # the first positional after the old command's own options: `vinr eval -q stvsr VIDEO`
            while j < len(args) and args[j].startswith("-"):
                j += 1 if args[j] in flags or "=" in args[j] else 2
            if j < len(args) and args[j] == word:
                args = [*args[:i], new, *args[i + 1 : j], *args[j + 1 :]]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=VinrGroup,
    name="vinr",
    help="Fit videos into implicit neural representations, export them to ONNX/TensorRT, render them at any "
    "space-time scale.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_state = {"debug": False}


class Runtime(str, Enum):
    torch = "torch"
    ort = "ort"
    trt = "trt"


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


class Loss(str, Enum):
    mse = "mse"
    l1 = "l1"


class Sampling(str, Enum):
    error = "error"
    uniform = "uniform"


class Device(str, Enum):
    cpu = "cpu"
    cuda = "cuda"


def flag_for(field: str, flags: dict[str, str]) -> str:
    """The command-line flag of a library field: the command's table, else ``--field-name``."""
    return flags.get(field, "--" + field.replace("_", "-"))


def command(*args, flags: dict[str, str] | None = None, **kwargs):
    """``app.command`` that turns a `VinrError` into one ``error:`` line and exit code 1.

    ``flags`` maps library field names to this command's flags, for `OptionError` messages.
    """
    flags = flags or {}

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            try:
                return fn(*a, **k)
            except VinrError as exc:
                if _state["debug"]:
                    raise
                text = exc.with_name(flag_for(exc.field, flags)) if isinstance(exc, OptionError) else str(exc)
                # One line whatever the message holds (a library's multi-line reason, a newline in a path).
                typer.echo("error: " + " ".join(text.split()), err=True)
                raise typer.Exit(1) from None
            except KeyboardInterrupt:
                typer.echo("interrupted", err=True)
                raise typer.Exit(130) from None

        return app.command(*args, **kwargs)(wrapper)

    return decorate


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors.")) -> None:
    _state["debug"] = debug


# ---- parsing -----------------------------------------------------------------------------------------------
def size(text: str | None) -> tuple[int, int] | None:
    return None if text is None else parse_size(text)


def _numbers(option: str, text: str, sep: str, count: int, form: str) -> tuple[float, ...]:
    parts = text.split(sep)
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise GridError(f"{option} {text!r} must look like {form} (finite numbers)")
    return values


def roi(text: str | None) -> tuple[float, float, float, float] | None:
    return None if text is None else _numbers("--roi", text, ",", 4, "X,Y,W,H, e.g. 0,0,64,48")


def time_range(text: str | None) -> tuple[float, float] | None:
    return None if text is None else _numbers("--time-range", text, ":", 2, "A:B in source frames, e.g. 0:10")


def positive_finite(name: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise VinrError(f"{name} must be a finite number > 0, got {value}")


# ---- display -----------------------------------------------------------------------------------------------
def console(*, stderr: bool = False):
    """A rich console; wide when not a terminal, so piped tables never wrap."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, width=None if stream.isatty() else 240, highlight=False)


def print_table(
    columns: tuple[str, ...],
    rows: list[tuple[str, ...]],
    *,
    title: str | None = None,
    right: tuple[int, ...] = (),
    plain: bool = False,
) -> None:
    """A rich table. ``plain``: no borders, columns separated by spaces only (easy to read with ``awk``)."""
    from rich import box
    from rich.table import Table

    table = Table(
        title=title,
        title_justify="left",
        box=None if plain else box.SIMPLE_HEAD,
        show_edge=not plain,
        pad_edge=not plain,
        padding=(0, 2) if plain else (0, 1),
    )
    for i, name in enumerate(columns):
        table.add_column(name, justify="right" if i in right else "left", no_wrap=plain)
    for row in rows:
        table.add_row(*row)
    console().print(table)


def progress(quiet: bool, label: str):
    """A rich progress bar driven by ``update(done, total)``; a no-op when quiet or not a terminal."""
    if quiet or not sys.stderr.isatty():
        return contextlib.nullcontext(None)

    @contextlib.contextmanager
    def bar():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=True,
            console=console(stderr=True),
        ) as live:
            task = live.add_task(label, total=None)

            def update(done: int, total: int) -> None:
                live.update(task, completed=done, total=total)

            yield update

    return bar()
