"""Stage 3: the mask-cache tracking loop, as small composable steps.

One *pass* walks the shot in one direction. Every ``reprompt_every`` frames
(and on interactive keyframes) it

1. matches that frame's stage-2 masks against the cache layers present
   there (:func:`match_stage2`): a direct match (IoU >= 0.9) keeps the
   layer and refreshes its prompt with the stage-2 mask; a mask overlapping
   (``Sim(S, C) >= overlap_sim``) more than one cache layer is discarded; a
   partial match (``max(Sim(S, C), Sim(C, S)) >= partial_match_sim`` with a
   single layer) keeps the layer and prompts it with the union of the cache
   layer and the stage-2 mask; anything else starts a new layer;
2. builds one prompt per layer from the cache plus the matches
   (:func:`build_prompts`); prompts are never written into the cache;
3. tracks a window of ``window`` frames from there (:func:`track_window`),
   batched over every layer, and merges each tracked frame into the cache
   with the ``epsilon`` overwrite rule (:func:`merge_into_cache`).

:func:`track_shot` runs the forward pass and then the backward pass from
the last frame (after a seed pass for interactive keyframes, see
:func:`pass_plan`). All state lives in the :class:`~SegmentationCore.pipeline.mask_cache.MaskCache`
passed in, so a caller (the Gaffer Track node, the pipeline) can run the
steps one by one.

``cache_rule`` chooses how tracked frames enter the cache: ``"paper"`` is
the paper's epsilon rule; ``"recent"`` lets the most recently prompted
evidence of a layer replace older evidence of it on a frame, which removes
pixels a drifted track wrote (see :meth:`MaskCache.apply_recent`);
``"guarded"`` (the default) merges like ``"recent"`` and guards identities
at re-prompts: one stage-2 mask per layer (a second one that looks like the
layer is a part of it), no other layer's fresh pixels in a cache prompt, and
re-identification of lost layers by position and appearance
(:mod:`.appearance`). See docs/pipeline.md.

``partial_match_sim`` is not given by the paper; 0.5 is chosen so that a
stage-2 mask that is (mostly) a part of a cache layer, or a cache layer that
is (mostly) a part of a stage-2 mask, keeps its identity, while a mask that
only grazes a layer starts a new one. See docs/pipeline.md.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from ..core import maskops
from ..core.types import Prompt, TrackedFrame
from . import appearance
from .mask_cache import LayerInfo, MaskCache
from .stage2 import Stage2Result

FORWARD = "forward"
BACKWARD = "backward"

DIRECT = "direct"
PARTIAL = "partial"
DISCARDED = "discarded"
NEW = "new"
REIDENTIFIED = "reidentified"  # guarded rule: an unmatched mask that continues a layer seen on a nearby frame or that it looks like
PART = "part"  # guarded rule: a second mask inside a layer that looks like it (a part box)
SUPERSEDED = "superseded"  # a stage-2 mask claimed by an interactive keyframe mask
TOO_SMALL = "too-small"

PAPER_RULE = "paper"  # M_P + epsilon <= V_P: probabilities only go up
RECENT_RULE = "recent"  # the most recently prompted evidence of a layer replaces older evidence
GUARDED_RULE = "guarded"  # recent, plus one stage-2 mask per layer and prompts that never hold another layer's fresh mask
CACHE_RULES = (PAPER_RULE, RECENT_RULE, GUARDED_RULE)


@dataclasses.dataclass
class TrackingParams:
    """Stage-3 parameters; defaults are the paper's where it gives them."""

    window: int = 20  # s_T: frames tracked from each re-prompt frame
    reprompt_every: int = 5  # s_P
    epsilon: float = 0.1  # overwrite rule: M_P + epsilon <= V_P
    direct_match_iou: float = 0.9
    partial_match_sim: float = 0.5  # not in the paper: see module docs
    overlap_sim: float = 0.1  # Sim(S, C) at which a stage-2 mask "overlaps" a layer
    mask_threshold: float = 0.5  # binarisation for IoU / Sim
    min_layer_area: int = 16  # pixels: smaller layers / masks are not prompted
    per_class: bool = True  # match stage-2 masks only against layers of the same phrase
    backward: bool = True  # run the backward pass after the forward one
    cache_rule: str = GUARDED_RULE  # how tracked frames enter the cache: guarded | paper | recent (see module docs)
    reid_iou: float = 0.5  # guarded rule: IoU with a layer on a nearby frame that re-identifies an unmatched mask
    # guarded rule, appearance (colour histogram similarity, pipeline/appearance.py):
    appearance_gate: float = 0.5  # a mask must look at least this much like a layer to re-identify it by position
    reid_appearance: float = 0.8  # ... to continue a lost layer by appearance alone
    appearance_margin: float = 0.1  # ... and this much more than like any other layer (lookalikes start new layers)
    part_appearance: float = 0.7  # a second mask inside a layer that looks this much like it is a part of it

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        if self.window < 1 or self.reprompt_every < 1:
            raise ValueError("window and reprompt_every must be at least 1")
        if self.reprompt_every > self.window:
            raise ValueError(
                f"reprompt_every ({self.reprompt_every}) must not exceed window ({self.window}), "
                "or frames between windows would never be tracked"
            )
        for name in ("appearance_gate", "reid_appearance", "appearance_margin", "part_appearance"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a colour-histogram similarity between 0 and 1, not {getattr(self, name)}")
        if self.cache_rule not in CACHE_RULES:
            raise ValueError(
                f"cache_rule must be one of {', '.join(repr(r) for r in CACHE_RULES)}, not {self.cache_rule!r}"
            )


@dataclasses.dataclass
class Match:
    """What one stage-2 mask became at a re-prompt frame."""

    index: int  # stage-2 mask index
    kind: str  # direct | partial | discarded | new | reidentified | part | superseded | too-small
    layer_id: int | None = None
    iou: float = 0.0  # best IoU against a cache layer
    sim: float = 0.0  # Sim used by the decision
    overlaps: list[int] = dataclasses.field(default_factory=list)  # layer ids overlapped

    @property
    def reason(self) -> str:
        if self.kind == DIRECT:
            return f"direct match with layer {self.layer_id} (IoU {self.iou:.2f})"
        if self.kind == PARTIAL:
            return f"partial match with layer {self.layer_id} (Sim {self.sim:.2f})"
        if self.kind == DISCARDED:
            return f"discarded: overlaps layers {', '.join(map(str, self.overlaps))}"
        if self.kind == NEW:
            return f"new layer {self.layer_id}"
        if self.kind == REIDENTIFIED and self.iou == 0.0:
            return f"re-identified as layer {self.layer_id} by appearance (similarity {self.sim:.2f})"
        if self.kind == REIDENTIFIED:
            return f"re-identified as layer {self.layer_id} (IoU {self.iou:.2f} on a nearby frame)"
        if self.kind == PART:
            return f"part of layer {self.layer_id} (looks like it: similarity {self.sim:.2f})"
        if self.kind == SUPERSEDED:
            return f"superseded by the interactive mask of layer {self.layer_id}"
        return "too small to track"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["reason"] = self.reason
        return data


@dataclasses.dataclass
class Matches:
    """All matches of one re-prompt frame, plus the layers they create."""

    frame: int
    entries: list[Match] = dataclasses.field(default_factory=list)
    new_layers: list[LayerInfo] = dataclasses.field(default_factory=list)  # register with cache.add_layers
    stage2: Stage2Result | None = None
    looks: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)  # fresh appearance: cache.update_appearance

    def by_layer(self) -> dict[int, list[Match]]:
        out: dict[int, list[Match]] = {}
        for entry in self.entries:
            if entry.layer_id is not None and entry.kind in (DIRECT, PARTIAL, NEW, REIDENTIFIED):
                out.setdefault(entry.layer_id, []).append(entry)
        return out

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry in self.entries:
            counts[entry.kind] = counts.get(entry.kind, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "entries": [e.to_dict() for e in self.entries],
            "new_layers": [info.to_dict() for info in self.new_layers],
        }


