"""`SineMLPConfig`: the network's hyper-parameters plus where it came from, as stored in config.json.

The schema is versioned (CONVENTIONS.md): a checkpoint written by a newer vinr-zoo with a higher
``schema_version`` is refused with a clear message instead of being half-understood.
"""

from __future__ import annotations

import json
import math
import reprlib
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from vinr_zoo.errors import ConfigError

SCHEMA_VERSION = 1
ARCHITECTURE = "sine_mlp"

# Limits that keep a malicious or corrupted config from allocating absurd tensors.
MAX_HIDDEN_FEATURES = 4096
MAX_HIDDEN_LAYERS = 64
MAX_OMEGA = 1e4


@dataclass
class SourceVideo:
    """The clip a model was fitted on (enough to render it back at scale 1)."""

    width: int
    height: int
    frames: int
    fps: float
    name: str = ""
    sha256: str = ""

    def validate(self) -> None:
        for key in ("width", "height", "frames"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1 or value > 1_000_000:
                raise ConfigError(f"config.json: source.{key} must be an integer in [1, 1e6], got {_show(value)}")
        if not finite_number(self.fps) or self.fps <= 0:
            raise ConfigError(f"config.json: source.fps must be a positive number, got {_show(self.fps)}")
        if not isinstance(self.name, str) or not isinstance(self.sha256, str):
            raise ConfigError("config.json: source.name and source.sha256 must be strings")


@dataclass
class SineMLPConfig:
    """Hyper-parameters of the sine MLP (see CONVENTIONS.md "The network")."""

    in_features: int = 3
    out_features: int = 3
    hidden_features: int = 256
    hidden_layers: int = 4
    first_omega_0: float = 30.0
    hidden_omega_0: float = 30.0
    # The first layer sees t at this frequency instead of first_omega_0 (measured best ≈ 3, PERF_NOTES).
    time_omega_0: float = 3.0
    source: SourceVideo | None = None
    training: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    architecture: str = ARCHITECTURE

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.architecture != ARCHITECTURE:
            raise ConfigError(f"config.json: architecture {_show(self.architecture)} is not {ARCHITECTURE!r}")
        if not isinstance(self.schema_version, int) or isinstance(self.schema_version, bool):
            raise ConfigError(f"config.json: schema_version must be an integer, got {_show(self.schema_version)}")
        if self.schema_version > SCHEMA_VERSION:
            raise ConfigError(
                f"config.json: schema_version {self.schema_version} is newer than this vinr-zoo "
                f"understands ({SCHEMA_VERSION}); upgrade vinr-zoo"
            )
        if self.schema_version < 1:
            raise ConfigError(f"config.json: schema_version must be >= 1, got {self.schema_version}")
        _check_int("in_features", self.in_features, 3, 3)
        _check_int("out_features", self.out_features, 1, 4)
        _check_int("hidden_features", self.hidden_features, 1, MAX_HIDDEN_FEATURES)
        _check_int("hidden_layers", self.hidden_layers, 1, MAX_HIDDEN_LAYERS)
        for key in ("first_omega_0", "hidden_omega_0", "time_omega_0"):
            value = getattr(self, key)
            if not finite_number(value) or not 0 < value <= MAX_OMEGA:
                raise ConfigError(f"config.json: {key} must be a finite number in (0, {MAX_OMEGA:g}], got {_show(value)}")
        if self.source is not None:
            if not isinstance(self.source, SourceVideo):
                raise ConfigError("config.json: source must be an object")
            self.source.validate()
        if not isinstance(self.training, dict):
            raise ConfigError("config.json: training must be an object")

    @property
    def num_params(self) -> int:
        w, n = self.hidden_features, self.hidden_layers
        return (self.in_features * w + w) + (n - 1) * (w * w + w) + (w * self.out_features + self.out_features)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        # Stable key order: the schema fields first, as a reader of config.json expects.
        return {"schema_version": data.pop("schema_version"), "architecture": data.pop("architecture"), **data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> SineMLPConfig:
        if not isinstance(data, dict):
            raise ConfigError("config.json: the top level must be a JSON object")
        if "schema_version" not in data:
            raise ConfigError("config.json: missing schema_version")
        # Checked before anything else: a newer schema may add keys, and "upgrade" is the useful message.
        version = data["schema_version"]
        if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
            raise ConfigError(
                f"config.json: schema_version {version} is newer than this vinr-zoo understands "
                f"({SCHEMA_VERSION}); upgrade vinr-zoo"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"config.json: unknown key(s) {_clip(', '.join(unknown))}")
        kwargs = dict(data)
        source = kwargs.get("source")
        if source is not None:
            if not isinstance(source, dict):
                raise ConfigError("config.json: source must be an object")
            src_known = {f.name for f in fields(SourceVideo)}
            extra = sorted(set(source) - src_known)
            if extra:
                raise ConfigError(f"config.json: unknown key(s) in source: {_clip(', '.join(extra))}")
            try:
                kwargs["source"] = SourceVideo(**source)
            except TypeError as exc:
                raise ConfigError(f"config.json: source is incomplete ({exc})") from None
        if kwargs.get("training") is None:
            kwargs["training"] = {}
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> SineMLPConfig:
        try:
            data = json.loads(text)
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer over Python's digit limit
            raise ConfigError(f"config.json is not valid JSON: {_clip(str(exc))}") from None
        except RecursionError:
            raise ConfigError("config.json is not valid JSON: nested too deeply") from None
        return cls.from_dict(data)


def finite_number(value: Any) -> bool:
    """A JSON number (not a bool) that is finite as a float."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float (JSON allows 1000-digit integers)
        return False


_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 80
_repr.maxlevel = 3


def _show(value: Any) -> str:
    """A short repr for messages: a hostile config must not turn one error line into megabytes."""
    try:
        return _repr.repr(value)
    except (RecursionError, ValueError):
        return f"<{type(value).__name__}>"


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(f"config.json: {name} must be an integer in [{lo}, {hi}], got {_show(value)}")
