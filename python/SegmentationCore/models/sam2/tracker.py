"""SAM2 video tracking over the exported graphs, several objects per call.

Reproduces ``SAM2VideoPredictor`` (``add_new_points_or_box`` /
``add_new_mask`` on fresh frames, then ``propagate_in_video``) per object,
but runs all objects that share a memory layout through one batched call
of each graph (batch axis = objects), where ``sam2`` 1.1.0 loops over
objects one at a time.

Memory-bank rules (``SAM2Base._prepare_memory_conditioned_features``):

* every prompted frame of an object is a conditioning frame: its memory is
  attended with temporal index ``num_maskmem - 1``; its mask is binarised
  before the memory encoder;
* the ``num_maskmem - 1`` (6) most recent tracked frames in the tracking
  direction follow, frame ``f -/+ k`` with temporal index ``k - 1``;
* object pointers: conditioning frames in the past (signed offset
  ``(f - t) * direction``), then up to ``max_obj_ptrs - 1`` tracked frames
  (offset ``k``), normalised by ``min(num_frames, max_obj_ptrs) - 1``;
* an object with score <= 0 gets the ``-1024`` mask, the no-object pointer
  and (SAM2.1) the no-object spatial embedding;
* memories are kept in bfloat16 as ``SAM2VideoPredictor`` keeps them.

Frame indices are positions in ``frames.frame_numbers`` (the shot), so a
window of a long shot behaves as SAM2 on the whole shot with
``max_frame_num_to_track``. Only the memory window is kept: older tracked
frames are dropped as tracking moves on, so memory stays bounded.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, Mapping, Sequence

import numpy as np

from ...core.errors import PlateError, PromptError
from ...core.types import Prompt, TrackedFrame
from .heads import HeadOutput, choose, decode, mix_no_object_pointer, padded_points
from .model import Sam2Model
from .preprocess import (
    logits_to_probabilities,
    logits_to_size,
    mask_downsample,
    mask_input_to_logits,
    mask_to_input,
)
from .segmenter import prompt_mask_logits, prompt_points


def to_bfloat16(values: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), round to nearest even."""
    bits = np.ascontiguousarray(values, np.float32).view(np.uint32)
    rounding = ((bits >> 16) & 1) + np.uint32(0x7FFF)
    return ((bits + rounding) >> 16).astype(np.uint16)


def from_bfloat16(bits: np.ndarray) -> np.ndarray:
    return (np.asarray(bits, np.uint16).astype(np.uint32) << 16).view(np.float32)


@dataclasses.dataclass
class Sam2TrackedFrame(TrackedFrame):
    """A :class:`TrackedFrame` that also carries SAM2's low-res mask logits
    (``(K, s, s)``, before resizing to working resolution)."""

    low_res_logits: np.ndarray | None = None


@dataclasses.dataclass
class _Memory:
    """One object's output on one frame, as kept in the memory bank."""

    maskmem: np.ndarray | None  # (Cm, s, s) bfloat16 bits, None once out of the spatial window
    obj_ptr: np.ndarray  # (C,) float32


@dataclasses.dataclass
class _ObjectState:
    cond: dict[int, _Memory]  # frame index -> conditioning memory (insertion = prompt order)
    cond_outputs: dict[int, tuple[np.ndarray, float]]  # frame index -> (low-res logits, score)
    tracked: dict[int, _Memory]  # frame index -> non-conditioning memory


@dataclasses.dataclass(frozen=True)
class _Layout:
    """What one object attends to on one frame: memories and pointers."""

    memory_frames: tuple[tuple[str, int], ...]  # ("cond" | "tracked", frame index)
    memory_tpos: tuple[int, ...]
    pointer_frames: tuple[tuple[str, int], ...]
    pointer_tpos: tuple[int, ...]

    @property
    def group_key(self) -> tuple:
        return (self.memory_tpos, self.pointer_tpos)