# ---------------------------------------------------------------------------- schedule


def window_frames(frame_numbers: Sequence[int], start_frame: int, direction: str, window: int) -> list[int]:
    """The frames one window visits, starting at ``start_frame``."""
    frame_numbers = list(frame_numbers)
    position = frame_numbers.index(int(start_frame))
    if direction == FORWARD:
        return frame_numbers[position:position + window]
    if direction == BACKWARD:
        return frame_numbers[max(0, position - window + 1):position + 1][::-1]
    raise ValueError(f"direction must be {FORWARD!r} or {BACKWARD!r}, not {direction!r}")


def reprompt_frames(
    frame_numbers: Sequence[int],
    params: TrackingParams,
    direction: str = FORWARD,
    keyframes: Iterable[int] = (),
) -> list[int]:
    """Where windows start in one pass: every ``reprompt_every`` frames from
    the pass's first frame, plus interactive keyframes, in pass order."""
    ordered = list(frame_numbers) if direction == FORWARD else list(frame_numbers)[::-1]
    if direction not in (FORWARD, BACKWARD):
        raise ValueError(f"direction must be {FORWARD!r} or {BACKWARD!r}, not {direction!r}")
    chosen = set(ordered[::params.reprompt_every]) | ({int(k) for k in keyframes} & set(ordered))
    return [f for f in ordered if f in chosen]


