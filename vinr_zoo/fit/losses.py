"""One fit step: the reconstruction loss on random pixels, plus the optional temporal and perceptual terms.

Reconstruction loss on RGB in [-1, 1] (``FitOptions.loss``): MSE (the default, SIREN's: the error PSNR
measures) or L1 (the seed's, the default before). Measured on carphone, 32 frames at 176x144, the default
network, PSNR RGB on all frames, the 2-vCPU Xeon, one thread a run:

- per-4x4-tile error sampling, cosine to 5 %, 5,000 steps: L1 32.80 dB, MSE 33.68, L1 for the first half
  then MSE 33.59; cosine to 1 % instead of 5 %: L1 33.03;
- per-pixel error sampling (the default now), 900 steps (about a minute): L1 31.09, MSE 31.23, L1 then
  MSE 30.92; 5,000 steps, cosine to 1 %: L1 then MSE 34.81, MSE 35.46 (two threads).

Plus, optionally,
- temporal consistency: ``|f(x, y, t + δ) - f(x, y, t - δ)|`` at random continuous (x, y, t), δ half a
  frame gap, i.e. a finite-difference ∂RGB/∂t in units of one frame; weight ``temporal_weight``;
- perceptual: L1 between VGG16 relu3_3 features of random patches rendered from the network and the
  same patches of the video; weight ``perceptual_weight``.

Each step draws ``batch_size`` pixels and accumulates gradients over chunks of ``chunk_size`` rows:
the same update as one big batch, but the activations stay in cache (measured 1.7x more steps/s on a
2-vCPU machine).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vinr_zoo.distributed import SINGLE, DistContext
from vinr_zoo.fit.options import FitOptions
from vinr_zoo.fit.sampling import PixelSampler


def train_step(
    model, optimizer, sampler: PixelSampler, options: FitOptions, vgg, dist: DistContext = SINGLE
) -> tuple[float, float]:
    optimizer.zero_grad(set_to_none=True)
    reconstruction = F.l1_loss if options.loss == "l1" else F.mse_loss
    precision = options.resolved_precision()
    n = options.batch_size  # the global batch: this rank draws its share, the losses divide by all of it
    coords, target = sampler.pixels_batch(dist.share(n))
    total_loss, total_sq = 0.0, 0.0
    errors = [] if sampler.error is not None else None  # per-row L1 error, for error-guided sampling
    for s in range(0, len(coords), options.chunk_size):
        pred = model.fit_forward(coords[s : s + options.chunk_size], precision)
        tgt = target[s : s + options.chunk_size]
        # Sum over the chunk, divided by the whole batch: the gradient equals one big-batch mean.
        loss = reconstruction(pred, tgt, reduction="sum") / (n * 3)
        loss.backward()
        total_loss += loss.item()
        with torch.no_grad():
            if errors is not None:
                errors.append((pred.detach().float() - tgt).abs().mean(dim=1))
            total_sq += float(((pred.clamp(-1, 1) - tgt) ** 2).sum())
    if errors is not None:
        sampler.observe(torch.cat(errors))
    if options.temporal_weight > 0:
        m = max(1, n // 8)
        u, delta = sampler.between_frames(dist.share(m))
        for s in range(0, len(u), options.chunk_size):
            c = u[s : s + options.chunk_size]
            shift = torch.zeros_like(c)
            shift[:, 2] = delta
            diff = model.fit_forward((c + shift).clamp(-1, 1), precision) - model.fit_forward(
                (c - shift).clamp(-1, 1), precision
            )
            loss = options.temporal_weight * diff.abs().sum() / (m * 3)
            loss.backward()
            total_loss += loss.item()
    if vgg is not None:
        p_coords, p_target = sampler.patches(options.perceptual_patches, options.perceptual_patch)
        count, _, p, _ = p_target.shape
        pred = model.fit_forward(p_coords, precision).reshape(count, p, p, 3).permute(0, 3, 1, 2)
        pred01 = ((pred + 1) * 0.5).clamp(0, 1)
        with torch.no_grad():
            feat_t = vgg(p_target)
        loss = options.perceptual_weight * F.l1_loss(vgg(pred01), feat_t)
        if dist.enabled:  # each rank renders its own patches: the mean over the ranks' patch losses
            loss = loss / dist.world_size
        loss.backward()
        total_loss += loss.item()
    # The family's own terms (flow supervision, ...), drawn from the same seeded sampler so a resume is exact.
    extra = model.fit_extra_loss(sampler, options, precision, dist.share(n))
    if extra is not None:
        extra.backward()
        total_loss += extra.item()
    total_loss, total_sq = dist.all_reduce_grads(list(model.parameters()), (total_loss, total_sq))
    optimizer.step()
    return total_loss, total_sq / (n * 3)
