"""huggingface_hub's exceptions → one `VinrError` line each, naming the repo, the revision and the fix."""

from __future__ import annotations

from typing import Any

from vinr_zoo.errors import HubAuthError, HubError, HubNotFoundError, HubOfflineError, VinrError, one_line


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


def translate(
    exc: BaseException,
    *,
    repo_id: str,
    revision: str | None,
    cache_dir: Any = None,
    token: Any = None,
    writing: bool = False,
) -> VinrError | None:
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
        return HubError(f"{repo_id!r} is not a valid Hub repo id: {one_line(exc)}")
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
        return HubNotFoundError(f"{target}: a file is missing on the Hub ({one_line(exc)})")
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
        return HubError(f"the Hub answered {status} for {target}: {one_line(exc)}")
    if isinstance(exc, _network_errors()):
        return HubOfflineError(f"cannot reach the Hub at {constants.ENDPOINT}: {one_line(exc)}")
    if isinstance(exc, ValueError) and "README.md" in str(exc):
        return HubError(f"the Hub refused the model card: {one_line(exc)}")
    return None
