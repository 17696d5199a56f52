"""Soft mask layers -> a sparse list of per-pixel samples.

Both ID-matte writers start from the same samples, so an ObjectId file and a
Cryptomatte file written from the same layers hold the same layers at the
same pixels:

* one sample per (pixel, layer) where the layer's alpha is at least
  ``min_alpha`` (default 2**-11, half precision's step just below 1.0; a
  SAM2 probability map is tiny but non-zero almost everywhere, and writing
  every such pixel would bloat both formats without changing any matte
  visibly);
* samples sorted by pixel (row-major), then front to back in depth order.

Everything is vectorised: one pass over each layer's pixels plus work
proportional to the number of samples. No per-pixel Python.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Mapping, Sequence

import numpy as np

from ..core import errors
from .murmur import murmurhash3_32

DEFAULT_MIN_ALPHA = 2.0 ** -11

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class LayerSamples:
    """Sparse samples of a set of named soft layers (see module docstring)."""

    names: list[str]  # depth order, front first
    height: int
    width: int
    counts: np.ndarray  # (H*W,) int32 samples per pixel
    pixel: np.ndarray  # (N,) int32 (int64 for huge frames) flat pixel index, sorted
    layer: np.ndarray  # (N,) int32 index into ``names``
    alpha: np.ndarray  # (N,) float32 in (0, 1]

    @property
    def hashes(self) -> np.ndarray:
        """(L,) uint32 MurmurHash3 of each name."""
        return np.array([murmurhash3_32(name) for name in self.names], dtype=np.uint32)

    @property
    def max_samples(self) -> int:
        return int(self.counts.max()) if self.counts.size else 0

    def __len__(self) -> int:
        return int(self.pixel.size)


def depth_ordered_names(names: Sequence[str], depth_order: Sequence[str] | None) -> list[str]:
    """``names`` sorted front to back: those listed in ``depth_order`` first
    (in that order), the rest in their given order. Names in ``depth_order``
    that are not layers of this frame are ignored (it may be the shot's
    order)."""
    names = list(names)
    if depth_order is None:
        return names
    present = set(names)
    seen: set[str] = set()
    ordered = []
    for name in depth_order:
        if name in present and name not in seen:
            ordered.append(name)
            seen.add(name)
    ordered.extend(name for name in names if name not in seen)
    return ordered


def check_layer_name(name: object, path: str | os.PathLike) -> str:
    if not isinstance(name, str) or not name.strip():
        raise errors.OutputError(f"{os.fspath(path)}: layer names must be non-empty strings, got {name!r}")
    if "\0" in name:
        raise errors.OutputError(f"{os.fspath(path)}: layer name {name!r} contains a NUL character")
    return name


def check_layers(
    path: str | os.PathLike,
    names: Sequence[object],
    depth_order: Sequence[str] | None = None,
    frame_shape: tuple[int, ...] | None = None,
    shape: tuple[int, int] | None = None,
) -> tuple[list[str], int, int]:
    """Validate a frame's layer names and size before any pixel is looked
    at: ``(names front to back, height, width)``. ``frame_shape`` is the
    layers' common (H, W) (``None`` when there are no layers; ``shape``
    gives the size then, else 1x1 with a warning)."""
    names = depth_ordered_names([check_layer_name(n, path) for n in names], depth_order)
    if frame_shape is None:
        if shape is not None:
            frame_shape = tuple(shape)
        else:
            logger.warning("%s: no layers and no frame size given; writing a 1x1 frame (pass shape=(H, W))", os.fspath(path))
            frame_shape = (1, 1)
    if len(frame_shape) != 2 or min(frame_shape) < 1:
        raise errors.OutputError(f"{os.fspath(path)}: layers must be 2-D (H, W) alpha, got shape {tuple(frame_shape)}")
    if shape is not None and tuple(shape) != tuple(frame_shape):
        raise errors.OutputError(f"{os.fspath(path)}: layers are {tuple(frame_shape)}, expected {tuple(shape)}")
    hashes = [murmurhash3_32(name) for name in names]
    if len(set(hashes)) != len(hashes):
        clashes = [n for n, h in zip(names, hashes) if hashes.count(h) > 1]
        raise errors.OutputError(
            f"{os.fspath(path)}: layer names {clashes} have the same MurmurHash3 id; rename one of them"
        )
    return names, int(frame_shape[0]), int(frame_shape[1])


def collect_samples(
    path: str | os.PathLike,
    layers: Mapping[str, np.ndarray],
    depth_order: Sequence[str] | None = None,
    min_alpha: float = DEFAULT_MIN_ALPHA,
    shape: tuple[int, int] | None = None,
) -> LayerSamples:
    """Validate ``layers`` (name -> (H, W) alpha) and return their samples.

    ``path`` only names the output file in error messages. ``shape`` gives
    the frame size when there are no layers (default 1x1 then)."""
    names = [check_layer_name(n, path) for n in layers]
    shapes = {np.shape(layers[name]) for name in names}
    if len(shapes) > 1:
        detail = ", ".join(f"{name}: {np.shape(layers[name])}" for name in names)
        raise errors.OutputError(f"{os.fspath(path)}: all layers must have one (H, W) size, got {detail}")
    names, height, width = check_layers(path, names, depth_order, next(iter(shapes)) if shapes else None, shape)
    return band_samples(path, names, layers, height, width, min_alpha)


def band_samples(
    path: str | os.PathLike,
    names: Sequence[str],
    layers: Mapping[str, np.ndarray],
    height: int,
    width: int,
    min_alpha: float = DEFAULT_MIN_ALPHA,
) -> LayerSamples:
    """The samples of already validated ``names`` (front to back, see
    :func:`check_layers`) whose alphas ``layers`` are ``(height, width)``:
    a whole frame or a band of its rows (pixel indices then count from the
    band's first row). A layer missing from ``layers`` has no samples."""
    threshold = max(float(min_alpha), 2.0 ** -25)
    names = list(names)
    npix = height * width
    index_type = np.int32 if npix * max(1, len(names)) < 2**31 else np.int64
    per_layer = []
    counts = np.zeros(npix, dtype=np.int32)
    for name in names:
        if name not in layers:
            per_layer.append((np.zeros(0, index_type), np.zeros(0, np.float32)))
            continue
        alpha = np.asarray(layers[name])
        if not np.issubdtype(alpha.dtype, np.number) and alpha.dtype != np.bool_:
            raise errors.OutputError(f"{os.fspath(path)}: layer {name!r} is not numeric (dtype {alpha.dtype})")
        if alpha.shape != (height, width):
            raise errors.OutputError(f"{os.fspath(path)}: layer {name!r} is {alpha.shape}, expected {(height, width)}")
        flat = alpha.astype(np.float32, copy=False).reshape(-1)
        index = np.flatnonzero(flat >= threshold).astype(index_type, copy=False)
        values = flat[index]
        if np.isnan(flat).any():
            raise errors.OutputError(f"{os.fspath(path)}: layer {name!r} contains NaN alpha; fix the mask before writing")
        np.minimum(values, 1.0, out=values)
        per_layer.append((index, values))
        counts[index] += 1

    # next free slot of every pixel; each layer's samples go to their pixels'
    # slots in depth order, so samples end up sorted by pixel, then depth
    slot = np.empty(npix, dtype=index_type)
    slot[0] = 0
    np.cumsum(counts[:-1], out=slot[1:], dtype=index_type)
    total = int(slot[-1]) + int(counts[-1])
    pixel = np.empty(total, dtype=index_type)
    layer = np.empty(total, dtype=np.int32)
    alpha_out = np.empty(total, dtype=np.float32)
    for layer_index, (index, values) in enumerate(per_layer):
        position = slot[index]
        slot[index] += 1
        pixel[position] = index
        layer[position] = layer_index
        alpha_out[position] = values
    return LayerSamples(names, height, width, counts, pixel, layer, alpha_out)


def samples_band(samples: LayerSamples, y0: int, y1: int) -> LayerSamples:
    """Rows ``y0`` to ``y1`` (exclusive) of a frame's samples, as the
    samples of that band (pixel indices from the band's first row)."""
    width = samples.width
    first, last = np.searchsorted(samples.pixel, [y0 * width, y1 * width]).tolist()
    pixel = samples.pixel[first:last] - samples.pixel.dtype.type(y0 * width)
    return LayerSamples(
        samples.names, y1 - y0, width, samples.counts[y0 * width:y1 * width], pixel,
        samples.layer[first:last], samples.alpha[first:last],
    )
