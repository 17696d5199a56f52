"""OpenEXR ZIP/ZIPS chunk coding with numpy and zlib.

OpenEXR's zip compressor first splits each chunk's bytes into the even- and
odd-indexed halves, replaces every byte after the first by its difference to
the previous one (plus 128, modulo 256), then deflates the result with zlib.
A chunk whose deflated form is not smaller than the raw bytes is stored raw.

Each chunk (one scan line for ZIPS) is a few whole-array numpy operations
plus one deflate call, run on a small thread pool: numpy and the deflate
libraries release the GIL on buffers this size, so both cores work.

Deflate uses :mod:`zlib` (level 1), whose output is a function of the
input bytes alone, so the same frame gives byte-identical files in every
process, thread and run (render-farm checksums, caches, diffs). ISA-L (the
``isal`` package) is opt-in with ``AUTOSEG_DEFLATE=isal``: 10-20x faster
deflate on mask data, but its compressed bytes for one chunk were seen to
differ now and then when called from the thread pool (same pixels, valid
streams, different bytes: two identical ``autoseg run`` processes wrote one
Cryptomatte frame of 40 differently; see docs/output-format.md). Both write
standard zlib streams that any OpenEXR reader inflates.
"""

from __future__ import annotations

import concurrent.futures
import os
import zlib
from typing import Sequence

import numpy as np

DEFLATE_ENVIRONMENT = "AUTOSEG_DEFLATE"  # "isal": faster, not byte-reproducible

_deflate_lib = zlib
if os.environ.get(DEFLATE_ENVIRONMENT, "").strip().lower() == "isal":
    try:  # ISA-L: same zlib format, much faster, bytes not reproducible
        from isal import isal_zlib as _deflate_lib
    except ImportError:  # pragma: no cover - depends on the environment
        _deflate_lib = zlib

BACKEND = "isal" if _deflate_lib is not zlib else "zlib"
# Level 1: zlib's fastest (and ISA-L's fast level when opted in).
DEFAULT_LEVEL = 1

_POOL: concurrent.futures.ThreadPoolExecutor | None = None


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        workers = max(1, min(4, os.cpu_count() or 1))
        _POOL = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="exr-zip")
    return _POOL


def _split_bytes(raw: np.ndarray) -> np.ndarray:
    """(even-indexed bytes, odd-indexed bytes) of ``raw``, concatenated.

    Viewing byte pairs as little-endian uint16 turns the split into two
    truncating copies, several times faster than byte-strided slicing."""
    size = raw.size
    out = np.empty(size, dtype=np.uint8)
    pairs = raw[: size - (size % 2)].view("<u2")
    np.copyto(out[: size // 2], pairs, casting="unsafe")
    np.copyto(out[(size + 1) // 2:], pairs >> 8, casting="unsafe")
    if size % 2:
        out[size // 2] = raw[-1]
    return out


def _merge_bytes(split: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_split_bytes`."""
    size = split.size
    half = (size + 1) // 2
    out = np.empty(size, dtype=np.uint8)
    pairs = out[: size - (size % 2)].view("<u2")
    np.left_shift(split[half:].astype(np.uint16), 8, out=pairs)
    pairs |= split[: size // 2]
    if size % 2:
        out[-1] = split[size // 2]
    return out


def predict_chunk(raw: np.ndarray) -> np.ndarray:
    """Reorder (even bytes, then odd bytes) and delta-code one chunk."""
    raw = np.ascontiguousarray(raw, dtype=np.uint8)
    reordered = _split_bytes(raw)
    coded = np.empty_like(reordered)
    if reordered.size:
        coded[0] = reordered[0]
        np.subtract(reordered[1:], reordered[:-1], out=coded[1:])
        np.bitwise_xor(coded[1:], 0x80, out=coded[1:])  # + 128 modulo 256
    return coded


def unpredict_chunk(coded: np.ndarray) -> np.ndarray:
    """Inverse of :func:`predict_chunk`."""
    coded = np.asarray(coded, dtype=np.uint8)
    if coded.size == 0:
        return coded.copy()
    steps = coded - np.uint8(128)
    steps[0] = coded[0]
    return _merge_bytes(np.cumsum(steps, dtype=np.uint8))


def _map(function, items: list, parallel: bool) -> list:
    """``[function(item) for item in items]``, in a few batches on the pool
    (one future per batch, not per scan line)."""
    if not parallel or len(items) <= 8:
        return [function(item) for item in items]
    batches = 4 * (_pool()._max_workers)
    size = -(-len(items) // batches)
    groups = [items[i:i + size] for i in range(0, len(items), size)]
    results = _pool().map(lambda group: [function(item) for item in group], groups)
    return [result for group in results for result in group]


def compress_chunks(raw: np.ndarray, lengths: Sequence[int], level: int = DEFAULT_LEVEL, threads: bool = True) -> list[bytes]:
    """Zip-compress each chunk of the concatenated ``raw`` bytes.

    Returns one byte string per chunk: deflated if that is smaller than the
    raw chunk, else the raw chunk itself (as OpenEXR requires)."""
    raw = np.ascontiguousarray(raw, dtype=np.uint8).reshape(-1)
    bounds = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.asarray(lengths, dtype=np.int64), out=bounds[1:])
    spans = list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))

    def deflate(span: tuple[int, int]) -> bytes:
        start, end = span
        if end == start:
            return b""
        chunk = raw[start:end]
        packed = _deflate_lib.compress(predict_chunk(chunk), level)
        return packed if len(packed) < end - start else chunk.tobytes()

    return _map(deflate, spans, threads and raw.size > (1 << 16))


def compress_pieces(chunks: Sequence[Sequence[np.ndarray]], level: int = DEFAULT_LEVEL, threads: bool = True) -> list[bytes]:
    """Like :func:`compress_chunks`, with each chunk given as a list of byte
    arrays to join (joined on the worker threads, not in the caller)."""

    def deflate(pieces: Sequence[np.ndarray]) -> bytes:
        chunk = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
        if chunk.size == 0:
            return b""
        packed = _deflate_lib.compress(predict_chunk(chunk), level)
        return packed if len(packed) < chunk.size else chunk.tobytes()

    total = sum(int(piece.size) for pieces in chunks for piece in pieces)
    return _map(deflate, list(chunks), threads and total > (1 << 16))


def decompress_chunks(packed: Sequence[bytes | memoryview], lengths: Sequence[int], threads: bool = True) -> np.ndarray:
    """Inverse of :func:`compress_chunks`: the concatenated raw bytes.

    A chunk whose packed size equals its raw size was stored raw."""
    sizes = [int(n) for n in lengths]
    total = sum(sizes)
    out = np.empty(total, dtype=np.uint8)
    bounds = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=bounds[1:])
    items = list(zip(packed, sizes, bounds[:-1].tolist()))

    def inflate(item: tuple[bytes | memoryview, int, int]) -> None:
        data, size, start = item
        if size == 0:
            return
        if len(data) == size:
            out[start:start + size] = np.frombuffer(data, dtype=np.uint8)
            return
        inflated = _deflate_lib.decompress(data)
        if len(inflated) != size:
            raise ValueError(f"zip chunk inflated to {len(inflated)} bytes, expected {size}")
        out[start:start + size] = unpredict_chunk(np.frombuffer(inflated, dtype=np.uint8))

    _map(inflate, items, threads and total > (1 << 16))
    return out
