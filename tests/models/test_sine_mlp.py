import json
import math

import pytest
import torch

from vinr_zoo.config import SCHEMA_VERSION, SourceVideo
from vinr_zoo.contract import CONFIG_NAME, WEIGHTS_NAME
from vinr_zoo.errors import ConfigError, ModelLoadError
from vinr_zoo.models import SineMLP, SineMLPConfig


def small(**kw):
    return SineMLP(SineMLPConfig(hidden_features=32, hidden_layers=3, source=SourceVideo(16, 8, 4, 25.0, "x"), **kw))


def test_siren_initialisation_bounds():
    torch.manual_seed(0)
    m = SineMLP(SineMLPConfig(hidden_features=256, hidden_layers=3, hidden_omega_0=30.0))
    first = m.layers[0].linear.weight
    assert first.abs().max() <= 1 / 3 and first.abs().max() > 0.9 / 3  # U(-1/in, 1/in), in = 3
    hidden = m.layers[1].linear.weight
    bound = math.sqrt(6 / 256) / 30
    assert hidden.abs().max() <= bound and hidden.abs().max() > 0.95 * bound
    assert len(m.layers) == 3 and m.head.out_features == 3
    assert m.num_params == m.config.num_params


def test_time_gets_its_own_lower_frequency():
    torch.manual_seed(0)
    m = small(first_omega_0=30.0, time_omega_0=3.0)
    x = torch.rand(64, 3) * 2 - 1
    layer = m.layers[0].linear
    manual = torch.sin(30.0 * (layer(x * torch.tensor([1.0, 1.0, 3.0 / 30.0]))))
    torch.testing.assert_close(m.layers[0](x * m.input_scale), manual)
    # a t step of 0.1 moves the first layer's pre-activation 10x less than an x step of 0.1
    w = layer.weight
    assert torch.allclose(m.folded_layers()[0][0][:, 2], 3.0 * w[:, 2])
    assert torch.allclose(m.folded_layers()[0][0][:, 0], 30.0 * w[:, 0])


def test_folded_weights_reproduce_the_forward():
    torch.manual_seed(1)
    m = small()
    x = torch.rand(500, 3) * 2 - 1
    h = x
    *sines, head = m.folded_layers()
    for w, b in sines:
        h = torch.sin(h @ w.T + b)
    out = h @ head[0].T + head[1]
    torch.testing.assert_close(out, m(x), atol=2e-6, rtol=0)


def test_save_and_load_round_trip_is_bit_exact(tmp_path):
    m = small()
    m.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]
    data = (tmp_path / "m" / WEIGHTS_NAME).read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    assert json.loads(data[8 : 8 + header_len])  # a safetensors header, not a pickle
    cfg = json.loads((tmp_path / "m" / CONFIG_NAME).read_text())
    assert cfg["schema_version"] == SCHEMA_VERSION and cfg["architecture"] == "sine_mlp"
    assert cfg["source"]["width"] == 16 and cfg["time_omega_0"] == 3.0
    loaded = SineMLP.from_pretrained(tmp_path / "m")
    assert loaded.config == m.config
    for (k, a), (_, b) in zip(m.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    x = torch.rand(100, 3)
    assert torch.equal(loaded(x), m.eval()(x))


def _saved(tmp_path):
    d = tmp_path / "m"
    small().save_pretrained(d)
    return d


def test_missing_extra_and_misshaped_tensors_are_named(tmp_path):
    from safetensors.torch import load_file, save_file

    d = _saved(tmp_path)
    state = load_file(d / WEIGHTS_NAME)
    broken = dict(state)
    del broken["head.bias"]
    save_file(broken, d / WEIGHTS_NAME)
    with pytest.raises(ModelLoadError, match="missing head.bias"):
        SineMLP.from_pretrained(d)
    save_file({**state, "extra.weight": torch.zeros(2)}, d / WEIGHTS_NAME)
    with pytest.raises(ModelLoadError, match="unexpected extra.weight"):
        SineMLP.from_pretrained(d)
    save_file({**state, "head.weight": torch.zeros(3, 5)}, d / WEIGHTS_NAME)
    with pytest.raises(ModelLoadError, match=r"head.weight has shape \(3, 5\)"):
        SineMLP.from_pretrained(d)
    save_file({**state, "head.bias": torch.full((3,), float("nan"))}, d / WEIGHTS_NAME)
    with pytest.raises(ModelLoadError, match="NaN"):
        SineMLP.from_pretrained(d)


def test_a_config_asking_for_many_more_layers_gives_a_short_message_in_layer_order(tmp_path):
    from safetensors.torch import load_file, save_file

    d = _saved(tmp_path)
    config = json.loads((d / CONFIG_NAME).read_text())
    config["hidden_layers"] = 40
    (d / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(ModelLoadError) as info:
        SineMLP.from_pretrained(d)
    text = str(info.value)
    first = "layers.2.linear.bias" if "layers.2.linear.bias" in text else "layers.3.linear.bias"
    assert f"missing {first}" in text and "in all)" in text and len(text) < 400, text
    state = load_file(d / WEIGHTS_NAME)
    save_file({**state, "layers.².linear.weight": torch.zeros(1)}, d / WEIGHTS_NAME)  # a digit only to Unicode
    with pytest.raises(ModelLoadError, match="unexpected"):
        SineMLP.from_pretrained(d)


def test_truncated_and_garbage_weights(tmp_path):
    d = _saved(tmp_path)
    data = (d / WEIGHTS_NAME).read_bytes()
    (d / WEIGHTS_NAME).write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="not a readable safetensors"):
        SineMLP.from_pretrained(d)
    (d / WEIGHTS_NAME).write_bytes(b"\x80\x04\x95 definitely a pickle")
    with pytest.raises(ModelLoadError, match="not a readable safetensors"):
        SineMLP.from_pretrained(d)
    (d / WEIGHTS_NAME).unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        SineMLP.from_pretrained(d)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda c: c.update(schema_version=SCHEMA_VERSION + 1), "newer than this vinr-zoo"),
        (lambda c: c.pop("schema_version"), "missing schema_version"),
        (lambda c: c.update(hidden_features=10**6), "hidden_features must be an integer in"),
        (lambda c: c.update(hidden_layers=0), "hidden_layers"),
        (lambda c: c.update(first_omega_0=float("inf")), "first_omega_0"),
        (lambda c: c.update(architecture="resnet"), "architecture"),
        (lambda c: c.update(surprise=1), "unknown key"),
        (lambda c: c["source"].update(width=-3), "source.width"),
        (lambda c: c.update(hidden_features="256"), "hidden_features"),
    ],
)
def test_invalid_configs_are_refused(tmp_path, mutate, message):
    d = _saved(tmp_path)
    cfg = json.loads((d / CONFIG_NAME).read_text())
    mutate(cfg)
    (d / CONFIG_NAME).write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match=message):
        SineMLP.from_pretrained(d)


def test_config_that_is_not_json(tmp_path):
    d = _saved(tmp_path)
    (d / CONFIG_NAME).write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        SineMLP.from_pretrained(d)
