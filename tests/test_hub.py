"""vinr_zoo/hub.py against a Hub over real HTTP: the real huggingface_hub client talks to tests/fakes/hub_server.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from vinr_zoo import cards, names
from vinr_zoo import publish as vhub
from vinr_zoo.cli import app
from vinr_zoo.config import SourceVideo
from vinr_zoo.decode import decode
from vinr_zoo.errors import (
    ConfigError,
    HubAuthError,
    HubError,
    HubNotFoundError,
    HubOfflineError,
    ModelLoadError,
    OptionError,
    VinrError,
)
from vinr_zoo.hub import list_hub_models
from vinr_zoo.models import SineMLP, SineMLPConfig
from vinr_zoo.zoo import get_entry

# huggingface_hub's LFS upload hands httpx2 a file object as `data=`; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")


@pytest.fixture
def alice(hub, monkeypatch) -> str:
    """HF_TOKEN = alice's write token (read by huggingface_hub on every call)."""
    monkeypatch.setenv("HF_TOKEN", hub.tokens["alice"])
    return hub.tokens["alice"]


@pytest.fixture
def repo() -> str:
    return f"alice/m-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def carphone(tmp_path) -> Path:
    """A copy of the embedded carphone model (real weights, config and card)."""
    out = tmp_path / "carphone"
    shutil.copytree(get_entry("carphone-tiny").path, out)
    return out


def tiny_model(seed: int, directory: Path, *, psnr: float | None = 21.5) -> Path:
    torch.manual_seed(seed)
    training = {"final_psnr_rgb": psnr} if psnr is not None else {}
    config = SineMLPConfig(
        hidden_features=8, hidden_layers=2, source=SourceVideo(10, 6, 3, 12.0, "synthetic.npy"), training=training
    )
    SineMLP(config).save_pretrained(directory)
    return directory


def weights(path: Path) -> dict[str, torch.Tensor]:
    return SineMLP.from_pretrained(path).state_dict()


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# ---- push, pull, decode ------------------------------------------------------------------------------
def test_push_pull_decode_matches_local(hub, alice, repo, carphone, tmp_path):
    pushed = vhub.push(carphone, repo, commit_message="carphone, first push")
    assert len(pushed.commit) == 40 and pushed.commit_url == f"{hub.endpoint}/{repo}/commit/{pushed.commit}"
    assert pushed.files == ["README.md", "config.json", "model.safetensors"]

    cache = tmp_path / "fresh-cache"
    result = CliRunner().invoke(app, ["pull", repo, "--cache-dir", str(cache)])
    assert result.exit_code == 0, result.output
    assert f"commit: {pushed.commit}" in result.stdout
    snapshot = cache / f"models--{repo.replace('/', '--')}" / "snapshots" / pushed.commit
    assert f"path: {snapshot}" in result.stdout
    for name in ("config.json", "model.safetensors"):
        assert (snapshot / name).read_bytes() == (carphone / name).read_bytes()

    local = decode(carphone, tmp_path / "local.npy")
    remote = decode(f"{repo}@{pushed.commit}", tmp_path / "remote.npy")
    a, b = np.load(local.path), np.load(remote.path)
    assert a.shape == (8, 72, 88, 3) and a.std() > 5  # a real picture, not a constant
    np.testing.assert_array_equal(a, b)


def test_second_push_then_pull_pinned_to_first_commit(hub, alice, repo, tmp_path):
    first = vhub.push(tiny_model(1, tmp_path / "a"), repo)
    second = vhub.push(tiny_model(2, tmp_path / "b"), repo, commit_message="retrained")
    assert first.commit != second.commit
    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert not same_weights(wa, wb)

    latest = vhub.pull(repo, cache_dir=tmp_path / "c")
    assert latest.commit == second.commit and same_weights(weights(latest.path), wb)
    pinned = vhub.pull(f"{repo}@{first.commit}", cache_dir=tmp_path / "c")
    assert pinned.commit == first.commit and same_weights(weights(pinned.path), wa)
    # The Python API takes the same pin, as a keyword.
    assert same_weights(SineMLP.from_pretrained(repo, revision=first.commit).state_dict(), wa)
    # A tag pins too, and resolves to its commit.
    from huggingface_hub import HfApi

    HfApi().create_tag(repo, tag="v1", revision=first.commit)
    tagged = vhub.pull(repo, revision="v1", cache_dir=tmp_path / "c")
    assert tagged.commit == first.commit and tagged.resolved.label == f"{repo}@{first.commit}"