def stage2_frames(frame_numbers: Sequence[int], params: TrackingParams, keyframes: Iterable[int] = ()) -> list[int]:
    """Every frame where some pass re-prompts: the frames stages 1 and 2 must run on."""
    keyframes = list(keyframes)
    frames = set(reprompt_frames(frame_numbers, params, FORWARD, keyframes))
    if params.backward:
        frames |= set(reprompt_frames(frame_numbers, params, BACKWARD, keyframes))
    return sorted(frames)


# ---------------------------------------------------------------------------- steps


def _present_layers(cache: MaskCache, frame: int, params: TrackingParams) -> dict[int, np.ndarray]:
    areas = cache.layer_areas(frame, params.mask_threshold)
    keep = [i for i, area in areas.items() if area >= params.min_layer_area]
    return cache.layer_masks(frame, keep)


def match_stage2(
    cache: MaskCache,
    frame: int,
    stage2_result: Stage2Result | None,
    params: TrackingParams | None = None,
    overrides: Mapping[int, np.ndarray] | None = None,
    image: np.ndarray | None = None,
) -> Matches:
    """Match one frame's stage-2 masks against the cache layers on that frame.

    Pure: nothing is written. New layers are *proposed* in
    ``Matches.new_layers`` with the next free ids; register them with
    ``cache.add_layers(matches.new_layers)`` before tracking.
    ``overrides`` ``{layer id: mask}`` are interactive keyframe masks: a
    stage-2 mask that matches one of them is superseded by it.
    ``image`` (the frame, ``guarded`` rule) lets appearance decide parts and
    re-identification (:mod:`.appearance`); ``Matches.looks`` then holds
    the fresh looks to blend in with ``cache.update_appearance``.
    """
    params = params or TrackingParams()
    frame = int(frame)
    matches = Matches(frame, stage2=stage2_result)
    if stage2_result is None or len(stage2_result) == 0:
        return matches
    layers = _present_layers(cache, frame, params)
    overrides = {int(k): np.asarray(v, np.float32) for k, v in (overrides or {}).items()}
    layers.update(overrides)
    layer_ids = sorted(layers)
    masks = stage2_result.masks
    threshold = params.mask_threshold
    binary = masks >= threshold
    areas = binary.reshape(len(masks), -1).sum(axis=1)
    if layer_ids:
        stack = np.stack([layers[i] for i in layer_ids])
        iou = maskops.iou_matrix(binary, stack, threshold)
        sim_sc = maskops.similarity_matrix(binary, stack, threshold)  # share of S inside C
        sim_cs = maskops.similarity_matrix(stack, binary, threshold).T  # share of C inside S
        if params.per_class:
            phrase = {i: (cache.layer(i).phrase if i in cache.layer_ids else None) for i in layer_ids}
            same = np.array([[phrase[i] in (None, label) for i in layer_ids] for label in stage2_result.labels], bool)
            iou = np.where(same, iou, 0.0)
            sim_sc = np.where(same, sim_sc, 0.0)
            sim_cs = np.where(same, sim_cs, 0.0)
    else:
        iou = sim_sc = sim_cs = np.zeros((len(masks), 0))

    new_indices: list[int] = []
    direct_best: dict[int, tuple[float, int]] = {}
    for i in range(len(masks)):
        if areas[i] < params.min_layer_area:
            matches.entries.append(Match(i, TOO_SMALL))
            continue
        entry = Match(i, NEW)
        if layer_ids:
            best = int(np.argmax(iou[i]))
            entry.iou = float(iou[i, best])
            overlapped = [layer_ids[k] for k in np.flatnonzero(sim_sc[i] >= params.overlap_sim)]
            entry.overlaps = overlapped
            if entry.iou >= params.direct_match_iou:
                entry.kind, entry.layer_id, entry.sim = DIRECT, layer_ids[best], float(sim_sc[i, best])
            elif len(overlapped) > 1:
                entry.kind = DISCARDED
                entry.sim = float(sim_sc[i].max())
            else:
                both = np.maximum(sim_sc[i], sim_cs[i])
                candidates = np.flatnonzero(both >= params.partial_match_sim)
                if overlapped:
                    candidates = [k for k in candidates if layer_ids[k] == overlapped[0]] or []
                if len(candidates):
                    k = max(candidates, key=lambda c: both[c])
                    entry.kind, entry.layer_id, entry.sim = PARTIAL, layer_ids[k], float(both[k])
        if entry.layer_id is not None and entry.layer_id in overrides:
            entry.kind = SUPERSEDED
        if entry.kind == DIRECT:
            previous = direct_best.get(entry.layer_id)
            if previous is not None and previous[0] >= entry.iou:
                entry.kind = PARTIAL  # a second direct match joins as a partial one
            else:
                if previous is not None:
                    matches.entries[previous[1]].kind = PARTIAL
                direct_best[entry.layer_id] = (entry.iou, len(matches.entries))
        if entry.kind == NEW:
            new_indices.append(len(matches.entries))
        matches.entries.append(entry)

    if params.cache_rule == GUARDED_RULE:
        looks = [appearance.colour_histogram(image, b) for b in binary] if image is not None else [None] * len(binary)
        new_indices = sorted(new_indices + _split_shared_layers(cache, matches.entries, looks, params))
        new_indices = _reidentify(cache, frame, matches.entries, new_indices, binary, stage2_result.labels, params, set(overrides), looks)
        new_indices = _reidentify_by_appearance(matches.entries, new_indices, stage2_result.labels, params, set(overrides) | set(layer_ids), looks, cache)
    proposed = cache.propose_layers([stage2_result.labels[matches.entries[k].index] for k in new_indices], frame)
    for k, info in zip(new_indices, proposed):
        matches.entries[k].layer_id = info.id
    matches.new_layers = proposed
    if params.cache_rule == GUARDED_RULE:
        for layer_id, entries in matches.by_layer().items():
            if len(entries) == 1 and entries[0].kind in (DIRECT, NEW, REIDENTIFIED) and looks[entries[0].index] is not None:
                matches.looks[layer_id] = looks[entries[0].index]
    return matches


