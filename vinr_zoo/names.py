"""MODEL names → local model directories, in one order for every command and for ``from_pretrained``.

1. an embedded zoo name (``checkpoints/``; works offline; every file verified against the registry's sha256),
2. a local model directory (write ``./NAME`` for a folder that shares a zoo name),
3. a Hub repo id ``user/repo`` or ``user/repo@revision`` (a branch, tag or commit sha), downloaded into the
   standard Hub cache (`vinr_zoo.hub.download`).

Zoo names come first because they are a fixed, reserved namespace (like timm's model names) and never
contain ``/`` or ``.``-prefixed paths, so ``./carphone-w256`` always means the folder. A bare ``.onnx`` file
is not a model *directory*; the decode layer handles it (`vinr_zoo.sources`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from vinr_zoo import hub, zoo
from vinr_zoo.errors import HubError, ModelLoadError, VinrError

# Hub repo ids: namespace/name, each [A-Za-z0-9._-], not starting with '.' or '-', at most 96 characters.
_REPO_PART = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,95}"
_REPO_RE = re.compile(rf"^({_REPO_PART})/({_REPO_PART})$")


def parse_hub_name(text: str) -> tuple[str, str | None] | None:
    """``user/repo[@revision]`` → ``(repo_id, revision)``; None when ``text`` cannot be a Hub repo id."""
    repo_id, sep, revision = text.partition("@")
    if not _REPO_RE.match(repo_id) or ".." in repo_id or "--" in repo_id or repo_id.endswith((".", "-")):
        return None
    if sep and not revision:
        return None
    return repo_id, (revision or None)


def check_repo_id(repo_id: str) -> str:
    """``repo_id`` if it names a Hub repo to write to (``user/repo``, no ``@revision``), else `HubError`."""
    if not isinstance(repo_id, str) or parse_hub_name(repo_id) is None or "@" in repo_id:
        raise HubError(f"{repo_id!r} is not a Hub repo id (user/repo; give the branch as the revision)")
    return repo_id


@dataclass
class ResolvedModel:
    """Where a MODEL name led: a local directory holding config.json + model.safetensors (+ README.md)."""

    path: Path
    kind: str  # "zoo" | "local" | "hub"
    name: str  # zoo name, directory, or repo id
    revision: str | None = None  # the revision asked for (Hub)
    commit: str | None = None  # the commit sha it resolved to (Hub)

    @property
    def label(self) -> str:
        if self.kind == "hub":
            return f"{self.name}@{self.commit or self.revision or 'main'}"
        return self.name


def resolve_model(
    name: str | os.PathLike[str],
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
) -> ResolvedModel:
    """Resolve a zoo name, a local directory or a Hub repo id (downloading it if needed) to a directory."""
    text = os.fspath(name)
    # A Path object is always a path (never a zoo name), like "./NAME" on the command line.
    entry = zoo.get_entry(text) if isinstance(name, str) else None
    if entry is not None:
        if revision is not None:
            raise VinrError(f"{text} is an embedded zoo model; a revision applies to Hub repos only")
        return ResolvedModel(zoo.verified_path(entry), "zoo", text)
    path = Path(text)
    if path.is_dir():
        if revision is not None:
            raise VinrError(f"{text} is a local directory; a revision applies to Hub repos only")
        return ResolvedModel(path, "local", text)
    if path.exists():
        raise ModelLoadError(f"{text} is a file, not a model directory")
    parsed = parse_hub_name(text)
    if parsed is None:
        names = ", ".join(e.name for e in zoo.list_zoo()) or "none installed"
        raise ModelLoadError(
            f"model directory {text} does not exist, and it is not an embedded zoo name ({names}) "
            "or a Hub repo id (user/repo[@revision])"
        )
    repo_id, pinned = parsed
    if pinned is not None and revision is not None and pinned != revision:
        raise VinrError(f"{text} pins revision {pinned!r} but the revision asked for is {revision!r}; give one")
    revision = pinned or revision
    snapshot = hub.download(
        repo_id, revision=revision, cache_dir=cache_dir, token=token, local_files_only=local_files_only
    )
    return ResolvedModel(snapshot, "hub", repo_id, revision, snapshot.name)
