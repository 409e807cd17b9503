"""What every model's config.json holds, whatever its family: the schema, the source clip, the training record.

A family's config is a dataclass that subclasses `ModelConfig`, sets ``ARCHITECTURE`` and adds its
hyper-parameters (with ``validate_fields``). The schema is versioned (docs/CONVENTIONS.md): a checkpoint written
by a newer vinr-zoo with a higher ``schema_version`` is refused with a clear message instead of being
half-understood. Which class reads a given config.json is decided by its ``architecture`` in the model
registry (`vinr_zoo.models`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from vinr_zoo.errors import ConfigError, one_line, short_repr

SCHEMA_VERSION = 1


@dataclass
class SourceVideo:
    """The clip a model was fitted on (enough to render it back at scale 1)."""

    width: int
    height: int
    frames: int
    fps: float
    name: str = ""
    sha256: str = ""
    # Frames where a new shot starts (vinr_zoo.scenes.detect_cuts at fit time); written only when non-empty.
    scene_cuts: list[int] = field(default_factory=list)

    def validate(self) -> None:
        for key in ("width", "height", "frames"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1 or value > 1_000_000:
                raise ConfigError(f"config.json: source.{key} must be an integer in [1, 1e6], got {short_repr(value)}")
        if not finite_number(self.fps) or self.fps <= 0:
            raise ConfigError(f"config.json: source.fps must be a positive number, got {short_repr(self.fps)}")
        if not isinstance(self.name, str) or not isinstance(self.sha256, str):
            raise ConfigError("config.json: source.name and source.sha256 must be strings")
        self.scene_cuts = check_scene_cuts(self.scene_cuts, self.frames)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not data["scene_cuts"]:
            del data["scene_cuts"]
        return data


def check_scene_cuts(cuts: Any, frames: int, where: str = "config.json: source.scene_cuts") -> list[int]:
    """``cuts`` as a sorted list of frame indices in ``[1, frames - 1]`` (a cut starts a new shot), else `ConfigError`."""
    if not isinstance(cuts, (list, tuple)):
        raise ConfigError(f"{where} must be a list of frame indices, got {type(cuts).__name__}")
    out = []
    for c in cuts:
        if not isinstance(c, int) or isinstance(c, bool) or not 1 <= c <= frames - 1:
            raise ConfigError(
                f"{where}: {short_repr(c)} is not a frame index in [1, {frames - 1}] (a cut starts a new shot)"
            )
        out.append(c)
    if out != sorted(set(out)):
        raise ConfigError(f"{where} must be strictly increasing, got {short_repr(out)}")
    return out


@dataclass
class ModelConfig:
    """The part of config.json every family shares. Subclasses add their fields (all with defaults).

    Serialised key order: ``schema_version``, ``architecture``, the family's fields, ``source``, ``training``.
    """

    ARCHITECTURE: ClassVar[str] = ""
    TITLE: ClassVar[str] = "model"  # what a model card calls the family ("sine MLP (SIREN)")
    _SHARED: ClassVar[tuple[str, ...]] = ("source", "training", "schema_version", "architecture")

    def __post_init__(self) -> None:
        self.validate()

    # Subclasses declare, as dataclass fields with defaults:
    #   source: SourceVideo | None = None
    #   training: dict = field(default_factory=dict)
    #   schema_version: int = SCHEMA_VERSION
    #   architecture: str = "<name>"
    # (declared there, after their own fields, so that those keep their order in config.json).

    def validate(self) -> None:
        if self.architecture != self.ARCHITECTURE:
            raise ConfigError(f"config.json: architecture {short_repr(self.architecture)} is not {self.ARCHITECTURE!r}")
        if not isinstance(self.schema_version, int) or isinstance(self.schema_version, bool):
            raise ConfigError(f"config.json: schema_version must be an integer, got {short_repr(self.schema_version)}")
        if self.schema_version > SCHEMA_VERSION:
            raise ConfigError(
                f"config.json: schema_version {self.schema_version} is newer than this vinr-zoo "
                f"understands ({SCHEMA_VERSION}); upgrade vinr-zoo"
            )
        if self.schema_version < 1:
            raise ConfigError(f"config.json: schema_version must be >= 1, got {self.schema_version}")
        self.validate_fields()
        if self.source is not None:
            if not isinstance(self.source, SourceVideo):
                raise ConfigError("config.json: source must be an object")
            self.source.validate()
        if not isinstance(self.training, dict):
            raise ConfigError("config.json: training must be an object")

    def validate_fields(self) -> None:
        """The family's own range checks (raise `ConfigError`)."""

    @property
    def num_params(self) -> int:
        raise NotImplementedError

    def describe(self) -> str:
        """One sentence for model cards."""
        return f"A {self.ARCHITECTURE} model with {self.num_params:,} parameters."

    def describe_shape(self) -> str:
        """A few words on the network's shape, for error messages and ``vinr info``."""
        return self.ARCHITECTURE

    def info_lines(self) -> list[str]:
        """Family-specific lines ``vinr info`` prints after the architecture line."""
        return []

    def card_slug(self) -> str:
        """The start of a generated model name (``sine-mlp-256x4``); the card appends the clip's name."""
        return self.ARCHITECTURE.replace("_", "-")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        head = {"schema_version": data.pop("schema_version"), "architecture": data.pop("architecture")}
        data.pop("source")
        tail = {"source": self.source.to_dict() if self.source is not None else None, "training": data.pop("training")}
        return {**head, **data, **tail}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> ModelConfig:
        check_schema(data)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"config.json: unknown key(s) {one_line(', '.join(unknown), 160)}")
        kwargs = dict(data)
        source = kwargs.get("source")
        if source is not None:
            if not isinstance(source, dict):
                raise ConfigError("config.json: source must be an object")
            src_known = {f.name for f in fields(SourceVideo)}
            extra = sorted(set(source) - src_known)
            if extra:
                raise ConfigError(f"config.json: unknown key(s) in source: {one_line(', '.join(extra), 160)}")
            try:
                kwargs["source"] = SourceVideo(**source)
            except TypeError as exc:
                raise ConfigError(f"config.json: source is incomplete ({exc})") from None
        if kwargs.get("training") is None:
            kwargs["training"] = {}
        try:
            return cls(**kwargs)
        except TypeError as exc:  # a wrong-typed value the dataclass could not take
            raise ConfigError(f"config.json: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        return cls.from_dict(parse_json(text))


def parse_json(text: str) -> Any:
    """config.json text → Python objects, every failure a one-line `ConfigError`."""
    try:
        return json.loads(text)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer over Python's digit limit
        raise ConfigError(f"config.json is not valid JSON: {one_line(str(exc), 160)}") from None
    except RecursionError:
        raise ConfigError("config.json is not valid JSON: nested too deeply") from None


def check_schema(data: Any) -> None:
    """The checks that come before anything family-specific: an object, with a schema this version reads."""
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


def finite_number(value: Any) -> bool:
    """A JSON number (not a bool) that is finite as a float."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float (JSON allows 1000-digit integers)
        return False


def check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(f"config.json: {name} must be an integer in [{lo}, {hi}], got {short_repr(value)}")


def check_float(name: str, value: Any, hi: float) -> None:
    if not finite_number(value) or not 0 < value <= hi:
        raise ConfigError(f"config.json: {name} must be a finite number in (0, {hi:g}], got {short_repr(value)}")
