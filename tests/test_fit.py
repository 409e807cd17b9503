import json

import numpy as np
import pytest
import torch
from clips import carphone_small, tiny_model_dir

from vinr_zoo.errors import OutputExistsError, VinrError
from vinr_zoo.fit import CHECKPOINT_NAME, FitOptions, fit_video, measure_psnr, measure_scores
from vinr_zoo.model import SineMLP


def test_fit_raises_psnr_well_above_the_start_and_writes_a_model_dir():
    d = tiny_model_dir()
    clip = carphone_small(8)
    model = SineMLP.from_pretrained(d)
    torch.manual_seed(0)
    untrained = SineMLP(model.config)
    start = measure_psnr(untrained, clip)
    end = measure_psnr(model, clip)
    assert end > start + 8, (start, end)
    assert end > 20
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["source"]["frames"] == 8 and cfg["source"]["width"] == 88
    assert cfg["training"]["steps"] == 150 and cfg["training"]["losses"] == ["l1"]
    assert abs(cfg["training"]["final_psnr_rgb"] - end) < 1e-3
    scores = measure_scores(model, clip)  # Y and SSIM as vinr_zoo/metrics.py defines them
    assert abs(cfg["training"]["final_psnr_y"] - scores.psnr_y) < 1e-3
    assert abs(cfg["training"]["final_ssim"] - scores.ssim) < 1e-4 and 0 < scores.ssim < 1
    assert scores.psnr_y != pytest.approx(scores.psnr_rgb, abs=1e-3)  # a different measurement, not a copy
    card = (d / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: vinr-zoo" in card and f"{end:.3f}" in card
    assert f"{scores.psnr_y:.3f}" in card and f"{scores.ssim:.4f}" in card
    assert not (d / CHECKPOINT_NAME).exists()


def _opts(**kw):
    base = dict(hidden_features=16, hidden_layers=2, steps=20, batch_size=2048, chunk_size=1024, checkpoint_every=10)
    base.update(kw)
    return FitOptions(**base)


def test_resume_continues_bit_exactly(tmp_path):
    clip = carphone_small(4)
    straight = fit_video(clip, _opts(), tmp_path / "straight")

    class Stop(Exception):
        pass

    def stop_at_15(info):
        if info.step == 15:
            raise Stop

    with pytest.raises(Stop):
        fit_video(clip, _opts(), tmp_path / "resumed", callback=stop_at_15)
    assert (tmp_path / "resumed" / CHECKPOINT_NAME).is_file()
    assert not (tmp_path / "resumed" / "model.safetensors").exists()  # nothing half-written
    seen = []
    resumed = fit_video(clip, _opts(), tmp_path / "resumed", resume=True, callback=lambda i: seen.append(i.step))
    assert seen[0] == 11  # continues after the step-10 checkpoint
    for (k, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_resume_refuses_changed_options_and_missing_checkpoints(tmp_path):
    clip = carphone_small(4)
    with pytest.raises(VinrError, match="no fit checkpoint"):
        fit_video(clip, _opts(), tmp_path / "none", resume=True)

    def boom(info):
        if info.step == 12:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit_video(clip, _opts(), tmp_path / "r", callback=boom)
    with pytest.raises(VinrError, match="hidden_features"):
        fit_video(clip, _opts(hidden_features=8), tmp_path / "r", resume=True)
    with pytest.raises(OutputExistsError, match="--resume"):
        fit_video(clip, _opts(), tmp_path / "r")


def test_temporal_loss_smooths_the_model_in_time(tmp_path):
    clip = carphone_small(4)
    plain = fit_video(clip, _opts(steps=40, seed=3), tmp_path / "plain").model
    smooth = fit_video(clip, _opts(steps=40, seed=3, temporal_weight=1.0), tmp_path / "smooth").model
    cfg = json.loads((tmp_path / "smooth" / "config.json").read_text())
    assert cfg["training"]["losses"] == ["l1", "temporal:1"]
    u = torch.rand(4096, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    dt = torch.tensor([0.0, 0.0, 1 / 3])

    def roughness(m):
        with torch.no_grad():
            return (m((u + dt).clamp(-1, 1)) - m((u - dt).clamp(-1, 1))).abs().mean().item()

    assert roughness(smooth) < 0.7 * roughness(plain)


def _fake_vgg(path):
    from safetensors.torch import save_file

    from vinr_zoo.perceptual import VGG16Relu33

    torch.manual_seed(0)
    save_file({k: v.contiguous() for k, v in VGG16Relu33().state_dict().items()}, str(path))


def test_perceptual_loss_runs_on_rendered_patches(tmp_path):
    _fake_vgg(tmp_path / "vgg.safetensors")  # random weights: the plumbing, not ImageNet features
    clip = carphone_small(2)
    out = fit_video(clip, _opts(steps=3, perceptual_weight=0.1, vgg_weights=str(tmp_path / "vgg.safetensors")),
                    tmp_path / "p")  # fmt: skip
    cfg = json.loads((out.model_dir / "config.json").read_text())
    assert cfg["training"]["losses"] == ["l1", "perceptual_vgg16_relu3_3:0.1"]


def test_perceptual_loss_without_weights_is_one_clear_error(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # as with HF_HUB_OFFLINE=1
    (tmp_path / "junk.safetensors").write_bytes(b"garbage")
    with pytest.raises(VinrError, match="not a readable safetensors"):
        fit_video(carphone_small(2), _opts(perceptual_weight=0.1, vgg_weights=str(tmp_path / "junk.safetensors")),
                  tmp_path / "q")  # fmt: skip
    # a Hub repo that cannot be had offline with an empty cache
    with pytest.raises(VinrError, match="--vgg-weights"):
        fit_video(carphone_small(2), _opts(perceptual_weight=0.1, vgg_weights="nobody/no-such-vgg"), tmp_path / "r")
    assert not (tmp_path / "q").exists() or not any((tmp_path / "q").glob("model.*"))


@pytest.mark.parametrize(
    "kw,msg",
    [({"steps": 0}, "--steps"), ({"lr": float("nan")}, "--lr"), ({"minutes": -1.0}, "--minutes"),
     ({"batch_size": 0}, "--batch-size"), ({"temporal_weight": -1.0}, "--temporal"), ({"device": "tpu"}, "--device")],
)  # fmt: skip
def test_bad_fit_options(tmp_path, kw, msg):
    with pytest.raises(VinrError, match=msg):
        fit_video(carphone_small(2), _opts(**kw), tmp_path / "x")


def test_minutes_budget_stops_the_fit(tmp_path):
    out = fit_video(carphone_small(2), _opts(steps=None, minutes=0.02), tmp_path / "t")
    assert 1 <= out.steps and out.wall_time_s < 10
    assert np.isfinite(out.psnr)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_precision_is_recorded_and_the_first_layer_stays_fp32(tmp_path, precision):
    out = fit_video(carphone_small(2), _opts(steps=5, precision=precision), tmp_path / precision)
    cfg = json.loads((out.model_dir / "config.json").read_text())
    assert cfg["training"]["precision"] == precision
    assert all(p.dtype == torch.float32 for p in out.model.parameters())  # weights are always stored fp32


def test_bf16_keeps_the_first_layer_in_fp32():
    from vinr_zoo.config import SineMLPConfig
    from vinr_zoo.fit import _forward

    torch.manual_seed(0)
    m = SineMLP(SineMLPConfig(hidden_features=16, hidden_layers=2))
    seen = []
    m.layers[0].register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    m.layers[1].register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    out = _forward(m, torch.rand(8, 3), "bf16")
    assert seen == [torch.float32, torch.bfloat16] and out.dtype == torch.float32


def test_without_pytorch_msssim_the_fit_records_and_cards_psnr_only(tmp_path, monkeypatch):
    import vinr_zoo.fit as fit_module
    from vinr_zoo.hub import read_card

    monkeypatch.setattr(fit_module, "ssim_available", lambda: False)
    out = fit_video(carphone_small(4), _opts(steps=5), tmp_path / "m").model_dir
    training = json.loads((out / "config.json").read_text())["training"]
    assert "final_ssim" not in training and isinstance(training["final_psnr_y"], float)
    assert sorted(kind for kind, _, _ in read_card(out / "README.md").metrics) == ["psnr_rgb", "psnr_y"]


def test_training_metrics_keep_only_finite_numbers():
    from vinr_zoo.card import training_metrics

    assert training_metrics({"final_psnr_rgb": 10**400, "final_psnr_y": None, "final_ssim": True}) == {}
    assert training_metrics({"final_psnr_rgb": 31, "final_ssim": 0.5, "final_psnr_y": float("inf")}) == {
        "psnr_rgb": 31.0, "ssim": 0.5}
    assert training_metrics("not a dict") == {}
