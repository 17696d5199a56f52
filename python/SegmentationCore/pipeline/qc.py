"""Quality control: what a run measured about each layer on each frame, and
the flags that tell a TD which layers and frames need an artist.

Data is collected *while tracking runs* by a :class:`QcRecorder` hooked into
:func:`~SegmentationCore.pipeline.tracking.run_pass` (``on_frame`` and
``on_window``): for every tracked frame of every window, each layer's object
score, the tracker's predicted IoU (where the backend gives one), its area
and a small thumbnail of its mask; at every re-prompt frame, the agreement
(IoU) between the stage-2 mask matched to a layer and the layer's tracked
mask. The recorder writes one small file per window (``track/qc/``), so a
resumed run keeps what the windows already done measured.

When tracking ends, :func:`summarise` adds what the final mask cache shows
(area per frame, frame-to-frame IoU, which layer's pixels went where) and
builds the QC summary: per-layer series, events (appears, disappears,
re-appears, merges, splits, identity changes, short-lived) and ranked
:class:`Flag` s with reasons, e.g. ``/person/person_0004: lost on
1032-1036 (object score < 0)``. It is written to ``WORK/qc.json`` and a
compact digest (:func:`header_summary`) goes into the EXR headers.

The thresholds are the fields of :class:`QcThresholds`; docs/review.md
explains each and how the ranking works.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..core.types import TrackedFrame

QC_FORMAT = "autoseg-qc"
QC_VERSION = 1
THUMB_SIZE = 96  # longest side of the per-layer mask thumbnails used for forward/backward agreement

LOST = "lost"
IDENTITY = "identity"
JUMP = "jump"
MERGE = "merge"
SPLIT = "split"
SHORT_LIVED = "short-lived"
FORWARD_BACKWARD = "forward-backward"
STAGE2 = "stage2"
LOW_CONFIDENCE = "low-confidence"
FLAG_KINDS = (LOST, IDENTITY, JUMP, MERGE, SPLIT, SHORT_LIVED, FORWARD_BACKWARD, STAGE2, LOW_CONFIDENCE)

# How likely each kind of flag is to need an artist, before its severity
# (see docs/review.md): a layer that vanished, changed identity or swallowed
# a neighbour is almost always wrong; a disagreement is often harmless.
BASE_RANK = {
    LOST: 0.9,
    IDENTITY: 0.9,
    MERGE: 0.85,
    JUMP: 0.8,
    SHORT_LIVED: 0.75,
    SPLIT: 0.7,
    FORWARD_BACKWARD: 0.6,
    STAGE2: 0.5,
    LOW_CONFIDENCE: 0.4,
}


@dataclasses.dataclass
class QcThresholds:
    """When a measurement becomes a flag. Documented in docs/review.md."""

    min_area: int = 16  # pixels (working resolution) for a layer to count as present on a frame
    short_lived_frames: int = 5  # a layer present on fewer frames than this is short-lived
    max_gap_reported: int = 0  # gaps (lost spans) longer than this many frames are reported; 0: every gap
    jump_iou: float = 0.1  # frame-to-frame IoU of a layer below this (similar area) is a jump
    jump_area_ratio: float = 2.0  # ... while its area changes by less than this factor
    merge_cover: float = 0.5  # share of a vanishing/shrinking layer's pixels taken by another layer
    merge_shrink: float = 0.5  # a layer "vanishes" when its area falls below this share of the previous frame's
    merge_growth: float = 0.5  # ... and the taker grows by at least this share of what it took (else: an occlusion)
    split_cover: float = 0.5  # share of a new layer's pixels that belonged to another layer on the previous frame
    fb_disagreement: float = 0.5  # 1 - IoU(forward, backward) at or above this is a disagreement
    stage2_agreement: float = 0.5  # IoU(stage-2 mask, tracked mask) below this at a re-prompt frame
    low_iou: float = 0.5  # the tracker's predicted IoU below this on a present frame
    low_confidence_frames: int = 3  # ... on at least this many consecutive frames
    identity_gap: int = 10  # a new layer starting within this many frames of where another ended ...
    identity_distance: float = 1.0  # ... with its centre within this many layer sizes (sqrt of area) of that one's last centre continues it

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------- live collection


def _thumbnail(mask: np.ndarray, size: int = THUMB_SIZE) -> np.ndarray:
    """Nearest-neighbour binary thumbnail, longest side ``size``."""
    height, width = mask.shape
    scale = min(1.0, size / max(height, width))
    rows = np.minimum((np.arange(max(1, round(height * scale))) + 0.5) / scale, height - 1).astype(np.int64)
    cols = np.minimum((np.arange(max(1, round(width * scale))) + 0.5) / scale, width - 1).astype(np.int64)
    return mask[np.ix_(rows, cols)] >= 0.5


class QcRecorder:
    """Collects per-frame tracker measurements during tracking.

    Hook it into :func:`~SegmentationCore.pipeline.tracking.run_pass` with
    ``on_frame=recorder.frame_hook(pass_name)`` and call
    :meth:`end_window` from ``on_window``. ``folder=None`` keeps the records
    in memory (benchmarks, tests); otherwise each window is saved as
    ``folder/<pass>-<index>.npz`` (atomically) and :meth:`load` reads them
    all back, so a resumed run keeps earlier windows' data.
    """

    def __init__(self, cache, folder: str | os.PathLike | None = None, mask_threshold: float = 0.5):
        self.cache = cache
        self.folder = pathlib.Path(folder) if folder is not None else None
        self.mask_threshold = mask_threshold
        self._rows: list[tuple] = []
        self._thumbs: list[np.ndarray] = []
        self._windows: list[dict[str, Any]] = []  # in-memory records

    def frame_hook(self, pass_name: str):
        """``on_frame`` for :func:`run_pass` of pass ``pass_name``."""
        return lambda start, tracked, step: self.frame(pass_name, start, tracked, step)

    def frame(self, pass_name: str, start: int, tracked: TrackedFrame, step: int) -> None:
        scores = np.asarray(tracked.object_scores, np.float32).reshape(-1)
        ious = tracked.iou_predictions
        ious = np.full(len(scores), np.nan, np.float32) if ious is None else np.asarray(ious, np.float32).reshape(-1)
        for row, layer_id in enumerate(tracked.object_ids):
            binary = tracked.probabilities[row] >= self.mask_threshold
            visible = bool(scores[row] > 0)
            area = int(np.count_nonzero(binary)) if visible else 0
            name = self.cache.layer(int(layer_id)).name if int(layer_id) in self.cache.layer_ids else str(layer_id)
            self._rows.append((name, int(tracked.frame), int(step), int(start), float(scores[row]), float(ious[row]), area))
            self._thumbs.append(_thumbnail(binary) if visible else np.zeros((1, 1), bool))

    def end_window(self, pass_name: str, index: int, matches=None, window=None) -> None:
        """Close one window: its frames plus the stage-2 agreement at its
        re-prompt frame (``matches`` from ``on_window``)."""
        agreement = []
        if matches is not None and getattr(matches, "stage2", None) is not None:
            matched: dict[int, float] = {}
            for entry in matches.entries:
                if entry.layer_id is not None and entry.kind in ("direct", "partial", "reidentified"):
                    if entry.kind == "reidentified" and entry.iou == 0.0:
                        continue  # re-identified by appearance: the layer was lost, no track to agree with
                    matched[entry.layer_id] = max(matched.get(entry.layer_id, 0.0), float(entry.iou))
            # only layers a stage-2 mask matched: a layer the detector missed
            # there says nothing about the track
            for layer_id in sorted(matched):
                name = self.cache.layer(layer_id).name if layer_id in self.cache.layer_ids else str(layer_id)
                agreement.append((name, int(matches.frame), matched[layer_id]))
        record = self._record(pass_name, agreement)
        self._rows, self._thumbs = [], []
        if self.folder is None:
            self._windows.append(record)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{pass_name}-{int(index):05d}.npz"
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(temporary, "wb") as handle:
            np.savez_compressed(handle, **pack_record(record))
        os.replace(temporary, path)

    def _record(self, pass_name: str, agreement: list[tuple]) -> dict[str, Any]:
        return {"pass": pass_name, "rows": list(self._rows), "thumbs": list(self._thumbs), "agreement": agreement}

    def records(self) -> list[dict[str, Any]]:
        """Every window's record (memory, or the folder's files)."""
        if self.folder is None:
            return list(self._windows)
        return load_records(self.folder)


def track_with_qc(tracker, frames, cache, stage2, params=None, keyframes=None, folder=None):
    """:func:`~SegmentationCore.pipeline.tracking.track_shot` with a
    :class:`QcRecorder` on every pass; returns ``(pass results, recorder)``."""
    from . import tracking

    params = params or tracking.TrackingParams()
    recorder = QcRecorder(cache, folder, params.mask_threshold)
    results = []
    for name, direction, uses_stage2 in tracking.pass_plan(params, keyframes or {}, stage2 is not None):
        results.append(tracking.run_pass(
            tracker, frames, cache, stage2 if uses_stage2 else None, params, direction, keyframes,
            on_window=lambda i, n, m, w, name=name: recorder.end_window(name, i, m, w),
            on_frame=recorder.frame_hook(name),
        ))
    return results, recorder


def pack_record(record: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """One window record as four numpy arrays (files, Gaffer plugs)."""
    rows = record["rows"]
    shapes = np.array([t.shape for t in record["thumbs"]], np.int32).reshape(-1, 2)
    bits = np.packbits(np.concatenate([t.reshape(-1) for t in record["thumbs"]])) if rows else np.zeros(0, np.uint8)
    meta = {"pass": record["pass"], "names": [r[0] for r in rows], "agreement": record["agreement"]}
    return {
        "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8),
        "values": np.array([r[1:] for r in rows], np.float64).reshape(-1, 6),
        "shapes": shapes,
        "bits": bits,
    }


def load_records(folder: str | os.PathLike) -> list[dict[str, Any]]:
    """The window records a :class:`QcRecorder` saved in ``folder``."""
    out = []
    for path in sorted(pathlib.Path(folder).glob("*.npz")):
        with np.load(path) as data:
            out.append(unpack_record({key: data[key] for key in ("meta", "values", "shapes", "bits")}))
    return out


def unpack_record(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The inverse of :func:`pack_record`."""
    meta = json.loads(bytes(np.asarray(arrays["meta"], np.uint8)).decode())
    values = np.asarray(arrays["values"], np.float64).reshape(-1, 6)
    shapes = np.asarray(arrays["shapes"], np.int64).reshape(-1, 2)
    flat = np.unpackbits(np.asarray(arrays["bits"], np.uint8)).astype(bool)
    thumbs, offset = [], 0
    for h, w in shapes:
        thumbs.append(flat[offset: offset + h * w].reshape(h, w))
        offset += int(h * w)
    rows = [(name, int(v[0]), int(v[1]), int(v[2]), float(v[3]), float(v[4]), int(v[5])) for name, v in zip(meta["names"], values)]
    return {"pass": meta["pass"], "rows": rows, "thumbs": thumbs, "agreement": [tuple(a) for a in meta["agreement"]]}


