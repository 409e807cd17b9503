"""Model names → local model directories, and model directories → Hugging Face Hub repos.

A MODEL argument resolves in this order: an embedded zoo name (``checkpoints/``, works offline, files
verified against the registry's sha256), a local model directory, then a Hub repo id ``user/repo`` or
``user/repo@revision`` (a branch, tag or commit sha). Hub downloads go through ``snapshot_download`` into the
standard cache, so HF_HOME / HF_HUB_CACHE / HF_HUB_OFFLINE / HF_TOKEN / HF_ENDPOINT behave as everywhere
else. Pushes upload a validated model directory in one commit with a model card the Hub renders.

huggingface_hub is imported only in this module, and only inside functions: zoo names and local folders
never pay for it. Every failure is a `VinrError` with one line of text.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vinr_zoo import zoo
from vinr_zoo._atomic import atomic_dir
from vinr_zoo.config import SineMLPConfig
from vinr_zoo.errors import (
    ConfigError,
    HubAuthError,
    HubError,
    HubNotFoundError,
    HubOfflineError,
    ModelLoadError,
    VinrError,
)

LIBRARY_NAME = "vinr-zoo"
CARD_TAGS = ("vinr-zoo", "implicit-neural-representation", "siren", "video")
DEFAULT_LICENSE = "other"
REQUIRED_FILES = ("config.json", "model.safetensors")
# What a pull fetches: the model directory (CONVENTIONS.md) and the optional ONNX export, never engines.
PULL_PATTERNS = ("config.json", "model.safetensors", "README.md", "model.onnx")
PUSH_FILES = ("config.json", "model.safetensors")

# Hub repo ids: namespace/name, each [A-Za-z0-9._-], not starting with '.' or '-', at most 96 characters.
_REPO_PART = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,95}"
_REPO_RE = re.compile(rf"^({_REPO_PART})/({_REPO_PART})$")
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")


# ---- names -------------------------------------------------------------------------------------------
def parse_hub_name(text: str) -> tuple[str, str | None] | None:
    """``user/repo[@revision]`` → ``(repo_id, revision)``; None when ``text`` cannot be a Hub repo id."""
    repo_id, sep, revision = text.partition("@")
    if not _REPO_RE.match(repo_id) or ".." in repo_id or "--" in repo_id or repo_id.endswith((".", "-")):
        return None
    if sep and not revision:
        return None
    return repo_id, (revision or None)


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
    entry = zoo.get_entry(text)
    if entry is not None:
        if revision is not None:
            raise VinrError(f"{text} is an embedded zoo model; --revision applies to Hub repos only")
        return ResolvedModel(zoo.verified_path(entry), "zoo", text)
    path = Path(text)
    if path.is_dir():
        if revision is not None:
            raise VinrError(f"{text} is a local directory; --revision applies to Hub repos only")
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
        raise VinrError(f"{text} pins revision {pinned!r} but --revision says {revision!r}; give one")
    revision = pinned or revision
    snapshot = download(repo_id, revision=revision, cache_dir=cache_dir, token=token, local_files_only=local_files_only)
    return ResolvedModel(snapshot, "hub", repo_id, revision, snapshot.name)


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

    from vinr_zoo import __version__

    try:
        with _progress_bars_on_terminal_only():
            folder = snapshot_download(
                repo_id, revision=revision, cache_dir=cache_dir, token=token, local_files_only=local_files_only,
                allow_patterns=list(PULL_PATTERNS), library_name=LIBRARY_NAME, library_version=__version__,
            )  # fmt: skip
    except Exception as exc:
        translated = _translate(exc, repo_id=repo_id, revision=revision, cache_dir=cache_dir, token=token)
        if translated is None:
            raise
        raise translated from None
    path = Path(folder)
    if not _SHA_RE.match(path.name):  # snapshot folders are named by commit; anything else is a surprise
        raise HubError(f"unexpected snapshot folder {path} for {repo_id} (not named by a commit sha)")
    verify_snapshot(path, f"{repo_id}@{path.name}")
    return path


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
        if not file.is_symlink() or file.name not in PULL_PATTERNS:
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


# ---- validation --------------------------------------------------------------------------------------
def validate_model_dir(path: str | os.PathLike[str], *, what: str | None = None):
    """Load the directory's config and weights (the full checks of `SineMLP.from_pretrained`).

    Raises `ModelLoadError` as ``"{what}: {reason}"``; returns the loaded `SineMLP`.
    """
    from vinr_zoo.model import SineMLP

    path = Path(path)
    what = what or f"{path} is not a valid model directory"
    for name in REQUIRED_FILES:
        if not (path / name).is_file():
            raise ModelLoadError(f"{what}: {name} is missing")
    try:
        return SineMLP.from_pretrained(path)
    except (ModelLoadError, ConfigError) as exc:
        raise ModelLoadError(f"{what}: {exc}") from None


# ---- pull --------------------------------------------------------------------------------------------
@dataclass
class PullResult:
    resolved: ResolvedModel
    path: Path  # the directory to use: the --output copy, or the zoo / local / cache directory
    config: SineMLPConfig
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
    """Resolve ``name`` (zoo, local, Hub), validate the directory, and optionally copy it to ``output``.

    An embedded zoo name wins over a local directory of the same name here (`resolve_model`'s order);
    `decode` and `SineMLP.from_pretrained` try an existing directory first.
    """
    resolved = resolve_model(name, revision=revision, cache_dir=cache_dir, token=token)
    model = validate_model_dir(resolved.path, what=f"{resolved.label} is not a valid vinr-zoo model")
    files = sorted(p.name for p in resolved.path.iterdir() if p.is_file() and p.name in PULL_PATTERNS)
    path = resolved.path
    if output is not None:
        path = Path(output)
        if path.resolve() == resolved.path.resolve():
            raise VinrError(f"--output {path} is the model directory itself")
        with atomic_dir(path, overwrite=overwrite) as tmp:
            for file in files:
                shutil.copyfile(resolved.path / file, tmp / file)  # follows the cache's blob symlinks
    return PullResult(resolved, path, model.config, files)


# ---- push --------------------------------------------------------------------------------------------
@dataclass
class PushResult:
    repo_id: str
    revision: str
    commit: str
    commit_url: str
    files: list[str]

    def __str__(self) -> str:  # like huggingface_hub's CommitInfo, which is the commit URL
        return self.commit_url


def push(
    directory: str | os.PathLike[str],
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    with_onnx: bool = False,
    token: str | None = None,
) -> PushResult:
    """Create ``repo_id`` if needed and upload the model directory in one commit.

    The directory must validate. Uploaded: config.json, model.safetensors, a README.md model card (the
    directory's own with its metadata completed, or a generated one) and, with ``with_onnx``, model.onnx; a
    stale model.onnx on the branch is deleted otherwise, so weights and export never disagree. The
    directory itself is not modified.
    """
    from huggingface_hub import HfApi

    directory = Path(directory)
    if not directory.is_dir():
        raise ModelLoadError(f"refusing to push {directory}: not a directory")
    model = validate_model_dir(directory, what=f"refusing to push {directory}")
    if parse_hub_name(repo_id) is None or "@" in repo_id:
        raise HubError(f"{repo_id!r} is not a Hub repo id (user/repo; use --revision for the branch)")
    if with_onnx and not (directory / "model.onnx").is_file():
        raise ModelLoadError(f"--with-onnx: {directory} has no model.onnx (run `vinr export` first)")
    branch = revision or "main"
    # Rendered before anything touches the Hub, so a broken card refuses the push without creating a repo.
    card = render_card(directory / "README.md", model.config, model_name=repo_id.split("/", 1)[1])
    card = retarget_commands(card, repo_id if branch == "main" else f"{repo_id}@{branch}")
    api = HfApi(token=token, library_name=LIBRARY_NAME)

    def hub_call(fn, *args, **kwargs):
        try:
            with _progress_bars_on_terminal_only():
                return fn(*args, **kwargs)
        except Exception as exc:
            translated = _translate(exc, repo_id=repo_id, revision=branch, token=token, writing=True)
            if translated is None:
                raise
            raise translated from None

    hub_call(api.create_repo, repo_id, private=private, exist_ok=True)
    if private and not hub_call(api.model_info, repo_id).private:
        raise HubError(f"{repo_id} already exists and is public; --private does not change an existing repo")
    if branch != "main":
        hub_call(api.create_branch, repo_id, branch=branch, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".vinr-push-") as tmp:
        stage = Path(tmp)
        names = list(PUSH_FILES) + (["model.onnx"] if with_onnx else [])
        for name in names:
            _link_or_copy(directory / name, stage / name)
        (stage / "README.md").write_text(card, encoding="utf-8")
        info = hub_call(
            api.upload_folder, repo_id=repo_id, folder_path=stage, revision=branch,
            commit_message=commit_message or f"Upload {directory.name} with vinr-zoo",
            delete_patterns=None if with_onnx else ["model.onnx"],
        )  # fmt: skip
    return PushResult(repo_id, branch, info.oid, info.commit_url, sorted(names + ["README.md"]))


_COMMAND_LINE = re.compile(r"^(vinr (?:decode|eval)) (?!stvsr\b|-)(\"[^\"\n]*\"|'[^'\n]*'|\S+)", re.M)


def retarget_commands(card: str, model: str) -> str:
    """Point the card's ``vinr decode X`` / ``vinr eval X`` lines at ``model`` (the pushed repo id).

    A card written by `vinr fit` names the local folder it was written to (or, in the embedded zoo, the zoo
    name); on the Hub the same lines must name the repo so they can be copied and run.
    """
    return _COMMAND_LINE.sub(lambda m: f"{m.group(1)} {shlex.quote(model)}", card)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


# ---- model cards -------------------------------------------------------------------------------------
def render_card(readme: Path | None, config: SineMLPConfig, *, model_name: str | None = None) -> str:
    """The README.md to publish: ``readme``'s body with its metadata completed, or a generated card.

    Completed means: ``library_name: vinr-zoo``, the vinr-zoo tags, a license, and, when the card has no
    ``model-index`` yet, the training metrics from config.json (PSNR RGB, PSNR Y, SSIM).
    """
    from huggingface_hub import EvalResult, ModelCard

    from vinr_zoo.card import metric_digits, render_model_card

    metrics = _config_metrics(config)
    if readme is None or not readme.is_file():
        return render_model_card(config, metrics, license=DEFAULT_LICENSE, model_name=model_name)
    try:
        card = ModelCard(readme.read_text(encoding="utf-8"), ignore_metadata_errors=False)
    except Exception as exc:  # YAML errors and metadata the card class refuses
        raise ConfigError(f"{readme}: the model card's YAML metadata is invalid ({_one_line(exc)})") from None
    data = card.data
    data.library_name = LIBRARY_NAME
    tags = [t for t in (data.tags or []) if isinstance(t, str)]
    data.tags = tags + [t for t in CARD_TAGS if t not in tags]
    data.license = data.license or DEFAULT_LICENSE
    if not data.eval_results and metrics:
        clip = Path(config.source.name).stem if config.source and config.source.name else "video"
        data.model_name = data.model_name or model_name or clip
        data.eval_results = [
            EvalResult(task_type="video-reconstruction", task_name="Video reconstruction", dataset_type=clip,
                       dataset_name=clip, metric_type=key, metric_value=round(value, metric_digits(key)))  # fmt: skip
            for key, value in metrics.items()
        ]
    return card.content


def _config_metrics(config: SineMLPConfig) -> dict[str, float]:
    from vinr_zoo.card import training_metrics

    return training_metrics(config.training)


@dataclass
class CardSummary:
    library_name: str | None
    license: str | None
    tags: list[str]
    metrics: list[tuple[str, float, str]]  # (metric type, value, dataset)


def read_card(readme: str | os.PathLike[str]) -> CardSummary | None:
    """The metadata of a README.md model card; None when there is no card or no metadata block."""
    from huggingface_hub import ModelCard

    readme = Path(readme)
    if not readme.is_file():
        return None
    try:
        card = ModelCard(readme.read_text(encoding="utf-8"), ignore_metadata_errors=True)
    except Exception as exc:
        raise ConfigError(f"{readme}: unreadable model card metadata ({_one_line(exc)})") from None
    data = card.data
    metrics = [(r.metric_type, r.metric_value, r.dataset_name) for r in (data.eval_results or [])]
    return CardSummary(data.library_name, data.license, list(data.tags or []), metrics)


# ---- listing and info --------------------------------------------------------------------------------
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
    try:
        models = list(api.list_models(filter=LIBRARY_NAME, author=author, limit=limit))
    except Exception as exc:
        translated = _translate(exc, repo_id=f"models of {author or 'everyone'}", revision=None, token=token)
        if translated is None:
            raise
        raise translated from None
    return [
        HubModel(m.id, m.sha, m.last_modified.strftime("%Y-%m-%d %H:%M") if m.last_modified else "",
                 bool(m.private), int(m.downloads or 0), list(m.tags or []))  # fmt: skip
        for m in models
    ]


@dataclass
class ModelDetails:
    resolved: ResolvedModel
    config: SineMLPConfig
    card: CardSummary | None
    files: list[tuple[str, int]]  # (name, bytes)


def model_details(name: str, *, revision: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
                  token: str | None = None) -> ModelDetails:  # fmt: skip
    """Config, card metrics and files of any MODEL (zoo, local, Hub)."""
    resolved = resolve_model(name, revision=revision, cache_dir=cache_dir, token=token)
    model = validate_model_dir(resolved.path, what=f"{resolved.label} is not a valid vinr-zoo model")
    files = sorted((p.name, p.stat().st_size) for p in resolved.path.iterdir() if p.is_file())
    return ModelDetails(resolved, model.config, read_card(resolved.path / "README.md"), files)


def human_size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


# ---- errors ------------------------------------------------------------------------------------------
def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _network_errors() -> tuple[type[BaseException], ...]:
    import importlib

    found: list[type[BaseException]] = []
    for module in ("httpx2", "httpx"):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        found += [c for n in ("ConnectError", "TimeoutException") if isinstance(c := getattr(mod, n, None), type)]
    return tuple(found)


def _translate(
    exc: BaseException, *, repo_id: str, revision: str | None, cache_dir: Any = None, token: Any = None,
    writing: bool = False,
) -> VinrError | None:  # fmt: skip
    """huggingface_hub's exception → one `VinrError` line; None for something this does not know."""
    from huggingface_hub import constants, get_token
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    target = f"{repo_id}@{revision}" if revision else repo_id
    sent_token = token is not False and bool(token if isinstance(token, str) else get_token())
    login = "set HF_TOKEN or run `hf auth login`"
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, HFValidationError):
        return HubError(f"{repo_id!r} is not a valid Hub repo id: {_one_line(exc)}")
    if isinstance(exc, RevisionNotFoundError):
        return HubNotFoundError(f"Hub repo {repo_id} has no revision {revision!r} (a branch, tag or commit sha)")
    if isinstance(exc, GatedRepoError):
        return HubAuthError(f"Hub repo {repo_id} is gated: request access on the Hub and use a token that has it")
    if isinstance(exc, RepositoryNotFoundError):
        if writing and not sent_token:
            return HubAuthError(f"pushing to {repo_id} needs a token with write access: {login}")
        if status == 401 and not sent_token:
            return HubNotFoundError(f"Hub repo {repo_id} not found, or it is private and no token was sent ({login})")
        return HubNotFoundError(f"Hub repo {repo_id} not found (or it is private and this token has no access)")
    if isinstance(exc, RemoteEntryNotFoundError):
        return HubNotFoundError(f"{target}: a file is missing on the Hub ({_one_line(exc)})")
    if isinstance(exc, LocalEntryNotFoundError):
        cache = cache_dir or constants.HF_HUB_CACHE
        if constants.is_offline_mode():
            return HubOfflineError(
                f"{target} is not in the local Hub cache ({cache}) and HF_HUB_OFFLINE is set: "
                "pull it once with network access"
            )
        return HubOfflineError(f"cannot reach the Hub at {constants.ENDPOINT}, and {target} is not cached ({cache})")
    if isinstance(exc, OfflineModeIsEnabled):
        doing = "pushing to" if writing else "listing"
        return HubOfflineError(f"HF_HUB_OFFLINE is set: {doing} the Hub needs the network")
    if isinstance(exc, HfHubHTTPError):
        server = getattr(exc, "server_message", None) or ""
        if status == 401:
            if sent_token:
                return HubAuthError("the Hub rejected the token (401 Unauthorized): check HF_TOKEN or `hf auth login`")
            if writing:
                return HubAuthError(f"pushing to {repo_id} needs a token with write access: {login}")
            return HubAuthError(f"reading {repo_id} needs a token: {login}")
        if status == 403:
            detail = f": {server}" if server else ""
            return HubAuthError(f"this token may not write to {repo_id} (403 Forbidden{detail})")
        return HubError(f"the Hub answered {status} for {target}: {_one_line(exc)}")
    if isinstance(exc, _network_errors()):
        return HubOfflineError(f"cannot reach the Hub at {constants.ENDPOINT}: {_one_line(exc)}")
    if isinstance(exc, ValueError) and "README.md" in str(exc):
        return HubError(f"the Hub refused the model card: {_one_line(exc)}")
    return None
