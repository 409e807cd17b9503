import json

import numpy as np
import pytest
import torch
from clips import assert_same_weights, carphone_small, fit_interrupted_then_resumed, tiny_model_dir

from vinr_zoo.errors import OptionError, OutputExistsError, VinrError
from vinr_zoo.fit import CHECKPOINT_NAME, FitOptions, fit_video, measure_psnr, measure_scores
from vinr_zoo.models import SineMLP
from vinr_zoo.video import Video


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
    assert cfg["training"]["steps"] == 150 and cfg["training"]["losses"] == ["mse"]
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
    straight, resumed = fit_interrupted_then_resumed(carphone_small(4), _opts(), tmp_path)
    assert_same_weights(straight.model, resumed.model)


def test_resume_continues_bit_exactly_with_partial_tiles(tmp_path):
    # 86 x 70: the error-guided sampler's last column and row of 4x4 tiles are partial (its masked path)
    clip = carphone_small(4)
    cropped = Video(frames=np.ascontiguousarray(clip.frames[:, :70, :86]), fps=clip.fps, name="crop")
    straight, resumed = fit_interrupted_then_resumed(cropped, _opts(), tmp_path)
    assert_same_weights(straight.model, resumed.model)


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
    with pytest.raises(VinrError, match="scene_cuts"):  # other cuts would make another model
        fit_video(clip, _opts(scene_cuts=[2]), tmp_path / "r", resume=True)
    with pytest.raises(OutputExistsError, match="--resume"):
        fit_video(clip, _opts(), tmp_path / "r")


