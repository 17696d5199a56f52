"""PyTorch-compatible image/mask resizing in numpy.

SAM2 resizes with ``torch.nn.functional.interpolate(mode="bilinear",
align_corners=False)``, with or without ``antialias=True``. Both are
separable, so a resize is two small weight-matrix products; the weights
below follow PyTorch's index/weight rules (half-pixel centres, edge
clamping, triangle filter stretched by the scale when antialiasing a
downscale), so results match PyTorch to float rounding.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=64)
def bilinear_weights(in_size: int, out_size: int) -> np.ndarray:
    """(out, in) float32 weights of ``interpolate(bilinear, align_corners=False)``.

    PyTorch computes the source coordinate ``scale * (i + 0.5) - 0.5`` in
    float32 with one fused multiply-add; the product of a float32 scale and
    ``i + 0.5`` is exact in float64, so one rounding reproduces it."""
    scale = np.float32(in_size) / np.float32(out_size)
    src = (np.float64(scale) * (np.arange(out_size, dtype=np.float64) + 0.5) - 0.5).astype(np.float32)
    src = np.maximum(src, np.float32(0.0))
    index0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    frac = np.clip(src - index0.astype(np.float32), np.float32(0.0), np.float32(1.0))
    index1 = np.where(index0 < in_size - 1, index0 + 1, index0)
    weights = np.zeros((out_size, in_size), np.float32)
    rows = np.arange(out_size)
    np.add.at(weights, (rows, index0), np.float32(1.0) - frac)
    np.add.at(weights, (rows, index1), frac)
    weights.setflags(write=False)
    return weights


@functools.lru_cache(maxsize=64)
def antialias_weights(in_size: int, out_size: int) -> np.ndarray:
    """(out, in) float32 weights of ``interpolate(bilinear, antialias=True)``
    (triangle filter widened by the scale when downscaling, normalised per
    output pixel; float32 arithmetic as PyTorch's kernel)."""
    f32 = np.float32
    scale = f32(in_size) / f32(out_size)
    support = scale if scale >= 1.0 else f32(1.0)
    invscale = f32(1.0) / scale if scale >= 1.0 else f32(1.0)
    weights = np.zeros((out_size, in_size), np.float32)
    for i in range(out_size):
        center = f32(scale * f32(i + 0.5))
        start = max(int(center - support + f32(0.5)), 0)
        stop = min(int(center + support + f32(0.5)), in_size)
        taps = np.arange(start, stop).astype(np.float32)
        w = np.maximum(f32(0.0), f32(1.0) - np.abs((taps - center + f32(0.5)) * invscale)).astype(np.float32)
        total = f32(0.0)
        for value in w:  # sequential float32 sum, as the kernel accumulates
            total = f32(total + value)
        if total != 0.0:
            w = (w / total).astype(np.float32)
        weights[i, start:stop] = w
    weights.setflags(write=False)
    return weights


def resize(planes: np.ndarray, size: tuple[int, int], antialias: bool = False) -> np.ndarray:
    """Resize the last two axes of ``planes`` (..., H, W) to ``size`` = (h, w)."""
    planes = np.asarray(planes, np.float32)
    in_h, in_w = planes.shape[-2:]
    out_h, out_w = int(size[0]), int(size[1])
    if (in_h, in_w) == (out_h, out_w):
        return planes.copy()
    pick = antialias_weights if antialias else bilinear_weights
    rows = pick(in_h, out_h)
    cols = pick(in_w, out_w)
    # width first, then height (the order PyTorch's separable kernel uses)
    return np.matmul(rows, np.matmul(planes, cols.T))
