"""Synthetic soft mask layers for the ID-matte tests and benchmark.

Soft-edged ellipses stand in for instance masks: a plateau of 1 with a
linear ramp of ``edge`` pixels, so there are plenty of fractional alphas and
overlaps. Deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np


def soft_ellipse(height: int, width: int, cx: float, cy: float, rx: float, ry: float, edge: float = 12.0) -> np.ndarray:
    """(H, W) float32 alpha of an ellipse with a soft ``edge`` (pixels)."""
    y0, y1 = max(0, int(cy - ry - 2)), min(height, int(cy + ry + 3))
    x0, x1 = max(0, int(cx - rx - 2)), min(width, int(cx + rx + 3))
    alpha = np.zeros((height, width), np.float32)
    if y0 >= y1 or x0 >= x1:
        return alpha
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    radius = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
    alpha[y0:y1, x0:x1] = np.clip((1.0 - radius) * min(rx, ry) / edge, 0.0, 1.0)
    return alpha


def overlapping_layers(height: int = 270, width: int = 480, count: int = 5) -> dict[str, np.ndarray]:
    """``count`` big soft ellipses that overlap each other heavily."""
    layers = {}
    for index in range(count):
        cx = width * (0.25 + 0.5 * index / max(1, count - 1))
        cy = height * (0.4 + 0.2 * (index % 2))
        layers[f"/person/person_{index + 1:04d}"] = soft_ellipse(
            height, width, cx, cy, width * 0.22, height * 0.38, edge=max(4.0, width / 40)
        )
    return layers


def crowd_layers(height: int = 270, width: int = 480, count: int = 60, seed: int = 7, pile: int = 9) -> dict[str, np.ndarray]:
    """``count`` person-shaped soft ellipses scattered with overlaps; the
    first ``pile`` are stacked on one spot so one pixel holds ``pile``
    layers (more than 3 rank sets' worth when ``pile`` > 6)."""
    rng = np.random.default_rng(seed)
    layers = {}
    for index in range(count):
        if index < pile:
            cx, cy = width * 0.5 + index, height * 0.5
        else:
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx = rng.uniform(0.02, 0.05) * width
        ry = rx * rng.uniform(2.0, 3.0)
        name = f"/person/person_{index + 1:04d}" if index % 4 else f"/car/car_{index + 1:04d}"
        layers[name] = soft_ellipse(height, width, cx, cy, rx, ry, edge=rng.uniform(2.0, 8.0))
    return layers


def expected_alpha(alpha: np.ndarray, min_alpha: float = 2.0 ** -11) -> np.ndarray:
    """What a reader should return for a written layer (before half rounding)."""
    alpha = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)
    return np.where(alpha >= min_alpha, alpha, 0.0).astype(np.float32)
