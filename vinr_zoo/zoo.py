"""The embedded zoo: model directories shipped in the top-level ``checkpoints/`` folder, and their registry.

``checkpoints/registry.json`` maps each name to its folder, the sha256 of every file, and the numbers
``vinr list`` shows. The folder is package data: the wheel installs it as the package ``vinr_zoo_checkpoints``
(``[tool.setuptools.package-dir]`` in pyproject.toml), and an editable install maps the same package to the
checkout. Every load re-hashes the files against the registry, so a damaged install fails loudly instead of
decoding garbage.

Adding a model: write its directory under ``checkpoints/`` (``vinr fit ... -o checkpoints/NAME``), then
``python -c "from vinr_zoo.publish import register_zoo_model; register_zoo_model('checkpoints/NAME')"`` to
(re)write its entry (benchmarks/build_zoo.py does both).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vinr_zoo.checksums import file_sha256
from vinr_zoo.contract import REQUIRED_FILES
from vinr_zoo.errors import ModelLoadError, VinrError

PACKAGE = "vinr_zoo_checkpoints"
REGISTRY_NAME = "registry.json"
REGISTRY_VERSION = 1
# A zoo name never contains "/", so it can never be mistaken for a Hub repo id (user/repo).
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass
class ZooEntry:
    """One embedded model, as the registry describes it."""

    name: str
    dir: str
    files: dict[str, str]  # file name -> sha256
    params: int = 0
    source: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    description: str = ""
    root: Path | None = field(default=None, repr=False, compare=False)
    sizes: dict[str, int] = field(default_factory=dict)  # file name -> bytes (checked before hashing)

    @property
    def path(self) -> Path:
        if self.root is None:
            raise VinrError(f"zoo entry {self.name} has no checkpoints folder")
        return self.root / self.dir

    @property
    def size_bytes(self) -> int:
        """Bytes on disk of the registered files (0 for a file that is missing)."""
        total = 0
        for name in self.files:
            try:
                total += (self.path / name).stat().st_size
            except OSError:
                pass
        return total

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("root")
        data.pop("name")
        return data


def checkpoints_root() -> Path | None:
    """The folder holding the registry: the installed package, else the source checkout, else None."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if (Path(location) / REGISTRY_NAME).is_file():
                return Path(location)
    # A checkout whose editable install predates the package mapping (pip install -e . refreshes it).
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "checkpoints" / REGISTRY_NAME).is_file():
        return checkout / "checkpoints"
    return None


def load_registry(root: str | os.PathLike[str] | None = None) -> dict[str, ZooEntry]:
    """Name -> entry for every embedded model; an empty dict when no checkpoints folder is installed."""
    root = Path(root) if root is not None else checkpoints_root()
    if root is None:
        return {}
    path = root / REGISTRY_NAME
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path} is not readable JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise ModelLoadError(f"{path}: expected an object with a 'models' object")
    if data.get("schema_version", 0) > REGISTRY_VERSION:
        raise ModelLoadError(f"{path}: schema_version {data['schema_version']} is newer than this vinr-zoo reads")
    entries = {}
    for name, raw in data["models"].items():
        entries[name] = _entry(path, name, raw, root)
    return entries


def _entry(path: Path, name: str, raw: Any, root: Path) -> ZooEntry:
    if not NAME_RE.match(name):
        raise ModelLoadError(f"{path}: {name!r} is not a valid zoo name (lower case, digits, '.', '_', '-')")
    if not isinstance(raw, dict):
        raise ModelLoadError(f"{path}: entry {name} must be an object")
    folder = raw.get("dir", name)
    # The folder must be a plain child of the checkpoints folder: no "..", no absolute path.
    if not isinstance(folder, str) or not NAME_RE.match(folder):
        raise ModelLoadError(f"{path}: entry {name} has an invalid dir {folder!r}")
    files = raw.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and "/" not in k and isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v)
        for k, v in files.items()
    ):
        raise ModelLoadError(f"{path}: entry {name} needs 'files': {{file name: sha256 hex}}")
    missing = [f for f in REQUIRED_FILES if f not in files]
    if missing:
        raise ModelLoadError(f"{path}: entry {name} does not list {', '.join(missing)}")
    metrics = raw.get("metrics") or {}
    if not isinstance(metrics, dict):
        raise ModelLoadError(f"{path}: entry {name} has non-object metrics")
    sizes = raw.get("sizes") or {}
    if not isinstance(sizes, dict) or not all(
        k in files and isinstance(v, int) and not isinstance(v, bool) and v >= 0 for k, v in sizes.items()
    ):
        raise ModelLoadError(f"{path}: entry {name} needs 'sizes': {{listed file name: bytes}}")
    return ZooEntry(
        name=name,
        dir=folder,
        files=dict(files),
        params=int(raw.get("params", 0)),
        source=str(raw.get("source", "")),
        metrics={str(k): float(v) for k, v in metrics.items()},
        description=str(raw.get("description", "")),
        root=root,
        sizes=dict(sizes),
    )


def list_zoo(pattern: str = "*") -> list[ZooEntry]:
    """The embedded models whose name matches the shell-style ``pattern``, sorted by name."""
    return sorted((e for e in load_registry().values() if fnmatch.fnmatchcase(e.name, pattern)), key=lambda e: e.name)


def list_models(pattern: str = "*") -> list[str]:
    """Names of the embedded models matching a shell-style ``pattern`` (``"carphone-*"``), like
    ``timm.list_models``; each loads with ``VinrModel.from_pretrained(name)``."""
    return [e.name for e in list_zoo(pattern)]


def get_entry(name: str) -> ZooEntry | None:
    """The entry named ``name``, or None (also for strings that cannot be zoo names, such as paths)."""
    if not NAME_RE.match(name):
        return None
    return load_registry().get(name)


def verified_path(entry: ZooEntry) -> Path:
    """The entry's folder, after checking every registered file against its size and sha256."""
    for name, expected in sorted(entry.files.items()):
        path = entry.path / name
        if not path.is_file():
            raise ModelLoadError(f"embedded model {entry.name}: {path} is missing (the installation is incomplete)")
        size = path.stat().st_size
        if name in entry.sizes and size != entry.sizes[name]:
            raise ModelLoadError(
                f"embedded model {entry.name}: {name} has {size:,} bytes, the registry expects {entry.sizes[name]:,} "
                "(the installed file is damaged or was changed; reinstall vinr-zoo)"
            )
        actual = file_sha256(path)
        if actual != expected:
            raise ModelLoadError(
                f"embedded model {entry.name}: {name} has sha256 {actual[:12]}…, the registry expects "
                f"{expected[:12]}… (the installed file is damaged or was changed; reinstall vinr-zoo)"
            )
    return entry.path
