"""vinr_zoo/zoo.py: the embedded zoo (checkpoints/ + registry.json), name resolution, and the installed wheel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from vinr_zoo import zoo
from vinr_zoo.cards import read_card
from vinr_zoo.cli import app
from vinr_zoo.config import SourceVideo
from vinr_zoo.decode import decode
from vinr_zoo.errors import ModelLoadError, VinrError
from vinr_zoo.models import SineMLP, SineMLPConfig, VinrModel
from vinr_zoo.publish import human_size, pull, register_zoo_model
from vinr_zoo.sources import resolve_source

ROOT = Path(__file__).resolve().parent.parent
NAME = "carphone-tiny"


def one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture
def zoo_copy(tmp_path, monkeypatch) -> Path:
    """A private copy of the checkpoints folder that the zoo reads instead of the installed one."""
    root = tmp_path / "checkpoints"
    src = zoo.checkpoints_root()
    shutil.copytree(src, root, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(zoo, "checkpoints_root", lambda: root)
    return root


def test_registry_matches_the_shipped_model_directories():
    entries = {e.name: e for e in zoo.list_zoo()}
    assert NAME in entries
    assert zoo.checkpoints_root() == ROOT / "checkpoints"
    for entry in entries.values():
        assert set(entry.files) >= {"config.json", "model.safetensors", "README.md"}
        assert set(entry.sizes) == set(entry.files), entry.name
        for name, sha in entry.files.items():
            assert zoo.file_sha256(entry.path / name) == sha, f"{entry.name}/{name}: re-run zoo.register"
            assert (entry.path / name).stat().st_size == entry.sizes[name], f"{entry.name}/{name}: size"
        assert entry.size_bytes == sum(entry.sizes.values())
        model = VinrModel.from_pretrained(entry.path)  # any family: the zoo holds sine and motion MLPs
        assert model.num_params == entry.params
        assert entry.metrics["psnr_rgb"] == model.config.training["final_psnr_rgb"]
        assert set(entry.metrics) == {"psnr_rgb", "psnr_y", "ssim"}
        assert read_card(entry.path / "README.md").library_name == "vinr-zoo"


def test_a_zoo_name_loads_and_decodes_like_its_directory(tmp_path):
    entry = zoo.get_entry(NAME)
    by_name = decode(NAME, tmp_path / "name.npy")
    by_dir = decode(entry.path, tmp_path / "dir.npy")
    frames = np.load(by_name.path)
    assert frames.shape == (8, 72, 88, 3) and frames.std() > 5
    np.testing.assert_array_equal(frames, np.load(by_dir.path))
    a, b = SineMLP.from_pretrained(NAME).state_dict(), SineMLP.from_pretrained(entry.path).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(VinrError, match="applies to Hub repos only"):
        SineMLP.from_pretrained(NAME, revision="main")


def test_pull_resolves_zoo_then_local_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / NAME).mkdir()  # a local folder of the same name, not even a model: the zoo wins
    result = CliRunner().invoke(app, ["pull", NAME, "-o", "copy"])
    assert result.exit_code == 0, result.output
    assert f"pulled {NAME} (embedded zoo, sha256 verified)" in result.stdout and "path: copy" in result.stdout
    entry = zoo.get_entry(NAME)
    for name, sha in entry.files.items():
        assert zoo.file_sha256(tmp_path / "copy" / name) == sha
    local = pull("copy")
    assert local.resolved.kind == "local" and local.path == Path("copy") and local.commit is None
    again = CliRunner().invoke(app, ["pull", NAME, "-o", "copy"])
    assert "already exists" in one_error_line(again)
    assert CliRunner().invoke(app, ["pull", NAME, "-o", "copy", "--overwrite"]).exit_code == 0


def test_a_damaged_embedded_model_fails_its_sha256_check(zoo_copy, tmp_path):
    assert pull(NAME).path == zoo_copy / NAME
    weights = zoo_copy / NAME / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x01  # one bit of one float: still a loadable safetensors file, only the hash can tell
    weights.write_bytes(bytes(data))
    SineMLP.from_pretrained(zoo_copy / NAME)  # loads as a plain directory...
    line = one_error_line(CliRunner().invoke(app, ["pull", NAME]))  # ...but not as the registered zoo model
    assert f"embedded model {NAME}: model.safetensors has sha256" in line and "reinstall" in line
    with pytest.raises(ModelLoadError, match="sha256"):
        decode(NAME, tmp_path / "x.npy")
    weights.write_bytes(bytes(data[:-4]))  # truncated: the size check names it before any hashing
    line = one_error_line(CliRunner().invoke(app, ["pull", NAME]))
    assert f"model.safetensors has {len(data) - 4:,} bytes, the registry expects {len(data):,}" in line
    weights.unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        SineMLP.from_pretrained(NAME)


def test_registry_refuses_entries_outside_the_checkpoints_folder(tmp_path):
    sha = "0" * 64
    bad_sizes = (
        {"sizes": {"other.bin": 1}},
        {"sizes": {"config.json": -1}},
        {"sizes": {"config.json": True}},
        {"sizes": [1]},
    )
    for bad in ({"dir": "../elsewhere"}, {"dir": "/abs"}, {"files": {"config.json": "xyz"}}, {"files": {}}, *bad_sizes):
        entry = {"dir": "ok", "files": {"config.json": sha, "model.safetensors": sha}, **bad}
        (tmp_path / "registry.json").write_text(json.dumps({"schema_version": 1, "models": {"m": entry}}))
        with pytest.raises(ModelLoadError, match="registry.json"):
            zoo.load_registry(tmp_path)
    (tmp_path / "registry.json").write_text(json.dumps({"schema_version": 1, "models": {"Bad/Name": {}}}))
    with pytest.raises(ModelLoadError, match="not a valid zoo name"):
        zoo.load_registry(tmp_path)


def test_register_hashes_and_describes_a_model(tmp_path):
    root = tmp_path / "ckpt"
    torch.manual_seed(0)
    config = SineMLPConfig(
        hidden_features=8,
        hidden_layers=2,
        source=SourceVideo(16, 8, 4, 25.0, "clip.mp4"),
        training={"final_psnr_rgb": 30.5},
    )
    SineMLP(config).save_pretrained(root / "clip-xs")
    entry = register_zoo_model(root / "clip-xs", description="test")
    registry = zoo.load_registry(root)
    assert registry["clip-xs"].files == entry.files and set(entry.files) == {"config.json", "model.safetensors"}
    assert (entry.params, entry.source, entry.metrics) == (config.num_params, "clip 16x8x4", {"psnr_rgb": 30.5})
    with pytest.raises(VinrError, match="directly inside"):
        register_zoo_model(root / "clip-xs", root=tmp_path)


def test_vinr_list_and_info_show_the_zoo():
    entry = zoo.get_entry(NAME)
    listed = CliRunner().invoke(app, ["list"])
    assert listed.exit_code == 0, listed.output
    [row] = [line for line in listed.stdout.splitlines() if line.startswith(NAME)]
    size = human_size(entry.size_bytes).split()
    m = entry.metrics
    assert row.split()[1:] == [
        "2,339",
        "carphone_pristine",
        "88x72x8",
        f"{m['psnr_rgb']:.2f}",
        "dB",
        f"{m['ssim']:.4f}",
        *size,
    ]
    info = CliRunner().invoke(app, ["info", NAME])
    assert info.exit_code == 0, info.output
    assert f"model: {NAME} (zoo)" in info.stdout
    for kind in ("psnr_rgb", "psnr_y", "ssim"):
        assert f"metric: {kind} = {m[kind]} (carphone_pristine)" in info.stdout
    assert "source: carphone_pristine.mp4, 88x72, 8 frames @ 29.970 fps" in info.stdout
    assert "held-out" not in info.stdout
    motion = CliRunner().invoke(app, ["info", "bikes-motion"])
    held = resolve_source("bikes-motion").config.training["stvsr"]["held_out"]
    assert motion.exit_code == 0 and "architecture: motion_mlp" in motion.stdout
    assert f"fitted): model {held['model']['psnr_rgb']:.2f} dB" in motion.stdout
    assert f"flow {held['flow']['psnr_rgb']:.2f} dB" in motion.stdout


def test_an_unknown_name_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = one_error_line(CliRunner().invoke(app, ["pull", "no-such-model"]))
    assert "model directory no-such-model does not exist" in line and NAME in line
    (tmp_path / "weights.bin").write_bytes(b"x")
    assert "is a file, not a model directory" in one_error_line(CliRunner().invoke(app, ["info", "weights.bin"]))


def test_the_wheel_ships_the_zoo_and_works_outside_the_checkout(tmp_path):
    """Build the wheel, install it into a bare folder and pull the embedded model from there, offline."""
    src = tmp_path / "src"
    skip = shutil.ignore_patterns(
        ".git",
        ".venv",
        "*.egg-info",
        "build",
        "dist",
        "__pycache__",
        ".*_cache",
        "tests",
        "runs",
        "benchmarks",
        "*.engine",
    )
    shutil.copytree(ROOT, src, ignore=skip)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp_path / "dist"), str(src)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    [wheel] = (tmp_path / "dist").glob("vinr_zoo-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {
        p.relative_to(ROOT).as_posix() for p in (ROOT / "vinr_zoo").rglob("*.py") if "__pycache__" not in p.parts
    }
    missing = sorted(sources - names)
    assert not missing, f"not in the wheel (add the subpackage to [tool.setuptools] packages): {missing}"
    entry = zoo.get_entry(NAME)
    shipped = {f"vinr_zoo_checkpoints/{entry.dir}/{f}" for f in entry.files} | {"vinr_zoo_checkpoints/registry.json"}
    assert shipped <= names

    site = tmp_path / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    # -S: no site-packages processing, so the checkout's editable-install hook never runs; -I: no cwd, no
    # PYTHON* variables. The dependencies come from the venv's site-packages, appended after the wheel.
    script = f"""
