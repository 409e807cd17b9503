"""Training pixels: random (x, y, t) rows and their RGB targets, drawn from a video kept on the device as uint8.

Two ways to draw a batch (``FitOptions.sampling``):

- ``uniform``: every pixel of every frame equally likely.
- ``error`` (the default): half the batch uniform, half drawn in proportion to the error last seen in each
  ``TILE`` x ``TILE`` tile of each frame (then a uniform pixel inside the tile): after a few hundred steps
  most of a video is easy, and the steps go where the network is still wrong. The tile errors start at 1,
  are replaced by the mean L1 error (RGB in [-1, 1]) of the batch's pixels in that tile whenever a batch
  visits it, plus a floor so no tile is ever left out. No importance weights: the loss is the plain mean
  over the batch, which leans towards hard pixels (measured: correcting for it with weights 1/p scored
  lower). Its state (one float32 a tile: 1/12 of the clip's uint8 bytes) lives on the CPU and is saved in
  fit checkpoints, so a resumed fit is bit-exact.

Measured on carphone, 32 frames at 176x144, 1-minute fits of the default network (width 256, 4 layers) on
the 2-vCPU Xeon (AMX bf16), PSNR RGB on all frames; steps per minute vary by ±20 % from run to run there,
so each line gives its steps: uniform, 32,768 px a step: 29.82 dB (397 steps); uniform, 16,384: 30.26
(1,007), 30.08 (826), 30.18 (926); these 4x4 tiles, half guided, 16,384: 30.31 (679), 30.50 (885). The
same guided per pixel instead of per tile: 30.58 (744), 30.78 (1,000); a quarter guided 30.44 (714),
three quarters 30.23 (521); with importance weights (1/p)^0.5 30.16 (515), (1/p) 29.71 (355, 32,768 px).
"""

from __future__ import annotations

import numpy as np
import torch

from vinr_zoo.coords import frame_instant_to_t, pixel_centres
from vinr_zoo.video import Video

TILE = 4  # side of the error tiles, in pixels
GUIDED = 0.5  # fraction of each batch drawn by tile error ("error" sampling)
ERROR_FLOOR = 0.01  # added to every tile's error, so no tile's probability is ever 0


class PixelSampler:
    """Random training pixels (and patches) of a video held on the device as uint8."""

    def __init__(self, video: Video, device: torch.device, generator: torch.Generator, sampling: str = "uniform"):
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
        self.sampling = sampling
        self.tiles_x, self.tiles_y = -(-self.W // TILE), -(-self.H // TILE)
        # error of each (frame, tile row, tile column), flattened; None when sampling uniformly
        self.error = torch.ones(self.T * self.tiles_y * self.tiles_x) if sampling == "error" else None
        self._tiles: torch.Tensor | None = None  # the tile of each row of the last batch (CPU)

    def _randint(self, high: int, n: int) -> torch.Tensor:
        return torch.randint(0, high, (n,), generator=self.gen).to(self.device)

    def _guided(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` pixel indices drawn by tile error, and their tiles (both CPU int64)."""
        tiles = torch.multinomial(self.error + ERROR_FLOOR, n, replacement=True, generator=self.gen)
        per_frame = self.tiles_y * self.tiles_x
        t, rem = tiles // per_frame, tiles % per_frame
        ty, tx = rem // self.tiles_x, rem % self.tiles_x
        # a uniform pixel inside the tile (the last row and column of tiles may be narrower)
        u = torch.rand(n, 2, generator=self.gen)
        h = torch.clamp(self.H - ty * TILE, max=TILE)
        w = torch.clamp(self.W - tx * TILE, max=TILE)
        y = ty * TILE + (u[:, 0] * h).long().clamp(max=h - 1)
        x = tx * TILE + (u[:, 1] * w).long().clamp(max=w - 1)
        return (t * self.H + y) * self.W + x, tiles

    def _tile_of(self, idx: torch.Tensor) -> torch.Tensor:
        hw = self.H * self.W
        t, rem = idx // hw, idx % hw
        y, x = rem // self.W, rem % self.W
        return (t * self.tiles_y + y // TILE) * self.tiles_x + x // TILE

    def pixels_batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.error is None:
            idx = self._randint(self.T * self.H * self.W, n)
        else:
            uniform = torch.randint(0, self.T * self.H * self.W, (n - int(n * GUIDED),), generator=self.gen)
            guided, _ = self._guided(int(n * GUIDED))
            cpu = torch.cat((uniform, guided))
            self._tiles = self._tile_of(cpu)
            idx = cpu.to(self.device)
        hw = self.H * self.W
        t, rem = idx // hw, idx % hw
        y, x = rem // self.W, rem % self.W
        coords = torch.stack((self.xs[x], self.ys[y], self.ts[t]), dim=1)
        target = self.pixels[idx].float() / 127.5 - 1.0
        return coords, target

    def observe(self, errors: torch.Tensor) -> None:
        """Record the last batch's per-row errors (mean L1 over RGB): each visited tile takes its rows' mean."""
        if self.error is None or self._tiles is None:
            return
        self.error.scatter_reduce_(0, self._tiles, errors.detach().float().cpu(), reduce="mean", include_self=False)
        self._tiles = None

    # ---- checkpoint state ----------------------------------------------------------------------------
    def state(self) -> torch.Tensor | None:
        return None if self.error is None else self.error.clone()

    def load_state(self, error: torch.Tensor | None) -> None:
        if self.error is None:
            return
        if error is None or error.shape != self.error.shape:
            raise ValueError("the checkpoint has no tile errors of this clip's shape")
        self.error.copy_(error)

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
