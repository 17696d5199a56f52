"""Stage 2: one mask per detected box, then the paper's overlap clean-up.

With the asymmetric similarity ``Sim(A, B) = |A ∩ B| / |A|`` (the share of
A that B covers), on binarised masks:

1. **Discard** every mask with ``Sim >= discard_sim`` (0.1) against at least
   ``discard_min_others`` (2) other masks: a box spanning several objects
   gives a mask that covers parts of each of them. All masks are judged
   together, before anything is removed.
2. **Merge** among the survivors: a mask with ``Sim >= merge_sim`` (0.6)
   against exactly one other mask is merged into it (pixel-wise max of the
   probabilities): a duplicate box on part of an object. Chains and mutual
   pairs collapse into one mask; the survivor is the mask that is not
   merged into anything (for a mutual pair, the larger one).

Deviation from the paper, documented in docs/pipeline.md: with a prompt of
several classes (``"person, car"``) masks are only compared with masks of the
same class (``per_class=True``); a person in front of a car is not a false
positive. With one class this is exactly the paper's rule.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from ..core import maskops
from ..core.types import Detections, Prompt, SegmentResult

KEPT = "kept"
DISCARDED = "discarded"
MERGED = "merged"
EMPTY = "empty"


@dataclasses.dataclass
class Stage2Params:
    """Clean-up thresholds; defaults are the paper's."""

    discard_sim: float = 0.1
    discard_min_others: int = 2
    merge_sim: float = 0.6
    mask_threshold: float = 0.5  # probability at which masks are binarised for Sim
    per_class: bool = True  # compare masks only within one prompt phrase
    min_area: int = 1  # masks with fewer pixels than this are dropped as empty

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Decision:
    """What happened to one input mask (index = position in the detections)."""

    index: int
    label: str
    score: float
    action: str  # kept | discarded | merged | empty
    overlaps: list[int] = dataclasses.field(default_factory=list)  # masks that triggered the action
    similarities: list[float] = dataclasses.field(default_factory=list)  # Sim against each of them
    into: int | None = None  # merged: the input index it was merged into
    output_index: int | None = None  # position in Stage2Result.masks (kept and merged)

    @property
    def reason(self) -> str:
        """Human-readable reason, e.g. ``"discarded: overlaps 2, 5"``."""
        if self.action == KEPT:
            return "kept"
        if self.action == EMPTY:
            return "discarded: empty mask"
        if self.action == DISCARDED:
            pairs = ", ".join(f"{i} (Sim {s:.2f})" for i, s in zip(self.overlaps, self.similarities))
            return f"discarded: overlaps {pairs}"
        sims = ", ".join(f"{s:.2f}" for s in self.similarities)
        return f"merged into {self.into} (Sim {sims})"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["reason"] = self.reason
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Decision":
        data = {k: v for k, v in data.items() if k != "reason"}
        return cls(**data)