def test_push_to_branch_leaves_main(hub, alice, repo, tmp_path):
    main = vhub.push(tiny_model(1, tmp_path / "a"), repo)
    dev = CliRunner().invoke(app, ["push", str(tiny_model(2, tmp_path / "b")), repo, "--revision", "dev", "-m", "try"])
    assert dev.exit_code == 0, dev.output
    dev_commit = next(line.split()[1] for line in dev.stdout.splitlines() if line.startswith("commit: "))
    assert f"url: {hub.endpoint}/{repo}/commit/{dev_commit}" in dev.stdout
    assert vhub.pull(repo, cache_dir=tmp_path / "c").commit == main.commit
    on_dev = vhub.pull(f"{repo}@dev", cache_dir=tmp_path / "c")
    assert on_dev.commit == dev_commit and same_weights(weights(on_dev.path), weights(tmp_path / "b"))
    assert f"vinr decode {repo}@dev -o out.mp4" in (on_dev.path / "README.md").read_text()  # the card names the branch


def test_model_api_push_to_hub_and_from_pretrained(hub, alice, repo, tmp_path):
    model = SineMLP.from_pretrained(tiny_model(3, tmp_path / "m"))
    result = model.push_to_hub(repo, commit_message="from python")
    assert str(result) == result.commit_url and result.commit in result.commit_url
    loaded = SineMLP.from_pretrained(repo)
    assert same_weights(loaded.state_dict(), model.state_dict())
    assert loaded.config.to_dict() == model.config.to_dict()


def test_with_onnx_uploads_export_and_plain_push_removes_a_stale_one(hub, alice, repo, tmp_path):
    model_dir = tiny_model(4, tmp_path / "m")
    with pytest.raises(OptionError, match="^with_onnx needs .*model.onnx, which is missing"):
        vhub.push(model_dir, repo, with_onnx=True)
    (model_dir / "model.onnx").write_bytes(b"\x08\x07onnx-bytes-for-the-test")
    (model_dir / "model.fp16.engine").write_bytes(b"engine")  # never pushed
    first = vhub.push(model_dir, repo, with_onnx=True)
    assert first.files == ["README.md", "config.json", "model.onnx", "model.safetensors"]
    pulled = vhub.pull(repo, cache_dir=tmp_path / "c")
    assert (pulled.path / "model.onnx").read_bytes() == (model_dir / "model.onnx").read_bytes()
    assert not (pulled.path / "model.fp16.engine").exists()
    tiny_model(5, model_dir)  # new weights: the old export would disagree with them
    second = vhub.push(model_dir, repo)
    again = vhub.pull(repo, cache_dir=tmp_path / "c")
    assert again.commit == second.commit and not (again.path / "model.onnx").exists()


# ---- model cards -------------------------------------------------------------------------------------
def test_pushed_card_parses_with_modelcard_load(hub, alice, repo, carphone):
    from huggingface_hub import HfApi, ModelCard

    vhub.push(carphone, repo)
    card = ModelCard.load(repo)
    assert card.data.library_name == "vinr-zoo"
    assert {"vinr-zoo", "siren", "video"} <= set(card.data.tags) and card.data.license
    metrics = {m.metric_type: m.metric_value for m in card.data.eval_results}
    assert metrics == get_entry("carphone-tiny").metrics and set(metrics) == {"psnr_rgb", "psnr_y", "ssim"}
    assert "carphone" in card.text  # the directory's own card body is kept
    # the card's commands name the pushed repo, not the folder (or zoo name) it was written for
    assert f"vinr eval {repo} --reference sample:carphone" in card.text
    assert f"vinr decode {repo} -o out.mp4" in card.text and "vinr decode carphone-tiny" not in card.text
    info = HfApi().model_info(repo)
    assert info.library_name == "vinr-zoo" and "vinr-zoo" in info.tags


