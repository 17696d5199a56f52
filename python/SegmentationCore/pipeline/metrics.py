"""Video-segmentation quality: region J, boundary F, J&F and identity consistency.

* **J** (region similarity) is the IoU of binarised masks, **F** the
  boundary F-measure with a tolerance of ``bound_th`` times the image
  diagonal (DAVIS conventions; the tolerance band here is a square, DAVIS
  uses a disk).
* Predicted layers are matched one-to-one to ground-truth objects over the
  whole shot by maximising the summed IoU (:func:`assign`, Hungarian
  method). ``J&F`` averages, per ground-truth object, over the frames where
  the object or its layer is present, then over objects: a layer that
  switches identity half-way loses the other half.
* Identity: on each frame a ground-truth object is *covered* by the layer
  with the highest IoU if that IoU is at least ``cover_iou``; an ID switch
  is a change of covering layer between the frames where it is covered.
* ``frame_*`` figures match layers to objects frame by frame instead: they
  ignore identity and measure per-frame mask quality alone.

Everything streams frame by frame; per frame only overlap counts are kept.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Hashable, Iterable, Mapping

import numpy as np

from ..core import maskops


def region_similarity(prediction: np.ndarray, truth: np.ndarray, threshold: float = 0.5) -> float:
    """J: IoU of the binarised masks; 1.0 when both are empty."""
    return maskops.iou(prediction, truth, threshold)


def _tolerance(shape: tuple[int, int], bound_th: float) -> int:
    if bound_th >= 1:
        return int(bound_th)
    return int(math.ceil(bound_th * math.hypot(*shape)))


def boundary_f(prediction: np.ndarray, truth: np.ndarray, threshold: float = 0.5, bound_th: float = 0.008) -> float:
    """F: boundary precision/recall F-measure with a tolerance band."""
    radius = _tolerance(prediction.shape, bound_th)
    pb = maskops.boundary(prediction, threshold)
    tb = maskops.boundary(truth, threshold)
    return _boundary_f(pb, tb, maskops.dilate(pb, radius), maskops.dilate(tb, radius))


def _boundary_f(pb: np.ndarray, tb: np.ndarray, pb_dilated: np.ndarray, tb_dilated: np.ndarray) -> float:
    p_count = np.count_nonzero(pb)
    t_count = np.count_nonzero(tb)
    if p_count == 0 and t_count == 0:
        return 1.0
    if p_count == 0 or t_count == 0:
        return 0.0
    precision = np.count_nonzero(pb & tb_dilated) / p_count
    recall = np.count_nonzero(tb & pb_dilated) / t_count
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def assign(score: np.ndarray) -> list[tuple[int, int]]:
    """Rows to columns one-to-one maximising the total ``score`` (Hungarian
    method, O(n^3)); pairs with score <= 0 are left out."""
    score = np.asarray(score, np.float64)
    rows, cols = score.shape
    if rows == 0 or cols == 0:
        return []
    n = max(rows, cols)
    cost = np.zeros((n, n))
    cost[:rows, :cols] = -score
    u = np.zeros(n + 1)
    v = np.zeros(n + 1)
    p = np.zeros(n + 1, dtype=int)  # p[j]: row matched to column j (1-based)
    way = np.zeros(n + 1, dtype=int)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = np.full(n + 1, np.inf)
        used = np.zeros(n + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = p[j0]
            free = ~used[1:]
            cur = cost[i0 - 1, :] - u[i0] - v[1:]
            better = free & (cur < minv[1:])
            minv[1:][better] = cur[better]
            way[1:][better] = j0
            candidates = np.where(free, minv[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            used_idx = np.flatnonzero(used)
            u[p[used_idx]] += delta
            v[used_idx] -= delta
            minv[1:][free] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    pairs = []
    for j in range(1, n + 1):
        i = p[j] - 1
        if i < rows and j - 1 < cols and score[i, j - 1] > 0:
            pairs.append((int(i), int(j - 1)))
    return sorted(pairs)


@dataclasses.dataclass
class ObjectScore:
    layer: Hashable | None
    j: float
    f: float
    frames: int
    covering_layers: list[Hashable]
    id_switches: int


@dataclasses.dataclass
class ShotMetrics:
    j: float  # mean region similarity over ground-truth objects (identity-aware)
    f: float  # mean boundary F
    jf: float  # (J + F) / 2
    frame_j: float  # identity-free, per-frame matching
    frame_f: float
    frame_jf: float
    id_switches: int  # total over objects
    layers_per_object: float  # mean number of distinct covering layers per object
    extra_layers: int  # predicted layers matched to no object
    objects: dict[Hashable, ObjectScore]
    frames: int

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["objects"] = {str(k): dataclasses.asdict(v) for k, v in self.objects.items()}
        return data

    def line(self) -> str:
        return (
            f"J&F {self.jf:.3f} (J {self.j:.3f} F {self.f:.3f}) | per-frame J&F {self.frame_jf:.3f} | "
            f"ID switches {self.id_switches} | layers/object {self.layers_per_object:.2f} | extra layers {self.extra_layers}"
        )


@dataclasses.dataclass
class _FrameStats:
    truth_ids: list[Hashable]
    layer_ids: list[Hashable]
    iou: np.ndarray  # (G, L)
    j: dict[tuple[int, int], float]  # pairs with overlap
    f: dict[tuple[int, int], float]


def evaluate(
    frames: Iterable[int],
    predicted: Callable[[int], Mapping[Hashable, np.ndarray]],
    ground_truth: Callable[[int], Mapping[Hashable, np.ndarray]],
    threshold: float = 0.5,
    bound_th: float = 0.008,
    cover_iou: float = 0.5,
) -> ShotMetrics:
    """Score a shot. ``predicted(frame)`` gives ``{layer: mask}``,
    ``ground_truth(frame)`` ``{object: mask}``, both at one resolution."""
    stats: list[_FrameStats] = []
    all_layers: list[Hashable] = []
    all_truth: list[Hashable] = []
    for frame in frames:
        pred = {k: maskops.binarise(v, threshold) for k, v in predicted(frame).items()}
        pred = {k: v for k, v in pred.items() if v.any()}
        truth = {k: maskops.binarise(v, threshold) for k, v in ground_truth(frame).items()}
        truth = {k: v for k, v in truth.items() if v.any()}
        for k in pred:
            if k not in all_layers:
                all_layers.append(k)
        for k in truth:
            if k not in all_truth:
                all_truth.append(k)
        t_ids, p_ids = list(truth), list(pred)
        if t_ids and p_ids:
            iou = maskops.iou_matrix(np.stack([truth[k] for k in t_ids]), np.stack([pred[k] for k in p_ids]))
        else:
            iou = np.zeros((len(t_ids), len(p_ids)))
        j_pairs, f_pairs = {}, {}
        overlapping = np.argwhere(iou > 0)
        if len(overlapping):
            shape = next(iter(truth.values())).shape
            radius = _tolerance(shape, bound_th)
            p_bound = {b: maskops.boundary(pred[p_ids[b]]) for b in set(overlapping[:, 1].tolist())}
            t_bound = {a: maskops.boundary(truth[t_ids[a]]) for a in set(overlapping[:, 0].tolist())}
            p_dil = {b: maskops.dilate(m, radius) for b, m in p_bound.items()}
            t_dil = {a: maskops.dilate(m, radius) for a, m in t_bound.items()}
            for a, b in overlapping:
                j_pairs[(int(a), int(b))] = float(iou[a, b])
                f_pairs[(int(a), int(b))] = _boundary_f(p_bound[b], t_bound[a], p_dil[b], t_dil[a])
        stats.append(_FrameStats(t_ids, p_ids, iou, j_pairs, f_pairs))

    # shot-level one-to-one assignment by summed IoU
    total = np.zeros((len(all_truth), len(all_layers)))
    t_index = {k: i for i, k in enumerate(all_truth)}
    l_index = {k: i for i, k in enumerate(all_layers)}
    for s in stats:
        for (a, b), value in s.j.items():
            total[t_index[s.truth_ids[a]], l_index[s.layer_ids[b]]] += value
    assignment = {all_truth[a]: all_layers[b] for a, b in assign(total)}

    objects: dict[Hashable, ObjectScore] = {}
    frame_j: list[float] = []
    frame_f: list[float] = []
    for truth_id in all_truth:
        layer = assignment.get(truth_id)
        js, fs, covering = [], [], []
        for s in stats:
            has_t = truth_id in s.truth_ids
            has_l = layer is not None and layer in s.layer_ids
            if not (has_t or has_l):
                continue
            if has_t and has_l:
                key = (s.truth_ids.index(truth_id), s.layer_ids.index(layer))
                js.append(s.j.get(key, 0.0))
                fs.append(s.f.get(key, 0.0))
            else:
                js.append(0.0)
                fs.append(0.0)
            if has_t and s.layer_ids:
                row = s.iou[s.truth_ids.index(truth_id)]
                best = int(np.argmax(row))
                if row[best] >= cover_iou:
                    covering.append(s.layer_ids[best])
        switches = sum(1 for a, b in zip(covering, covering[1:]) if a != b)
        objects[truth_id] = ObjectScore(
            layer, float(np.mean(js)) if js else 0.0, float(np.mean(fs)) if fs else 0.0, len(js),
            list(dict.fromkeys(covering)), switches,
        )
    for s in stats:
        pairs = dict(assign(s.iou)) if s.iou.size else {}
        for a in range(len(s.truth_ids)):
            b = pairs.get(a)
            frame_j.append(s.j.get((a, b), 0.0) if b is not None else 0.0)
            frame_f.append(s.f.get((a, b), 0.0) if b is not None else 0.0)

    j = float(np.mean([o.j for o in objects.values()])) if objects else 0.0
    f = float(np.mean([o.f for o in objects.values()])) if objects else 0.0
    fj = float(np.mean(frame_j)) if frame_j else 0.0
    ff = float(np.mean(frame_f)) if frame_f else 0.0
    return ShotMetrics(
        j=j, f=f, jf=(j + f) / 2,
        frame_j=fj, frame_f=ff, frame_jf=(fj + ff) / 2,
        id_switches=sum(o.id_switches for o in objects.values()),
        layers_per_object=float(np.mean([max(len(o.covering_layers), 1) for o in objects.values()])) if objects else 0.0,
        extra_layers=len(set(all_layers) - set(assignment.values())),
        objects=objects,
        frames=len(stats),
    )
