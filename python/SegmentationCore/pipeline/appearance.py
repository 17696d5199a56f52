"""What a layer looks like: a colour histogram of the plate under its mask.

The ``guarded`` cache rule uses it to keep identities (docs/pipeline.md):

* a stage-2 mask that overlaps where a lost layer would be continues that
  layer only if it also looks like it (:func:`similarity` at least
  ``TrackingParams.appearance_gate``);
* a stage-2 mask that no position explains (an object back after leaving
  the frame or a long occlusion) continues the lost layer it clearly looks
  like: similarity at least ``reid_appearance`` *and* ``appearance_margin``
  above every other layer, so lookalikes (a crowd in one uniform) start a
  new layer rather than guess;
* a second stage-2 mask inside one layer that looks like the layer is a
  part of it (a part box), not a new object.

A descriptor is a joint RGB histogram (``BINS`` per channel) of the
working image's pixels under a binary mask, normalised to sum to 1. The
working image is sRGB in [0, 1] (:class:`~SegmentationCore.core.protocols.FrameSource`),
so log and ACES plates are compared after their display transform, as the
models see them. Layers learn their appearance only from fresh stage-2
masks (a tracked mask may have drifted onto a neighbour) and blend each new
look with the old one (:func:`blend`), so slow lighting changes follow.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Mapping, TypeVar

import numpy as np

New = TypeVar("New", bound=Hashable)
Known = TypeVar("Known", bound=Hashable)

BINS = 8  # per channel: 512 bins in all
MIN_PIXELS = 64  # fewer pixels under a mask say nothing about its colour
BLEND = 0.5  # weight of the newest look in a layer's descriptor


def colour_histogram(image: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """The normalised ``BINS**3`` RGB histogram of ``image`` under ``mask``.

    ``image`` is ``(H, W, 3)`` float in [0, 1] (values outside are clipped),
    ``mask`` a boolean ``(H, W)`` array of the same size. ``None`` when
    fewer than ``MIN_PIXELS`` pixels are under the mask."""
    mask = np.asarray(mask, bool)
    if mask.shape != image.shape[:2]:
        raise ValueError(f"a mask of shape {mask.shape} does not fit an image of shape {image.shape[:2]}")
    pixels = image[mask]
    if len(pixels) < MIN_PIXELS:
        return None
    quantised = np.clip((pixels[:, :3] * BINS).astype(np.int64), 0, BINS - 1)
    index = (quantised[:, 0] * BINS + quantised[:, 1]) * BINS + quantised[:, 2]
    histogram = np.bincount(index, minlength=BINS ** 3).astype(np.float64)
    return histogram / histogram.sum()


def similarity(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    """Bhattacharyya coefficient of two histograms: 1 for the same colours,
    0 for no colour in common; ``None`` when either is unknown."""
    if a is None or b is None:
        return None
    return float(np.sqrt(np.asarray(a) * np.asarray(b)).sum())


def blend(old: np.ndarray | None, new: np.ndarray) -> np.ndarray:
    """A layer's descriptor after one more fresh look at it."""
    if old is None:
        return new
    mixed = (1.0 - BLEND) * np.asarray(old) + BLEND * np.asarray(new)
    return mixed / mixed.sum()


def continue_by_appearance(
    new: Mapping[New, np.ndarray],
    known: Mapping[Known, np.ndarray],
    excluded: set[Known],
    minimum: float,
    margin: float,
    comparable: Callable[[New, Known], bool] = lambda new, known: True,
) -> list[tuple[New, Known, float]]:
    """Which ``new`` looks continue which ``known`` ones: each new look's
    most similar comparable known look, if the similarity is at least
    ``minimum``, beats every other comparable known look by ``margin``
    (lookalikes: nothing is guessed) and that known one is not
    ``excluded``. Best pairs first, each side used once; returns
    ``[(new key, known key, similarity)]``. The ``guarded`` rule's
    re-identification of lost layers and the chunk reconcile both use it."""
    pairs = []
    for key, look in new.items():
        scores = {other: similarity(look, seen) for other, seen in known.items() if comparable(key, other)}
        if not scores:
            continue
        best = max(scores, key=scores.get)
        runner_up = max((value for other, value in scores.items() if other != best), default=0.0)
        if best not in excluded and scores[best] >= minimum and scores[best] - runner_up >= margin:
            pairs.append((key, best, scores[best]))
    chosen, used_new, used_known = [], set(), set()
    for key, other, value in sorted(pairs, key=lambda pair: -pair[2]):
        if key in used_new or other in used_known:
            continue
        chosen.append((key, other, value))
        used_new.add(key)
        used_known.add(other)
    return chosen


def to_json(histogram: np.ndarray) -> dict[str, Any]:
    """Sparse JSON form (most bins of a layer's histogram are empty)."""
    bins = np.flatnonzero(histogram > 1e-6)
    return {"bins": [int(b) for b in bins], "weights": [round(float(histogram[b]), 6) for b in bins]}


def from_json(data: Mapping[str, Any]) -> np.ndarray:
    histogram = np.zeros(BINS ** 3, np.float64)
    bins = np.asarray(data["bins"], np.int64)
    if len(bins) and (bins.min() < 0 or bins.max() >= BINS ** 3):
        raise ValueError(f"appearance bins must lie in 0..{BINS ** 3 - 1}")
    histogram[bins] = np.asarray(data["weights"], np.float64)
    total = histogram.sum()
    return histogram / total if total > 0 else histogram
