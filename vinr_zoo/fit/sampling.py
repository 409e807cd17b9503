"""Training pixels: random (x, y, t) rows and their RGB targets, drawn from a video kept on the device as uint8.

Two ways to draw a batch (``FitOptions.sampling``):

- ``uniform``: every pixel of every frame equally likely.
- ``error`` (the default): half the batch uniform, half drawn in proportion to each pixel's last seen error:
  after a few hundred steps most of a video is easy, and the steps go where the network is still wrong.
  Each pixel's error (the mean L1 over RGB in [-1, 1] of its last visit, stored as a uint8 in grey levels;
  it starts at 1) plus a floor of one level is its weight; a draw picks a ``TILE`` x ``TILE`` tile by its
  summed weight, then a pixel inside it by its own, which is the same as one draw over all pixels at the cost
  of one over the tiles. No importance weights: the loss is the plain mean over the batch, which leans
  towards hard pixels (measured: correcting for it with weights 1/p scored lower). The state (one byte a
  pixel: 1/3 of the clip's uint8 bytes, plus one float32 a tile, 1/48) lives on the CPU; the errors are
  saved in fit checkpoints and the tile sums recomputed from them, so a resumed fit is bit-exact.

Measured on carphone, 32 frames at 176x144, the default network (width 256, 4 layers), PSNR RGB on all
frames, on the 2-vCPU Xeon (AMX bf16).

1-minute fits (steps per minute vary by ±20 % from run to run there, so each gives its steps): uniform,
32,768 px a step: 29.82 dB (397 steps); uniform, 16,384: 30.26 (1,007), 30.08 (826), 30.18 (926); an
error per 4x4 tile instead of per pixel, half guided, 16,384: 30.31 (679), 30.50 (885); per pixel: 30.58
(744), 30.78 (1,000); a quarter guided 30.44 (714), three quarters 30.23 (521); with importance weights
(1/p)^0.5 30.16 (515), (1/p) 29.71 (355, 32,768 px).

5,000 steps (about 5 minutes; L1, cosine to 5 %; one thread each, two runs at a time): error per 4x4 tile
32.80 dB, per 2x2 tile 33.25, per pixel (exact float32, one draw over all pixels) 34.35. The per-pixel
draw over all pixels costs O(pixels) a step (11 ms at 0.8 M pixels, ~0.3 s at 21 M), hence this module's
two-stage draw over uint8 errors (a pixel drawn twice keeping its larger error); with it, MSE and cosine to
1 %: 35.46 dB (vinr_zoo/fit/losses.py).
"""

from __future__ import annotations

import numpy as np
import torch

from vinr_zoo.coords import frame_instant_to_t, pixel_centres
from vinr_zoo.video import Video

