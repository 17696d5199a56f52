"""Numpy operations on masks shared by the pipeline, metrics and synthetic shots.

Masks are ``float32`` probabilities in ``[0, 1]`` (or booleans) of shape
``(H, W)``; stacks are ``(N, H, W)``. Everything here is vectorised: no
per-pixel Python loops.
"""

from __future__ import annotations

import numpy as np


def binarise(masks: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """``masks >= threshold`` as booleans (any shape)."""
    masks = np.asarray(masks)
    if masks.dtype == bool:
        return masks
    return masks >= threshold


def pairwise_overlaps(a: np.ndarray, b: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intersections and areas of two stacks of boolean masks.

    Returns ``(intersection (N, M), area_a (N,), area_b (M,))`` in pixels.
    ``b`` defaults to ``a``.
    """
    a = np.asarray(a, dtype=bool)
    flat_a = a.reshape(len(a), -1)
    if b is None:
        flat_b = flat_a
    else:
        b = np.asarray(b, dtype=bool)
        flat_b = b.reshape(len(b), -1)
    if flat_a.shape[1] != flat_b.shape[1]:
        raise ValueError(f"mask stacks have different sizes: {a.shape[1:]} and {b.shape[1:]}")
    area_a = flat_a.sum(axis=1, dtype=np.int64)
    area_b = flat_b.sum(axis=1, dtype=np.int64) if b is not None else area_a
    if len(flat_a) == 0 or len(flat_b) == 0:
        return np.zeros((len(flat_a), len(flat_b)), np.int64), area_a, area_b
    # float32 matrix product counts exactly up to 2**24 pixels per mask.
    fa = flat_a.astype(np.float32)
    fb = fa if b is None else flat_b.astype(np.float32)
    intersection = np.rint(fa @ fb.T).astype(np.int64)
    return intersection, area_a, area_b


def similarity_matrix(a: np.ndarray, b: np.ndarray | None = None, threshold: float = 0.5) -> np.ndarray:
    """The paper's asymmetric ``Sim[i, j] = |A_i ∩ B_j| / |A_i|`` (0 where A_i is empty)."""
    bin_a = binarise(a, threshold)
    bin_b = None if b is None else binarise(b, threshold)
    intersection, area_a, _ = pairwise_overlaps(bin_a, bin_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        sim = np.where(area_a[:, None] > 0, intersection / np.maximum(area_a[:, None], 1), 0.0)
    return sim.astype(np.float64)


def iou_matrix(a: np.ndarray, b: np.ndarray | None = None, threshold: float = 0.5) -> np.ndarray:
    """Intersection over union for every pair (0 where both are empty)."""
    bin_a = binarise(a, threshold)
    bin_b = None if b is None else binarise(b, threshold)
    intersection, area_a, area_b = pairwise_overlaps(bin_a, bin_b)
    union = area_a[:, None] + area_b[None, :] - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1), 0.0)


def iou(a: np.ndarray, b: np.ndarray, threshold: float = 0.5) -> float:
    """IoU of two single masks; two empty masks give 1.0 (they agree)."""
    a = binarise(a, threshold)
    b = binarise(b, threshold)
    union = np.count_nonzero(a | b)
    if union == 0:
        return 1.0
    return np.count_nonzero(a & b) / union


def bounding_box(mask: np.ndarray, threshold: float = 0.5) -> np.ndarray | None:
    """``x0, y0, x1, y1`` (pixel edges) of the pixels at or above threshold, or None."""
    binary = binarise(mask, threshold)
    rows = np.flatnonzero(binary.any(axis=1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(binary.any(axis=0))
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], np.float32)


def _extreme_filter(mask: np.ndarray, radius: int, use_max: bool) -> np.ndarray:
    """Square max/min filter of side ``2 * radius + 1`` via running extremes."""
    if radius <= 0:
        return mask.copy()
    result = mask
    for axis in (0, 1):
        result = _running_extreme(result, radius, axis, use_max)
    return result


def _running_extreme(array: np.ndarray, radius: int, axis: int, use_max: bool) -> np.ndarray:
    """Extreme over ``[i - radius, i + radius]`` along ``axis`` in O(log radius) passes."""
    op = np.maximum if use_max else np.minimum
    if array.dtype == bool:
        fill = False if use_max else True
    else:
        fill = -np.inf if use_max else np.inf
        if np.issubdtype(array.dtype, np.integer):
            info = np.iinfo(array.dtype)
            fill = info.min if use_max else info.max
    moved = np.moveaxis(array, axis, 0)
    length = moved.shape[0]
    padded = np.concatenate(
        [np.full((radius,) + moved.shape[1:], fill, moved.dtype), moved, np.full((radius,) + moved.shape[1:], fill, moved.dtype)]
    )
    # span[k][i] = extreme of padded[i : i + 2**k]
    span = padded
    width = 1
    target = 2 * radius + 1
    spans = {1: padded}
    while width * 2 <= target:
        span = op(span[:-width], span[width:])
        width *= 2
        spans[width] = span
    # combine two overlapping power-of-two windows covering `target`
    window = spans[width]
    offset = target - width
    result = op(window[:length], window[offset:offset + length])
    return np.moveaxis(result, 0, axis)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow a (soft or boolean) mask by ``radius`` pixels (square structuring element)."""
    return _extreme_filter(np.asarray(mask), int(radius), use_max=True)


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Shrink a (soft or boolean) mask by ``radius`` pixels (square structuring element)."""
    return _extreme_filter(np.asarray(mask), int(radius), use_max=False)


def boundary(mask: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """One-pixel inner boundary of a binarised mask (pixels with a 4-neighbour outside)."""
    binary = binarise(mask, threshold)
    interior = binary.copy()
    interior[1:, :] &= binary[:-1, :]
    interior[:-1, :] &= binary[1:, :]
    interior[:, 1:] &= binary[:, :-1]
    interior[:, :-1] &= binary[:, 1:]
    # the image border counts as outside
    interior[0, :] = interior[-1, :] = False
    interior[:, 0] = interior[:, -1] = False
    return binary & ~interior


def resize_bilinear(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``(H, W)`` or ``(N, H, W)`` / ``(H, W, C)``-free stacks to ``size = (h, w)``.

    Pixel-centre aligned bilinear interpolation (what an image resize does),
    vectorised; the leading axis of a 3-D input is treated as a stack.
    """
    array = np.asarray(array, dtype=np.float32)
    squeeze = array.ndim == 2
    if squeeze:
        array = array[None]
    height, width = array.shape[1:]
    new_h, new_w = int(size[0]), int(size[1])
    if (new_h, new_w) == (height, width):
        result = array.copy()
    else:
        y0, y1, wy = _axis_weights(height, new_h)
        x0, x1, wx = _axis_weights(width, new_w)
        rows = array[:, y0, :] * (1 - wy)[None, :, None] + array[:, y1, :] * wy[None, :, None]
        result = rows[:, :, x0] * (1 - wx)[None, None, :] + rows[:, :, x1] * wx[None, None, :]
        result = result.astype(np.float32, copy=False)
    return result[0] if squeeze else result


def _axis_weights(old: int, new: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scale = old / new
    centres = (np.arange(new, dtype=np.float64) + 0.5) * scale - 0.5
    centres = np.clip(centres, 0, old - 1)
    low = np.floor(centres).astype(np.int64)
    high = np.minimum(low + 1, old - 1)
    weight = (centres - low).astype(np.float32)
    return low, high, weight


def resize_area(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Downsample ``(H, W)`` / ``(N, H, W)`` by box-averaging (for GT masks and
    previews); falls back to bilinear when enlarging."""
    array = np.asarray(array, dtype=np.float32)
    squeeze = array.ndim == 2
    if squeeze:
        array = array[None]
    height, width = array.shape[1:]
    new_h, new_w = int(size[0]), int(size[1])
    if new_h > height or new_w > width:
        result = resize_bilinear(array, (new_h, new_w))
        return result[0] if squeeze else result
    ys = (np.arange(new_h + 1) * height) // new_h
    xs = (np.arange(new_w + 1) * width) // new_w
    csum = np.cumsum(np.cumsum(np.pad(array, ((0, 0), (1, 0), (1, 0))), axis=1), axis=2)
    total = csum[:, ys[1:], :][:, :, xs[1:]] - csum[:, ys[:-1], :][:, :, xs[1:]] - csum[:, ys[1:], :][:, :, xs[:-1]] + csum[:, ys[:-1], :][:, :, xs[:-1]]
    counts = (ys[1:] - ys[:-1])[:, None] * (xs[1:] - xs[:-1])[None, :]
    result = (total / counts[None]).astype(np.float32)
    return result[0] if squeeze else result


def box_mask(box: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A filled float32 ``(H, W)`` rectangle for an ``x0, y0, x1, y1`` box."""
    height, width = size
    mask = np.zeros((height, width), np.float32)
    x0, y0, x1, y1 = [float(v) for v in box]
    c0, c1 = int(np.clip(np.floor(x0), 0, width)), int(np.clip(np.ceil(x1), 0, width))
    r0, r1 = int(np.clip(np.floor(y0), 0, height)), int(np.clip(np.ceil(y1), 0, height))
    mask[r0:r1, c0:c1] = 1.0
    return mask
