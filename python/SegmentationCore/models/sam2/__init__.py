"""SAM2 / SAM2.1 over ONNX Runtime: image segmentation and video tracking.

No torch: the graphs come from ``export/export_sam2.py`` (see docs/sam2.md)
and SAM2's inference rules (mask choice, memory bank, object pointers) are
reproduced in numpy.

>>> segmenter, tracker = load_sam2("onnx_models/sam2.1_hiera_t")  # doctest: +SKIP
>>> result = segmenter.segment(frames, 1001, [Prompt(box=[10, 20, 200, 300])])  # doctest: +SKIP
>>> for tracked in tracker.track(frames, {1001: {1: Prompt(mask=result.probabilities[0])}},
...                              range(1001, 1021)):  # doctest: +SKIP
...     ...

Encoder features are shared by the segmenter and the tracker through one
:class:`FeatureCache`, so every frame is encoded once per process.
"""

from __future__ import annotations

import os
from typing import Sequence

from .feature_cache import CacheStats, FeatureCache
from .model import Sam2Model, graph_stats
from .segmenter import Sam2ImageSegmenter
from .tracker import Sam2VideoTracker


def load_sam2(
    model_dir: str | os.PathLike,
    providers: str | Sequence[str] | None = None,
    threads: int | None = None,
    feature_cache: FeatureCache | None = None,
) -> tuple[Sam2ImageSegmenter, Sam2VideoTracker]:
    """An image segmenter and a video tracker for one SAM2 model folder.

    Both share the ONNX Runtime sessions (``runtime.session``) and one
    feature cache (a new one with the default budgets unless given).
    ``providers``/``threads`` as :func:`SegmentationCore.models.runtime.session`.
    Raises :class:`~SegmentationCore.core.errors.ModelFolderError` for a missing
    or invalid folder.
    """
    model = Sam2Model(model_dir, providers=providers, threads=threads, feature_cache=feature_cache)
    return Sam2ImageSegmenter(model), Sam2VideoTracker(model)


__all__ = [
    "CacheStats",
    "FeatureCache",
    "Sam2ImageSegmenter",
    "Sam2Model",
    "Sam2VideoTracker",
    "graph_stats",
    "load_sam2",
]
