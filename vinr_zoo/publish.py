"""Pull, push, inspect and register model directories: what ``vinr pull / push / info`` and the zoo build do.

Names resolve through `vinr_zoo.names` (one order), files move through `vinr_zoo.hub`, cards come from
`vinr_zoo.cards`; this module adds the one thing those lower layers cannot: loading the model, so that
nothing invalid is pulled, pushed or registered.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from vinr_zoo import cards, hub, names, zoo
from vinr_zoo._atomic import atomic_dir, atomic_path
from vinr_zoo.checksums import file_sha256
from vinr_zoo.config import ModelConfig
from vinr_zoo.contract import CARD_NAME, PULL_FILES, REQUIRED_FILES
from vinr_zoo.errors import ConfigError, ModelLoadError, OptionError, VinrError
from vinr_zoo.models import VinrModel, load_model
from vinr_zoo.names import ResolvedModel


def validate_model_dir(path: str | os.PathLike[str], *, what: str | None = None) -> VinrModel:
    """Load the directory's config and weights (every check of `load_model`).

    Raises `ModelLoadError` as ``"{what}: {reason}"``; returns the loaded model.
    """
    path = Path(path)
    what = what or f"{path} is not a valid model directory"
    for name in REQUIRED_FILES:
        if not (path / name).is_file():
            raise ModelLoadError(f"{what}: {name} is missing")
    try:
        return load_model(path)
    except (ModelLoadError, ConfigError) as exc:
        raise ModelLoadError(f"{what}: {exc}") from None


# ---- pull --------------------------------------------------------------------------------------------
@dataclass
class PullResult:
    resolved: ResolvedModel
    path: Path  # the directory to use: the output copy, or the zoo / local / cache directory
    config: ModelConfig
    files: list[str] = field(default_factory=list)

    @property
    def commit(self) -> str | None:
        return self.resolved.commit


def pull(
    name: str,
    *,
    revision: str | None = None,
    output: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    token: str | bool | None = None,
) -> PullResult:
    """Resolve ``name`` (`vinr_zoo.names` order), validate the directory, and optionally copy it to ``output``."""
    resolved = names.resolve_model(name, revision=revision, cache_dir=cache_dir, token=token)
    model = validate_model_dir(resolved.path, what=f"{resolved.label} is not a valid vinr-zoo model")
    files = sorted(p.name for p in resolved.path.iterdir() if p.is_file() and p.name in PULL_FILES)
    path = resolved.path
    if output is not None:
        path = Path(output)
        if path.resolve() == resolved.path.resolve():
            raise OptionError("output", f"{path} is the model directory itself")
        with atomic_dir(path, overwrite=overwrite) as tmp:
            for file in files:
                shutil.copyfile(resolved.path / file, tmp / file)  # follows the cache's blob symlinks
    return PullResult(resolved, path, model.config, files)


# ---- push --------------------------------------------------------------------------------------------
def push(
    directory: str | os.PathLike[str],
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    with_onnx: bool = False,
    token: str | None = None,
) -> hub.PushResult:
    """Create ``repo_id`` if needed and upload a valid model directory in one commit.

    The card is the directory's own README.md with its metadata completed, or a generated one, its
    ``vinr decode`` / ``vinr eval`` lines pointed at the repo (`vinr_zoo.cards.card_for_push`).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelLoadError(f"refusing to push {directory}: not a directory")
    model = validate_model_dir(directory, what=f"refusing to push {directory}")
    names.check_repo_id(repo_id)
    # Rendered before anything touches the Hub, so a broken card refuses the push without creating a repo.
    card = cards.card_for_push(directory / CARD_NAME, model.config, repo_id, revision)
    return hub.upload_model_dir(
        directory,
        repo_id,
        card,
        private=private,
        revision=revision,
        commit_message=commit_message,
        with_onnx=with_onnx,
        token=token,
    )


# ---- info ----------------------------------------------------------------------------------------------
@dataclass
class ModelDetails:
    resolved: ResolvedModel
    config: ModelConfig
    card: cards.CardSummary | None
    files: list[tuple[str, int]]  # (name, bytes)


def model_details(
    name: str, *, revision: str | None = None, cache_dir: str | os.PathLike[str] | None = None, token: str | None = None
) -> ModelDetails:
    """Config, card metrics and files of any MODEL (zoo, local, Hub)."""
    resolved = names.resolve_model(name, revision=revision, cache_dir=cache_dir, token=token)
    model = validate_model_dir(resolved.path, what=f"{resolved.label} is not a valid vinr-zoo model")
    files = sorted((p.name, p.stat().st_size) for p in resolved.path.iterdir() if p.is_file())
    return ModelDetails(resolved, model.config, cards.read_card(resolved.path / CARD_NAME), files)


def human_size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


# ---- the embedded zoo ------------------------------------------------------------------------------------
def register_zoo_model(
    model_dir: str | os.PathLike[str],
    *,
    name: str | None = None,
    description: str = "",
    root: str | os.PathLike[str] | None = None,
) -> zoo.ZooEntry:
    """Hash ``model_dir`` (a folder directly under the checkpoints folder) and write its registry entry.

    The model must load (config and weights), so the registry never lists a broken model.
    """
    model_dir = Path(model_dir).resolve()
    root = Path(root).resolve() if root is not None else model_dir.parent
    if model_dir.parent != root:
        raise VinrError(f"{model_dir} must be directly inside the checkpoints folder {root}")
    name = name or model_dir.name
    if not zoo.NAME_RE.match(name) or not zoo.NAME_RE.match(model_dir.name):
        raise VinrError(f"{name!r} is not a valid zoo name (lower case, digits, '.', '_', '-'; no '/')")
    config = validate_model_dir(model_dir).config
    paths = [
        p
        for p in sorted(model_dir.iterdir())
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith((".engine", ".engine.json"))
    ]
    files = {p.name: file_sha256(p) for p in paths}
    sizes = {p.name: p.stat().st_size for p in paths}
    src = config.source
    source = ""
    if src is not None:
        clip = Path(src.name).stem if src.name else "video"
        source = f"{clip} {src.width}x{src.height}x{src.frames}"
    metrics = cards.training_metrics(config.training)
    entry = zoo.ZooEntry(name, model_dir.name, files, config.num_params, source, metrics, description, root, sizes)
    path = root / zoo.REGISTRY_NAME
    data = {"schema_version": zoo.REGISTRY_VERSION, "models": {}}
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
    data["schema_version"] = zoo.REGISTRY_VERSION
    data.setdefault("models", {})[name] = entry.to_json()
    data["models"] = dict(sorted(data["models"].items()))
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return entry