def test_temporal_loss_smooths_the_model_in_time(tmp_path):
    clip = carphone_small(4)
    plain = fit_video(clip, _opts(steps=40, seed=3), tmp_path / "plain").model
    smooth = fit_video(clip, _opts(steps=40, seed=3, temporal_weight=1.0), tmp_path / "smooth").model
    cfg = json.loads((tmp_path / "smooth" / "config.json").read_text())
    assert cfg["training"]["losses"] == ["mse", "temporal:1"]
    u = torch.rand(4096, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    dt = torch.tensor([0.0, 0.0, 1 / 3])

    def roughness(m):
        with torch.no_grad():
            return (m((u + dt).clamp(-1, 1)) - m((u - dt).clamp(-1, 1))).abs().mean().item()

    assert roughness(smooth) < 0.7 * roughness(plain)


# VGG16's convolutions as timm's vgg16.tv_in1k model.safetensors holds them: torchvision's `features.N`
# numbering (N = 0, 2, 5, 7, 10, 12, 14 up to relu3_3, then 17 ... 28), then timm's ConvMlp pre-logits (the
# 7x7 and 1x1 convolutions that replace torchvision's classifier.0 / classifier.3) and the head's fc.
_VGG16_CONVS = [
    (0, 3, 64),
    (2, 64, 64),
    (5, 64, 128),
    (7, 128, 128),
    (10, 128, 256),
    (12, 256, 256),
    (14, 256, 256),
    (17, 256, 512),
    (19, 512, 512),
    (21, 512, 512),
    (24, 512, 512),
    (26, 512, 512),
    (28, 512, 512),
]
_VGG16_TAIL = {
    "pre_logits.fc1.weight": (4096, 512, 7, 7),
    "pre_logits.fc1.bias": (4096,),
    "pre_logits.fc2.weight": (4096, 4096, 1, 1),
    "pre_logits.fc2.bias": (4096,),
    "head.fc.weight": (1000, 4096),
    "head.fc.bias": (1000,),
}
_VGG_RELU33_LAST = 14  # the loader reads features.0 ... features.14 and nothing after


def _fake_vgg(path) -> dict[str, torch.Tensor]:
    """A stand-in for timm/vgg16.tv_in1k's model.safetensors: its key layout, random weights.

    The convolutions up to relu3_3 have their real shapes (the loader checks them). The keys after them are
    all there too, so that the loader's ignoring them is exercised; they hold one element each, not the
    real file's ~500 MB (the loader never reads them). Returns what was written."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    state = {}
    for idx, cin, cout in _VGG16_CONVS:
        real = idx <= _VGG_RELU33_LAST
        shapes = {"weight": (cout, cin, 3, 3), "bias": (cout,)} if real else {"weight": (1,), "bias": (1,)}
        for kind, shape in shapes.items():
            scale = (2 / (9 * cin)) ** 0.5 if kind == "weight" else 0.01  # He init, about the trained scale
            state[f"features.{idx}.{kind}"] = torch.randn(shape, generator=g) * scale
    state.update({k: torch.zeros(1) for k in _VGG16_TAIL})
    save_file(state, str(path))
    return state


def test_fake_vgg_has_the_published_key_layout_and_the_loader_takes_only_relu3_3(tmp_path):
    from vinr_zoo.fit.perceptual import load_vgg16

    written = _fake_vgg(tmp_path / "vgg.safetensors")
    assert sorted(written) == sorted(
        [f"features.{i}.{k}" for i, _, _ in _VGG16_CONVS for k in ("weight", "bias")] + list(_VGG16_TAIL)
    )
    vgg = load_vgg16(tmp_path / "vgg.safetensors")
    loaded = vgg.state_dict()
    assert sorted(loaded) == sorted(
        k for k in written if k.startswith("features.") and int(k.split(".")[1]) <= _VGG_RELU33_LAST
    )
    for key, value in loaded.items():
        assert torch.equal(value, written[key]), key


def test_perceptual_loss_changes_the_fit(tmp_path):
    """Same seed, same batches: the perceptual term's weight is what makes the fitted weights differ."""
    _fake_vgg(tmp_path / "vgg.safetensors")  # random weights: the plumbing, not ImageNet features
    clip = carphone_small(2)
    vgg = str(tmp_path / "vgg.safetensors")
    fits = {
        w: fit_video(
            clip, _opts(steps=3, seed=5, perceptual_weight=w, vgg_weights=vgg if w else None), tmp_path / f"p{w}"
        ).model.state_dict()
        for w in (0.0, 0.1, 1.0)
    }
    cfg = json.loads((tmp_path / "p0.1" / "config.json").read_text())
    assert cfg["training"]["losses"] == ["mse", "perceptual_vgg16_relu3_3:0.1"]
    assert json.loads((tmp_path / "p0.0" / "config.json").read_text())["training"]["losses"] == ["mse"]

    def differ(a, b):
        return any(not torch.equal(a[k], b[k]) for k in a)

    assert differ(fits[0.0], fits[0.1])
    # 0.1 vs 1.0 draw the same pixel batches and the same patches: only the loss's gradient differs.
    assert differ(fits[0.1], fits[1.0])


def test_perceptual_loss_without_weights_is_one_clear_error(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # as with HF_HUB_OFFLINE=1
    (tmp_path / "junk.safetensors").write_bytes(b"garbage")
    with pytest.raises(VinrError, match="not a readable safetensors"):
        fit_video(
            carphone_small(2),
            _opts(perceptual_weight=0.1, vgg_weights=str(tmp_path / "junk.safetensors")),
            tmp_path / "q",
        )
    # a Hub repo that cannot be had offline with an empty cache
    with pytest.raises(VinrError, match="--vgg-weights"):
        fit_video(carphone_small(2), _opts(perceptual_weight=0.1, vgg_weights="nobody/no-such-vgg"), tmp_path / "r")
    assert not (tmp_path / "q").exists() or not any((tmp_path / "q").glob("model.*"))


@pytest.mark.parametrize(
    "kw,msg",
    [
        ({"steps": 0}, "steps"),
        ({"lr": float("nan")}, "lr"),
        ({"minutes": -1.0}, "minutes"),
        ({"batch_size": 0}, "batch_size"),
        ({"temporal_weight": -1.0}, "temporal_weight"),
        ({"device": "tpu"}, "device"),
        ({"arch": "resnet"}, "arch"),
    ],
)
def test_bad_fit_options_name_the_field(tmp_path, kw, msg):
    """Library errors name the FitOptions field (the CLI maps it to its flag, see tests/test_cli.py)."""
    with pytest.raises(OptionError, match=f"^{msg} ") as info:
        fit_video(carphone_small(2), _opts(**kw), tmp_path / "x")
    assert info.value.field == msg
    assert not (tmp_path / "x").exists()


@pytest.mark.timeout(120)  # a fit that ignored the budget would run forever (steps=None)
def test_minutes_budget_stops_the_fit_and_the_lr_follows_the_clock(tmp_path):
    budget_s = 0.03 * 60
    lrs = []
    out = fit_video(
        carphone_small(2),
        _opts(steps=None, minutes=0.03, warmup_steps=1),
        tmp_path / "t",
        callback=lambda info: lrs.append((info.progress, info.lr)),
    )
    assert out.steps == len(lrs) >= 2
    assert budget_s <= out.wall_time_s < budget_s + 10  # stopped at the budget, not before and not much after
    assert np.isfinite(out.psnr)
    # The cosine schedule runs over the wall-clock budget: from lr towards lr * final_lr_ratio.
    (p0, lr0), (p_last, lr_last) = lrs[0], lrs[-1]
    assert p0 < 0.5 < p_last <= 1.0 and lr0 == pytest.approx(1e-3, rel=0.05)
    assert lr_last < 0.5 * lr0 and all(b <= a for (_, a), (_, b) in zip(lrs, lrs[1:], strict=False))


def test_precision_is_recorded_and_changes_the_fit(tmp_path):
    """fp32 and bf16 with the same seed: each recorded, weights stored fp32, and different weights."""
    fits = {}
    for name, precision in (("fp32", "fp32"), ("fp32-again", "fp32"), ("bf16", "bf16")):
        out = fit_video(carphone_small(2), _opts(steps=5, precision=precision, seed=2), tmp_path / name)
        cfg = json.loads((out.model_dir / "config.json").read_text())
        assert cfg["training"]["precision"] == precision
        assert all(p.dtype == torch.float32 for p in out.model.parameters())  # weights are always stored fp32
        fits[name] = out.model.state_dict()
    assert all(torch.equal(fits["fp32"][k], fits["fp32-again"][k]) for k in fits["fp32"])  # the seed decides...
    assert any(not torch.equal(fits["fp32"][k], fits["bf16"][k]) for k in fits["fp32"])  # ...and so does bf16


def test_bf16_keeps_the_first_layer_in_fp32():
    from vinr_zoo.models import SineMLPConfig

    torch.manual_seed(0)
    m = SineMLP(SineMLPConfig(hidden_features=16, hidden_layers=2))
    seen = []
    m.layers[0].register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    m.layers[1].register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    out = m.fit_forward(torch.rand(8, 3), "bf16")
    assert seen == [torch.float32, torch.bfloat16] and out.dtype == torch.float32


def test_without_pytorch_msssim_the_fit_records_and_cards_psnr_only(tmp_path, monkeypatch):
    import vinr_zoo.fit.loop as fit_loop
    from vinr_zoo.cards import read_card

    monkeypatch.setattr(fit_loop, "ssim_available", lambda: False)
    out = fit_video(carphone_small(4), _opts(steps=5), tmp_path / "m").model_dir
    training = json.loads((out / "config.json").read_text())["training"]
    assert "final_ssim" not in training and isinstance(training["final_psnr_y"], float)
    assert sorted(kind for kind, _, _ in read_card(out / "README.md").metrics) == ["psnr_rgb", "psnr_y"]


def test_training_metrics_keep_only_finite_numbers():
    from vinr_zoo.cards import training_metrics

    assert training_metrics({"final_psnr_rgb": 10**400, "final_psnr_y": None, "final_ssim": True}) == {}
    assert training_metrics({"final_psnr_rgb": 31, "final_ssim": 0.5, "final_psnr_y": float("inf")}) == {
        "psnr_rgb": 31.0,
        "ssim": 0.5,
    }
    assert training_metrics("not a dict") == {}


def test_fitting_an_npy_video_warns_nothing(tmp_path):
    """A .npy clip is read as a read-only memory map; the fit must not surface torch's non-writable warning."""
    import warnings

    from vinr_zoo.video import read_video

    path = tmp_path / "clip.npy"
    np.save(path, carphone_small(3).frames)
    clip = read_video(path)
    assert not clip.frames.flags.writeable  # the case being tested
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_video(clip, _opts(steps=2), tmp_path / "m")
    assert not [w for w in caught if "not writable" in str(w.message)], [str(w.message) for w in caught]
