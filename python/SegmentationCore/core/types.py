"""Plain data types passed between the engine's stages and backends.

Conventions used everywhere in the engine:

* Images are ``float32`` arrays of shape ``(H, W, 3)``, RGB, sRGB-encoded
  (display-referred) values in ``[0, 1]``, at the shot's *working resolution*
  (the plate resized so its longest side is at most 1024 by default).
  Backends resize and normalise to their own model input themselves.
* Coordinates (boxes, points) are pixels of the working resolution, ``x``
  right and ``y`` down, boxes as ``x0, y0, x1, y1``.
* Masks are ``float32`` probabilities in ``[0, 1]`` at working resolution,
  shape ``(H, W)`` for one object or ``(N, H, W)`` for several.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np


@dataclasses.dataclass
class Detections:
    """Stage-1 output for one frame: boxes with scores and class phrases."""

    boxes: np.ndarray  # (N, 4) float32, xyxy working-resolution pixels
    scores: np.ndarray  # (N,) float32
    labels: list[str]  # (N,) the prompt phrase each box belongs to

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        self.labels = [str(label) for label in self.labels]
        if not (len(self.boxes) == len(self.scores) == len(self.labels)):
            raise ValueError(
                f"Detections: {len(self.boxes)} boxes, {len(self.scores)} scores "
                f"and {len(self.labels)} labels must have the same length"
            )

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), [])

    def select(self, indices: Sequence[int] | np.ndarray) -> "Detections":
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        return Detections(self.boxes[indices], self.scores[indices], [self.labels[i] for i in indices])

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (used to persist stage results)."""
        return {
            "boxes": self.boxes.round(3).tolist(),
            "scores": self.scores.round(5).tolist(),
            "labels": list(self.labels),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Detections":
        return cls(
            np.asarray(data.get("boxes", []), np.float32).reshape(-1, 4),
            np.asarray(data.get("scores", []), np.float32),
            list(data.get("labels", [])),
        )


@dataclasses.dataclass
class Prompt:
    """What one object is prompted with on one frame.

    Any combination is allowed, as SAM2 allows it: a box, positive/negative
    points, a mask (probability or binary, working resolution), or low-res
    mask logits from an earlier :class:`SegmentResult` to refine.
    """

    box: np.ndarray | None = None  # (4,) xyxy
    points: np.ndarray | None = None  # (P, 2) xy
    point_labels: np.ndarray | None = None  # (P,) 1 = positive, 0 = negative
    mask: np.ndarray | None = None  # (H, W) float32 in [0, 1]
    mask_logits: np.ndarray | None = None  # backend low-res logits to refine

    def __post_init__(self) -> None:
        if self.box is not None:
            self.box = np.asarray(self.box, np.float32).reshape(4)
        if self.points is not None:
            self.points = np.asarray(self.points, np.float32).reshape(-1, 2)
            if self.point_labels is None:
                self.point_labels = np.ones(len(self.points), np.int32)
            self.point_labels = np.asarray(self.point_labels, np.int32).reshape(-1)
            if len(self.point_labels) != len(self.points):
                raise ValueError("Prompt: one label per point is required")
        elif self.point_labels is not None:
            raise ValueError("Prompt: point_labels given without points")
        if self.mask is not None:
            self.mask = np.asarray(self.mask, np.float32)
            if self.mask.ndim != 2:
                raise ValueError(f"Prompt: mask must be 2-D (H, W), got shape {self.mask.shape}")
        if self.box is None and self.points is None and self.mask is None and self.mask_logits is None:
            raise ValueError("Prompt: give at least a box, points or a mask")

    @property
    def has_clicks(self) -> bool:
        return self.points is not None and len(self.points) > 0


@dataclasses.dataclass
class SegmentResult:
    """Image-segmenter output for N prompts on one frame."""

    probabilities: np.ndarray  # (N, H, W) float32 in [0, 1], working resolution
    scores: np.ndarray  # (N,) predicted IoU of the chosen mask
    low_res_logits: np.ndarray | None = None  # (N, h, w) backend logits, for refinement

    def __len__(self) -> int:
        return len(self.probabilities)


@dataclasses.dataclass
class TrackedFrame:
    """Video-tracker output for one frame: one probability map per object."""

    frame: int
    object_ids: list[int]
    probabilities: np.ndarray  # (K, H, W) float32 in [0, 1], working resolution
    object_scores: np.ndarray  # (K,) presence logits; <= 0 means "not visible"
    # (K,) the tracker's own estimate of each mask's IoU with the object
    # (SAM2's IoU head); NaN where it has none (prompted frames); None: the
    # backend gives none. Only quality control reads it (pipeline.qc).
    iou_predictions: np.ndarray | None = None

    def mask(self, object_id: int) -> np.ndarray:
        return self.probabilities[self.object_ids.index(object_id)]