class Sam2VideoTracker:
    """:class:`~SegmentationCore.core.protocols.VideoTracker` over a SAM2 model folder."""

    def __init__(self, model: Sam2Model, max_batch: int | None = None):
        self.model = model
        self.max_batch = max_batch  # objects per graph call (None: all that share a layout)

    # ------------------------------------------------------------------ API

    def track(
        self,
        frames,
        prompts: Mapping[int, Mapping[int, Prompt]],
        frame_order: Sequence[int],
    ) -> Iterator[TrackedFrame]:
        order = [int(f) for f in frame_order]
        shot = [int(f) for f in frames.frame_numbers]
        index_of = {frame: i for i, frame in enumerate(shot)}
        self._validate(frames, prompts, order, index_of)
        return self._run(frames, prompts, order, index_of, len(shot))

    # ------------------------------------------------------------------ checks

    @staticmethod
    def _validate(frames, prompts, order, index_of) -> None:
        if not prompts or not any(prompts.values()):
            raise PromptError("tracking needs at least one prompt (frame -> object id -> Prompt)")
        for frame in list(prompts) + order:
            if int(frame) not in index_of:
                raise PlateError(f"frame {frame} is not a frame of this shot ({len(index_of)} frames)")
        if not order:
            raise ValueError("frame_order is empty: give the frames to track")
        steps = np.diff([index_of[f] for f in order])
        if len(steps) and not (np.all(steps > 0) or np.all(steps < 0)):
            raise ValueError("frame_order must be strictly ascending (forward) or descending (backward)")
        height, width = frames.size
        for frame, objects in prompts.items():
            for object_id, prompt in objects.items():
                if not isinstance(prompt, Prompt):
                    raise PromptError(f"frame {frame}, object {object_id}: expected a Prompt, got {type(prompt).__name__}")
                if prompt.mask is not None and prompt.mask.shape != (height, width):
                    raise PromptError(
                        f"frame {frame}, object {object_id}: mask is {prompt.mask.shape[1]}x{prompt.mask.shape[0]}, "
                        f"the shot's working resolution is {width}x{height}"
                    )

    # ------------------------------------------------------------------ session

    def _run(self, frames, prompts, order, index_of, num_frames) -> Iterator[TrackedFrame]:
        model = self.model
        settings = model.settings
        height, width = frames.size
        object_ids = sorted({int(o) for objects in prompts.values() for o in objects})
        states = {o: _ObjectState({}, {}, {}) for o in object_ids}
        reverse = len(order) > 1 and index_of[order[1]] < index_of[order[0]]

        # 1. conditioning frames (SAM2: add_new_* then propagate_in_video_preflight)
        for frame in sorted(prompts, key=lambda f: index_of[int(f)]):
            objects = {int(o): p for o, p in prompts[frame].items()}
            if objects:
                self._condition(frames, int(frame), index_of[int(frame)], objects, states)

        # 2. propagation
        low = int(settings["low_res_mask_size"])
        for frame in order:
            index = index_of[frame]
            logits = np.empty((len(object_ids), low, low), np.float32)
            scores = np.empty(len(object_ids), np.float32)
            ious = np.full(len(object_ids), np.nan, np.float32)  # prompted frames: no prediction
            pending: dict[tuple, list[tuple[int, _Layout]]] = {}
            for row, object_id in enumerate(object_ids):
                state = states[object_id]
                if index in state.cond_outputs:
                    logits[row], scores[row] = state.cond_outputs[index]
                    continue
                layout = self._layout(state, index, reverse, num_frames)
                pending.setdefault(layout.group_key, []).append((row, layout))
            if pending:
                features = model.features(frames, frame)
                for members in pending.values():
                    for batch in self._batches(members):
                        head = self._track_batch(features, [states[object_ids[r]] for r, _ in batch], [l for _, l in batch], num_frames)
                        rows = [r for r, _ in batch]
                        logits[rows] = head.low_res_logits
                        scores[rows] = head.object_score
                        ious[rows] = head.iou
                        maskmem = self._encode_memory(features, head.low_res_logits, head.object_score, binarize=False)
                        for k, (row, _) in enumerate(batch):
                            states[object_ids[row]].tracked[index] = _Memory(to_bfloat16(maskmem[k]), head.obj_ptr[k])
            for state in states.values():
                self._prune(state, index, reverse)
            probabilities = logits_to_probabilities(logits, (height, width))
            yield Sam2TrackedFrame(frame, list(object_ids), probabilities, scores, ious, low_res_logits=logits)

    def _batches(self, members):
        if not self.max_batch:
            yield members
            return
        for start in range(0, len(members), self.max_batch):
            yield members[start: start + self.max_batch]

    # ------------------------------------------------------------------ conditioning

    def _condition(self, frames, frame: int, index: int, objects: Mapping[int, Prompt], states) -> None:
        """Outputs and memories of the objects prompted on one frame (batched)."""
        model = self.model
        size = frames.size
        low = int(model.settings["low_res_mask_size"])
        features = model.features(frames, frame)
        mask_only: list[int] = []
        by_points: dict[int, list[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]]] = {}
        mask_prompts: dict[int, np.ndarray] = {}
        for object_id, prompt in objects.items():
            coords, labels = prompt_points(model, prompt, size)
            if len(coords) == 0:
                # add_new_mask; low-res logits alone count as the mask (logits > 0)
                if prompt.mask is not None:
                    mask_prompts[object_id] = prompt.mask
                else:
                    logits = prompt_mask_logits(model, prompt, f"frame {frame}, object {object_id}")
                    mask_prompts[object_id] = logits_to_size(logits[None], size)[0] > 0
                mask_only.append(object_id)
                continue
            where = f"frame {frame}, object {object_id}"
            logits = prompt_mask_logits(model, prompt, where)
            if logits is not None:
                clamp = np.float32(model.settings["prompt_logit_clamp"])
                logits = np.clip(logits, -clamp, clamp)
            by_points.setdefault(len(coords), []).append((object_id, coords, labels, logits))

        results: list[tuple[int, np.ndarray, float, np.ndarray]] = []  # (object, low-res, score, pointer)
        if mask_only:
            head = self._mask_as_output(features, [mask_prompts[o] for o in mask_only])
            results += [(o, head.low_res_logits[k], head.object_score[k], head.obj_ptr[k]) for k, o in enumerate(mask_only)]
        if by_points:
            embed = model.image_embedding(features)
            for num_points, members in by_points.items():
                coords, labels = padded_points([m[1] for m in members], [m[2] for m in members])
                has_mask = np.array([m[3] is not None for m in members], np.float32)
                mask_input = None
                if has_mask.any():
                    mask_input = np.stack([m[3] if m[3] is not None else np.zeros((low, low), np.float32) for m in members])[:, None]
                outputs = decode(model, embed, features, coords, labels, mask_input, has_mask)
                multimask = np.full(len(members), model.use_multimask(True, num_points))
                head = choose(model, *outputs, multimask=multimask)
                results += [(m[0], head.low_res_logits[k], head.object_score[k], head.obj_ptr[k]) for k, m in enumerate(members)]

        low_res = np.stack([r[1] for r in results])
        scores = np.array([r[2] for r in results], np.float32)
        binarize = bool(model.settings["binarize_mask_from_pts_for_mem_enc"])
        maskmem = self._encode_memory(features, low_res, scores, binarize=binarize)
        for k, (object_id, logits, score, pointer) in enumerate(results):
            state = states[object_id]
            state.cond[index] = _Memory(to_bfloat16(maskmem[k]), pointer.astype(np.float32))
            state.cond_outputs[index] = (logits.astype(np.float32), float(score))
            state.tracked.pop(index, None)

    def _mask_as_output(self, features, masks: list[np.ndarray]) -> HeadOutput:
        """``SAM2Base._use_mask_as_output`` for a batch of mask prompts."""
        model = self.model
        s = model.settings
        low = int(s["low_res_mask_size"])
        mask_inputs = np.stack([mask_to_input(m, model.input_size) for m in masks])  # (B, S, S) binary
        low_res = mask_input_to_logits(mask_inputs, low, s["mask_as_output_scale"], s["mask_as_output_bias"])
        present = mask_inputs.reshape(len(masks), -1).max(axis=1) > 0
        score = (np.float32(s["mask_as_output_scale"]) * present.astype(np.float32) + np.float32(s["mask_as_output_bias"]))
        batch = len(masks)
        if s["use_obj_ptrs_in_encoder"]:
            downsampled = mask_downsample(
                mask_inputs, model.constants["mask_downsample_weight"], model.constants["mask_downsample_bias"]
            )
            coords, labels = padded_points([np.zeros((1, 2), np.float32)] * batch, [np.full(1, -1, np.int64)] * batch)
            _, _, obj_ptrs, decoder_scores = decode(
                model, features["pix_feat"], features, coords, labels, downsampled[:, None], np.ones(batch, np.float32)
            )
            obj_ptr = obj_ptrs[:, 0].astype(np.float32)  # single-mask output: token 0
            if s["pred_obj_scores"]:
                # _forward_sam_heads applies the decoder's own presence, then
                # _use_mask_as_output applies the mask's presence again
                decoder_scores = decoder_scores.reshape(batch).astype(np.float32)
                obj_ptr = mix_no_object_pointer(model, obj_ptr, decoder_scores > 0, decoder_scores)
                obj_ptr = mix_no_object_pointer(model, obj_ptr, present, score)
        else:
            obj_ptr = np.zeros((batch, int(s["hidden_dim"])), np.float32)
        return HeadOutput(low_res.astype(np.float32), np.ones(batch, np.float32), obj_ptr, score.astype(np.float32))

    # ------------------------------------------------------------------ tracking

    def _layout(self, state: _ObjectState, index: int, reverse: bool, num_frames: int) -> _Layout:
        s = self.model.settings
        num_maskmem = int(s["num_maskmem"])
        stride = int(s["memory_temporal_stride_for_eval"])
        selected, unselected = _select_closest_cond_frames(index, list(state.cond), int(s["max_cond_frames_in_attn"]))
        memory_frames = [("cond", t) for t in selected]
        memory_tpos = [num_maskmem - 1] * len(selected)
        for t_pos in range(1, num_maskmem):
            t_rel = num_maskmem - t_pos
            if t_rel == 1:
                prev = index + 1 if reverse else index - 1
            elif not reverse:
                prev = ((index - 2) // stride) * stride - (t_rel - 2) * stride
            else:
                prev = -(-(index + 2) // stride) * stride + (t_rel - 2) * stride
            entry = self._lookup(state, prev, unselected)
            if entry is not None and self._memory(state, entry).maskmem is not None:
                memory_frames.append(entry)
                memory_tpos.append(num_maskmem - t_pos - 1)

        pointer_frames: list[tuple[str, int]] = []
        pointer_tpos: list[int] = []
        if s["use_obj_ptrs_in_encoder"]:
            max_ptrs = min(num_frames, int(s["max_obj_ptrs_in_encoder"]))
            sign = -1 if reverse else 1
            if s["only_obj_ptrs_in_the_past_for_eval"]:
                ptr_cond = [t for t in selected if (t >= index if reverse else t <= index)]
            else:
                ptr_cond = list(selected)
            for t in ptr_cond:
                pointer_frames.append(("cond", t))
                pointer_tpos.append((index - t) * sign if s["use_signed_tpos_enc_to_obj_ptrs"] else abs(index - t))
            for t_diff in range(1, max_ptrs):
                t = index + t_diff if reverse else index - t_diff
                if t < 0 or t >= num_frames:
                    break
                entry = self._lookup(state, t, unselected)
                if entry is not None:
                    pointer_frames.append(entry)
                    pointer_tpos.append(t_diff)
        return _Layout(tuple(memory_frames), tuple(memory_tpos), tuple(pointer_frames), tuple(pointer_tpos))

    @staticmethod
    def _lookup(state: _ObjectState, t: int, unselected: list[int]) -> tuple[str, int] | None:
        if t in state.tracked:
            return ("tracked", t)
        if t in unselected:
            return ("cond", t)
        return None

    @staticmethod
    def _memory(state: _ObjectState, entry: tuple[str, int]) -> _Memory:
        kind, t = entry
        return state.cond[t] if kind == "cond" else state.tracked[t]

    def _track_batch(self, features, states: list[_ObjectState], layouts: list[_Layout], num_frames: int) -> HeadOutput:
        """Memory attention + decoder for objects that share one layout."""
        model = self.model
        s = model.settings
        layout = layouts[0]
        memory = np.stack([
            np.stack([from_bfloat16(self._memory(state, e).maskmem) for e in lay.memory_frames])
            for state, lay in zip(states, layouts)
        ])
        hidden = int(s["hidden_dim"])
        if layout.pointer_frames:
            pointers = np.stack([
                np.stack([self._memory(state, e).obj_ptr for e in lay.pointer_frames])
                for state, lay in zip(states, layouts)
            ]).astype(np.float32)
        else:
            pointers = np.zeros((len(states), 0, hidden), np.float32)
        t_diff_max = min(num_frames, int(s["max_obj_ptrs_in_encoder"])) - 1
        (conditioned,) = model.run(
            "memory_attention",
            pix_feat=features["pix_feat"],
            memory=memory,
            memory_tpos=np.asarray(layout.memory_tpos, np.int64),
            obj_ptrs=pointers,
            obj_ptr_tpos=np.asarray(layout.pointer_tpos, np.float32),
            obj_ptr_tpos_max=np.array([max(t_diff_max, 1)], np.float32),
        )
        batch = len(states)
        coords, labels = padded_points([np.zeros((1, 2), np.float32)] * batch, [np.full(1, -1, np.int64)] * batch)
        outputs = decode(model, conditioned, features, coords, labels, None, None)
        multimask = np.full(batch, model.use_multimask(False, 0))
        return choose(model, *outputs, multimask=multimask)

    def _encode_memory(self, features, low_res: np.ndarray, scores: np.ndarray, binarize: bool) -> np.ndarray:
        batch = len(low_res)
        (maskmem,) = self.model.run(
            "memory_encoder",
            pix_feat=features["pix_feat"],
            mask_logits=np.ascontiguousarray(low_res, np.float32)[:, None],
            object_score_logits=np.asarray(scores, np.float32).reshape(batch, 1),
            binarize=np.full(batch, 1.0 if binarize else 0.0, np.float32),
        )
        return maskmem

    def _prune(self, state: _ObjectState, index: int, reverse: bool) -> None:
        """Forget tracked frames the next frames can no longer attend to."""
        s = self.model.settings
        stride = int(s["memory_temporal_stride_for_eval"])
        keep_spatial = stride * (int(s["num_maskmem"]) - 1)  # frame f+1 reaches back at most stride * (num_maskmem - 2)
        keep_pointer = int(s["max_obj_ptrs_in_encoder"]) - 1 if s["use_obj_ptrs_in_encoder"] else 0
        for t in list(state.tracked):
            behind = (t - index) if reverse else (index - t)
            if behind > max(keep_spatial, keep_pointer):
                del state.tracked[t]
            elif behind > keep_spatial:
                state.tracked[t].maskmem = None


def _select_closest_cond_frames(index: int, cond_frames: list[int], max_cond: int) -> tuple[list[int], list[int]]:
    """``sam2_utils.select_closest_cond_frames`` on frame indices."""
    if max_cond == -1 or len(cond_frames) <= max_cond:
        return list(cond_frames), []
    selected: list[int] = []
    before = max((t for t in cond_frames if t < index), default=None)
    if before is not None:
        selected.append(before)
    after = min((t for t in cond_frames if t >= index), default=None)
    if after is not None:
        selected.append(after)
    remain = max_cond - len(selected)
    rest = sorted((t for t in cond_frames if t not in selected), key=lambda t: abs(t - index))[:remain]
    selected += rest
    return selected, [t for t in cond_frames if t not in selected]
