"""SAM2 image segmentation (stage 2, interactive clicks) over ONNX Runtime.

Follows ``SAM2ImagePredictor``: the frame is encoded once (features come
from the shared feature cache), a box becomes two points labelled 2/3
ahead of any clicks, SAM's padding point is appended, and a mask prompt is
fed to the prompt encoder as low-res logits. All prompts with the same
number of points go through one batched decoder call.

The single mask per prompt is chosen as SAM2 does during tracking: the
best of three for ambiguous prompts (``multimask_min_pt_num`` ..
``multimask_max_pt_num`` points, a box counting as two), otherwise the
single-mask token with the stability fallback. With
``suppress_absent=True`` (default) a prompt whose object score is <= 0
gets an empty mask, as SAM2's video path does; ``SAM2ImagePredictor``
itself ignores the object score (``suppress_absent=False``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...core.errors import PromptError
from ...core.types import Prompt, SegmentResult
from .heads import choose, decode, padded_points
from .model import Sam2Model
from .preprocess import (
    logits_to_probabilities,
    mask_input_to_logits,
    mask_to_input,
    points_to_model,
)


def prompt_points(model: Sam2Model, prompt: Prompt, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Model-input coordinates and labels of a prompt: box corners (2, 3) first, then clicks."""
    coords = []
    labels = []
    if prompt.box is not None:
        coords.append(np.asarray(prompt.box, np.float32).reshape(2, 2))
        labels.append(np.array([2, 3], np.int64))
    if prompt.points is not None and len(prompt.points):
        coords.append(np.asarray(prompt.points, np.float32).reshape(-1, 2))
        labels.append(np.asarray(prompt.point_labels, np.int64).reshape(-1))
    if not coords:
        return np.zeros((0, 2), np.float32), np.zeros((0,), np.int64)
    return points_to_model(np.concatenate(coords), size, model.input_size), np.concatenate(labels)


def prompt_mask_logits(model: Sam2Model, prompt: Prompt, where: str) -> np.ndarray | None:
    """The low-res logits a prompt feeds to the prompt encoder (or None)."""
    low = int(model.settings["low_res_mask_size"])
    if prompt.mask_logits is not None:
        logits = np.asarray(prompt.mask_logits, np.float32)
        if logits.size != low * low:
            raise PromptError(
                f"{where}: mask_logits must be the {low}x{low} low-res logits this SAM2 model returns "
                f"(SegmentResult.low_res_logits), got shape {logits.shape}"
            )
        return logits.reshape(low, low)
    if prompt.mask is not None:
        s = model.settings
        mask_input = mask_to_input(prompt.mask, model.input_size)
        return mask_input_to_logits(mask_input, low, s["mask_as_output_scale"], s["mask_as_output_bias"])
    return None


class Sam2ImageSegmenter:
    """:class:`~SegmentationCore.core.protocols.ImageSegmenter` over a SAM2 model folder."""

    def __init__(self, model: Sam2Model, suppress_absent: bool = True):
        self.model = model
        self.suppress_absent = suppress_absent

    def segment(self, frames, frame: int, prompts: Sequence[Prompt]) -> SegmentResult:
        height, width = frames.size
        low = int(self.model.settings["low_res_mask_size"])
        count = len(prompts)
        if count == 0:
            return SegmentResult(
                np.zeros((0, height, width), np.float32), np.zeros((0,), np.float32), np.zeros((0, low, low), np.float32)
            )
        prepared = []
        for index, prompt in enumerate(prompts):
            if prompt.mask is not None and prompt.mask.shape != (height, width):
                raise PromptError(
                    f"frame {frame}, prompt {index}: mask is {prompt.mask.shape[1]}x{prompt.mask.shape[0]}, "
                    f"the shot's working resolution is {width}x{height}"
                )
            coords, labels = prompt_points(self.model, prompt, (height, width))
            logits = prompt_mask_logits(self.model, prompt, f"frame {frame}, prompt {index}")
            prepared.append((coords, labels, logits))

        features = self.model.features(frames, frame)
        embed = self.model.image_embedding(features)
        low_res = np.zeros((count, low, low), np.float32)
        scores = np.zeros(count, np.float32)
        groups: dict[int, list[int]] = {}
        for index, (coords, _, _) in enumerate(prepared):
            groups.setdefault(len(coords), []).append(index)
        for num_points, members in groups.items():
            coords, labels = padded_points([prepared[i][0] for i in members], [prepared[i][1] for i in members])
            has_mask = np.array([prepared[i][2] is not None for i in members], np.float32)
            mask_input = None
            if has_mask.any():
                mask_input = np.stack([
                    prepared[i][2] if prepared[i][2] is not None else np.zeros((low, low), np.float32)
                    for i in members
                ])[:, None]
            outputs = decode(self.model, embed, features, coords, labels, mask_input, has_mask)
            multimask = np.full(len(members), self.model.use_multimask(True, num_points))
            chosen = choose(self.model, *outputs, multimask=multimask, apply_no_object=self.suppress_absent)
            low_res[members] = chosen.low_res_logits
            scores[members] = chosen.iou
        clamp = np.float32(self.model.settings["prompt_logit_clamp"])
        probabilities = logits_to_probabilities(low_res, (height, width))
        return SegmentResult(probabilities, scores, np.clip(low_res, -clamp, clamp))
