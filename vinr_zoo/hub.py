"""Hugging Face Hub transfer: download a model repo into the standard cache, verify it, upload a folder.

Downloads go through ``snapshot_download``, so HF_HOME / HF_HUB_CACHE / HF_HUB_OFFLINE / HF_TOKEN /
HF_ENDPOINT behave as everywhere else; uploads are one ``upload_folder`` commit. This module knows files,
not models: what a name means is `vinr_zoo.names`, what a valid directory is `vinr_zoo.publish`.

huggingface_hub is imported only inside functions: zoo names and local folders never pay for it.
Every failure is a `VinrError` with one line of text (`vinr_zoo.hub_errors`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vinr_zoo.contract import CARD_NAME, ONNX_NAME, PULL_FILES, REQUIRED_FILES
from vinr_zoo.errors import HubError, OptionError
from vinr_zoo.hub_errors import translate
from vinr_zoo.version import LIBRARY_NAME, __version__

_SHA_RE = re.compile(r"^[0-9a-f]{40}$")


def hub_call(where: dict, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with huggingface_hub's errors translated to one-line `VinrError`s.

    ``where`` is what the message may name: ``repo_id``, ``revision``, ``token``, ``cache_dir``, ``writing``.
    """
    try:
        with _progress_bars_on_terminal_only():
            return fn(*args, **kwargs)
    except Exception as exc:
        translated = translate(exc, **where)
        if translated is None:
            raise
        raise translated from None


# ---- download ------------------------------------------------------------------------------------------
def download(
    repo_id: str,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
) -> Path:
    """``snapshot_download`` of the files a model needs; returns the cache snapshot (named by its commit)."""
    from huggingface_hub import snapshot_download

    where = {"repo_id": repo_id, "revision": revision, "cache_dir": cache_dir, "token": token}
    folder = hub_call(
        where,
        snapshot_download,
        repo_id,
        revision=revision,
        cache_dir=cache_dir,
        token=token,
        local_files_only=local_files_only,
        allow_patterns=list(PULL_FILES),
        library_name=LIBRARY_NAME,
        library_version=__version__,
    )
    path = Path(folder)
    if not _SHA_RE.match(path.name):  # snapshot folders are named by commit; anything else is a surprise
        raise HubError(f"unexpected snapshot folder {path} for {repo_id} (not named by a commit sha)")
    verify_snapshot(path, f"{repo_id}@{path.name}")
    return path


def download_file(repo_id: str, filename: str, *, revision: str | None = None) -> Path:
    """One file of a Hub repo, through the standard cache (``hf_hub_download``)."""
    from huggingface_hub import hf_hub_download

    where = {"repo_id": repo_id, "revision": revision}
    return Path(hub_call(where, hf_hub_download, repo_id, filename, revision=revision))