@dataclasses.dataclass
class Stage2Result:
    """Cleaned-up masks on one frame plus a decision for every input mask.

    ``masks`` ``(K, H, W)`` float32, ``labels`` / ``scores`` per kept mask,
    ``sources[k]`` the input indices that make up kept mask ``k``;
    ``decisions`` one per input (detections order). ``prompts`` optionally
    overrides how each kept mask is used to prompt tracking (e.g. raw boxes).
    """

    frame: int
    masks: np.ndarray
    labels: list[str]
    scores: np.ndarray
    sources: list[list[int]]
    decisions: list[Decision]
    boxes: np.ndarray | None = None  # (N, 4) the input boxes
    prompts: list[Prompt] | None = None

    def __len__(self) -> int:
        return len(self.masks)

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.masks.shape[1:])

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for decision in self.decisions:
            counts[decision.action] = counts.get(decision.action, 0) + 1
        return counts

    # persistence --------------------------------------------------------
    def save(self, path) -> None:
        """Write as ``.npz`` (masks quantised to uint8) via a temporary file."""
        import json
        import os
        import pathlib

        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.stem}.tmp.npz")
        meta = {
            "frame": self.frame,
            "labels": self.labels,
            "scores": [float(s) for s in self.scores],
            "sources": self.sources,
            "decisions": [d.to_dict() for d in self.decisions],
            "size": list(self.masks.shape[1:]),
        }
        quantised = np.clip(np.rint(self.masks * 255), 0, 255).astype(np.uint8)
        arrays = {"masks": quantised, "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
        if self.boxes is not None:
            arrays["boxes"] = np.asarray(self.boxes, np.float32)
        with open(temporary, "wb") as stream:
            np.savez_compressed(stream, **arrays)
        os.replace(temporary, path)

    @classmethod
    def load(cls, path) -> "Stage2Result":
        import json

        with np.load(path) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            masks = data["masks"].astype(np.float32) / 255.0
            boxes = data["boxes"] if "boxes" in data else None
        masks = masks.reshape((-1,) + tuple(meta["size"]))
        return cls(
            frame=int(meta["frame"]),
            masks=masks,
            labels=list(meta["labels"]),
            scores=np.asarray(meta["scores"], np.float32),
            sources=[list(s) for s in meta["sources"]],
            decisions=[Decision.from_dict(d) for d in meta["decisions"]],
            boxes=boxes,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON summary without pixels (for the browser test bench and logs)."""
        return {
            "frame": self.frame,
            "labels": self.labels,
            "scores": [round(float(s), 4) for s in self.scores],
            "sources": self.sources,
            "areas": [int(np.count_nonzero(m >= 0.5)) for m in self.masks],
            "decisions": [d.to_dict() for d in self.decisions],
        }


def similarity(a: np.ndarray, b: np.ndarray | None = None, threshold: float = 0.5):
    """``Sim(A, B) = |A ∩ B| / |A|``.

    With two single masks ``(H, W)`` returns a float; with a stack
    ``(N, H, W)`` (and optionally a second stack ``(M, H, W)``) returns the
    ``(N, N)`` / ``(N, M)`` matrix ``S[i, j] = Sim(a_i, b_j)``.
    """
    a = np.asarray(a)
    if a.ndim == 2:
        if b is None:
            raise ValueError("similarity(a, b) of single masks needs b")
        return float(maskops.similarity_matrix(a[None], np.asarray(b)[None], threshold)[0, 0])
    return maskops.similarity_matrix(a, b, threshold)


def cleanup_masks(
    probabilities: np.ndarray,
    labels: Sequence[str],
    scores: Sequence[float] | np.ndarray,
    params: Stage2Params | None = None,
    frame: int = 0,
) -> Stage2Result:
    """Apply the discard and merge rules to ``(N, H, W)`` mask probabilities."""
    params = params or Stage2Params()
    probabilities = np.asarray(probabilities, np.float32)
    count = len(probabilities)
    labels = [str(label) for label in labels]
    scores = np.asarray(scores, np.float32).reshape(-1)
    if not (len(labels) == len(scores) == count):
        raise ValueError(f"cleanup_masks: {count} masks, {len(labels)} labels and {len(scores)} scores must match")
    size = tuple(probabilities.shape[1:]) if probabilities.ndim == 3 else (0, 0)
    decisions = [Decision(i, labels[i], float(scores[i]), KEPT) for i in range(count)]
    if count == 0:
        return Stage2Result(frame, np.zeros((0,) + size, np.float32), [], np.zeros(0, np.float32), [], [])

    binary = probabilities >= params.mask_threshold
    areas = binary.reshape(count, -1).sum(axis=1)
    sim = maskops.similarity_matrix(binary)
    np.fill_diagonal(sim, 0.0)
    comparable = np.ones((count, count), bool)
    if params.per_class:
        label_array = np.asarray(labels, dtype=object)
        comparable = label_array[:, None] == label_array[None, :]
    np.fill_diagonal(comparable, False)

    alive = areas >= max(params.min_area, 1)
    for i in np.flatnonzero(~alive):
        decisions[i].action = EMPTY
    comparable &= alive[:, None] & alive[None, :]

    # 1. discard: judged on all non-empty masks at once
    overlapping = (sim >= params.discard_sim) & comparable
    discard = alive & (overlapping.sum(axis=1) >= params.discard_min_others)
    for i in np.flatnonzero(discard):
        others = np.flatnonzero(overlapping[i])
        decisions[i].action = DISCARDED
        decisions[i].overlaps = [int(j) for j in others]
        decisions[i].similarities = [round(float(sim[i, j]), 4) for j in others]
    alive &= ~discard

    # 2. merge among the survivors: exactly one partner with Sim >= merge_sim
    comparable &= alive[:, None] & alive[None, :]
    strong = (sim >= params.merge_sim) & comparable
    partner = np.full(count, -1)
    for i in np.flatnonzero(alive):
        candidates = np.flatnonzero(strong[i])
        if len(candidates) == 1:
            partner[i] = int(candidates[0])
    # Each mask has at most one partner, so the partner links form trees that
    # may end in a cycle (a mutual pair is a 2-cycle). Break every cycle at
    # its largest mask (then the higher score, then the lower index): that
    # mask survives and the others merge into it.
    rank = lambda i: (int(areas[i]), float(scores[i]), -i)  # noqa: E731
    for start in range(count):
        path: list[int] = []
        on_path: set[int] = set()
        i = start
        while partner[i] >= 0 and i not in on_path:
            path.append(i)
            on_path.add(i)
            i = int(partner[i])
        if partner[i] >= 0 and i in on_path:  # found a cycle through i
            cycle = path[path.index(i):]
            partner[max(cycle, key=rank)] = -1

    def root(i: int) -> int:
        while partner[i] >= 0:
            i = int(partner[i])
        return i

    groups: dict[int, list[int]] = {}
    for i in np.flatnonzero(alive):
        groups.setdefault(root(int(i)), []).append(int(i))

    kept_masks, kept_labels, kept_scores, sources = [], [], [], []
    for target in sorted(groups):
        members = sorted(groups[target])
        merged = probabilities[members].max(axis=0)
        output_index = len(kept_masks)
        kept_masks.append(merged)
        kept_labels.append(labels[target])
        kept_scores.append(float(scores[members].max()))
        sources.append([target] + [m for m in members if m != target])
        for member in members:
            decisions[member].output_index = output_index
            if member != target:
                decisions[member].action = MERGED
                decisions[member].into = int(partner[member])
                decisions[member].overlaps = [int(partner[member])]
                decisions[member].similarities = [round(float(sim[member, partner[member]]), 4)]
    masks = np.stack(kept_masks) if kept_masks else np.zeros((0,) + size, np.float32)
    return Stage2Result(frame, masks, kept_labels, np.asarray(kept_scores, np.float32), sources, decisions)


def segment_frame(
    segmenter,
    frames,
    frame: int,
    detections: Detections,
    params: Stage2Params | None = None,
) -> Stage2Result:
    """Masks for every box of one frame in one batched segmenter call, cleaned up."""
    params = params or Stage2Params()
    height, width = frames.size
    if len(detections) == 0:
        result = cleanup_masks(np.zeros((0, height, width), np.float32), [], [], params, frame)
        result.boxes = np.zeros((0, 4), np.float32)
        return result
    prompts = [Prompt(box=box) for box in detections.boxes]
    segmented: SegmentResult = segmenter.segment(frames, frame, prompts)
    if len(segmented) != len(prompts):
        raise RuntimeError(f"the segmenter returned {len(segmented)} masks for {len(prompts)} boxes on frame {frame}")
    result = cleanup_masks(segmented.probabilities, detections.labels, detections.scores, params, frame)
    result.boxes = detections.boxes.copy()
    return result


def raw_boxes(frames, frame: int, detections: Detections) -> Stage2Result:
    """The ablation "tracking from raw boxes": no masks, no clean-up.

    Every box is kept; its mask is the filled box (used only for matching
    against the cache) and its tracking prompt is the box itself.
    """
    size = tuple(frames.size)
    masks = np.stack([maskops.box_mask(b, size) for b in detections.boxes]) if len(detections) else np.zeros((0,) + size, np.float32)
    decisions = [Decision(i, detections.labels[i], float(detections.scores[i]), KEPT, output_index=i) for i in range(len(detections))]
    return Stage2Result(
        frame,
        masks,
        list(detections.labels),
        detections.scores.copy(),
        [[i] for i in range(len(detections))],
        decisions,
        boxes=detections.boxes.copy(),
        prompts=[Prompt(box=b) for b in detections.boxes],
    )
