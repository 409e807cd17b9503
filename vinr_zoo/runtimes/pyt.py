"""The torch backend: ω0 folded into the weights, cache-sized chunks, preallocated buffers.

A family that offers ``folded_layers()`` and ``network_input()`` (the sine MLP: coordinates through its
scene-cut map, then the folded layers) runs on the fast path below; any other registered family runs its
own ``forward`` in chunks under ``inference_mode``.

Measured on the 2-vCPU dev machine: one call on 65,536 rows runs at ≈ 0.22 Mpx/s
because 64 MB intermediates miss cache; 4,096-row chunks run 2-3x faster, and ``torch.sin(out=)``
into a reused buffer is ~3x faster than allocating each time.

On CPU (float32) two more things, measured with benchmarks/decode_throughput.py on the 2-vCPU dev
machine while other jobs ran on it (it was never idle during this work, so idle numbers are still open):
- Chunks of 1,024 rows run on a pool of worker threads, one per torch thread, each with one intra-op
  thread, instead of every op forking and joining all of torch's OpenMP threads, whose barriers stall
  whenever a neighbour process holds a core. Width 256, N = 65,536: 1.4x to 4.8x the throughput of the
  OpenMP path, depending on the load.
- The sine runs through numpy (its AVX-512 SIMD float32 ``sin``: ≈ 2.3x torch.sin per thread here;
  results differ from torch.sin by about 1 ulp, max 6e-8 on arguments in [-30, 30]). On the 2-vCPU Xeon
  (AVX-512, AMX) torch.sin is the faster one instead (116 vs 147 µs per 1,024 x 256 chunk on one thread;
  decode 0.87 vs 0.81 Mpx/s in benchmarks/decode_cli.py): ``sine="torch"`` picks it. The default stays
  fixed rather than timed at open, because the two differ by an ulp and a decode must give the same
  bytes every time (a timed choice flipped between runs and changed one pixel of a zoo decode by 1).
While the workers run, ``torch.set_num_threads(1)`` is in force process-wide; it is restored afterwards.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from vinr_zoo.errors import OptionError, RuntimeUnavailable
from vinr_zoo.runtimes.base import Backend, register_backend

DEFAULT_CHUNK = 4096
DEFAULT_CHUNK_CPU_WORKERS = 1024
SINES = ("numpy", "torch")


@register_backend
class TorchBackend(Backend):
    name = "torch"

    def __init__(
        self,
        model,
        *,
        device: str = "cpu",
        chunk: int | None = None,
        dtype=torch.float32,
        workers: int | None = None,
        sine: str = "numpy",
    ):
        super().__init__()
        if sine not in SINES:
            raise OptionError("sine", f"must be one of {', '.join(SINES)}, got {sine!r}")
        self.sine = sine
        self.model = model
        self.device = torch.device(device)
        self.dtype = dtype
        cpu = self.device.type == "cpu"
        # Worker threads: one per torch thread on CPU (0 or 1 = run in the caller's thread, torch's threading).
        self.workers = (torch.get_num_threads() if workers is None else int(workers)) if cpu else 0
        default = DEFAULT_CHUNK_CPU_WORKERS if self.workers > 1 else DEFAULT_CHUNK
        self.chunk = int(chunk) if chunk is not None else default
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()

    def open_impl(self) -> None:
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeUnavailable("device cuda was asked for but torch sees no CUDA GPU")
        self._generic = not hasattr(self.model, "folded_layers")
        if self._generic:
            self._module = self.model.to(self.device).eval()
            return
        layers = self.model.folded_layers()
        # Keep W transposed and contiguous so addmm reads it row-major.
        self._layers = [
            (w.t().contiguous().to(self.device, self.dtype), b.to(self.device, self.dtype)) for w, b in layers
        ]
        self._width = self._layers[0][0].shape[1]
        self._numpy_sin = self.device.type == "cpu" and self.dtype == torch.float32 and self.sine == "numpy"
        self._local = threading.local()
        if self.workers > 1:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="vinr-torch")

    def close_impl(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._local = threading.local()

    def describe(self) -> str:
        how = f", {self.workers} workers" if self.workers > 1 else ""
        if getattr(self, "_layers", None) is not None:
            how += f", {'numpy' if self._numpy_sin else 'torch'} sine"
        return (
            f"torch {torch.__version__} ({self.device}, {str(self.dtype).removeprefix('torch.')}, "
            f"chunk {self.chunk}{how})"
        )

    def _buffers(self) -> list[torch.Tensor]:
        """Two ping-pong activation buffers per thread (workers run chunks concurrently)."""
        bufs = getattr(self._local, "bufs", None)
        if bufs is None:
            bufs = [torch.empty(self.chunk, self._width, device=self.device, dtype=self.dtype) for _ in range(2)]
            self._local.bufs = bufs
        return bufs

    def _sin_(self, t: torch.Tensor) -> None:
        if self._numpy_sin:
            a = t.numpy()
            np.sin(a, out=a)
        else:
            torch.sin(t, out=t)

    def _chunk(self, x: torch.Tensor, out: torch.Tensor) -> None:
        m = x.shape[0]
        bufs = self._buffers()
        src, dst = bufs[0][:m], bufs[1][:m]
        *sines, (w_head, b_head) = self._layers
        w, b = sines[0]
        torch.addmm(b, x, w, out=src)
        self._sin_(src)
        for w, b in sines[1:]:
            torch.addmm(b, src, w, out=dst)
            self._sin_(dst)
            src, dst = dst, src
        torch.addmm(b_head, src, w_head, out=out)

    @torch.inference_mode()
    def infer_impl(self, coords: torch.Tensor) -> torch.Tensor:
        if self._generic:
            return torch.cat(
                [self._module(part.to(self.device, self.dtype)).float().cpu() for part in coords.split(self.chunk)]
            )
        n = coords.shape[0]
        x_all = self.model.network_input(coords.to(self.device, torch.float32)).to(self.dtype)
        out = torch.empty(n, 3, device=self.device, dtype=self.dtype)
        c = self.chunk
        if self._pool is None or n <= c:
            for s in range(0, n, c):
                self._chunk(x_all[s : s + c], out[s : s + c])
            return out.float().cpu()

        def job(s: int) -> None:
            with torch.inference_mode():  # a thread-local mode: enter it in each worker
                self._chunk(x_all[s : s + c], out[s : s + c])

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for _ in self._pool.map(job, range(0, n, c)):
                pass
        finally:
            torch.set_num_threads(threads)
        return out.float().cpu()