def test_generated_and_completed_cards(hub, alice, repo, tmp_path):
    from huggingface_hub import ModelCard

    bare = tiny_model(6, tmp_path / "bare", psnr=19.25)  # no README.md at all
    vhub.push(bare, repo)
    card = ModelCard.load(repo)
    assert card.data.library_name == "vinr-zoo" and card.data.eval_results[0].metric_value == 19.25
    assert not (bare / "README.md").exists()  # pushing never writes into the directory

    custom = tiny_model(7, tmp_path / "custom", psnr=None)
    (custom / "README.md").write_text("---\ntags: [mine]\nlicense: mit\n---\n# My model\n\nHand-written notes.\n")
    vhub.push(custom, repo)
    card = ModelCard.load(repo)
    assert card.data.tags[0] == "mine" and "vinr-zoo" in card.data.tags
    assert card.data.license == "mit" and card.data.library_name == "vinr-zoo"
    assert "Hand-written notes." in card.text and not card.data.eval_results

    broken = tiny_model(8, tmp_path / "broken")
    (broken / "README.md").write_text("---\ntags: [unclosed\n---\nbody\n")
    other = f"alice/m-{uuid.uuid4().hex[:10]}"
    with pytest.raises(ConfigError, match="YAML"):
        vhub.push(broken, other)
    from huggingface_hub import HfApi

    assert not HfApi().repo_exists(other)  # refused before anything reached the Hub


def test_push_refuses_a_directory_that_does_not_validate(hub, alice, repo, tmp_path):
    from huggingface_hub import HfApi

    no_weights = tiny_model(9, tmp_path / "a")
    (no_weights / "model.safetensors").unlink()
    result = CliRunner().invoke(app, ["push", str(no_weights), repo])
    assert "refusing to push" in one_error_line(result) and "model.safetensors" in result.stderr
    corrupt = tiny_model(9, tmp_path / "b")
    (corrupt / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="refusing to push"):
        vhub.push(corrupt, repo)
    assert not HfApi().repo_exists(repo)


# ---- errors: one line each ---------------------------------------------------------------------------
def test_missing_repo_and_revision_are_one_clear_line(hub, alice, repo, tmp_path):
    runner = CliRunner()
    line = one_error_line(runner.invoke(app, ["pull", "alice/no-such-model", "--cache-dir", str(tmp_path)]))
    assert "Hub repo alice/no-such-model not found" in line
    vhub.push(tiny_model(1, tmp_path / "m"), repo)
    line = one_error_line(runner.invoke(app, ["pull", f"{repo}@no-such-branch", "--cache-dir", str(tmp_path)]))
    assert f"Hub repo {repo} has no revision 'no-such-branch'" in line
    line = one_error_line(runner.invoke(app, ["decode", f"{repo}@{'0' * 40}", "-o", str(tmp_path / "x.npy")]))
    assert "has no revision" in line
    with pytest.raises(HubNotFoundError):
        SineMLP.from_pretrained(repo, revision="nope", cache_dir=tmp_path)


def test_private_repo_needs_the_owners_token(hub, alice, repo, tmp_path, monkeypatch):
    vhub.push(tiny_model(1, tmp_path / "m"), repo, private=True)
    assert vhub.pull(repo, cache_dir=tmp_path / "owner").commit  # the owner reads it

    monkeypatch.delenv("HF_TOKEN")
    line = one_error_line(CliRunner().invoke(app, ["pull", repo, "--cache-dir", str(tmp_path / "anon")]))
    assert "private" in line and "HF_TOKEN" in line

    monkeypatch.setenv("HF_TOKEN", hub.tokens["bob"])
    with pytest.raises(HubNotFoundError, match="this token has no access"):
        vhub.pull(repo, cache_dir=tmp_path / "bob")

    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    line = one_error_line(CliRunner().invoke(app, ["pull", repo, "--cache-dir", str(tmp_path / "bad")]))
    assert "rejected the token" in line


