"""Model families and their registry. Importing this package registers the families shipped with vinr-zoo.

``VinrModel.from_pretrained(name)`` loads any registered family; ``SineMLP.from_pretrained(name)`` only
sine MLPs. Third-party families register themselves with `register_model` when their module is imported.
"""

from vinr_zoo.models import motion, sine_mlp  # noqa: F401  (registers "motion_mlp", "sine_mlp")
from vinr_zoo.models.base import VinrModel, load_config, load_model, load_weights
from vinr_zoo.models.registry import config_from_dict, config_from_json, list_architectures, model_class, register_model
from vinr_zoo.models.sine_mlp import SineLayer, SineMLP, SineMLPConfig

__all__ = [
    "SineLayer",
    "SineMLP",
    "SineMLPConfig",
    "VinrModel",
    "config_from_dict",
    "config_from_json",
    "list_architectures",
    "load_config",
    "load_model",
    "load_weights",
    "model_class",
    "register_model",
]
