"""vinr_zoo/runtimes/pyt.py: the CPU worker threads and numpy sine give the model's own numbers."""

from __future__ import annotations

import pytest
import torch

from vinr_zoo import SineMLP, SineMLPConfig
from vinr_zoo.errors import OptionError
from vinr_zoo.runtimes.pyt import TorchBackend


def make_model(width: int = 64, layers: int = 3) -> SineMLP:
    torch.manual_seed(0)
    model = SineMLP(SineMLPConfig(hidden_features=width, hidden_layers=layers)).eval()
    with torch.no_grad():
        model.head.weight.mul_(10.0)
    return model


@pytest.fixture(scope="module")
def model_and_coords():
    model = make_model()
    coords = torch.rand(10_017, 3, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.no_grad():
        ref = model(coords)
    return model, coords, ref


@pytest.mark.parametrize("workers,chunk", [(1, 4096), (2, 1024), (3, 700), (2, 20_000)])
def test_workers_match_the_model(model_and_coords, workers, chunk):
    model, coords, ref = model_and_coords
    threads = torch.get_num_threads()
    with TorchBackend(model, workers=workers, chunk=chunk) as backend:
        got = backend.infer(coords)
        assert backend.infer(coords[:5]).shape == (5, 3)
        assert ("workers" in backend.describe()) == (workers > 1)
    assert got.shape == ref.shape and got.dtype == torch.float32
    assert float((got - ref).abs().max()) <= 1e-5
    assert torch.get_num_threads() == threads  # the workers' single-thread setting is undone


def test_same_numbers_with_and_without_workers(model_and_coords):
    model, coords, _ = model_and_coords
    with TorchBackend(model, workers=1, chunk=1024) as one, TorchBackend(model, workers=2, chunk=1024) as two:
        a, b = one.infer(coords), two.infer(coords)
    assert float((a - b).abs().max()) <= 1e-6


def test_numpy_sine_matches_torch_sine(model_and_coords):
    model, coords, ref = model_and_coords
    with TorchBackend(model, workers=1, sine="numpy") as fast, TorchBackend(model, workers=1, sine="torch") as plain:
        assert fast._numpy_sin and not plain._numpy_sin
        assert "numpy sine" in fast.describe() and "torch sine" in plain.describe()
        assert float((fast.infer(coords) - plain.infer(coords)).abs().max()) <= 1e-6
    with TorchBackend(model, workers=2) as default:  # numpy's, whatever the timing: the same bytes every run
        assert default._numpy_sin and "numpy sine" in default.describe()
        assert float((default.infer(coords) - ref).abs().max()) <= 1e-5


def test_sine_choice_is_checked(model_and_coords):
    model, _, _ = model_and_coords
    with pytest.raises(OptionError, match="sine must be one of numpy, torch, got 'fast'"):
        TorchBackend(model, sine="fast")


def test_float64_uses_torch_sine(model_and_coords):
    model, coords, ref = model_and_coords
    with TorchBackend(model, dtype=torch.float64, workers=2) as backend:
        assert not backend._numpy_sin
        assert float((backend.infer(coords) - ref).abs().max()) <= 1e-5


def test_a_failing_worker_restores_threads(model_and_coords, monkeypatch):
    model, coords, _ = model_and_coords
    threads = torch.get_num_threads()
    backend = TorchBackend(model, workers=2, chunk=1024).open()

    def boom(x, out):
        raise RuntimeError("worker failed")

    monkeypatch.setattr(backend, "_chunk", boom)
    with pytest.raises(RuntimeError, match="worker failed"):
        backend.infer(coords)
    assert torch.get_num_threads() == threads
    backend.close()
