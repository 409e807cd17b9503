"""VGG16 features up to relu3_3 (Johnson et al. 2016), for the perceptual loss on rendered patches.

The layers are written here (torchvision does not import beside the CPU torch wheel we pin); the
ImageNet weights are read as safetensors from a file or a Hub repo such as ``timm/vgg16.tv_in1k``,
whose ``features.N`` keys follow torchvision's layer numbering.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from vinr_zoo import hub
from vinr_zoo.errors import ModelLoadError, VinrError, first_line
from vinr_zoo.models import load_weights

DEFAULT_VGG_REPO = "timm/vgg16.tv_in1k"
# (index in VGG16's `features`, in channels, out channels) of the convolutions before relu3_3.
_CONVS = [(0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256), (14, 256, 256)]
_POOL_AFTER = {2, 7}
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class VGG16Relu33(nn.Module):
    """VGG16 ``features[:16]``; input RGB in [0, 1], ``[N, 3, H, W]``."""

    def __init__(self) -> None:
        super().__init__()
        layers: dict[str, nn.Module] = {}
        for idx, cin, cout in _CONVS:
            layers[str(idx)] = nn.Conv2d(cin, cout, 3, padding=1)
            layers[str(idx + 1)] = nn.ReLU(inplace=True)
            if idx in _POOL_AFTER:
                layers[str(idx + 2)] = nn.MaxPool2d(2, 2)
        self.features = nn.Sequential()
        for name, module in layers.items():
            self.features.add_module(name, module)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)

    def forward(self, rgb01: torch.Tensor) -> torch.Tensor:
        return self.features((rgb01 - self.mean) / self.std)

    def load_weights(self, state: dict[str, torch.Tensor], where: str) -> VGG16Relu33:
        wanted = {k for k in self.state_dict()}
        missing = sorted(wanted - set(state))
        if missing:
            raise ModelLoadError(f"{where} is not a VGG16 checkpoint: missing {', '.join(missing[:4])}")
        own = self.state_dict()
        for key in wanted:
            if state[key].shape != own[key].shape:
                raise ModelLoadError(
                    f"{where}: {key} has shape {tuple(state[key].shape)}, expected {tuple(own[key].shape)}"
                )
        self.load_state_dict({k: state[k].float() for k in wanted})
        return self


def load_vgg16(source: str | os.PathLike[str] | None = None) -> VGG16Relu33:
    """VGG16 up to relu3_3 with ImageNet weights from a safetensors file or a Hub repo (cached)."""
    source = str(source) if source is not None else DEFAULT_VGG_REPO
    path = Path(source)
    if not path.is_file():
        path = _download(source)
    return VGG16Relu33().load_weights(load_weights(path), str(path)).eval()


def _download(repo_id: str) -> Path:
    try:
        return hub.download_file(repo_id, "model.safetensors")
    except (VinrError, OSError, ValueError) as exc:
        first = first_line(exc)
        raise VinrError(
            f"the perceptual loss needs VGG16 weights and {repo_id!r} could not be had ({first}); "
            "pass --vgg-weights FILE.safetensors, or fit with --perceptual 0"
        ) from None