def test_push_auth_errors(hub, alice, repo, tmp_path, monkeypatch):
    model_dir = tiny_model(1, tmp_path / "m")
    monkeypatch.delenv("HF_TOKEN")
    line = one_error_line(CliRunner().invoke(app, ["push", str(model_dir), repo]))
    assert f"pushing to {repo} needs a token with write access" in line
    monkeypatch.setenv("HF_TOKEN", hub.tokens["bob"])
    with pytest.raises(HubAuthError, match="403"):
        vhub.push(model_dir, repo)  # bob may not write to alice's namespace
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    with pytest.raises(HubAuthError, match="rejected the token"):
        vhub.push(model_dir, repo)


def test_private_flag_does_not_silently_publish_into_a_public_repo(hub, alice, repo, tmp_path):
    vhub.push(tiny_model(1, tmp_path / "m"), repo)
    with pytest.raises(VinrError, match="already exists and is public"):
        vhub.push(tiny_model(2, tmp_path / "m"), repo, private=True)


# ---- offline -----------------------------------------------------------------------------------------
def test_offline_pull_uses_the_cache_and_fails_clearly_without_it(hub, alice, repo, tmp_path, monkeypatch):
    pushed = vhub.push(tiny_model(1, tmp_path / "m"), repo)
    cache = tmp_path / "cache"
    vhub.pull(repo, cache_dir=cache)

    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    offline = vhub.pull(repo, cache_dir=cache)
    assert offline.commit == pushed.commit and same_weights(weights(offline.path), weights(tmp_path / "m"))
    with pytest.raises(HubOfflineError, match="HF_HUB_OFFLINE"):
        vhub.pull(repo, cache_dir=tmp_path / "empty")
    line = one_error_line(CliRunner().invoke(app, ["pull", repo, "--cache-dir", str(tmp_path / "empty")]))
    assert "not in the local Hub cache" in line and "HF_HUB_OFFLINE" in line


