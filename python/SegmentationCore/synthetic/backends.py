"""Synthetic Detector / ImageSegmenter / VideoTracker that answer from ground truth.

They implement the engine's backend protocols, so the whole pipeline runs on
them, and inject the faults the paper's rules exist to repair:

* detector: missed detections, a false box spanning two neighbours, a
  duplicate box on part of an object, jittered boxes;
* segmenter: masks too small or too large;
* tracker: drift with the distance from the prompted frame (``slide``: the
  mask slides away from the object; ``smear``: it smears and grows into
  the background along one direction; ``creep``: it grows onto the
  neighbouring objects it touches) and losing objects once they are mostly
  hidden.

Every random choice is seeded by ``(seed, frame, object, fault)``, so results
do not depend on call order. Each backend records its calls (``calls``) so
tests can check batching.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterator, Mapping, Sequence

import numpy as np

from ..core import maskops
from ..core.types import Detections, Prompt, SegmentResult, TrackedFrame
from .shot import SyntheticShot

_FAULT_CODES = {"miss": 1, "pair": 2, "part": 3, "jitter": 4, "size": 5, "drift": 6}


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF] + [int(k) & 0xFFFFFFFF for k in keys])


def _shot_at(shot: SyntheticShot, frames) -> tuple[SyntheticShot, tuple[int, int]]:
    size = tuple(frames.size)
    return shot, (int(size[0]), int(size[1]))


# --------------------------------------------------------------------------- detector


@dataclasses.dataclass
class DetectorFaults:
    """What goes wrong in the synthetic detector (rates are per object per frame)."""

    miss_rate: float = 0.0
    missed: frozenset = frozenset()  # {(object index, frame)} always missed
    false_pair_rate: float = 0.0  # per neighbouring pair
    false_pairs: frozenset = frozenset()  # {(object a, object b, frame)} always added
    part_box_rate: float = 0.0
    part_boxes: frozenset = frozenset()  # {(object index, frame)} always added
    jitter: float = 0.0  # std of box-edge noise, fraction of the box size
    min_visible_fraction: float = 0.3  # objects more hidden than this are not found
    neighbour_gap: float = 0.35  # pair boxes closer than this (fraction of their mean size) are neighbours


class SyntheticDetector:
    """Boxes of the ground-truth objects whose label is in the prompt, with faults."""

    def __init__(self, shot: SyntheticShot, faults: DetectorFaults | None = None, seed: int = 0, score: float = 0.8):
        self.shot = shot
        self.faults = faults or DetectorFaults()
        self.seed = seed
        self.score = score
        self.calls: list[int] = []

    def detect(self, frames, frame: int, phrases: Sequence[str]) -> Detections:
        self.calls.append(int(frame))
        shot, size = _shot_at(self.shot, frames)
        faults = self.faults
        masks = shot.gt_masks(frame, size)
        wanted = {p.strip().lower() for p in phrases}
        visible: dict[int, np.ndarray] = {}
        for index, mask in masks.items():
            if shot.labels[index].lower() not in wanted:
                continue
            full = np.count_nonzero(shot.full_mask(index, frame, size) >= 0.5)
            area = np.count_nonzero(mask >= 0.5)
            if full == 0 or area / full < faults.min_visible_fraction:
                continue
            box = maskops.bounding_box(mask)
            if box is not None:
                visible[index] = box
        boxes, labels = [], []
        for index, box in visible.items():
            rng = _rng(self.seed, frame, index, _FAULT_CODES["miss"])
            if (index, frame) in faults.missed or rng.random() < faults.miss_rate:
                continue
            boxes.append(self._jitter(box, frame, index, size))
            labels.append(shot.labels[index])
        for index, box in visible.items():
            rng = _rng(self.seed, frame, index, _FAULT_CODES["part"])
            if (index, frame) in faults.part_boxes or rng.random() < faults.part_box_rate:
                x0, y0, x1, y1 = box
                boxes.append(np.array([x0, y0, x1, y0 + 0.45 * (y1 - y0)], np.float32))
                labels.append(shot.labels[index])
        ordered = sorted(visible)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1:]:
                forced = (a, b, frame) in faults.false_pairs or (b, a, frame) in faults.false_pairs
                rng = _rng(self.seed, frame, a * 1000 + b, _FAULT_CODES["pair"])
                chance = rng.random() < faults.false_pair_rate
                if not forced and not (chance and self._neighbours(visible[a], visible[b])):
                    continue
                ba, bb = visible[a], visible[b]
                boxes.append(np.array([min(ba[0], bb[0]), min(ba[1], bb[1]), max(ba[2], bb[2]), max(ba[3], bb[3])], np.float32))
                labels.append(shot.labels[a])
        if not boxes:
            return Detections.empty()
        return Detections(np.stack(boxes), np.full(len(boxes), self.score, np.float32), labels)

    def _neighbours(self, a: np.ndarray, b: np.ndarray) -> bool:
        gap_x = max(0.0, max(a[0], b[0]) - min(a[2], b[2]))
        gap_y = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
        mean_w = 0.5 * ((a[2] - a[0]) + (b[2] - b[0]))
        mean_h = 0.5 * ((a[3] - a[1]) + (b[3] - b[1]))
        return gap_x <= self.faults.neighbour_gap * mean_w and gap_y <= self.faults.neighbour_gap * mean_h

    def _jitter(self, box: np.ndarray, frame: int, index: int, size: tuple[int, int]) -> np.ndarray:
        if not self.faults.jitter:
            return box.astype(np.float32)
        rng = _rng(self.seed, frame, index, _FAULT_CODES["jitter"])
        w, h = box[2] - box[0], box[3] - box[1]
        noise = rng.normal(0, self.faults.jitter, 4) * np.array([w, h, w, h])
        out = box + noise
        out[[0, 2]] = np.clip(out[[0, 2]], 0, size[1])
        out[[1, 3]] = np.clip(out[[1, 3]], 0, size[0])
        return out.astype(np.float32)


# --------------------------------------------------------------------------- segmenter


@dataclasses.dataclass
class SegmenterFaults:
    """Masks that come out too small or too large (rates per mask)."""

    shrink_rate: float = 0.0
    grow_rate: float = 0.0
    size_error: float = 0.15  # erosion/dilation radius as a fraction of the object's half-size


def resolve_prompt(
    shot: SyntheticShot, frame: int, size: tuple[int, int], prompt: Prompt, masks: Mapping[int, np.ndarray] | None = None
) -> tuple[list[int], np.ndarray | None]:
    """Which ground-truth objects a prompt refers to, as SAM would read it.

    Returns ``(whole objects, part mask)``: objects mostly inside a box or
    covered by a mask prompt are taken whole; if none is, the object with
    the largest share is taken as a *part* (its visible mask clipped to the
    prompt region). Positive clicks add the object under them, negative
    clicks remove it.
    """
    if masks is None:
        masks = shot.gt_masks(frame, size)
    binary = {k: m >= 0.5 for k, m in masks.items()}
    areas = {k: np.count_nonzero(b) for k, b in binary.items()}
    region = None
    if prompt.mask is not None:
        region = maskops.binarise(_fit(prompt.mask, size))
    if prompt.box is not None:
        box_region = maskops.box_mask(prompt.box, size) >= 0.5
        region = box_region if region is None else (region | box_region)
    whole: list[int] = []
    part = None
    if region is not None:
        inside = {k: np.count_nonzero(binary[k] & region) for k in binary}
        whole = [k for k in binary if areas[k] and inside[k] / areas[k] >= (0.6 if prompt.mask is None else 0.5)]
        if prompt.box is not None and prompt.mask is None and len(whole) > 1:
            whole = _best_fit(prompt.box, whole, binary)
        if not whole and inside:
            best = max(inside, key=inside.get)
            if inside[best] > 0:
                part = masks[best] * region
    if prompt.points is not None:
        for (x, y), label in zip(prompt.points, prompt.point_labels):
            col = int(np.clip(x, 0, size[1] - 1))
            row = int(np.clip(y, 0, size[0] - 1))
            hit = [k for k in binary if binary[k][row, col]]
            for k in hit:
                if label > 0 and k not in whole:
                    whole.append(k)
                elif label <= 0 and k in whole:
                    whole.remove(k)
        if part is not None and any(label > 0 for label in prompt.point_labels) and whole:
            part = None
    return sorted(whole), part


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _best_fit(box: np.ndarray, candidates: list[int], binary: Mapping[int, np.ndarray]) -> list[int]:
    """Like SAM, a box means the object (or group) whose extent it fits best:
    a box around one person that also holds a smaller person in front gives
    the one person; a box spanning two neighbours gives both."""
    options = [[k] for k in candidates] + [list(candidates)]
    best, best_iou = options[0], -1.0
    for option in options:
        extent = maskops.bounding_box(np.logical_or.reduce([binary[k] for k in option]))
        score = _box_iou(np.asarray(box, np.float32), extent) if extent is not None else 0.0
        if score > best_iou:
            best, best_iou = option, score
    return best


def _fit(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    mask = np.asarray(mask, np.float32)
    if mask.shape != tuple(size):
        mask = maskops.resize_bilinear(mask, size)
    return mask


def _union(masks: Mapping[int, np.ndarray], indices: Sequence[int], size: tuple[int, int]) -> np.ndarray:
    out = np.zeros(size, np.float32)
    for k in indices:
        if k in masks:
            np.maximum(out, masks[k], out=out)
    return out


class SyntheticSegmenter:
    """Masks for box / point / mask prompts read from the ground truth."""

    def __init__(self, shot: SyntheticShot, faults: SegmenterFaults | None = None, seed: int = 0):
        self.shot = shot
        self.faults = faults or SegmenterFaults()
        self.seed = seed
        self.calls: list[tuple[int, int]] = []  # (frame, number of prompts)

    def segment(self, frames, frame: int, prompts: Sequence[Prompt]) -> SegmentResult:
        self.calls.append((int(frame), len(prompts)))
        shot, size = _shot_at(self.shot, frames)
        masks = shot.gt_masks(frame, size)
        out = np.zeros((len(prompts),) + size, np.float32)
        scores = np.zeros(len(prompts), np.float32)
        for i, prompt in enumerate(prompts):
            whole, part = resolve_prompt(shot, frame, size, prompt, masks)
            mask = _union(masks, whole, size)
            if part is not None:
                np.maximum(mask, part, out=mask)
            mask = self._size_fault(mask, frame, i)
            out[i] = mask
            scores[i] = 0.9 if mask.max() >= 0.5 else 0.05
        return SegmentResult(out, scores)

    def _size_fault(self, mask: np.ndarray, frame: int, i: int) -> np.ndarray:
        faults = self.faults
        if not (faults.shrink_rate or faults.grow_rate):
            return mask
        rng = _rng(self.seed, frame, i, _FAULT_CODES["size"])
        draw = rng.random()
        area = np.count_nonzero(mask >= 0.5)
        radius = max(1, int(round(faults.size_error * math.sqrt(area / math.pi))))
        if draw < faults.shrink_rate:
            return maskops.erode(mask, radius)
        if draw < faults.shrink_rate + faults.grow_rate:
            return maskops.dilate(mask, radius)
        return mask


# --------------------------------------------------------------------------- tracker


@dataclasses.dataclass
class TrackerFaults:
    """How the synthetic tracker goes wrong."""

    drift: float = 0.0  # mask offset per frame from the prompted frame, units of frame height
    drift_mode: str = "slide"  # slide (rigid shift) | smear (trail + growth into the background) | creep (onto neighbours)
    lose_below_visible: float = 0.0  # lose an object (for the rest of the session) once less than this fraction is visible


@dataclasses.dataclass
class _Referent:
    start_frame: int
    whole: list[int]
    part: np.ndarray | None
    part_object: int | None
    direction: tuple[float, float]
    lost: bool = False


class SyntheticTracker:
    """Propagates prompts by following the ground-truth objects they refer to."""

    def __init__(self, shot: SyntheticShot, faults: TrackerFaults | None = None, seed: int = 0):
        self.shot = shot
        self.faults = faults or TrackerFaults()
        self.seed = seed
        self.calls: list[dict] = []

    def track(
        self,
        frames,
        prompts: Mapping[int, Mapping[int, Prompt]],
        frame_order: Sequence[int],
    ) -> Iterator[TrackedFrame]:
        frame_order = [int(f) for f in frame_order]
        if not frame_order:
            return
        if frame_order[0] not in prompts:
            raise ValueError(f"tracking must start at a prompted frame; {frame_order[0]} has no prompt")
        self.calls.append({"prompted": sorted(prompts), "frames": list(frame_order), "objects": sorted({o for p in prompts.values() for o in p})})
        shot, size = _shot_at(self.shot, frames)
        referents: dict[int, _Referent] = {}
        object_ids = sorted({int(o) for p in prompts.values() for o in p})
        for frame in frame_order:
            masks = shot.gt_masks(frame, size)
            for obj, prompt in (prompts.get(frame) or {}).items():
                whole, part = resolve_prompt(shot, frame, size, prompt, masks)
                part_object = None
                if part is not None:
                    overlaps = {k: float((part * m).sum()) for k, m in masks.items()}
                    part_object = max(overlaps, key=overlaps.get) if overlaps else None
                angle = _rng(self.seed, frame, obj, _FAULT_CODES["drift"]).uniform(0, 2 * math.pi)
                referents[int(obj)] = _Referent(frame, whole, part, part_object, (math.cos(angle), math.sin(angle)))
            probabilities = np.zeros((len(object_ids),) + size, np.float32)
            scores = np.full(len(object_ids), -1.0, np.float32)
            ious = np.zeros(len(object_ids), np.float32)  # predicted IoU: the drifted mask against the object it follows
            for row, obj in enumerate(object_ids):
                referent = referents.get(obj)
                if referent is None or referent.lost:
                    continue
                mask = _union(masks, referent.whole, size)
                if referent.part is not None and referent.part_object is not None:
                    mask = np.maximum(mask, self._carry_part(referent, frame, size, masks))
                if self.faults.lose_below_visible and frame != referent.start_frame:
                    members = list(referent.whole) + ([referent.part_object] if referent.part_object is not None else [])
                    full = sum(np.count_nonzero(shot.full_mask(k, frame, size) >= 0.5) for k in members)
                    seen = np.count_nonzero(mask >= 0.5)
                    if full == 0 or seen / full < self.faults.lose_below_visible:
                        referent.lost = True
                        continue
                distance = abs(frame - referent.start_frame)
                followed = mask
                if self.faults.drift and distance:
                    offset = self.faults.drift * distance * size[0]
                    members = set(referent.whole) | ({referent.part_object} if referent.part_object is not None else set())
                    mask = self._drift(mask, offset, referent.direction, masks, members)
                if mask.max() >= 0.5:
                    probabilities[row] = mask
                    scores[row] = 1.0
                    ious[row] = np.nan if frame == referent.start_frame else maskops.iou(mask, followed)
            yield TrackedFrame(frame, list(object_ids), probabilities, scores, ious)

    def _drift(self, mask: np.ndarray, offset: float, direction, masks: Mapping[int, np.ndarray], members) -> np.ndarray:
        mode = self.faults.drift_mode
        if mode == "slide":
            return _shift(mask, offset * direction[1], offset * direction[0])
        if mode == "smear":  # a trail along the drift direction: the mask grows into the background
            out = mask.copy()
            for fraction in (0.25, 0.5, 0.75, 1.0):
                np.maximum(out, _shift(mask, fraction * offset * direction[1], fraction * offset * direction[0]), out=out)
            return out
        if mode == "creep":  # the parts of touching neighbours within ``offset`` pixels join the mask
            reach = maskops.dilate(mask >= 0.5, max(1, int(round(offset))))
            out = mask.copy()
            for index, other in masks.items():
                if index not in members:
                    np.maximum(out, np.where(reach, other, 0.0).astype(np.float32), out=out)
            return out
        raise ValueError(f"unknown tracker drift mode {mode!r}; choose slide, smear or creep")

    def _carry_part(self, referent: _Referent, frame: int, size, masks) -> np.ndarray:
        index = referent.part_object
        x0, y0 = self.shot.centre_pixels(index, referent.start_frame, size)
        x1, y1 = self.shot.centre_pixels(index, frame, size)
        moved = _shift(referent.part, y1 - y0, x1 - x0)
        return moved * (masks.get(index, np.zeros(size, np.float32)) >= 0.5)


def _shift(mask: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """Translate by whole pixels, filling with zeros."""
    dy, dx = int(round(dy)), int(round(dx))
    out = np.zeros_like(mask)
    height, width = mask.shape
    if abs(dy) >= height or abs(dx) >= width:
        return out
    src_r = slice(max(0, -dy), height - max(0, dy))
    dst_r = slice(max(0, dy), height - max(0, -dy))
    src_c = slice(max(0, -dx), width - max(0, dx))
    dst_c = slice(max(0, dx), width - max(0, -dx))
    out[dst_r, dst_c] = mask[src_r, src_c]
    return out