TILE = 4  # side of the tiles the guided draw picks first, in pixels
GUIDED = 0.5  # fraction of each batch drawn by error ("error" sampling)
LEVELS = 127.5  # uint8 steps per unit of error: errors of RGB in [-1, 1], so one step is one grey level in 255
# Added to every pixel's error (in steps), so no pixel's probability is ever 0. An integer, so that every
# weight and tile sum is an integer, exact in float32 whatever the order of summation: the tile weights
# kept step by step equal those summed afresh from a checkpoint, and a resumed fit draws the same pixels.
FLOOR_LEVELS = 1


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
        self.error: torch.Tensor | None = None  # each pixel's last seen error, uint8 in LEVELS (CPU)
        self.tile_weight: torch.Tensor | None = None  # each tile's summed pixel weights (CPU float32)
        if sampling == "error":
            self.error = torch.full((self.T * self.H * self.W,), round(LEVELS), dtype=torch.uint8)
            dy, dx = torch.meshgrid(torch.arange(TILE), torch.arange(TILE), indexing="ij")
            self._dy, self._dx = dy.reshape(-1), dx.reshape(-1)
            self.tile_weight = self._all_tile_weights()
        self._idx: torch.Tensor | None = None  # the pixel of each row of the last batch (CPU)

    def _randint(self, high: int, n: int) -> torch.Tensor:
        return torch.randint(0, high, (n,), generator=self.gen).to(self.device)

    # ---- error-guided draws ------------------------------------------------------------------------------
    def _tile_pixels(self, tiles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The ``TILE²`` pixel indices of each tile ``[n, TILE²]``, and which lie inside the frame (None: all).

        Pixels of a partial tile that fall outside the frame get the tile's first pixel as a stand-in index
        and weight 0.
        """
        per_frame = self.tiles_y * self.tiles_x
        t, rem = tiles // per_frame, tiles % per_frame
        y0, x0 = (rem // self.tiles_x) * TILE, (rem % self.tiles_x) * TILE
        base = (t * self.H + y0) * self.W + x0
        idx = base[:, None] + (self._dy * self.W + self._dx)
        if self.H % TILE == 0 and self.W % TILE == 0:
            return idx, None
        inside = (self._dy < (self.H - y0)[:, None]) & (self._dx < (self.W - x0)[:, None])
        return torch.where(inside, idx, base[:, None]), inside

    def _weights(self, idx: torch.Tensor, inside: torch.Tensor | None) -> torch.Tensor:
        w = self.error[idx].float() + FLOOR_LEVELS
        return w if inside is None else w * inside

    def _all_tile_weights(self) -> torch.Tensor:
        w = self.error.view(self.T, self.H, self.W).float() + FLOOR_LEVELS
        w = torch.nn.functional.pad(w, (0, self.tiles_x * TILE - self.W, 0, self.tiles_y * TILE - self.H))
        return w.view(self.T, self.tiles_y, TILE, self.tiles_x, TILE).sum((2, 4)).reshape(-1)

    def _guided(self, n: int) -> torch.Tensor:
        """``n`` pixel indices (CPU int64), each drawn with probability proportional to its error + floor.

        Two stages with the same result as one draw over every pixel, at the cost of one over the tiles: a
        tile by its summed weight, then a pixel inside it by its own (inverse CDF over the tile's pixels).
        """
        tiles = torch.multinomial(self.tile_weight, n, replacement=True, generator=self.gen)
        idx, inside = self._tile_pixels(tiles)
        cdf = self._weights(idx, inside).cumsum(1)
        total = cdf[:, -1:]
        u = torch.rand(n, 1, generator=self.gen) * total
        u = torch.minimum(u, torch.nextafter(total, torch.zeros_like(total)))  # strictly below the total
        # the first pixel whose CDF exceeds u: one with a weight > 0, so inside the frame
        return idx.gather(1, (cdf <= u).sum(1, keepdim=True)).squeeze(1)

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
            self._idx = torch.cat((uniform, self._guided(int(n * GUIDED))))
            idx = self._idx.to(self.device)
        hw = self.H * self.W
        t, rem = idx // hw, idx % hw
        y, x = rem // self.W, rem % self.W
        coords = torch.stack((self.xs[x], self.ys[y], self.ts[t]), dim=1)
        target = self.pixels[idx].float() / 127.5 - 1.0
        return coords, target

    def observe(self, errors: torch.Tensor) -> None:
        """Record the last batch's per-row errors (mean L1 over RGB) as each visited pixel's error.

        A pixel drawn twice in one batch keeps the larger of its errors (a max is the same in any order, so
        the result is deterministic), and the tiles of the visited pixels are summed afresh (the tile sums
        written for a tile drawn twice are equal).
        """
        if self.error is None or self._idx is None:
            return
        levels = (errors.detach().float().cpu() * LEVELS).round_().clamp_(0, 255).to(torch.uint8)
        self.error.scatter_reduce_(0, self._idx, levels, reduce="amax", include_self=False)
        tiles = self._tile_of(self._idx)
        self.tile_weight[tiles] = self._weights(*self._tile_pixels(tiles)).sum(1)
        self._idx = None

    # ---- checkpoint state ----------------------------------------------------------------------------
    def state(self) -> torch.Tensor | None:
        return None if self.error is None else self.error.clone()

    def load_state(self, error: torch.Tensor | None) -> None:
        if self.error is None:
            return
        if error is None or error.shape != self.error.shape or error.dtype != self.error.dtype:
            raise ValueError(
                "the checkpoint has no per-pixel errors of this clip's shape (it may come from an older "
                "vinr-zoo, whose sampler kept one error per tile)"
            )
        self.error.copy_(error)
        self.tile_weight = self._all_tile_weights()

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