def _split_shared_layers(
    cache: MaskCache, entries: list[Match], looks: Sequence[np.ndarray | None], params: TrackingParams,
) -> list[int]:
    """``guarded`` rule: a layer keeps only the stage-2 mask that fits it best
    (highest IoU). Every other mask matched to it that looks like the layer
    (``part_appearance``) is a part of it and is left out; the rest are
    objects of their own (a drifted layer grew over them) and become new
    layers. Returns the positions of the entries turned into new layers."""
    by_layer: dict[int, list[int]] = {}
    for position, entry in enumerate(entries):
        if entry.kind in (DIRECT, PARTIAL) and entry.layer_id is not None:
            by_layer.setdefault(entry.layer_id, []).append(position)
    split = []
    for positions in by_layer.values():
        if len(positions) < 2:
            continue
        keep = max(positions, key=lambda k: entries[k].iou)
        for position in positions:
            if position == keep:
                continue
            entry = entries[position]
            look = appearance.similarity(looks[entry.index], cache.appearance(entry.layer_id))
            if look is not None and look >= params.part_appearance:
                entry.kind, entry.sim = PART, look
                continue
            entry.kind, entry.layer_id = NEW, None
            split.append(position)
    return split


def _reidentify(
    cache: MaskCache, frame: int, entries: list[Match], new_indices: list[int], binary: np.ndarray,
    labels: Sequence[str], params: TrackingParams, excluded: set[int], looks: Sequence[np.ndarray | None],
) -> list[int]:
    """``guarded`` rule: re-identification from the cache's nearby frames.

    An unmatched stage-2 mask continues a layer instead of starting a new
    one when it overlaps (IoU, or the share of the layer inside it, >=
    ``reid_iou``) where that layer would be now: the layer's mask on its
    frames within ``window`` frames either way, nearest first, moved with
    the velocity of its centroid there (:func:`_predict`). Only layers that no
    other mask matches on this frame qualify (the tracker lost them behind
    an occluder, or their track left the object), and only if the mask does
    not look unlike the layer (``appearance_gate``; a neighbour in the
    crowd is where the lost layer would be, but it is another object).
    Returns the entries that still start new layers."""
    if not new_indices:
        return new_indices
    claimed = {e.layer_id for e in entries if e.kind in (DIRECT, PARTIAL)} | excluded
    remaining = list(new_indices)
    for distance in range(1, params.window + 1):
        if not remaining:
            break
        for neighbour in (frame - distance, frame + distance):
            if not cache.has_frame(neighbour) or not remaining:
                continue
            layers = {i: m for i, m in cache.layer_masks(neighbour).items() if i not in claimed and i in cache.layer_ids}
            predicted = {i: _predict(cache, m >= params.mask_threshold, i, neighbour, frame, params) for i, m in layers.items()}
            layer_ids = sorted(i for i, m in predicted.items() if m is not None)
            if not layer_ids:
                continue
            moved = [predicted[i] for i in layer_ids]
            candidates = binary[[entries[k].index for k in remaining]]
            iou = maskops.iou_matrix(candidates, np.stack(moved))
            inside = maskops.similarity_matrix(np.stack(moved), candidates).T  # share of the layer inside S
            big = np.array([m.sum() for m in moved])[None, :] >= 0.25 * candidates.reshape(len(candidates), -1).sum(axis=1)[:, None]
            iou = np.maximum(iou, np.where(big, inside, 0.0))
            for row, position in enumerate(remaining):
                for column, layer_id in enumerate(layer_ids):
                    look = appearance.similarity(looks[entries[position].index], cache.appearance(layer_id))
                    if look is not None and look < params.appearance_gate:
                        iou[row, column] = 0.0
            for row in np.argsort(-iou.max(axis=1)):
                position = remaining[row]
                best = int(np.argmax(iou[row]))
                layer_id = layer_ids[best]
                if iou[row, best] < params.reid_iou or layer_id in claimed:
                    continue
                if params.per_class and cache.layer(layer_id).phrase != labels[entries[position].index]:
                    continue
                entries[position].kind, entries[position].layer_id, entries[position].iou = REIDENTIFIED, layer_id, float(iou[row, best])
                claimed.add(layer_id)
            remaining = [k for k in remaining if entries[k].kind == NEW]
    return remaining