@contextlib.contextmanager
def _progress_bars_on_terminal_only():
    """huggingface_hub's tqdm bars only when stderr is a terminal: piped, they would bury the one error line."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    if sys.stderr.isatty() or are_progress_bars_disabled():
        yield
        return
    disable_progress_bars()
    try:
        yield
    finally:
        enable_progress_bars()


def verify_snapshot(snapshot: Path, label: str) -> None:
    """Hash every file of a cache snapshot against the name of the blob it links to.

    huggingface_hub names each cached blob by the file's ETag, which the Hub sets to the sha256 of an LFS
    file and to the git blob id (sha1 of ``"blob <size>\\0" + content``) of a regular one, but checks only the
    size of a download. Hashing here catches a truncated, corrupted or tampered cache, on every load.
    Caches without symlinks (some Windows set-ups) hold copies with no name to check; they are skipped.
    """
    for file in sorted(snapshot.iterdir()):
        if not file.is_symlink() or file.name not in PULL_FILES:
            continue
        blob = Path(os.path.realpath(file))
        expected = blob.name
        if blob.parent.name != "blobs" or not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", expected):
            continue
        digest = hashlib.sha256() if len(expected) == 64 else hashlib.sha1(usedforsecurity=False)
        try:
            if len(expected) == 40:
                digest.update(b"blob %d\0" % blob.stat().st_size)
            with open(blob, "rb") as f:
                for block in iter(lambda f=f: f.read(1 << 20), b""):
                    digest.update(block)
        except OSError as exc:
            raise HubError(f"{label}: cannot read {file.name} in the Hub cache ({exc.strerror or exc})") from None
        if digest.hexdigest() != expected:
            kind = "sha256" if len(expected) == 64 else "git blob id"
            raise HubError(
                f"{label}: {file.name} in the Hub cache does not match its {kind} {expected[:12]}... (a damaged "
                f"or altered download); delete {blob} and pull again"
            )


# ---- upload --------------------------------------------------------------------------------------------
@dataclass
class PushResult:
    repo_id: str
    revision: str
    commit: str
    commit_url: str
    files: list[str]

    def __str__(self) -> str:  # like huggingface_hub's CommitInfo, which is the commit URL
        return self.commit_url


def upload_model_dir(
    directory: Path,
    repo_id: str,
    card: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    with_onnx: bool = False,
    token: str | None = None,
) -> PushResult:
    """Create ``repo_id`` if needed and upload the directory's model files plus ``card`` in one commit.

    Uploaded: config.json, model.safetensors, ``card`` as README.md and, with ``with_onnx``, model.onnx; a
    stale model.onnx on the branch is deleted otherwise, so weights and export never disagree. The
    directory itself is not modified.
    """
    from huggingface_hub import HfApi

    if with_onnx and not (directory / ONNX_NAME).is_file():
        raise OptionError("with_onnx", f"needs {directory / ONNX_NAME}, which is missing (run `vinr export` first)")
    branch = revision or "main"
    api = HfApi(token=token, library_name=LIBRARY_NAME)
    where = {"repo_id": repo_id, "revision": branch, "token": token, "writing": True}
    hub_call(where, api.create_repo, repo_id, private=private, exist_ok=True)
    if private and not hub_call(where, api.model_info, repo_id).private:
        raise HubError(f"{repo_id} already exists and is public; private=True does not change an existing repo")
    if branch != "main":
        hub_call(where, api.create_branch, repo_id, branch=branch, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".vinr-push-") as tmp:
        stage = Path(tmp)
        names = list(REQUIRED_FILES) + ([ONNX_NAME] if with_onnx else [])
        for name in names:
            _link_or_copy(directory / name, stage / name)
        (stage / CARD_NAME).write_text(card, encoding="utf-8")
        info = hub_call(
            where,
            api.upload_folder,
            repo_id=repo_id,
            folder_path=stage,
            revision=branch,
            commit_message=commit_message or f"Upload {directory.name} with vinr-zoo",
            delete_patterns=None if with_onnx else [ONNX_NAME],
        )
    return PushResult(repo_id, branch, info.oid, info.commit_url, sorted(names + [CARD_NAME]))


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


# ---- listing -------------------------------------------------------------------------------------------
@dataclass
class HubModel:
    repo_id: str
    sha: str | None
    last_modified: str
    private: bool
    downloads: int
    tags: list[str]


def list_hub_models(author: str | None = None, *, token: str | None = None, limit: int | None = None) -> list[HubModel]:
    """Models on the Hub tagged with the vinr-zoo library (optionally by one author)."""
    from huggingface_hub import HfApi

    api = HfApi(token=token, library_name=LIBRARY_NAME)
    where = {"repo_id": f"models of {author or 'everyone'}", "revision": None, "token": token}
    models = hub_call(where, lambda: list(api.list_models(filter=LIBRARY_NAME, author=author, limit=limit)))
    return [
        HubModel(
            m.id,
            m.sha,
            m.last_modified.strftime("%Y-%m-%d %H:%M") if m.last_modified else "",
            bool(m.private),
            int(m.downloads or 0),
            list(m.tags or []),
        )
        for m in models
    ]