# ---------------------------------------------------------------------------- summary


@dataclasses.dataclass
class Flag:
    """One thing a TD should look at: a layer, a span of frames, a reason."""

    layer: str
    kind: str
    first: int
    last: int
    reason: str
    rank: float  # 0..1, how likely the flag needs an artist (higher first)
    others: list[str] = dataclasses.field(default_factory=list)  # the other layers involved (merge, split, identity)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["rank"] = round(float(self.rank), 3)
        data["frame"] = self.first
        data["text"] = str(self)
        return data

    def __str__(self) -> str:
        return f"{self.layer}: {self.reason}"


def _spans(frames: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive runs of shot frame numbers as ``(first, last)``."""
    spans: list[tuple[int, int]] = []
    for frame in frames:
        if spans and frame == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], frame)
        else:
            spans.append((frame, frame))
    return spans


def _range_text(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}\u2013{last}"


def _finite(values: Iterable[float]) -> list[float]:
    return [v for v in values if v is not None and not math.isnan(v)]


def _thumb_iou(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return float("nan")
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def _live_series(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[int, dict[str, Any]]]:
    """Per layer name and frame: the freshest measurement (fewest frames
    from its window's prompt) of each direction, and stage-2 agreement."""
    freshest: dict[tuple[str, str, int], tuple[int, float, float, int, np.ndarray]] = {}
    agreement: dict[tuple[str, int], float] = {}
    for record in records:
        direction = record["pass"]
        if direction not in ("forward", "backward"):
            continue  # the seed pass only carries interactive keyframes back
        for (name, frame, step, _start, score, iou, area), thumb in zip(record["rows"], record["thumbs"]):
            key = (direction, name, frame)
            if key not in freshest or step < freshest[key][0]:
                freshest[key] = (step, score, iou, area, thumb)
        for name, frame, value in record["agreement"]:
            agreement[(name, int(frame))] = min(agreement.get((name, int(frame)), 1.0), float(value))
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for (direction, name, frame), (step, score, iou, area, thumb) in freshest.items():
        out.setdefault(name, {}).setdefault(frame, {})[direction] = (score, iou, area, thumb)
    for (name, frame), value in agreement.items():
        out.setdefault(name, {}).setdefault(frame, {})["stage2"] = value
    return out


def _final_maps(cache, frame: int, threshold: float) -> np.ndarray:
    if not cache.has_frame(frame):
        return np.zeros(cache.size, np.int64)
    ids = cache.id_map(frame).astype(np.int64)
    return np.where(cache.probability_map(frame) >= threshold, ids, 0)


def summarise(
    cache,
    frame_numbers: Sequence[int],
    records: Sequence[Mapping[str, Any]] = (),
    thresholds: QcThresholds | None = None,
    mask_threshold: float = 0.5,
) -> dict[str, Any]:
    """The QC summary of a tracked shot (JSON-serialisable).

    ``cache``: the final mask cache (after compaction); ``records``: what a
    :class:`QcRecorder` collected (empty: only what the cache shows, e.g.
    a chunked run). Layers are keyed by name.
    """
    t = thresholds or QcThresholds()
    frames = [int(f) for f in frame_numbers]
    names = cache.names()
    count = max(names, default=0) + 1
    live = _live_series(records)
    series: dict[str, dict[str, list]] = {
        name: {"area": [], "score": [], "iou": [], "fb": [], "stage2": [], "continuity": [], "confidence": []} for name in names.values()
    }
    events: list[dict[str, Any]] = []
    previous = None
    last_seen: dict[int, tuple[int, float, float, int]] = {}  # layer -> (frame, row, col, area) where it was last present
    rows_index = None
    for position, frame in enumerate(frames):
        labels = _final_maps(cache, frame, mask_threshold)
        area = np.bincount(labels.reshape(-1), minlength=count)[:count]
        overlap = None
        if previous is not None:
            joint = np.bincount((previous[0].reshape(-1) * count + labels.reshape(-1)), minlength=count * count)
            overlap = joint[: count * count].reshape(count, count)
        for layer_id, name in names.items():
            s = series[name]
            here = int(area[layer_id])
            s["area"].append(here)
            measured = live.get(name, {}).get(frame, {})
            scores = [measured[d][0] for d in ("forward", "backward") if d in measured]
            ious = [measured[d][1] for d in ("forward", "backward") if d in measured and measured[d][0] > 0]
            s["score"].append(round(min(scores), 3) if scores else None)
            s["iou"].append(round(min(_finite(ious)), 3) if _finite(ious) else None)
            fb = None
            if "forward" in measured and "backward" in measured:
                (fs, _, fa, ft), (bs, _, ba, bt) = measured["forward"], measured["backward"]
                f_on, b_on = fs > 0 and fa >= t.min_area, bs > 0 and ba >= t.min_area
                if f_on and b_on:
                    fb = 1.0 - _thumb_iou(ft, bt)
                elif f_on != b_on:
                    fb = 1.0
                else:
                    fb = 0.0
            s["fb"].append(None if fb is None or math.isnan(fb) else round(fb, 3))
            s["stage2"].append(round(measured["stage2"], 3) if "stage2" in measured else None)
            continuity = None
            if overlap is not None:
                before = int(previous[1][layer_id])
                if before >= t.min_area and here >= t.min_area:
                    inter = int(overlap[layer_id, layer_id])
                    continuity = inter / (before + here - inter)
            s["continuity"].append(None if continuity is None else round(continuity, 3))
        if overlap is not None:
            events += _transfer_events(names, previous[1], area, overlap, frame, t)
        if rows_index is None:
            rows_index, cols_index = np.indices(labels.shape)
        flat = labels.reshape(-1)
        row_sum = np.bincount(flat, weights=rows_index.reshape(-1), minlength=count)[:count]
        col_sum = np.bincount(flat, weights=cols_index.reshape(-1), minlength=count)[:count]
        present_now = {i for i in names if area[i] >= t.min_area}
        started = [i for i in present_now if i not in last_seen]
        if position and started:
            already = {e["layer"] for e in events if e["kind"] == IDENTITY and e["frame"] == frame}
            events += _identity_after_gap(names, cache, started, present_now, last_seen, area, row_sum, col_sum, frame, already, t)
        for i in present_now:
            last_seen[i] = (frame, row_sum[i] / area[i], col_sum[i] / area[i], int(area[i]))
        previous = (labels, area)
    for name, s in series.items():
        s["confidence"] = [_confidence(s, i, t) for i in range(len(frames))]
    layers = {}
    for layer_id, name in sorted(names.items()):
        present = [f for f, a in zip(frames, series[name]["area"]) if a >= t.min_area]
        layers[name] = {
            "id": int(layer_id),
            "phrase": cache.layer(layer_id).phrase,
            "present_frames": len(present),
            "first": present[0] if present else None,
            "last": present[-1] if present else None,
            "present": [list(s) for s in _spans(present)],
            "series": series[name],
        }
        events += _presence_events(name, frames, present, t)
        if present and present[-1] != frames[-1]:
            # Gone before the end of the shot: an object that leaves the
            # picture touches its border on its last frame; one that does not
            # was lost (or hidden for good).
            mask = _final_maps(cache, present[-1], mask_threshold) == layer_id
            rows, cols = np.nonzero(mask)
            height, width = mask.shape
            inside = len(rows) and rows.min() > 1 and cols.min() > 1 and rows.max() < height - 2 and cols.max() < width - 2
            areas = [a for a in series[name]["area"] if a >= t.min_area]
            layers[name]["vanished"] = {
                "frame": present[-1] + 1, "inside": bool(inside), "share": round(float(areas[-1] / max(1, np.median(areas))), 3),
            }
    flags = _flags(layers, frames, events, t)
    return {
        "format": QC_FORMAT,
        "version": QC_VERSION,
        "frames": frames,
        "thresholds": t.to_dict(),
        "live_data": bool(records),
        "layers": layers,
        "events": sorted(events, key=lambda e: (e["frame"], e["layer"])),
        "flags": [f.to_dict() for f in flags],
    }


def _confidence(series: Mapping[str, list], index: int, t: QcThresholds) -> float | None:
    """One 0..1 confidence per present frame: the worst of the tracker's
    predicted IoU, forward/backward agreement, stage-2 agreement and
    frame-to-frame continuity where each is known."""
    if series["area"][index] < t.min_area:
        return None
    parts = [1.0]
    if series["iou"][index] is not None:
        parts.append(series["iou"][index])
    if series["fb"][index] is not None:
        parts.append(1.0 - series["fb"][index])
    if series["stage2"][index] is not None:
        parts.append(series["stage2"][index])
    if series["continuity"][index] is not None:
        parts.append(min(1.0, series["continuity"][index] / max(t.jump_iou, 1e-6)))
    if series["score"][index] is not None and series["score"][index] <= 0:
        parts.append(0.0)
    return round(float(max(0.0, min(parts))), 3)


def _transfer_events(names: Mapping[int, str], before: np.ndarray, after: np.ndarray, overlap: np.ndarray, frame: int, t: QcThresholds) -> list[dict[str, Any]]:
    """Merges (a layer's pixels taken by another as it vanishes), splits and
    identity changes (a new layer on pixels another layer held), jumps."""
    events = []
    for layer_id, name in names.items():
        was, now = int(before[layer_id]), int(after[layer_id])
        if was >= t.min_area and now < t.merge_shrink * was:
            taken = overlap[layer_id].copy()
            taken[[0, layer_id]] = 0
            other = int(np.argmax(taken))
            grew = int(after[other]) - int(before[other])
            existed = int(before[other]) >= t.min_area  # a taker new on this frame continues the layer: an identity change
            if other in names and existed and taken[other] >= t.merge_cover * was and grew >= t.merge_growth * taken[other]:
                events.append({"kind": MERGE, "frame": frame, "layer": names[other], "other": name, "cover": round(taken[other] / was, 3)})
        if now >= t.min_area and was < t.min_area:
            came = overlap[:, layer_id].copy()
            came[[0, layer_id]] = 0
            other = int(np.argmax(came))
            if other in names and came[other] >= t.split_cover * now:
                kind = IDENTITY if after[other] < t.min_area else SPLIT
                events.append({"kind": kind, "frame": frame, "layer": name, "other": names[other], "cover": round(came[other] / now, 3)})
        if was >= t.min_area and now >= t.min_area:
            inter = int(overlap[layer_id, layer_id])
            iou = inter / (was + now - inter)
            ratio = max(was, now) / max(1, min(was, now))
            if iou < t.jump_iou and ratio < t.jump_area_ratio:
                events.append({"kind": JUMP, "frame": frame, "layer": name, "iou": round(iou, 3)})
    return events


def _identity_after_gap(
    names: Mapping[int, str], cache, started: list[int], present: set[int], last_seen: Mapping[int, tuple[int, float, float, int]],
    area: np.ndarray, row_sum: np.ndarray, col_sum: np.ndarray, frame: int, already: set[str], t: QcThresholds,
) -> list[dict[str, Any]]:
    """A layer that starts where another layer of its class ended a few
    frames before (the object came back under a new name)."""
    events = []
    for new in started:
        if names[new] in already:
            continue
        centre = (row_sum[new] / area[new], col_sum[new] / area[new])
        best, best_distance = None, None
        for old, (seen, row, col, old_area) in last_seen.items():
            if old in present or frame - seen > t.identity_gap or cache.layer(old).phrase != cache.layer(new).phrase:
                continue
            distance = float(np.hypot(centre[0] - row, centre[1] - col)) / np.sqrt(max(old_area, int(area[new])))
            if distance <= t.identity_distance and (best_distance is None or distance < best_distance):
                best, best_distance = old, distance
        if best is not None:
            events.append({
                "kind": IDENTITY, "frame": frame, "layer": names[new], "other": names[best], "gap": frame - last_seen[best][0] - 1,
                "cover": 0.0,
            })
    return events


def _presence_events(name: str, frames: Sequence[int], present: Sequence[int], t: QcThresholds) -> list[dict[str, Any]]:
    if not present:
        return []
    events = []
    spans = _spans(present)
    if spans[0][0] != frames[0]:
        events.append({"kind": "appears", "frame": spans[0][0], "layer": name})
    for (_, end), (start, _) in zip(spans, spans[1:]):
        events.append({"kind": "disappears", "frame": end + 1, "layer": name, "until": start - 1})
        events.append({"kind": "reappears", "frame": start, "layer": name})
    if spans[-1][1] != frames[-1]:
        events.append({"kind": "disappears", "frame": spans[-1][1] + 1, "layer": name})
    if len(present) < t.short_lived_frames:
        events.append({"kind": SHORT_LIVED, "frame": present[0], "layer": name, "frames": len(present)})
    return events


def _bad_spans(frames: Sequence[int], values: Sequence[float | None], bad) -> list[tuple[int, int, list[float]]]:
    out: list[tuple[int, int, list[float]]] = []
    last_index = None
    for index, (frame, value) in enumerate(zip(frames, values)):
        if value is None or not bad(value):
            continue
        if out and last_index == index - 1:
            out[-1] = (out[-1][0], frame, out[-1][2] + [value])
        else:
            out.append((frame, frame, [value]))
        last_index = index
    return out


def _flags(layers: Mapping[str, Mapping[str, Any]], frames: Sequence[int], events: Sequence[Mapping[str, Any]], t: QcThresholds) -> list[Flag]:
    flags: list[Flag] = []
    length = len(frames)
    for name, layer in layers.items():
        s = layer["series"]
        spans = [tuple(x) for x in layer["present"]]
        for (_, end), (start, _) in zip(spans, spans[1:]):
            first, last = end + 1, start - 1
            gap = frames.index(last) - frames.index(first) + 1 if first in frames and last in frames else last - first + 1
            if t.max_gap_reported and gap > t.max_gap_reported:
                continue
            scores = _finite(v for f, v in zip(frames, s["score"]) if first <= f <= last and v is not None)
            why = "object score < 0" if scores and max(scores) <= 0 else "no pixels left in the matte"
            rank = BASE_RANK[LOST] * (0.8 + 0.2 * min(1.0, gap / 5))
            flags.append(Flag(name, LOST, first, last, f"lost on {_range_text(first, last)} ({why})", rank))
        vanished = layer.get("vanished")
        if vanished and vanished["inside"] and vanished["frame"] <= frames[-1]:
            share = vanished["share"]
            flags.append(Flag(
                name, LOST, vanished["frame"], frames[-1],
                f"lost from {vanished['frame']} to the end of the shot (last seen inside the frame, at {share:.0%} of its usual area)",
                BASE_RANK[LOST] * (0.65 + 0.35 * min(1.0, share / 0.5)),
            ))
        if 0 < layer["present_frames"] < t.short_lived_frames and length > t.short_lived_frames:
            first, last = layer["first"], layer["last"]
            n = layer["present_frames"]
            rank = BASE_RANK[SHORT_LIVED] * (1.0 - 0.1 * (n - 1) / max(1, t.short_lived_frames - 1))
            flags.append(Flag(name, SHORT_LIVED, first, last, f"lives for {n} frame{'s' if n > 1 else ''} ({_range_text(first, last)})", rank))
        for first, last, values in _bad_spans(frames, s["fb"], lambda v: v >= t.fb_disagreement):
            worst = max(values)
            flags.append(Flag(
                name, FORWARD_BACKWARD, first, last,
                f"forward and backward passes disagree on {_range_text(first, last)} (IoU {1 - worst:.2f})",
                BASE_RANK[FORWARD_BACKWARD] * (0.7 + 0.3 * worst) * (0.85 + 0.15 * min(1.0, len(values) / 5)),
            ))
        for first, last, values in _bad_spans(frames, s["stage2"], lambda v: v < t.stage2_agreement):
            worst = min(values)
            flags.append(Flag(
                name, STAGE2, first, last,
                f"stage-2 mask disagrees with the track at {_range_text(first, last)} (IoU {worst:.2f})",
                BASE_RANK[STAGE2] * (1.0 - 0.4 * worst),
            ))
        present_iou = [v if a >= t.min_area else None for v, a in zip(s["iou"], s["area"])]
        for first, last, values in _bad_spans(frames, present_iou, lambda v: v < t.low_iou):
            if len(values) < t.low_confidence_frames:
                continue
            flags.append(Flag(
                name, LOW_CONFIDENCE, first, last,
                f"low predicted IoU on {_range_text(first, last)} (min {min(values):.2f})",
                BASE_RANK[LOW_CONFIDENCE] * (1.0 - 0.5 * min(values)),
            ))
    jumps: dict[str, list[Mapping[str, Any]]] = {}
    for event in events:
        if event["kind"] == JUMP:
            jumps.setdefault(event["layer"], []).append(event)
    for name, found in jumps.items():
        by_frame = {e["frame"]: e["iou"] for e in found}
        for first, last in _spans(sorted(by_frame)):
            worst = min(v for f, v in by_frame.items() if first <= f <= last)
            where = f"at {first}" if first == last else f"on every frame of {_range_text(first, last)}"
            flags.append(Flag(name, JUMP, first, last, f"jumped {where} (IoU {worst:.2f} with the previous frame)", BASE_RANK[JUMP] * (1.0 - 0.3 * worst)))
    for event in events:
        kind = event["kind"]
        if kind == MERGE:
            flags.append(Flag(event["layer"], MERGE, event["frame"], event["frame"],
                              f"swallowed {event['other']} at {event['frame']} ({event['cover']:.0%} of its pixels)",
                              BASE_RANK[MERGE] * (0.8 + 0.2 * event["cover"]), [event["other"]]))
        elif kind == SPLIT:
            flags.append(Flag(event["layer"], SPLIT, event["frame"], event["frame"],
                              f"split from {event['other']} at {event['frame']} ({event['cover']:.0%} of its pixels were {event['other']}'s)",
                              BASE_RANK[SPLIT] * (0.8 + 0.2 * event["cover"]), [event["other"]]))
        elif kind == IDENTITY and "gap" in event:
            flags.append(Flag(event["layer"], IDENTITY, event["frame"], event["frame"],
                              f"identity changed at {event['frame']}: starts where {event['other']} ended {event['gap'] + 1} frame(s) before",
                              BASE_RANK[IDENTITY] * (0.9 - 0.02 * min(event["gap"], 10)), [event["other"]]))
        elif kind == IDENTITY:
            flags.append(Flag(event["layer"], IDENTITY, event["frame"], event["frame"],
                              f"identity changed at {event['frame']}: continues {event['other']} ({event['cover']:.0%} of its pixels)",
                              BASE_RANK[IDENTITY] * (0.8 + 0.2 * event["cover"]), [event["other"]]))
    flags.sort(key=lambda f: (-f.rank, f.first, f.layer))
    return flags


# ---------------------------------------------------------------------------- files and headers

QC_FILE = "qc.json"
HEADER_ATTRIBUTE = "autoseg/qc"  # never under cryptomatte/ (Cryptomatte readers own that prefix)


def write_summary(work: str | os.PathLike, summary: Mapping[str, Any]) -> pathlib.Path:
    """``WORK/qc.json``, atomically."""
    path = pathlib.Path(work) / QC_FILE
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(summary, separators=(",", ":")))
    os.replace(temporary, path)
    return path


def read_summary(work: str | os.PathLike) -> dict[str, Any]:
    path = pathlib.Path(work) / QC_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no QC summary at {path}; run the track stage (autoseg run) first") from None
    if data.get("format") != QC_FORMAT:
        raise ValueError(f"{path} is not an autoseg QC summary")
    return data


def header_summary(summary: Mapping[str, Any], frame: int | None = None, max_flags: int = 20) -> str:
    """A compact JSON string for an EXR header attribute: counts by kind,
    the top flags of the shot, and (with ``frame``) the layers flagged on
    that frame."""
    flags = summary.get("flags", [])
    kinds: dict[str, int] = {}
    for flag in flags:
        kinds[flag["kind"]] = kinds.get(flag["kind"], 0) + 1
    digest: dict[str, Any] = {
        "version": QC_VERSION,
        "layers": len(summary.get("layers", {})),
        "flags": len(flags),
        "kinds": kinds,
        "top": [[f["layer"], f["kind"], f["first"], f["last"], f["rank"]] for f in flags[:max_flags]],
    }
    if frame is not None:
        digest["frame"] = int(frame)
        digest["here"] = sorted({f["layer"] for f in flags if f["first"] <= frame <= f["last"]})
        index = summary["frames"].index(frame) if frame in summary.get("frames", []) else None
        if index is not None:
            digest["confidence"] = {
                name: layer["series"]["confidence"][index] for name, layer in summary.get("layers", {}).items()
                if layer["series"]["confidence"][index] is not None
            }
    return json.dumps(digest, separators=(",", ":"))


__all__ = [
    "BASE_RANK", "FLAG_KINDS", "Flag", "HEADER_ATTRIBUTE", "QC_FILE", "QcRecorder", "QcThresholds",
    "header_summary", "load_records", "pack_record", "read_summary", "summarise", "track_with_qc", "unpack_record", "write_summary",
]
