"""Backend protocols: the seams between the algorithm and the models.

The pipeline (stage 1-3, interactive prompts) only ever talks to these
protocols, so it runs unchanged on the ONNX Runtime backends
(:mod:`SegmentationCore.models.sam2`, :mod:`SegmentationCore.models.groundingdino`) and on
the synthetic backends used by the tests and benchmarks.
See :mod:`SegmentationCore.core.types` for array conventions.
"""

from __future__ import annotations

from typing import Iterator, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from .types import Detections, Prompt, SegmentResult, TrackedFrame


@runtime_checkable
class FrameSource(Protocol):
    """Random access to the frames of one shot at working resolution."""

    @property
    def frame_numbers(self) -> Sequence[int]:
        """The shot's frame numbers, ascending."""

    @property
    def size(self) -> tuple[int, int]:
        """Working resolution as ``(height, width)``."""

    def image(self, frame: int) -> np.ndarray:
        """The frame as float32 ``(H, W, 3)`` sRGB in [0, 1]."""

    def cache_key(self, frame: int) -> str:
        """A string that identifies this frame's pixels (shot, frame, size),
        so backends can cache per-frame work such as encoder features."""


@runtime_checkable
class Detector(Protocol):
    """Stage 1: text-prompted boxes."""

    def detect(self, frames: FrameSource, frame: int, phrases: Sequence[str]) -> Detections:
        """Boxes for every phrase (``["person", "car"]``) on one frame."""


@runtime_checkable
class ImageSegmenter(Protocol):
    """Stage 2 and interactive clicks: masks for prompts on one frame."""

    def segment(self, frames: FrameSource, frame: int, prompts: Sequence[Prompt]) -> SegmentResult:
        """One mask per prompt, computed in one batched call."""


@runtime_checkable
class VideoTracker(Protocol):
    """Stage 3: propagate object prompts through frames."""

    def track(
        self,
        frames: FrameSource,
        prompts: Mapping[int, Mapping[int, Prompt]],
        frame_order: Sequence[int],
    ) -> Iterator[TrackedFrame]:
        """Track every object, batched, in one fresh tracking session.

        ``prompts`` maps frame number -> object id -> prompt; every prompted
        frame is a conditioning frame. ``frame_order`` is the sequence of
        frames to visit (descending for backward tracking); it starts at a
        prompted frame. Yields one :class:`TrackedFrame` per visited frame,
        prompted frames included, in that order. A backend that predicts
        its masks' quality fills ``TrackedFrame.iou_predictions`` (read only
        by quality control).
        """