def _reidentify_by_appearance(
    entries: list[Match], new_indices: list[int], labels: Sequence[str],
    params: TrackingParams, present: set[int], looks: Sequence[np.ndarray | None], cache: MaskCache,
) -> list[int]:
    """``guarded`` rule: an unmatched mask that no nearby position explains
    (an object back after leaving the frame or a long occlusion) continues
    the layer it looks like, if that layer is lost (absent from this frame
    and matched by no other mask), the similarity is at least
    ``reid_appearance`` and it beats every other layer of the class by
    ``appearance_margin`` (in a crowd of lookalikes nothing is guessed).
    ``present``: the layers on this frame and the interactive ones, which
    never qualify. Best pairs first. Returns the entries that still start
    new layers."""
    if not new_indices:
        return new_indices
    claimed = {e.layer_id for e in entries if e.kind in (DIRECT, PARTIAL, REIDENTIFIED)}
    new = {k: looks[entries[k].index] for k in new_indices if looks[entries[k].index] is not None}
    known = {i: cache.appearance(i) for i in cache.layer_ids if cache.appearance(i) is not None}
    same_class = lambda k, i: not params.per_class or cache.layer(i).phrase == labels[entries[k].index]  # noqa: E731
    for position, layer_id, value in appearance.continue_by_appearance(
        new, known, claimed | present, params.reid_appearance, params.appearance_margin, same_class,
    ):
        entries[position].kind, entries[position].layer_id = REIDENTIFIED, layer_id
        entries[position].iou, entries[position].sim = 0.0, float(value)
    return [k for k in new_indices if entries[k].kind == NEW]


def _centroid(mask: np.ndarray) -> np.ndarray | None:
    rows, cols = np.nonzero(mask)
    return None if len(rows) == 0 else np.array([rows.mean(), cols.mean()])


def _predict(cache: MaskCache, mask: np.ndarray, layer_id: int, seen: int, frame: int, params: TrackingParams) -> np.ndarray | None:
    """A layer's mask on frame ``seen`` moved to ``frame`` with the velocity
    of its centroid over the 1-3 frames beyond ``seen`` (constant motion).
    ``None`` when the layer is two or more frames away and has no frame
    beyond to measure its motion: a stale position says nothing."""
    step = 1 if seen > frame else -1
    here = _centroid(mask)
    if here is None:
        return None
    if abs(seen - frame) < 2:
        return mask
    for back in (3, 2, 1):
        other = seen + step * back
        if cache.has_frame(other):
            there = _centroid(cache.id_map(other) == layer_id)
            if there is not None:
                shift = (here - there) / back * abs(seen - frame)
                return _shift_mask(mask, int(round(shift[0])), int(round(shift[1])))
    return None


