"""Training pixels: random (x, y, t) rows and their RGB targets, drawn from a video kept on the device as uint8."""

from __future__ import annotations

import numpy as np
import torch

from vinr_zoo.coords import frame_instant_to_t, pixel_centres
from vinr_zoo.video import Video


class PixelSampler:
    """Random training pixels (and patches) of a video held on the device as uint8."""

    def __init__(self, video: Video, device: torch.device, generator: torch.Generator):
        self.T, self.H, self.W = video.num_frames, video.height, video.width
        frames = video.frames
        if not frames.flags.writeable:  # a read-only memory map (.npy): torch warns about those; one uint8 copy
            frames = np.array(frames)
        self.pixels = torch.from_numpy(frames).to(device).reshape(-1, 3)
        self.xs = torch.from_numpy(pixel_centres(self.W).astype(np.float32)).to(device)
        self.ys = torch.from_numpy(pixel_centres(self.H).astype(np.float32)).to(device)
        ks = np.arange(self.T, dtype=np.float64)
        self.ts = torch.from_numpy(np.asarray(frame_instant_to_t(ks, self.T), dtype=np.float32)).to(device)
        self.gen = generator
        self.device = device

    def _randint(self, high: int, n: int) -> torch.Tensor:
        return torch.randint(0, high, (n,), generator=self.gen).to(self.device)

    def pixels_batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self._randint(self.T * self.H * self.W, n)
        hw = self.H * self.W
        t, rem = idx // hw, idx % hw
        y, x = rem // self.W, rem % self.W
        coords = torch.stack((self.xs[x], self.ys[y], self.ts[t]), dim=1)
        target = self.pixels[idx].float() / 127.5 - 1.0
        return coords, target

    def between_frames(self, n: int) -> tuple[torch.Tensor, float]:
        """Random continuous (x, y, t) and δ = half a frame gap in normalised time."""
        u = torch.rand(n, 3, generator=self.gen).to(self.device) * 2 - 1
        return u, 1.0 / (self.T - 1)

    def patches(self, count: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``count`` random ``size``² patches: coords ``[count*size*size, 3]``, target ``[count, 3, s, s]``."""
        p = min(size, self.H, self.W)
        k = self._randint(self.T, count)
        y0 = self._randint(self.H - p + 1, count)
        x0 = self._randint(self.W - p + 1, count)
        r = torch.arange(p, device=self.device)
        yy = (y0[:, None, None] + r[None, :, None]).expand(count, p, p)
        xx = (x0[:, None, None] + r[None, None, :]).expand(count, p, p)
        kk = k[:, None, None].expand(count, p, p)
        coords = torch.stack((self.xs[xx], self.ys[yy], self.ts[kk]), dim=-1).reshape(-1, 3)
        flat = (kk * self.H + yy) * self.W + xx
        target = self.pixels[flat.reshape(-1)].float().reshape(count, p, p, 3).permute(0, 3, 1, 2) / 255.0
        return coords, target
