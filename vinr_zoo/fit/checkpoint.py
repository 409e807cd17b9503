"""Resumable fit checkpoints: model, Adam state, every random generator and the schedule's clock, in safetensors.

Everything random comes from one seeded generator whose state is saved here, so a resumed fit continues
bit-exactly on CPU. Under torchrun each rank's sampler state is saved, in rank order.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import torch

from vinr_zoo._atomic import atomic_path
from vinr_zoo.distributed import SINGLE, DistributedError
from vinr_zoo.errors import VinrError
from vinr_zoo.models import load_weights

CHECKPOINT_NAME = "fit_checkpoint.safetensors"
_RESUME_KEYS = (
    "arch",
    "hidden_features",
    "hidden_layers",
    "first_omega_0",
    "hidden_omega_0",
    "time_omega_0",
    "batch_size",
    "chunk_size",
    "seed",
    "temporal_weight",
    "perceptual_weight",
    "loss",
    "schedule",
    "precision",
    "scene_cuts",
    "sampling",
)


def _rng_keys(rank: int, world_size: int) -> tuple[str, str]:
    """Checkpoint keys of one rank's sampler and torch RNG states (a single process keeps the plain names)."""
    suffix = f".{rank}" if world_size > 1 else ""
    return f"rng.sampler{suffix}", f"rng.torch{suffix}"


def _error_key(rank: int, world_size: int) -> str:
    """Checkpoint key of one rank's error-guided sampler state (its tile errors)."""
    return f"sampler.error.{rank}" if world_size > 1 else "sampler.error"


def save_checkpoint(path, model, optimizer, rng_states, options, video, step, elapsed, history) -> None:
    """``rng_states``: ``(sampler RNG state, torch RNG state, sampler tile errors or None)`` of every rank, in
    rank order."""
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for i, param in enumerate(model.parameters()):
        state = optimizer.state.get(param, {})
        for key, value in state.items():
            tensors[f"optim.{i}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    for rank, (sampler_state, torch_state, errors) in enumerate(rng_states):
        sampler_key, torch_key = _rng_keys(rank, len(rng_states))
        tensors[sampler_key], tensors[torch_key] = sampler_state, torch_state
        if errors is not None:
            tensors[_error_key(rank, len(rng_states))] = errors.contiguous()
    meta = {
        "step": str(step),
        "processes": str(len(rng_states)),
        "elapsed_s": repr(elapsed),
        "options": json.dumps(asdict(options)),
        "video_sha256": video.sha256,
        "video_shape": json.dumps([video.num_frames, video.height, video.width]),
        "history": json.dumps(history[-200:]),
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_checkpoint(
    path, model, optimizer, generator, options, video, dist=SINGLE, sampler=None
) -> tuple[int, float, list]:
    from safetensors import safe_open

    tensors = load_weights(path)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    try:
        saved = json.loads(meta["options"])
        step = int(meta["step"])
        elapsed = float(meta["elapsed_s"])
        history = json.loads(meta.get("history", "[]"))
        shape = json.loads(meta["video_shape"])
        processes = int(meta.get("processes", "1"))
    except (KeyError, ValueError) as exc:
        raise VinrError(f"{path} is not a vinr fit checkpoint ({exc})") from None
    if processes != dist.world_size:
        # Each process's sampler state is in the checkpoint; another count could not continue the same fit.
        raise DistributedError(
            f"cannot resume {path}: it was written by a fit with {processes} process(es), this one has "
            f"{dist.world_size}; resume with the same count (torchrun --nproc-per-node/--nnodes)"
        )
    # A checkpoint from before FitOptions.arch existed is a sine MLP fit.
    saved.setdefault("arch", "sine_mlp")
    saved.setdefault("scene_cuts", "none")  # ... and one from before scene cuts ignored them
    saved.setdefault("sampling", "uniform")  # ... and drew pixels uniformly
    if isinstance(saved["scene_cuts"], list):
        saved["scene_cuts"] = list(saved["scene_cuts"])
    changed = [k for k in _RESUME_KEYS if saved.get(k) != getattr(options, k)]
    if changed:
        raise VinrError(
            f"cannot resume {path}: option(s) {', '.join(changed)} differ from the checkpoint "
            f"({', '.join(f'{k}={saved.get(k)!r}' for k in changed)})"
        )
    if meta.get("video_sha256") != video.sha256 or shape != [video.num_frames, video.height, video.width]:
        raise VinrError(f"cannot resume {path}: it was fitted on another video (or other --frames/--size)")
    model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(model_state)
    params = list(model.parameters())
    for i, param in enumerate(params):
        keys = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"optim.{i}.")}
        if keys:
            optimizer.state[param] = {
                k: (v if k != "step" else v.clone()).to(param.device if k != "step" else "cpu") for k, v in keys.items()
            }
    sampler_key, torch_key = _rng_keys(dist.rank, dist.world_size)
    generator.set_state(tensors[sampler_key])
    torch.set_rng_state(tensors[torch_key])
    if sampler is not None:
        try:
            sampler.load_state(tensors.get(_error_key(dist.rank, dist.world_size)))
        except ValueError as exc:
            raise VinrError(f"cannot resume {path}: {exc}") from None
    return step, elapsed, history
