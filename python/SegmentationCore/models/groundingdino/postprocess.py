"""GroundingDINO outputs -> :class:`~SegmentationCore.core.types.Detections`, in numpy.

For every query ``q`` the graph gives logits over the prompt's tokens and a
box (``cx, cy, w, h`` normalised to the graph input). With ``p = sigmoid(logits)``:

* box gate (as the upstream demos): ``max_t p[q, t]`` over every real token
  must exceed ``box_threshold``;
* label: the phrase with the largest *phrase score*, the max of ``p`` over
  that phrase's own tokens (``phrase_spans``). Labels are never built by
  joining every token above a threshold, which merges phrases ("person car");
* text gate: the label's phrase score must exceed ``text_threshold``,
  otherwise the box names no phrase and is dropped;
* the reported score is the phrase score of the label;
* boxes go to pixels of the frame (undoing the letterbox) as ``x0, y0, x1,
  y1``, are clipped to the frame, and boxes with no area left are dropped;
* optional per-class non-maximum suppression, then the best
  ``max_detections`` by score.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np

from ...core.types import Detections

BOX_THRESHOLD = 0.35
TEXT_THRESHOLD = 0.25
MAX_DETECTIONS = 100


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Detection settings; ``nms_iou=None`` switches NMS off (the upstream default)."""

    box_threshold: float = BOX_THRESHOLD
    text_threshold: float = TEXT_THRESHOLD
    nms_iou: float | None = None
    max_detections: int = MAX_DETECTIONS

    def __post_init__(self) -> None:
        for name in ("box_threshold", "text_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        if self.nms_iou is not None and not 0.0 < self.nms_iou <= 1.0:
            raise ValueError(f"nms_iou must be in (0, 1] or None, got {self.nms_iou}")
        if self.max_detections < 1:
            raise ValueError(f"max_detections must be at least 1, got {self.max_detections}")


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    out = np.empty_like(x)
    positive = x >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-x[positive]))
    exp = np.exp(x[~positive])
    out[~positive] = exp / (1.0 + exp)
    return out


def phrase_scores(probabilities: np.ndarray, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """``(Q, T)`` token probabilities -> ``(Q, P)`` max over each phrase's tokens."""
    if not spans:
        raise ValueError("no phrase spans")
    return np.stack([probabilities[:, start:end].max(axis=1) for start, end in spans], axis=1)


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float32)
    half = boxes[..., 2:] / 2
    return np.concatenate([boxes[..., :2] - half, boxes[..., :2] + half], axis=-1)


def box_iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one ``(4,)`` xyxy box with ``(N, 4)`` boxes."""
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS; indices kept, best score first. A box is suppressed when its
    IoU with a better kept box is above ``iou_threshold``."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep = []
    while len(order):
        best = order[0]
        keep.append(best)
        if len(order) == 1:
            break
        overlaps = box_iou(boxes[best], boxes[order[1:]])
        order = order[1:][overlaps <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_threshold: float) -> np.ndarray:
    """NMS within each class; indices kept, best score first."""
    keep = [np.flatnonzero(classes == c)[nms(boxes[classes == c], scores[classes == c], iou_threshold)]
            for c in np.unique(classes)]
    if not keep:
        return np.zeros(0, np.int64)
    keep = np.concatenate(keep)
    return keep[np.argsort(-scores[keep], kind="stable")]


def detections_from_outputs(
    logits: np.ndarray,
    boxes: np.ndarray,
    phrases: Sequence[str],
    spans: Sequence[tuple[int, int]],
    to_frame: Callable[[np.ndarray], np.ndarray],
    frame_size: tuple[int, int],
    thresholds: Thresholds = Thresholds(),
    token_mask: np.ndarray | None = None,
) -> Detections:
    """One image's ``logits (Q, T)`` and ``boxes (Q, 4)`` -> detections.

    ``to_frame`` maps normalised ``(N, 4)`` xyxy boxes of the graph input to
    frame pixels; ``frame_size`` is ``(height, width)``; ``token_mask``
    ``(T,)`` marks real tokens (default: all). Boxes centred outside the
    frame (in the letterbox padding) are dropped, the rest clipped to it.
    """
    if len(phrases) != len(spans):
        raise ValueError(f"{len(phrases)} phrases but {len(spans)} spans")
    logits = np.asarray(logits, np.float32)
    probabilities = sigmoid(logits)
    if token_mask is not None:
        probabilities = np.where(np.asarray(token_mask, bool)[None, :], probabilities, 0.0)
    box_scores = probabilities.max(axis=1)
    per_phrase = phrase_scores(probabilities, spans)
    labels = per_phrase.argmax(axis=1)
    scores = per_phrase[np.arange(len(labels)), labels]
    keep = (box_scores > thresholds.box_threshold) & (scores > thresholds.text_threshold)
    if not keep.any():
        return Detections.empty()
    height, width = frame_size
    pixel_boxes = to_frame(cxcywh_to_xyxy(np.asarray(boxes, np.float32)[keep]))
    scores, labels = scores[keep], labels[keep]
    # A box centred outside the frame is mostly letterbox padding: drop it
    # (clipping would keep a sliver along the frame's edge).
    centre_x = (pixel_boxes[:, 0] + pixel_boxes[:, 2]) / 2
    centre_y = (pixel_boxes[:, 1] + pixel_boxes[:, 3]) / 2
    inside = (centre_x >= 0) & (centre_x <= width) & (centre_y >= 0) & (centre_y <= height)
    pixel_boxes, scores, labels = pixel_boxes[inside], scores[inside], labels[inside]
    pixel_boxes = np.stack([
        np.clip(pixel_boxes[:, 0], 0, width), np.clip(pixel_boxes[:, 1], 0, height),
        np.clip(pixel_boxes[:, 2], 0, width), np.clip(pixel_boxes[:, 3], 0, height),
    ], axis=1).astype(np.float32).reshape(-1, 4)
    has_area = (pixel_boxes[:, 2] > pixel_boxes[:, 0]) & (pixel_boxes[:, 3] > pixel_boxes[:, 1])
    pixel_boxes, scores, labels = pixel_boxes[has_area], scores[has_area], labels[has_area]
    if thresholds.nms_iou is not None:
        order = batched_nms(pixel_boxes, scores, labels, thresholds.nms_iou)
    else:
        order = np.argsort(-scores, kind="stable")
    order = order[: thresholds.max_detections]
    return Detections(pixel_boxes[order], scores[order], [phrases[i] for i in labels[order]])
