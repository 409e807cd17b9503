"""sha256 of files and bytes (zoo registry, TensorRT engines, source videos)."""

from __future__ import annotations

import hashlib
import os


def file_sha256(path: str | os.PathLike[str]) -> str:
    return files_sha256([path])


def files_sha256(paths: list[str | os.PathLike[str]]) -> str:
    """One sha256 over the bytes of ``paths``, one after the other (a folder of frames hashes as one)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda f=f: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