def test_offline_env_in_a_fresh_process(hub, alice, repo, tmp_path):
    """HF_HUB_OFFLINE=1 as a user sets it: read at import by a new `vinr` process."""
    pushed = vhub.push(tiny_model(1, tmp_path / "m"), repo)
    cache = tmp_path / "cache"
    vhub.pull(repo, cache_dir=cache)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    script = "from vinr_zoo.cli import main; main()"
    ok = subprocess.run(
        [sys.executable, "-c", script, "pull", repo, "--cache-dir", str(cache), "-o", str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert f"commit: {pushed.commit}" in ok.stdout and (tmp_path / "out" / "model.safetensors").is_file()
    bad = subprocess.run(
        [sys.executable, "-c", script, "pull", repo, "--cache-dir", str(tmp_path / "empty")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: ") and "HF_HUB_OFFLINE" in bad.stderr


# ---- list and info -----------------------------------------------------------------------------------
def test_list_hub_and_info(hub, alice, repo, carphone, tmp_path):
    pushed = vhub.push(carphone, repo)
    private = f"alice/p-{uuid.uuid4().hex[:10]}"
    vhub.push(tiny_model(1, tmp_path / "p"), private, private=True)
    listed = CliRunner().invoke(app, ["list", "--hub", "alice"])
    assert listed.exit_code == 0, listed.output
    assert "carphone-tiny" in listed.stdout  # the embedded zoo comes first
    rows = {line.split()[0]: line for line in listed.stdout.splitlines() if line.startswith("alice/")}
    assert repo in rows and rows[private].endswith("private")
    assert not [m for m in list_hub_models("bob")]

    info = CliRunner().invoke(app, ["info", repo])
    assert info.exit_code == 0, info.output
    assert (
        f"commit: {pushed.commit}" in info.stdout
        and f"metric: psnr_rgb = {get_entry('carphone-tiny').metrics['psnr_rgb']}" in info.stdout
    )
    assert "2,339 parameters" in info.stdout and "model.safetensors" in info.stdout
    as_json = json.loads(CliRunner().invoke(app, ["info", repo, "--json"]).stdout)
    assert as_json["commit"] == pushed.commit and as_json["config"]["hidden_features"] == 32
    assert as_json["card"]["library_name"] == "vinr-zoo"


def test_decode_cli_accepts_a_pinned_hub_id(hub, alice, repo, carphone, tmp_path):
    pushed = vhub.push(carphone, repo)
    out = tmp_path / "out.npy"
    result = CliRunner().invoke(app, ["decode", f"{repo}@{pushed.commit}", "-o", str(out), "-q", "--scale-s", "0.5"])
    assert result.exit_code == 0, result.output
    expected = decode(carphone, tmp_path / "ref.npy", scale_s=0.5)
    np.testing.assert_array_equal(np.load(out), np.load(expected.path))


def test_parse_hub_name():
    assert names.parse_hub_name("alice/carphone") == ("alice/carphone", None)
    assert names.parse_hub_name("alice/carphone@v1.0") == ("alice/carphone", "v1.0")
    for text in ("carphone", "./a/b", "/abs/path", "a/b/c", "alice/car..phone", "alice/x@", "-a/b"):
        assert names.parse_hub_name(text) is None, text


def test_server_commit_ids_are_content_hashes(hub, alice, repo, tmp_path):
    """Pinning is meaningful: the Hub's history lists the pushed commits, newest first."""
    from huggingface_hub import HfApi

    a = vhub.push(tiny_model(1, tmp_path / "a"), repo)
    b = vhub.push(tiny_model(2, tmp_path / "b"), repo)
    history = [c.commit_id for c in HfApi().list_repo_commits(repo)]
    assert history[:2] == [b.commit, a.commit] and len(set(history)) == len(history)


def test_retarget_commands_replaces_only_the_model_argument():
    card = "\n".join(
        [
            "vinr decode runs/a -o out.mp4 --scale-s 2",
            "vinr eval 'my dir/m' --reference sample:carphone",
            'vinr eval "my dir/m" -r x.mp4',
            "vinr eval stvsr clip.mp4 --scale-s 2",
            "vinr stvsr sample:bikes --scale-t 4 --model bikes-motion",
            "vinr stvsr sample:bikes --model 'my dir/m' --scale-t 4",
            "vinr decode -o first.mp4 runs/a",
            "  vinr decode indented -o x.mp4",
            "see vinr decode prose -o x",
        ]
    )
    assert cards.retarget_commands(card, "alice/m@dev").splitlines() == [
        "vinr decode alice/m@dev -o out.mp4 --scale-s 2",
        "vinr eval alice/m@dev --reference sample:carphone",
        "vinr eval alice/m@dev -r x.mp4",
        "vinr eval stvsr clip.mp4 --scale-s 2",
        "vinr stvsr sample:bikes --scale-t 4 --model alice/m@dev",
        "vinr stvsr sample:bikes --model alice/m@dev --scale-t 4",
        "vinr decode -o first.mp4 runs/a",
        "  vinr decode indented -o x.mp4",
        "see vinr decode prose -o x",
    ]


def test_the_test_hub_records_requests_it_has_no_route_for(hub):
    """What makes the ``hub`` fixture fail a test: an untagged 404/405 is recorded (a tagged Hub error is not)."""
    import urllib.error
    import urllib.request

    def status(method: str, path: str) -> int:
        try:
            with urllib.request.urlopen(urllib.request.Request(f"{hub.endpoint}{path}", method=method), timeout=10):
                return 200
        except urllib.error.HTTPError as exc:
            return exc.code

    def take() -> list[str]:
        request = urllib.request.Request(f"{hub.endpoint}/__test/unhandled", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.loads(r.read())

    assert take() == []
    assert status("GET", "/api/models/alice/no-such-model") == 401  # the Hub's RepoNotFound, tagged: handled
    assert status("GET", "/api/datasets/alice/data") == 404  # no such route in the look-alike
    assert status("DELETE", "/api/whoami-v2") == 405  # a route, not for this method
    assert take() == ["GET /api/datasets/alice/data", "DELETE /api/whoami-v2"]
    assert take() == []  # taken once: the fixture's own check after this test finds nothing


def test_push_to_hub_refuses_a_repo_id_with_a_revision_before_touching_the_hub(tmp_path):
    model = SineMLP(SineMLPConfig(hidden_features=8, hidden_layers=2))
    for bad in ("alice/m@dev", "not-a-repo", "a/b/c"):
        with pytest.raises(HubError, match="is not a Hub repo id"):
            model.push_to_hub(bad)
