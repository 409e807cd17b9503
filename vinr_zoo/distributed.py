"""Several processes, one fit or one render: the torchrun side of vinr.

``torchrun --nproc-per-node N -m vinr_zoo.cli fit|decode ...`` starts N copies of the command line with
``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/... set; `process_group` reads them and joins the group. Without
them (a plain ``vinr fit``) it yields `SINGLE` and nothing here touches ``torch.distributed``.

How the work is split:
- fit: each rank draws its share of the ``--batch-size`` random pixels from its own seeded generator, and
  after the chunked backward passes one all-reduce sums the gradients (see `DistContext.all_reduce_grads`),
  so every rank takes the same Adam step. Rank 0 alone writes checkpoints and the model directory.
- decode: each rank renders a contiguous range of output frames (`shard_range`); `vinr_zoo.decode`
  assembles them in order.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vinr_zoo.errors import VideoError, VinrError
from vinr_zoo.video import Video


class DistributedError(VinrError):
    """A multi-process run that cannot go on: bad launcher variables, mismatched ranks or checkpoints."""


class PeerError(DistributedError):
    """Another rank failed a check it reports itself; this rank stops too, without repeating the message."""


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in a torchrun job (``world_size == 1``: a plain single process)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    node: str = ""  # the same string on every rank of one torchrun agent (machine)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ---- collectives (no-ops for a single process) ------------------------------------------------
    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()

    def all_gather_object(self, value: Any) -> list[Any]:
        """``value`` of every rank, in rank order (small Python objects: paths, RNG states, flags)."""
        if not self.enabled:
            return [value]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, value)
        return out

    def broadcast_object(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank."""
        if not self.enabled:
            return value
        import torch.distributed as dist

        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def broadcast_float(self, value: float) -> float:
        """Rank 0's number on every rank (the wall clock of a ``--minutes`` fit: see `vinr_zoo.fit`)."""
        if not self.enabled:
            return value
        import torch.distributed as dist

        t = torch.tensor([value], dtype=torch.float64, device=_collective_device())
        dist.broadcast(t, src=0)
        return float(t.item())

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Rank 0's weights on every rank (what DDP's constructor does), whatever each rank initialised."""
        if not self.enabled:
            return
        import torch.distributed as dist

        with torch.no_grad():
            for p in module.parameters():
                dist.broadcast(p.data, src=0)

    def all_reduce_grads(self, params: Sequence[torch.nn.Parameter], extras: Sequence[float] = ()) -> list[float]:
        """Sum the gradients of ``params`` (and the numbers ``extras``) over all ranks, in place.

        The losses were already divided by the *global* batch, so a sum (not a mean) gives exactly the
        gradient of one big-batch mean. Why not the DistributedDataParallel wrapper: it all-reduces on every
        ``backward()`` unless all but the last run under ``no_sync()``, and one fit step runs a backward per
        pixel chunk plus optional temporal and perceptual passes, and the bf16 path calls the layers
        directly (past DDP's forward hooks). One flat all-reduce after the whole step is the same update with
        one collective per step; it gives up overlapping communication with the last backward, which for
        these gradients (0.8 MB at the default width 256) is noise next to the step itself.
        """
        if not self.enabled:
            return list(extras)
        import torch.distributed as dist

        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        device = grads[0].device if grads else _collective_device()
        flat = torch.cat(
            [g.reshape(-1).float() for g in grads] + [torch.tensor(list(extras), dtype=torch.float32, device=device)]
        )
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        offset = 0
        for p, g in zip(params, grads, strict=True):
            n = g.numel()
            p.grad = flat[offset : offset + n].view_as(g).to(g.dtype)
            offset += n
        return [float(v) for v in flat[offset:].tolist()]

    def from_main(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` on rank 0 and its result on every rank; a `VinrError` there stops every rank.

        For the checks and set-up only rank 0 may do (output folders, temporary files): the other ranks
        would otherwise wait in their next collective for a rank 0 that exited, and die with a connection
        error instead of the one clear line rank 0 prints.
        """
        if not self.enabled:
            return fn()
        result: tuple[str, Any] = ("ok", None)
        if self.is_main:
            try:
                result = ("ok", fn())
            except VinrError as exc:
                self.broadcast_object(("error", str(exc)))
                raise
        status, value = self.broadcast_object(result)
        if status == "error":
            raise PeerError(f"rank 0 stopped: {value}")
        return value

    def check_same(self, what: str, value: Any) -> None:
        """Raise on every rank unless all ranks hold the same ``value`` (e.g. the step they resume from)."""
        if not self.enabled:
            return
        values = self.all_gather_object(value)
        if any(v != values[0] for v in values):
            shown = ", ".join(f"rank {r}: {v!r}" for r, v in enumerate(values))
            raise DistributedError(f"the processes disagree on {what} ({shown})")

    # ---- how work is split -----------------------------------------------------------------------
    def sampler_seed(self, seed: int) -> int:
        """The seed of this rank's pixel sampler: ``seed`` itself alone, an independent stream per rank otherwise."""
        if not self.enabled:
            return seed
        return int(np.random.SeedSequence([seed, self.rank]).generate_state(1, np.uint64)[0] >> 1)

    def share(self, n: int) -> int:
        """This rank's part of ``n`` items split as evenly as possible (the first ``n % world`` get one more)."""
        start, stop = shard_range(n, self.rank, self.world_size)
        return stop - start

    def shard(self, n: int) -> tuple[int, int]:
        """This rank's contiguous ``[start, stop)`` of ``n`` items (empty when ``n < world_size``)."""
        return shard_range(n, self.rank, self.world_size)


SINGLE = DistContext()


def shard_range(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """``[start, stop)`` of rank ``rank`` when ``n`` items are cut into ``world_size`` contiguous runs."""
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def _collective_device() -> torch.device:
    import torch.distributed as dist

    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _env_int(name: str, default: int | None = None) -> int:
    text = os.environ.get(name)
    if text is None or text == "":
        if default is None:
            raise DistributedError(
                f"WORLD_SIZE={os.environ.get('WORLD_SIZE')} is set but {name} is not: launch with torchrun"
            )
        return default
    try:
        return int(text)
    except ValueError:
        raise DistributedError(f"{name}={text!r} is not an integer (launcher environment)") from None


def from_env() -> DistContext:
    """The `DistContext` torchrun's variables describe; `SINGLE` when ``WORLD_SIZE`` is unset or 1."""
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return SINGLE
    rank = _env_int("RANK")
    local_rank = _env_int("LOCAL_RANK")
    local_world = _env_int("LOCAL_WORLD_SIZE", world)
    if not 0 <= rank < world or not 0 <= local_rank < local_world:
        raise DistributedError(f"RANK={rank} / LOCAL_RANK={local_rank} out of range for WORLD_SIZE={world}")
    # torchrun numbers its agents (one per machine) GROUP_RANK; other launchers: the host name.
    node = os.environ.get("GROUP_RANK") or socket.gethostname()
    return DistContext(rank, world, local_rank, local_world, node)


@contextlib.contextmanager
def process_group(device: str = "cpu", *, backend: str | None = None) -> Iterator[DistContext]:
    """Join the torchrun job for the duration of the block; a plain process gets `SINGLE` and no group.

    The backend is gloo for CPU work and NCCL for ``device="cuda"`` (each rank then uses GPU ``LOCAL_RANK``).
    """
    ctx = from_env()
    if not ctx.enabled:
        yield ctx
        return
    import torch.distributed as dist

    if not dist.is_available():
        raise DistributedError("this torch build has no torch.distributed; run without torchrun")
    if dist.is_initialized():  # a caller (a test, a notebook) already joined a group
        yield ctx
        return
    # Before the group exists, never inside it: torch.distributed.nn.functional binds ``group.WORLD`` as the
    # default argument of ten functions when it is first imported, and torch imports it lazily (e.g.
    # torch.optim.Adam() -> torch._dynamo -> fsdp -> _shard -> torch.distributed.nn). Imported inside the
    # block, those defaults would hold the live process group, so `destroy_process_group` below could not
    # free it: its gloo worker threads would outlive the block into interpreter shutdown, and one still
    # releasing the tensors of the last collective there needs the GIL, is ended by Python with
    # pthread_exit, and aborts the process ("terminate called without an active exception", SIGABRT).
    # Imported here, the defaults are None; the import costs a few milliseconds.
    import torch.distributed.nn  # noqa: F401

    backend = backend or ("nccl" if device == "cuda" else "gloo")
    kwargs = {}
    if device == "cuda":
        if torch.cuda.device_count() < ctx.local_world_size:
            raise DistributedError(
                f"{ctx.local_world_size} processes on this machine but torch sees "
                f"{torch.cuda.device_count()} CUDA GPU(s); use --nproc-per-node <= the GPU count"
            )
        torch.cuda.set_device(ctx.local_rank)
        if backend == "nccl":
            kwargs["device_id"] = torch.device("cuda", ctx.local_rank)
    try:
        dist.init_process_group(backend, **kwargs)
    except (RuntimeError, ValueError) as exc:
        raise DistributedError(f"cannot join the torchrun group ({backend}): {exc}") from None
    try:
        yield ctx
    finally:
        dist.destroy_process_group()


def read_video_once_per_node(ctx: DistContext, read: Callable[[], Video]) -> Video:
    """``read()`` on local rank 0 of each machine; the other local ranks memory-map its frames.

    Every rank samples pixels from every frame, so each needs the whole clip. Decoding it once per rank
    would cost N decodes and N copies in RAM; here local rank 0 decodes, stages the frames as one ``.npy``
    in the temp folder (``TMPDIR``: node-local, unlike a shared output folder), and every local rank maps
    that file copy-on-write: one decode, and one copy in the page cache shared by the node's ranks. The
    file is deleted once all ranks have mapped it (the mappings outlive the name). A read error on local
    rank 0 is raised on every rank of its machine, so none waits for a file that never comes.
    """
    if not ctx.enabled:
        return read()
    staged: Path | None = None
    payload: dict = {}
    try:
        if ctx.local_rank == 0:
            try:
                video = read()
                staged = Path(tempfile.mkdtemp(prefix="vinr-video-"))
                np.save(staged / "frames.npy", video.frames)
                payload = {"dir": str(staged), "fps": video.fps, "name": video.name, "sha256": video.sha256}
            except VinrError as exc:
                payload = {"error": str(exc)}
            except OSError as exc:
                payload = {
                    "error": f"cannot stage the decoded video in {tempfile.gettempdir()} "
                    f"(set TMPDIR to a folder with room): {exc.strerror or exc}"
                }
        gathered = ctx.all_gather_object((ctx.node, ctx.local_rank, payload))
        mine = next(p for node, local, p in gathered if node == ctx.node and local == 0)
        if "error" in mine:  # local rank 0 prints it; the others on its machine stop quietly
            raise VideoError(mine["error"]) if ctx.local_rank == 0 else PeerError(mine["error"])
        frames = np.load(Path(mine["dir"]) / "frames.npy", mmap_mode="c")
        ctx.barrier()  # every rank has mapped the file: its name can go
    finally:
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)
    return Video(frames=frames, fps=mine["fps"], name=mine["name"], sha256=mine["sha256"])
