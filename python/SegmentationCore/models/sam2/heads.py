"""SAM2's prompt/decoder logic around the ``mask_decoder`` graph, in numpy.

The graph returns all four mask tokens; here we choose as
``SAM2Base._forward_sam_heads`` and ``MaskDecoder`` do:

* multimask output (ambiguous prompts): the best of tokens 1-3 by predicted
  IoU, whose token also gives the object pointer if the model says so;
* single-mask output: token 0, or - when its stability score (IoU of the
  mask thresholded at +-delta) is below the threshold - the best multimask
  token (``dynamic_multimask_via_stability``); the pointer stays token 0;
* object presence: score <= 0 gives the ``NO_OBJ_SCORE`` (-1024) mask and
  the learned no-object pointer.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .model import Sam2Model


@dataclasses.dataclass
class HeadOutput:
    """Chosen decoder outputs for a batch of B prompts / objects."""

    low_res_logits: np.ndarray  # (B, h, w) float32
    iou: np.ndarray  # (B,) predicted IoU of the chosen mask
    obj_ptr: np.ndarray  # (B, C) object pointer (no-object handling applied)
    object_score: np.ndarray  # (B,) presence logits


def stability_scores(logits: np.ndarray, delta: float) -> np.ndarray:
    """(B, h, w) logits -> (B,) area(l > delta) / area(l > -delta) (1 if empty)."""
    flat = logits.reshape(len(logits), -1)
    inner = np.count_nonzero(flat > delta, axis=1).astype(np.float32)
    outer = np.count_nonzero(flat > -delta, axis=1).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(outer > 0, inner / np.maximum(outer, 1), np.float32(1.0)).astype(np.float32)


def choose(
    model: Sam2Model,
    masks: np.ndarray,
    ious: np.ndarray,
    obj_ptrs: np.ndarray,
    object_scores: np.ndarray,
    multimask: np.ndarray,
    apply_no_object: bool = True,
) -> HeadOutput:
    """Apply SAM2's mask choice to raw ``mask_decoder`` outputs.

    ``masks`` (B, 4, h, w), ``ious`` (B, 4), ``obj_ptrs`` (B, 4, C),
    ``object_scores`` (B, 1), ``multimask`` (B,) bools.
    """
    s = model.settings
    batch = len(masks)
    rows = np.arange(batch)
    multimask = np.asarray(multimask, bool).reshape(batch)
    best_multi = 1 + np.argmax(ious[:, 1:], axis=1)
    chosen = np.zeros(batch, np.int64)
    chosen[multimask] = best_multi[multimask]
    single = ~multimask
    if s["dynamic_multimask_via_stability"] and single.any():
        stable = stability_scores(masks[single, 0], s["dynamic_multimask_stability_delta"]) >= np.float32(
            s["dynamic_multimask_stability_thresh"]
        )
        chosen[single] = np.where(stable, 0, best_multi[single])
    pointer_token = np.where(multimask & bool(s["use_multimask_token_for_obj_ptr"]), chosen, 0)

    low_res = masks[rows, chosen].astype(np.float32)
    iou = ious[rows, chosen].astype(np.float32)
    obj_ptr = obj_ptrs[rows, pointer_token].astype(np.float32)
    score = object_scores.reshape(batch).astype(np.float32)

    if s["pred_obj_scores"]:
        present = score > 0
        if apply_no_object:
            low_res = np.where(present[:, None, None], low_res, np.float32(s["no_obj_score"])).astype(np.float32)
        if s["use_obj_ptrs_in_encoder"]:
            obj_ptr = mix_no_object_pointer(model, obj_ptr, present, score)
    return HeadOutput(low_res, iou, obj_ptr, score)


def mix_no_object_pointer(model: Sam2Model, obj_ptr: np.ndarray, present: np.ndarray, score: np.ndarray) -> np.ndarray:
    """``obj_ptr = lambda * obj_ptr + (1 - lambda) * no_obj_ptr`` as SAM2 (lambda = presence)."""
    s = model.settings
    if s["soft_no_obj_ptr"]:
        weight = (1.0 / (1.0 + np.exp(-score.astype(np.float64)))).astype(np.float32)[:, None]
    else:
        weight = present.astype(np.float32)[:, None]
    if s["fixed_no_obj_ptr"]:
        obj_ptr = weight * obj_ptr
    return (obj_ptr + (np.float32(1.0) - weight) * model.constants["no_obj_ptr"][None, :]).astype(np.float32)


def padded_points(coords: list[np.ndarray], labels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack prompts that all have P points, appending SAM2's padding point
    ``(0, 0)`` with label -1 when ``P > 0`` (prompt encoder ``pad=True``)."""
    count = len(coords[0])
    batch = len(coords)
    if count == 0:
        return np.zeros((batch, 0, 2), np.float32), np.zeros((batch, 0), np.int64)
    point_coords = np.zeros((batch, count + 1, 2), np.float32)
    point_labels = np.full((batch, count + 1), -1, np.int64)
    for row, (c, l) in enumerate(zip(coords, labels)):
        point_coords[row, :count] = c
        point_labels[row, :count] = l
    return point_coords, point_labels


def decode(
    model: Sam2Model,
    image_embed: np.ndarray,
    features: dict[str, np.ndarray],
    point_coords: np.ndarray,
    point_labels: np.ndarray,
    mask_input: np.ndarray | None,
    has_mask: np.ndarray | None,
) -> list[np.ndarray]:
    """One batched ``mask_decoder`` call; returns (masks, ious, obj_ptrs, object_scores)."""
    batch = len(point_coords)
    low = int(model.settings["low_res_mask_size"])
    if mask_input is None:
        mask_input = np.zeros((batch, 1, low, low), np.float32)
        has_mask = np.zeros(batch, np.float32)
    return model.run(
        "mask_decoder",
        image_embed=np.ascontiguousarray(image_embed, np.float32),
        high_res_feat0=features["high_res_feat0"],
        high_res_feat1=features["high_res_feat1"],
        point_coords=np.ascontiguousarray(point_coords, np.float32),
        point_labels=np.ascontiguousarray(point_labels, np.int64),
        mask_input=np.ascontiguousarray(mask_input, np.float32).reshape(batch, 1, low, low),
        has_mask_input=np.asarray(has_mask, np.float32).reshape(batch),
    )