def _shift_mask(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    out = np.zeros_like(mask)
    height, width = mask.shape
    if abs(dy) >= height or abs(dx) >= width:
        return out
    out[max(0, dy):height - max(0, -dy), max(0, dx):width - max(0, -dx)] = mask[max(0, -dy):height - max(0, dy), max(0, -dx):width - max(0, dx)]
    return out


def build_prompts(
    cache: MaskCache,
    frame: int,
    matches: Matches | None = None,
    params: TrackingParams | None = None,
    overrides: Mapping[int, Prompt] | None = None,
) -> dict[int, Prompt]:
    """One prompt per layer for a window starting at ``frame``.

    Every layer present in the cache there is prompted with its cache mask;
    a direct match replaces it with the stage-2 mask, partial matches with
    the union of the cache mask and the stage-2 masks; new layers get their
    stage-2 mask; ``overrides`` (interactive keyframes) win over all of it.
    Nothing is written to the cache.
    """
    params = params or TrackingParams()
    prompts: dict[int, Prompt] = {}
    present = _present_layers(cache, frame, params)
    if params.cache_rule == GUARDED_RULE and matches is not None and matches.stage2 is not None:
        present = _without_other_fresh_masks(present, matches, params.mask_threshold)
    for layer_id, mask in present.items():
        prompts[layer_id] = Prompt(mask=mask)
    if matches is not None and matches.stage2 is not None:
        stage2 = matches.stage2
        for layer_id, entries in matches.by_layer().items():
            kinds = {e.kind for e in entries}
            if len(entries) == 1 and kinds <= {DIRECT, NEW, REIDENTIFIED}:
                index = entries[0].index
                if stage2.prompts is not None and stage2.prompts[index] is not None:
                    prompts[layer_id] = stage2.prompts[index]
                else:
                    prompts[layer_id] = Prompt(mask=stage2.masks[index])
                continue
            union = present.get(layer_id, np.zeros(cache.size, np.float32)).copy()
            for entry in entries:
                np.maximum(union, stage2.masks[entry.index], out=union)
            prompts[layer_id] = Prompt(mask=union)
    for layer_id, prompt in (overrides or {}).items():
        prompts[int(layer_id)] = prompt
    return prompts


def _without_other_fresh_masks(present: dict[int, np.ndarray], matches: Matches, threshold: float) -> dict[int, np.ndarray]:
    """``guarded`` rule: a layer's cache mask, used as (part of) its prompt,
    loses the pixels that a stage-2 mask matched to *another* layer (or
    starting one) covers, so a drifted layer cannot drag a neighbour along."""
    owners = matches.by_layer()
    out = {}
    for layer_id, mask in present.items():
        others = [matches.stage2.masks[e.index] >= threshold for other, entries in owners.items() if other != layer_id for e in entries]
        if others:
            mask = np.where(np.logical_or.reduce(others), 0.0, mask).astype(np.float32)
        out[layer_id] = mask
    return out


def merge_into_cache(
    cache: MaskCache,
    tracked_frame: TrackedFrame,
    params: TrackingParams | None = None,
    ages: Mapping[int, float] | None = None,
) -> int:
    """Write one tracked frame into the cache with ``params.cache_rule``.

    ``paper``: the epsilon overwrite rule. Objects the tracker reports as
    not visible (score <= 0) are skipped; where objects overlap, the most
    probable one is the candidate for the pixel. ``recent``: the same, but
    through :meth:`MaskCache.apply_recent` with ``ages`` ``{layer id:
    frames since its last fresh prompt}`` (missing layers count as age 0).
    Returns the number of cache pixels that changed.
    """
    params = params or TrackingParams()
    probabilities = np.asarray(tracked_frame.probabilities, np.float32)
    scores = np.asarray(tracked_frame.object_scores).reshape(-1)
    visible = np.flatnonzero(scores > 0)
    if len(visible) == 0:
        return 0
    ids = np.asarray(tracked_frame.object_ids, np.int64)[visible]
    stack = probabilities[visible]
    if params.cache_rule in (RECENT_RULE, GUARDED_RULE):
        object_ages = [float((ages or {}).get(int(i), 0.0)) for i in ids]
        return cache.apply_recent(tracked_frame.frame, ids, stack, object_ages, params.epsilon)
    if params.cache_rule != PAPER_RULE:
        params.validate()
    best = np.argmax(stack, axis=0)
    best_p = np.take_along_axis(stack, best[None], axis=0)[0]
    candidate_ids = np.where(best_p > 0, ids[best], 0).astype(np.uint16)
    return cache.apply(tracked_frame.frame, candidate_ids, best_p, params.epsilon)


@dataclasses.dataclass
class WindowResult:
    start_frame: int
    direction: str
    frames: list[int]
    objects: list[int]
    changed_pixels: int


def track_window(
    tracker,
    frames,
    cache: MaskCache,
    start_frame: int,
    prompts: Mapping[int, Prompt],
    direction: str = FORWARD,
    params: TrackingParams | None = None,
    extra_prompts: Mapping[int, Mapping[int, Prompt]] | None = None,
    prompt_ages: Mapping[int, float] | None = None,
    on_frame: Callable[[TrackedFrame, int], None] | None = None,
) -> WindowResult:
    """Track every prompted layer through one window (one batched tracker
    session) and merge each frame into the cache.

    ``prompt_ages`` ``{layer id: age}`` (``recent`` cache rule only) is how
    old each prompt's evidence is (0, the default, for a stage-2 or
    interactive mask; see :func:`prompt_ages`); a tracked frame's evidence is
    that plus the number of frames propagated. Extra prompts restart at 0.
    ``on_frame(tracked, step)`` sees each tracked frame after it is merged
    (quality control, :mod:`~SegmentationCore.pipeline.qc`).
    """
    params = params or TrackingParams()
    order = window_frames(frames.frame_numbers, start_frame, direction, params.window)
    result = WindowResult(int(start_frame), direction, [], sorted(prompts), 0)
    if not prompts:
        return result
    unknown = [i for i in prompts if i not in cache.layer_ids]
    if unknown:
        raise ValueError(f"prompts for layers {unknown} that the cache does not know; register them first")
    session_prompts: dict[int, Mapping[int, Prompt]] = {int(start_frame): dict(prompts)}
    for frame, more in (extra_prompts or {}).items():
        if int(frame) in order and int(frame) != int(start_frame):
            session_prompts[int(frame)] = dict(more)
    expected = iter(order)
    anchors = {int(i): (0, float((prompt_ages or {}).get(int(i), 0.0))) for i in prompts}  # layer -> (step, age)
    for step, tracked in enumerate(tracker.track(frames, session_prompts, order)):
        want = next(expected, None)
        if tracked.frame != want:
            raise RuntimeError(f"the tracker returned frame {tracked.frame}, expected {want}")
        ages = None
        if params.cache_rule != PAPER_RULE:
            if step:
                anchors.update({int(i): (step, 0.0) for i in session_prompts.get(int(tracked.frame), {})})
            ages = {i: age + (step - start) for i, (start, age) in anchors.items()}
        result.changed_pixels += merge_into_cache(cache, tracked, params, ages)
        result.frames.append(tracked.frame)
        if on_frame is not None:
            on_frame(tracked, step)
    return result


def prompt_ages(
    cache: MaskCache,
    frame: int,
    prompts: Mapping[int, Prompt],
    matches: Matches | None = None,
    overrides: Mapping[int, Prompt] | None = None,
) -> dict[int, float]:
    """How old the evidence behind each prompt of a window is (``recent`` rule).

    0 for a layer prompted with a stage-2 mask alone (a direct match or a
    new layer) or an interactive keyframe. Every other layer is prompted
    with its cache mask (a partial match: with the union of the cache mask
    and stage-2 masks), so its age is the age of the cache's evidence on
    ``frame`` (``inf`` if unknown). Counting partial matches as fresh lets
    a union that grew over a neighbour replace good evidence: 0.831 instead
    of 0.897 J&F forward + backward on the ``faulty`` benchmark.
    """
    fresh = set()
    if matches is not None:
        fresh = {i for i, entries in matches.by_layer().items() if all(e.kind in (DIRECT, NEW, REIDENTIFIED) for e in entries) and len(entries) == 1}
    fresh |= {int(i) for i in (overrides or {})}
    return {int(i): 0.0 if int(i) in fresh else cache.evidence_age(frame, int(i)) for i in prompts}


# ---------------------------------------------------------------------------- passes


Stage2Source = Callable[[int], "Stage2Result | None"] | Mapping[int, Stage2Result] | None


def _stage2_at(source: Stage2Source, frame: int) -> Stage2Result | None:
    if source is None:
        return None
    if callable(source):
        return source(frame)
    return source.get(frame)


@dataclasses.dataclass
class PassResult:
    direction: str
    windows: list[WindowResult] = dataclasses.field(default_factory=list)
    matches: list[Matches] = dataclasses.field(default_factory=list)


def run_pass(
    tracker,
    frames,
    cache: MaskCache,
    stage2: Stage2Source,
    params: TrackingParams | None = None,
    direction: str = FORWARD,
    keyframes: Mapping[int, Mapping[int, Prompt]] | None = None,
    skip_windows: int = 0,
    on_window: Callable[[int, int, Matches, WindowResult], None] | None = None,
    on_frame: Callable[[int, TrackedFrame, int], None] | None = None,
) -> PassResult:
    """One pass over the shot in ``direction``.

    ``stage2`` gives the stage-2 result of a frame (mapping or callable;
    ``None`` or a missing frame means no stage-2 masks there, e.g.
    interactive-only). ``keyframes`` ``{frame: {layer id: Prompt}}`` are
    interactive prompts (their layers must be registered); they start
    windows of their own and win over everything on their frame.
    ``skip_windows`` resumes after that many windows (farm retries);
    ``on_window(index, total, matches, window)`` is called after each one,
    ``on_frame(window start, tracked, step)`` after each tracked frame.
    """
    params = params or TrackingParams()
    params.validate()
    keyframes = {int(f): dict(p) for f, p in (keyframes or {}).items()}
    schedule = reprompt_frames(frames.frame_numbers, params, direction, keyframes)
    result = PassResult(direction)
    for index, frame in enumerate(schedule):
        if index < skip_windows:
            continue
        overrides = keyframes.get(frame, {})
        override_masks = {k: p.mask for k, p in overrides.items() if p.mask is not None}
        found = _stage2_at(stage2, frame)
        image = frames.image(frame) if params.cache_rule == GUARDED_RULE and found is not None and len(found) else None
        matches = match_stage2(cache, frame, found, params, override_masks, image)
        cache.add_layers(matches.new_layers)
        cache.update_appearance(matches.looks)
        prompts = build_prompts(cache, frame, matches, params, overrides)
        ages = prompt_ages(cache, frame, prompts, matches, overrides) if params.cache_rule != PAPER_RULE else None
        frame_hook = None if on_frame is None else (lambda tracked, step, start=frame: on_frame(start, tracked, step))
        window = track_window(tracker, frames, cache, frame, prompts, direction, params, prompt_ages=ages, on_frame=frame_hook)
        if on_window is not None:
            on_window(index, len(schedule), matches, window)
        # keep the decisions, not the stage-2 pixels: memory must not grow with the shot
        matches.stage2 = None
        result.windows.append(window)
        result.matches.append(matches)
    return result


def pass_plan(params: TrackingParams, keyframes: Iterable[int] = (), automatic: bool = True) -> list[tuple[str, str, bool]]:
    """The passes of a shot as ``(name, direction, uses stage 2)``.

    With interactive keyframes *and* automatic layers, a ``seed`` pass runs
    first: a backward pass prompted only by the keyframes, so the clicked
    objects are in the cache on the frames before their keyframes and the
    automatic forward pass matches them instead of starting duplicates.
    (Windows without prompts cost nothing.) Then ``forward`` and, if
    ``params.backward``, ``backward``.
    """
    plan = []
    if automatic and list(keyframes):
        plan.append(("seed", BACKWARD, False))
    plan.append((FORWARD, FORWARD, True))
    if params.backward:
        plan.append((BACKWARD, BACKWARD, True))
    return plan


def track_shot(
    tracker,
    frames,
    cache: MaskCache,
    stage2: Stage2Source,
    params: TrackingParams | None = None,
    keyframes: Mapping[int, Mapping[int, Prompt]] | None = None,
    on_window: Callable[[str, int, int, Matches, WindowResult], None] | None = None,
) -> list[PassResult]:
    """Every pass of :func:`pass_plan`: (seed,) forward, backward."""
    params = params or TrackingParams()
    results = []
    for name, direction, uses_stage2 in pass_plan(params, keyframes or {}, stage2 is not None):
        callback = None
        if on_window is not None:
            callback = lambda i, n, m, w, name=name: on_window(name, i, n, m, w)  # noqa: E731
        source = stage2 if uses_stage2 else None
        results.append(run_pass(tracker, frames, cache, source, params, direction, keyframes, on_window=callback))
    return results