import json, sys
sys.path[:0] = [{str(site)!r}]
sys.path.append({sysconfig.get_paths()["purelib"]!r})
from vinr_zoo.cli import app
app(["pull", {NAME!r}, "-o", "pulled"], standalone_mode=False)
hub_imported = "huggingface_hub" in sys.modules
from vinr_zoo.decode import decode
decode({NAME!r}, "frames.npy")
from vinr_zoo.zoo import checkpoints_root
ours = [m for n, m in list(sys.modules.items()) if n.startswith("vinr_zoo")]
mods = sorted({{m.__file__ for m in ours if getattr(m, "__file__", None)}})
print(json.dumps({{"modules": mods, "root": str(checkpoints_root()), "hub_imported": hub_imported}}))
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}
    run = subprocess.run(
        [sys.executable, "-S", "-I", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert f"pulled {NAME} (embedded zoo, sha256 verified)" in lines[0]
    assert report["modules"] and all(m.startswith(str(site)) for m in report["modules"]), report["modules"]
    assert report["root"] == str(site / "vinr_zoo_checkpoints")
    assert not report["hub_imported"]  # zoo names never need huggingface_hub
    for name, sha in entry.files.items():
        assert zoo.file_sha256(tmp_path / "pulled" / name) == sha
    np.testing.assert_array_equal(np.load(tmp_path / "frames.npy"), np.load(decode(NAME, tmp_path / "ref.npy").path))


def test_list_models_filters_with_a_shell_pattern_like_timm():
    import vinr_zoo

    assert vinr_zoo.list_models("bikes-w*") == ["bikes-w128", "bikes-w256", "bikes-w512"]
    assert vinr_zoo.list_models("*-motion") == ["bigbuckbunny-motion", "bikes-motion", "carphone-motion"]
    assert vinr_zoo.list_models() == [e.name for e in zoo.list_zoo()] and vinr_zoo.list_models("x*") == []
    listed = CliRunner().invoke(app, ["list", "*-w512"])
    assert listed.exit_code == 0, listed.output
    names = [line.split()[0] for line in listed.stdout.splitlines()[1:] if line.split() and "-w" in line.split()[0]]
    assert names == ["bigbuckbunny-w512", "bikes-w512", "carphone-w512"]
    none = CliRunner().invoke(app, ["list", "nothing*"])
    assert none.exit_code == 0 and "no embedded model matches 'nothing*'" in none.stdout


def test_export_never_writes_into_a_zoo_model_even_beside_a_folder_of_its_name(tmp_path, monkeypatch):
    """MODEL resolves zoo-first; the default output (the model's own folder) exists only for a local folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / NAME).mkdir()  # the user's own folder that happens to share the zoo name
    result = CliRunner().invoke(app, ["export", NAME])
    assert result.exit_code == 1 and "-o/--output is needed" in one_error_line(result), result.output
    assert list((tmp_path / NAME).iterdir()) == []
    local = pull(NAME, output="mine").path
    ok = CliRunner().invoke(app, ["export", str(local), "--overwrite"])
    assert ok.exit_code == 0 and (tmp_path / "mine" / "model.onnx").is_file(), ok.output


def test_a_path_object_is_a_folder_never_a_zoo_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / NAME).mkdir()
    with pytest.raises(VinrError, match="config.json"):
        SineMLP.from_pretrained(Path(NAME))  # the empty local folder, not the zoo model
    assert SineMLP.from_pretrained(NAME).config.source is not None  # the string is the zoo name
