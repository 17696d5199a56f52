"""Chunked tracking for long shots: overlapping chunks, tracked apart, reconciled.

API (the contract the Gaffer task nodes and ``autoseg`` build on)::

    chunk_ranges(frames, n, overlap, reprompt_every=1) -> list[Chunk]
        which frames chunk i of n tracks (Chunk.frames) and which frames
        it owns in the reconciled shot (Chunk.owned).
    Pipeline.run_track(chunk=(i, n))   # runner.py: tracks chunk i of n into
                                       # WORK/track/chunks/<i>/{state.json,cache/}
    Pipeline.reconcile_chunks(n)       # runner.py: merges the n chunk caches into
                                       # WORK/track/cache (what run_write reads)
    reconcile(chunks, caches, target, min_area=..., match_iou=..., params=...) -> dict
        the merge itself, on MaskCache objects (used by reconcile_chunks).
    track_chunks(tracker, frames, stage2, params, n, overlap, keyframes=None) -> (MaskCache, dict)
        the whole thing in memory (no work folder): every chunk with
        tracking.track_shot, then reconcile (benchmarks, tests, in-process callers).

The number of chunks and their overlap are ``RunConfig.chunks`` and
``RunConfig.chunk_overlap`` (``None``: one tracking window,
``TrackingParams.window``); both are part of the work folder's settings
(``run.json``) when ``chunks > 1``.

**Cutting.** The shot's frames are split into ``n`` contiguous *owned*
parts of (nearly) equal length. Chunk i tracks its owned part plus a
*lead-in* of ``overlap`` frames before it (the end of chunk i-1's owned
part), so neighbouring chunks share at least ``overlap`` frames. The
lead-in is there because a chunk is weakest at its start: its forward pass
begins with an empty cache, so stage-2 faults there (a box over two
objects, a part box) start layers that nothing can be matched against yet;
the end of a chunk is strong (the forward pass has history and the backward
pass starts from a full cache). So the pixels of the shared frames come
from the earlier chunk and the later one only has to agree on identities
there. (Measured: a lead-in of one window gives J&F within noise of the
whole shot; an overlap split half/half around the cut lost 0.09 J&F on
4 chunks of 30 frames: docs/farm.md.) Chunk starts are snapped (earlier) onto the shot's
forward re-prompt grid and chunk ends (later) onto the backward grid, so
every window a chunk starts is a window the whole-shot loop starts too:
stages 1 and 2 run on exactly the same frames whatever the chunking, and
the detect/segment results of a work folder serve any chunk count.

**Tracking.** Each chunk runs the full loop (seed pass for interactive
keyframes inside it, forward, backward) on its frames only, into its own
mask cache, then compacts it like the whole-shot run.

**Reconcile.** Chunks are merged in order. Layers of chunk i+1 are matched
one-to-one to the (already reconciled) layers of chunk i by IoU summed over
the frames the two chunks share (intersections and unions at p >= 0.5 added
up over those frames; greedy on the highest IoU, same class phrase,
``match_iou`` at least). Interactive layers match by name. A matched layer
keeps the shot layer's id, so an object that crosses a chunk boundary keeps
one layer. A layer left unmatched that looks like a shot layer absent from
the shared frames (an object that left, or was lost, before the boundary
and comes back after it) continues that shot layer, by the ``guarded``
rule's appearance test (``reid_appearance`` and ``appearance_margin`` of
the tracking parameters; chunk caches tracked with another rule carry no
appearance, so nothing changes for them); any other becomes a new shot
layer. Pixels are *picked*,
not blended: each frame comes from the chunk that owns it (the shared
frames from the earlier chunk, see above). Shot layers are numbered and named in
order of (chunk, creation order in the chunk) -- the order the whole-shot
loop creates them -- so names ``/<class>/<class>_NNNN`` are stable across
the shot; layers left without pixels are dropped (``MaskCache.compact``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence

import numpy as np

from ..core.prompts import class_name, layer_name
from . import appearance, tracking
from .mask_cache import LayerInfo, MaskCache

MATCH_IOU = 0.3  # IoU over the shared frames at which two chunk layers are one object


@dataclasses.dataclass(frozen=True)
class Chunk:
    """One chunk of a shot: the frames it tracks and the frames it owns."""

    index: int
    count: int
    frames: tuple[int, ...]  # tracked, ascending
    owned: tuple[int, ...]  # taken from this chunk in the reconciled cache

    @property
    def label(self) -> str:
        """``i/n`` as on the command line (``--chunk i/n``)."""
        return f"{self.index}/{self.count}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index, "count": self.count,
            "frames": [self.frames[0], self.frames[-1]], "owned": [self.owned[0], self.owned[-1]],
        }


def max_chunks(num_frames: int, reprompt_every: int = 1) -> int:
    """The most chunks a shot of ``num_frames`` can be cut into (each owns at
    least one re-prompt period)."""
    return max(1, int(num_frames) // max(1, int(reprompt_every)))


def chunk_count(num_frames: int, chunk_length: int) -> int:
    """How many chunks give owned parts of about ``chunk_length`` frames."""
    return max(1, math.ceil(int(num_frames) / max(1, int(chunk_length))))


def chunk_ranges(frames: Sequence[int], n: int, overlap: int, reprompt_every: int = 1) -> list[Chunk]:
    """Cut ``frames`` (the shot's frame numbers, ascending) into ``n``
    overlapping chunks (see module docs). ``overlap`` is the least number of
    frames neighbouring chunks share; ``reprompt_every`` the tracking's
    re-prompt period, onto whose grid chunk ends are snapped."""
    frames = [int(f) for f in frames]
    count, n, overlap, step = len(frames), int(n), int(overlap), max(1, int(reprompt_every))
    if n < 1:
        raise ValueError(f"the number of chunks must be at least 1, not {n}")
    if n > 1 and overlap < 1:
        raise ValueError("chunks must overlap by at least one frame (one tracking window is recommended)")
    if n > max_chunks(count, step):
        raise ValueError(
            f"a shot of {count} frames can be cut into at most {max_chunks(count, step)} chunks "
            f"(each must own at least one re-prompt period of {step} frames); use fewer chunks"
        )
    bounds = [round(k * count / n) for k in range(n + 1)]
    chunks = []
    for i in range(n):
        start = 0 if i == 0 else max(0, (bounds[i] - overlap) // step * step)
        if i == n - 1:
            end = count - 1
        else:
            wanted = bounds[i + 1] - 1
            end = min(count - 1, (count - 1) - ((count - 1 - wanted) // step) * step)
        chunks.append(Chunk(i, n, tuple(frames[start:end + 1]), tuple(frames[bounds[i]:bounds[i + 1]])))
    return chunks


def parse_chunk(text: str) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)`` (0-based ``i``), checked."""
    try:
        index, count = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise ValueError(f"--chunk {text!r}: give the chunk as i/n, e.g. 0/4 (0-based index of n chunks)") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--chunk {text}: the index must lie in 0..{count - 1}")
    return index, count


class FrameSubset:
    """A frame source restricted to some of its frames (one chunk): the
    tracking loop walks ``frame_numbers``; everything else is the plate's."""

    def __init__(self, frames, frame_numbers: Sequence[int]):
        self._frames = frames
        self._numbers = [int(f) for f in frame_numbers]

    @property
    def frame_numbers(self) -> list[int]:
        return list(self._numbers)

    @property
    def size(self) -> tuple[int, int]:
        return self._frames.size

    def image(self, frame: int) -> np.ndarray:
        return self._frames.image(frame)

    def cache_key(self, frame: int) -> str:
        return self._frames.cache_key(frame)

    def __getattr__(self, name: str):
        return getattr(self._frames, name)


# ---------------------------------------------------------------------------- reconcile


def _overlap_iou(
    previous: MaskCache, previous_lut: Mapping[int, int], current: MaskCache, frames: Sequence[int], threshold: float
) -> tuple[list[int], list[int], np.ndarray]:
    """IoU between shot layers (``previous`` ids mapped by ``previous_lut``)
    and ``current``'s layers, intersections and unions summed over ``frames``."""
    shot_ids = sorted(set(previous_lut.values()))
    local_ids = current.layer_ids
    inter = np.zeros((len(shot_ids), len(local_ids)))
    area_a = np.zeros(len(shot_ids))
    area_b = np.zeros(len(local_ids))
    row = {s: k for k, s in enumerate(shot_ids)}
    col = {c: k for k, c in enumerate(local_ids)}
    for frame in frames:
        a = previous.id_map(frame)
        a_ok = previous.probability_map(frame) >= threshold
        b = current.id_map(frame)
        b_ok = current.probability_map(frame) >= threshold
        a_shot = np.zeros_like(a, np.int64)
        for local, shot in previous_lut.items():
            a_shot[a == local] = shot
        a_shot[~a_ok] = 0
        b = np.where(b_ok, b, 0)
        for shot, k in row.items():
            area_a[k] += np.count_nonzero(a_shot == shot)
        for local, k in col.items():
            area_b[k] += np.count_nonzero(b == local)
        both = (a_shot > 0) & (b > 0)
        if both.any():
            pairs, counts = np.unique(np.stack([a_shot[both], b[both]]), axis=1, return_counts=True)
            for (shot, local), c in zip(pairs.T, counts):
                if int(shot) in row and int(local) in col:
                    inter[row[int(shot)], col[int(local)]] += c
    union = area_a[:, None] + area_b[None, :] - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    return shot_ids, local_ids, iou


def _present_in_shared(cache: MaskCache, lut: Mapping[int, int], shot: int, frames: Sequence[int], threshold: float) -> bool:
    """Whether shot layer ``shot`` has pixels in ``cache`` on any of ``frames``."""
    locals_ = [local for local, s in lut.items() if s == shot]
    for frame in frames:
        if cache.has_frame(frame):
            ids = np.where(cache.probability_map(frame) >= threshold, cache.id_map(frame), 0)
            if np.isin(ids, locals_).any():
                return True
    return False


def _match_by_appearance(
    cache: MaskCache, lut: Mapping[int, int], looks: Mapping[int, np.ndarray],
    members: Mapping[int, list[tuple[int, LayerInfo]]], excluded: set[int], params: tracking.TrackingParams,
) -> list[tuple[int, int, float]]:
    """Unmatched layers of a chunk that continue an earlier shot layer by
    appearance: similarity >= ``reid_appearance`` and ``appearance_margin``
    above every other shot layer of the class; shot layers in ``excluded``
    (matched here, or present on the shared frames) do not qualify.
    Best pairs first; ``[(shot layer, chunk layer, similarity)]``."""
    new = {
        local: cache.appearance(local) for local in cache.layer_ids
        if local not in lut and cache.appearance(local) is not None and cache.layer(local).source != "interactive"
    }
    same_class = lambda local, shot: members[shot][0][1].phrase == cache.layer(local).phrase  # noqa: E731
    found = appearance.continue_by_appearance(new, looks, excluded, params.reid_appearance, params.appearance_margin, same_class)
    return [(shot, local, value) for local, shot, value in found]


def reconcile(
    chunks: Sequence[Chunk],
    caches: Sequence[MaskCache],
    target: MaskCache,
    min_area: int = 16,
    match_iou: float = MATCH_IOU,
    threshold: float = 0.5,
    params: tracking.TrackingParams | None = None,
) -> dict[str, Any]:
    """Merge chunk caches (one per chunk, in order) into the empty ``target``
    cache (see module docs). Returns a summary: shot layers, matches per
    chunk boundary (``[[shot layer, chunk layer, IoU], ...]``; by
    appearance ``[[shot layer, chunk layer, similarity], ...]``), layers
    dropped. ``params`` gives the appearance thresholds (defaults:
    :class:`~SegmentationCore.pipeline.tracking.TrackingParams`'s).
    ``target`` is flushed if it has a directory."""
    params = params or tracking.TrackingParams()
    if len(chunks) != len(caches):
        raise ValueError(f"{len(chunks)} chunks but {len(caches)} caches")
    if target.layer_ids or target.frames:
        raise ValueError("reconcile needs an empty target cache")
    members: dict[int, list[tuple[int, LayerInfo]]] = {}  # provisional shot id -> [(chunk, info)]
    looks: dict[int, np.ndarray] = {}  # provisional shot id -> its latest chunk's appearance
    luts: list[dict[int, int]] = []
    boundaries = []
    next_id = 1
    for k, (chunk, cache) in enumerate(zip(chunks, caches)):
        if tuple(cache.size) != tuple(target.size):
            raise ValueError(f"chunk {chunk.label} was tracked at {cache.size}, the shot cache is {target.size}")
        lut: dict[int, int] = {}
        matched = []
        if k:
            shared = sorted(set(chunks[k - 1].frames) & set(chunk.frames))
            previous_lut = luts[-1]
            # interactive layers: by name
            by_name = {info.name: shot for shot, entries in members.items() for _, info in entries if info.source == "interactive"}
            for local, info in cache.layer_infos.items():
                if info.source == "interactive" and info.name in by_name:
                    lut[local] = by_name[info.name]
            shot_ids, local_ids, iou = _overlap_iou(caches[k - 1], previous_lut, cache, shared, threshold)
            taken = set(lut.values())
            phrase = {shot: members[shot][0][1].phrase for shot in shot_ids}
            order = np.dstack(np.unravel_index(np.argsort(-iou, axis=None), iou.shape))[0] if iou.size else []
            for r, c in order:
                value = float(iou[r, c])
                if value < match_iou:
                    break
                shot, local = shot_ids[r], local_ids[c]
                if local in lut or shot in taken or phrase[shot] != cache.layer(local).phrase:
                    continue
                lut[local] = shot
                taken.add(shot)
                matched.append([shot, local, round(value, 4)])
            present = {shot for r, shot in enumerate(shot_ids) if iou.size and _present_in_shared(caches[k - 1], previous_lut, shot, shared, threshold)}
            by_look = _match_by_appearance(cache, lut, looks, members, taken | present, params)
            for shot, local, value in by_look:
                lut[local] = shot
                taken.add(shot)
        for local in cache.layer_ids:
            if local not in lut:
                lut[local] = next_id
                next_id += 1
            members.setdefault(lut[local], []).append((k, cache.layer(local)))
            if cache.appearance(local) is not None:
                looks[lut[local]] = cache.appearance(local)
        luts.append(lut)
        if k:
            boundaries.append({
                "chunks": [k - 1, k], "shared_frames": len(set(chunks[k - 1].frames) & set(chunk.frames)), "matched": matched,
                "matched_by_appearance": [[shot, local, round(value, 4)] for shot, local, value in by_look],
            })

    # shot layers: ids and names in order of (first chunk, creation there)
    order = sorted(members, key=lambda shot: (members[shot][0][0], members[shot][0][1].id))
    renumber = {shot: new for new, shot in enumerate(order, start=1)}
    infos = []
    counters: dict[str, int] = {}
    reserved = {info.name for shot in order for _, info in members[shot] if info.source == "interactive"}
    for shot in order:
        entries = members[shot]
        interactive = [info for _, info in entries if info.source == "interactive"]
        first = entries[0][1]
        if interactive:
            info = interactive[0]
            infos.append(LayerInfo(renumber[shot], info.name, info.phrase, info.created_frame, "interactive"))
            continue
        cls = class_name(first.phrase)
        while True:
            counters[cls] = counters.get(cls, 0) + 1
            name = layer_name(first.phrase, counters[cls])
            if name not in reserved:
                break
        infos.append(LayerInfo(renumber[shot], name, first.phrase, first.created_frame, "auto"))
    target.add_layers(infos)
    target.update_appearance({renumber[shot]: look for shot, look in looks.items()})

    for chunk, cache, lut in zip(chunks, caches, luts):
        table = np.zeros(max(lut, default=0) + 1, np.uint16)
        for local, shot in lut.items():
            table[local] = renumber[shot]
        for frame in chunk.owned:
            if not cache.has_frame(frame):
                continue
            ids = cache.id_map(frame)
            probs = cache.probability_map(frame)
            target.set_frame(frame, table[np.minimum(ids, len(table) - 1)], probs)
    before = len(target.layer_ids)
    target.compact(min_area=min_area)
    if target.directory is not None:
        target.flush()
    return {
        "chunks": len(chunks),
        "layers": len(target.layer_ids),
        "dropped_layers": before - len(target.layer_ids),
        "boundaries": boundaries,
    }


def track_chunks(
    tracker,
    frames,
    stage2: tracking.Stage2Source,
    params: tracking.TrackingParams,
    n: int,
    overlap: int | None = None,
    keyframes: Mapping[int, Mapping[int, Any]] | None = None,
    register: Any = None,
) -> tuple[MaskCache, dict[str, Any]]:
    """Chunked tracking in memory: each of the ``n`` chunks of ``frames``
    runs :func:`~SegmentationCore.pipeline.tracking.track_shot` into a cache
    of its own (compacted like a whole-shot run), then :func:`reconcile`.
    ``overlap`` defaults to one window. ``register(cache)``, if given, is
    called on each fresh chunk cache before tracking (interactive layers).
    Returns the reconciled cache and the reconcile summary."""
    overlap = params.window if overlap is None else int(overlap)
    parts = chunk_ranges(frames.frame_numbers, n, overlap, params.reprompt_every)
    caches = []
    for part in parts:
        cache = MaskCache(frames.size)
        if register is not None:
            register(cache)
        inside = set(part.frames)
        chunk_keyframes = {f: p for f, p in (keyframes or {}).items() if int(f) in inside}
        tracking.track_shot(tracker, FrameSubset(frames, part.frames), cache, stage2, params, chunk_keyframes)
        cache.compact(min_area=params.min_layer_area)
        caches.append(cache)
    target = MaskCache(frames.size)
    summary = reconcile(parts, caches, target, min_area=params.min_layer_area, params=params)
    return target, summary
