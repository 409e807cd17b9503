"""Model families, keyed by the ``architecture`` their config.json names (after timm's ``register_model``).

A family is one `VinrModel` subclass whose ``config_class`` (a `ModelConfig` dataclass) sets
``ARCHITECTURE``. Registering it makes every layer above work on it without knowing it: config.json and
ONNX metadata are parsed by the class the registry names, runtimes run it, `vinr export` builds its graph,
`vinr fit --arch NAME` fits it. See docs/ARCHITECTURE.md, "Adding a model family".
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from vinr_zoo.config import ModelConfig, check_schema, parse_json
from vinr_zoo.errors import ConfigError, short_repr

if TYPE_CHECKING:
    from vinr_zoo.models.base import VinrModel

_FAMILIES: dict[str, type[VinrModel]] = {}


def register_model(cls: type[VinrModel]) -> type[VinrModel]:
    """Class decorator: make ``cls`` the family for ``cls.config_class.ARCHITECTURE``."""
    arch = cls.config_class.ARCHITECTURE
    if not arch:
        raise TypeError(f"{cls.__name__}.config_class must set ARCHITECTURE")
    if arch in _FAMILIES and _FAMILIES[arch] is not cls:
        warnings.warn(f"model family {arch!r} registered twice; {cls.__name__} replaces it", stacklevel=2)
    _FAMILIES[arch] = cls
    return cls


def list_architectures() -> list[str]:
    return sorted(_FAMILIES)


def model_class(architecture: str) -> type[VinrModel]:
    """The registered family for ``architecture``; an unknown name raises `ConfigError` naming the known ones."""
    try:
        return _FAMILIES[architecture]
    except (KeyError, TypeError):
        known = ", ".join(repr(a) for a in list_architectures())
        raise ConfigError(f"config.json: architecture {short_repr(architecture)} is not one of {known}") from None


def config_from_dict(data: Any) -> ModelConfig:
    """A config.json object → the config dataclass of the family its ``architecture`` names."""
    check_schema(data)
    if "architecture" not in data:
        raise ConfigError("config.json: missing architecture")
    return model_class(data["architecture"]).config_class.from_dict(data)


def config_from_json(text: str) -> ModelConfig:
    return config_from_dict(parse_json(text))
