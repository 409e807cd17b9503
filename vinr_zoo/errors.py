"""Typed errors. Library code raises these; only the CLI turns them into one line and an exit code."""

from __future__ import annotations


class VinrError(Exception):
    """Base class: every error meant for a user (bad input, missing package, failed check)."""


class VideoError(VinrError):
    """A video cannot be read or written (missing, not a video, empty, bad size)."""


class GridError(VinrError, ValueError):
    """Invalid space-time grid parameters (scales, sizes, ROI, time range)."""


class ConfigError(VinrError, ValueError):
    """A config.json that is missing, malformed, out of range or from a future schema."""


class ModelLoadError(VinrError):
    """A model directory or weights file that cannot be loaded safely."""


class OutputExistsError(VinrError):
    """The output path exists and --overwrite was not given."""


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


class NotBuiltYet(VinrError):
    """A command that is planned but not implemented in this version."""


class HubError(VinrError):
    """A Hugging Face Hub operation failed (network, server, refused upload)."""


class HubNotFoundError(HubError):
    """The Hub has no such repo, revision or file (or hides a private repo from this caller)."""


class HubAuthError(HubError):
    """Missing, invalid or insufficient token (401/403, gated repo)."""


class HubOfflineError(HubError):
    """Offline (HF_HUB_OFFLINE or no network) and what was asked for is not in the local cache."""


def first_line(exc: BaseException | str) -> str:
    """The first line of an exception's text (or its type name): error messages stay one line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
