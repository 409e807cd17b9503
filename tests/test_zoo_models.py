"""Every embedded zoo model loads, decodes on torch and ONNX Runtime, matches its registry entry, and its
card's numbers come back when the card's own `vinr eval` line is run."""

import json
import re
import shlex

import numpy as np
import pytest
from typer.testing import CliRunner

from vinr_zoo import zoo
from vinr_zoo.cards import read_card, training_metrics
from vinr_zoo.cli import app
from vinr_zoo.coords import SpaceTimeGrid
from vinr_zoo.decode import open_backend, render, resolve_source, to_uint8

ENTRIES = zoo.list_zoo()
IDS = [e.name for e in ENTRIES]
CLIPS = ("carphone", "bikes", "bigbuckbunny")
TOLERANCE = {"psnr_rgb": 0.05, "psnr_y": 0.05, "ssim": 5e-4}  # the card promises: within 0.05 dB


def test_the_zoo_holds_every_clip_at_three_widths():
    names = {e.name for e in ENTRIES}
    assert {f"{clip}-w{width}" for clip in CLIPS for width in (128, 256, 512)} <= names
    total = sum(e.size_bytes for e in ENTRIES)
    assert total < 30 * 2**20  # "a few tens of MB at most"
    widths = {e.name: resolve_source(e.name).config.hidden_features for e in ENTRIES}
    assert all(widths[name] == int(name.rsplit("-w", 1)[1]) for name in names if "-w" in name)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_every_zoo_model_decodes_identically_on_torch_and_ort(entry):
    src = resolve_source(entry.name)
    assert src.onnx_path is not None, f"{entry.name} ships no model.onnx"
    s = src.config.source
    grid = SpaceTimeGrid.build(s.width, s.height, s.frames, scale_s=0.5, scale_t=1.5).head(2)
    frames = {}
    for runtime in ("torch", "ort"):
        with open_backend(src, runtime) as backend:
            frames[runtime] = np.stack([to_uint8(f) for f in render(backend, grid)])
    same = np.mean(frames["torch"] == frames["ort"])
    assert same >= 0.999, f"{entry.name}: {same:.5f} of 8-bit values agree"
    assert frames["torch"].std() > 5  # a real picture, not a constant


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_every_zoo_onnx_is_opset_17_and_matches_torch_in_the_reference_evaluator(entry):
    """The portable files: opset 17 / IR 8 (old onnxruntime, onnxruntime-web and TensorRT open them), and a
    second, pure-numpy runtime (onnx.reference) computes the same function as the torch model."""
    import onnx
    import torch

    from vinr_zoo.export.validate import reference_evaluator_outputs, reference_outputs

    src = resolve_source(entry.name)
    proto = onnx.load(str(src.onnx_path))
    assert proto.opset_import[0].version == 17 and proto.ir_version == 8
    coords = torch.rand(512, 3, generator=torch.Generator().manual_seed(3)) * 2 - 1
    got = reference_evaluator_outputs(src.onnx_path, coords.numpy())
    assert np.abs(got - reference_outputs(src.model, coords).numpy()).max() <= 1e-4


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_card_registry_and_config_carry_the_same_three_metrics(entry):
    card = read_card(entry.path / "README.md")
    on_card = {kind: value for kind, value, _ in card.metrics}
    assert sorted(on_card) == ["psnr_rgb", "psnr_y", "ssim"]
    assert entry.metrics == on_card
    recorded = training_metrics(resolve_source(entry.name).config.training)
    assert recorded == on_card
    assert card.library_name == "vinr-zoo" and card.license in ("other", "cc-by-3.0")


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_the_cards_eval_command_reproduces_its_numbers(entry, tmp_path):
    """A model fitted on the whole clip gives one `vinr eval` line; a motion model fitted on 1 frame in 4 gives
    one `vinr stvsr ... --model NAME` line that reproduces its kept-frame metrics and every held-out score."""
    text = (entry.path / "README.md").read_text(encoding="utf-8")
    lines = re.findall(r"^vinr eval .*$", text, flags=re.M)
    stvsr = re.findall(r"^vinr stvsr .*--model .*$", text, flags=re.M)
    assert len(lines) + len(stvsr) == 1, "the card gives one line to reproduce it"
    out = tmp_path / "eval.json"
    if stvsr:
        argv = shlex.split(stvsr[0])[1:]
        assert argv[-1] == entry.name
        result = CliRunner().invoke(app, [*argv, "--json", str(out), "-q", "--runtime", "ort"])
        assert result.exit_code == 0, result.output
        measured = json.loads(out.read_text())["results"]
        for kind, value in entry.metrics.items():
            assert abs(measured["model"]["kept"][kind] - value) < TOLERANCE[kind], (kind, value)
        recorded = resolve_source(entry.name).config.training["stvsr"]["held_out"]
        assert set(recorded) == {"model", "trilinear", "bicubic_blend", "flow"}
        for method, scores in recorded.items():
            for kind, value in scores.items():
                assert abs(measured[method]["held_out"][kind] - value) < TOLERANCE[kind], (method, kind, value)
            assert f"| {scores['psnr_rgb']:.3f} |" in text  # and the card shows it
        return
    argv = shlex.split(lines[0])[1:]
    assert argv[1] == entry.name
    result = CliRunner().invoke(app, [*argv, "--json", str(out), "-q", "--runtime", "ort"])
    assert result.exit_code == 0, result.output
    measured = json.loads(out.read_text())
    assert measured["same_source_file"] is True
    for kind, value in entry.metrics.items():
        assert abs(measured[kind] - value) < TOLERANCE[kind], (kind, measured[kind], value)


def test_each_clip_has_a_motion_model_with_its_held_out_scores_beside_the_baselines():
    for clip in CLIPS:
        src = resolve_source(f"{clip}-motion")
        assert src.config.ARCHITECTURE == "motion_mlp" and src.config.key_frames == src.config.source.frames
        record = src.config.training["stvsr"]
        assert (record["scale_s"], record["scale_t"]) == (1, 4)
        assert set(record["held_out"]) == {"model", "trilinear", "bicubic_blend", "flow"}
        assert record["command"].endswith(f"--model {clip}-motion")
