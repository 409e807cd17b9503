"""Typed errors, and the helpers that keep every message one short line.

Library code raises these; only the CLI turns them into one line and an exit code. An error about a
user-settable value names the *field* (``hidden_features``); the CLI maps fields to its flags.
"""

from __future__ import annotations

import reprlib
from typing import Any


class VinrError(Exception):
    """Base class: every error meant for a user (bad input, missing package, failed check)."""


class OptionError(VinrError, ValueError):
    """An option object holds an invalid value; ``field`` names it (``"hidden_features"``).

    ``str()`` starts with the field name; `with_name` renders the same message under another name
    (the CLI passes its flag, ``--width``).
    """

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem

    def with_name(self, name: str) -> str:
        return f"{name} {self.problem}"


class VideoError(VinrError):
    """A video cannot be read or written (missing, not a video, empty, bad size)."""


class VideoOptionError(OptionError, VideoError):
    """A reading option (frames, start, size) that no video can satisfy."""


class GridError(VinrError, ValueError):
    """Invalid space-time grid parameters (scales, sizes, ROI, time range)."""


class ConfigError(VinrError, ValueError):
    """A config.json that is missing, malformed, out of range or from a future schema."""


class ModelLoadError(VinrError):
    """A model directory or weights file that cannot be loaded safely."""


class OutputExistsError(VinrError):
    """The output path exists and overwriting was not asked for."""


class RuntimeUnavailable(VinrError):
    """A runtime backend whose package (or device) is missing on this machine."""


class ParityError(VinrError, ValueError):
    """An exported artifact does not reproduce the torch model."""


class ShapeError(ParityError):
    """Output names or shapes differ from the contract."""


class AtolError(ParityError):
    """Outputs differ by more than the tolerance."""

    def __init__(self, message: str, max_abs_diff: float, atol: float):
        super().__init__(message)
        self.max_abs_diff = max_abs_diff
        self.atol = atol


class HubError(VinrError):
    """A Hugging Face Hub operation failed (network, server, refused upload)."""


class HubNotFoundError(HubError):
    """The Hub has no such repo, revision or file (or hides a private repo from this caller)."""


class HubAuthError(HubError):
    """Missing, invalid or insufficient token (401/403, gated repo)."""


class HubOfflineError(HubError):
    """Offline (HF_HUB_OFFLINE or no network) and what was asked for is not in the local cache."""


# ---- keeping messages short ---------------------------------------------------------------------------
def first_line(exc: BaseException | str) -> str:
    """The first line of an exception's text (or its type name): error messages stay one line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def one_line(text: BaseException | str, limit: int = 300) -> str:
    """``text`` with its whitespace collapsed to single spaces, cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 80
_repr.maxlevel = 3


def short_repr(value: Any) -> str:
    """A short repr for messages: a hostile config must not turn one error line into megabytes."""
    try:
        return _repr.repr(value)
    except (RecursionError, ValueError):
        return f"<{type(value).__name__}>"


def some(names: list[str], shown: int = 4) -> str:
    """The first few of ``names`` and how many there are in all (an error message stays one short line)."""
    more = f" … ({len(names)} in all)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
