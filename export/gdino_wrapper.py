"""The exported GroundingDINO graph: tokenised text + normalised image in,
logits + boxes out.

The package's ``GroundingDINO.forward`` tokenises captions itself; the
wrapper instead takes what the engine computes without torch (token ids,
the padding mask, per-phrase position ids, the block-diagonal text
self-attention mask and token type ids) and runs the same modules in the same
order. Besides ``logits`` and ``boxes`` it returns two small diagnostic
outputs used by the parity checks:

* ``proposal_scores`` ``(B, S)``: the encoder's per-position score that the
  two-stage query selection ranks (before the top-k);
* ``proposal_indices`` ``(B, Q)``: the positions the top-k selected.

With random weights many proposal scores are near-ties, so ONNX Runtime and
PyTorch may legitimately pick different queries; :func:`topk_control` lets
the PyTorch reference reuse the ONNX selection so that everything after the
top-k can be compared slot by slot.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

INPUT_NAMES = ["image", "input_ids", "attention_mask", "position_ids", "text_self_attention_mask", "token_type_ids"]
OUTPUT_NAMES = ["logits", "boxes", "proposal_scores", "proposal_indices"]


class _TopkRecorder:
    """Records (and optionally overrides) the single ``torch.topk`` call of the
    two-stage query selection."""

    def __init__(self, forced_indices: torch.Tensor | None = None):
        self.forced_indices = forced_indices
        self.scores: torch.Tensor | None = None
        self.indices: torch.Tensor | None = None
        self.calls = 0


_recorder_stack: list[_TopkRecorder] = []
_original_topk = torch.topk


def _recording_topk(input, k, *args, **kwargs):
    result = _original_topk(input, k, *args, **kwargs)
    if not _recorder_stack:
        return result
    recorder = _recorder_stack[-1]
    recorder.calls += 1
    recorder.scores = input
    if recorder.forced_indices is not None:
        indices = recorder.forced_indices.to(result.indices.device)
        values = torch.gather(input, 1, indices)
        result = torch.return_types.topk((values, indices))
    recorder.indices = result.indices
    return result


@contextlib.contextmanager
def topk_control(forced_indices: torch.Tensor | None = None) -> Iterator[_TopkRecorder]:
    """Within the block, the model's query-selection top-k is recorded (and,
    given ``forced_indices``, replaced by that selection). Nested blocks
    inherit the forced selection of the enclosing one."""
    if forced_indices is None and _recorder_stack:
        forced_indices = _recorder_stack[-1].forced_indices
    recorder = _TopkRecorder(forced_indices)
    _recorder_stack.append(recorder)
    torch.topk = _recording_topk
    try:
        yield recorder
    finally:
        _recorder_stack.pop()
        if not _recorder_stack:
            torch.topk = _original_topk


def _window_reverse_any_batch(windows, window_size, H, W):
    """The package's Swin ``window_reverse`` without turning the batch size
    into a Python int (which the tracer would bake in as a constant)."""
    channels = windows.shape[-1]
    x = windows.view(-1, H // window_size, W // window_size, window_size, window_size, channels)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, H, W, channels)


@contextlib.contextmanager
def batch_friendly_swin() -> Iterator[None]:
    """Trace Swin so that the batch dimension stays dynamic (same arithmetic)."""
    from groundingdino.models.GroundingDINO.backbone import swin_transformer

    saved = swin_transformer.window_reverse
    swin_transformer.window_reverse = _window_reverse_any_batch
    try:
        yield
    finally:
        swin_transformer.window_reverse = saved


class GroundingDinoGraph(nn.Module):
    """``forward(image, input_ids, attention_mask, position_ids,
    text_self_attention_mask, token_type_ids) -> (logits, boxes,
    proposal_scores, proposal_indices)``.

    ``image`` is ``(B, 3, H, W)`` float32, RGB normalised with the ImageNet
    mean/std; text inputs are ``(B, T)`` int64 and ``(B, T, T)`` bool;
    ``logits`` ``(B, Q, T)`` are raw (sigmoid them), ``boxes`` ``(B, Q, 4)``
    normalised ``cx, cy, w, h`` relative to the input image.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image, input_ids, attention_mask, position_ids, text_self_attention_mask, token_type_ids):
        from groundingdino.util.misc import NestedTensor, inverse_sigmoid

        model = self.model
        batch, _, height, width = image.shape
        text_token_mask = attention_mask.bool()
        bert_output = model.bert(
            input_ids=input_ids,
            attention_mask=text_self_attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
        )
        text_dict = {
            "encoded_text": model.feat_map(bert_output["last_hidden_state"]),
            "text_token_mask": text_token_mask,
            "position_ids": position_ids,
            "text_self_attention_masks": text_self_attention_mask,
        }

        # No padding: every pixel is image (the engine letterboxes itself).
        pixel_mask = torch.zeros((batch, height, width), dtype=torch.bool, device=image.device)
        features, positions = model.backbone(NestedTensor(image, pixel_mask))
        sources, masks = [], []
        for level, feature in enumerate(features):
            source, mask = feature.decompose()
            sources.append(model.input_proj[level](source))
            masks.append(mask)
        for level in range(len(sources), model.num_feature_levels):
            previous = features[-1].tensors if level == len(features) else sources[-1]
            source = model.input_proj[level](previous)
            mask = nn.functional.interpolate(pixel_mask[None].float(), size=source.shape[-2:]).to(torch.bool)[0]
            positions.append(model.backbone[1](NestedTensor(source, mask)).to(source.dtype))
            sources.append(source)
            masks.append(mask)

        with topk_control() as recorder:
            hidden, references, _, _, _ = model.transformer(sources, masks, None, positions, None, None, text_dict)
        if recorder.calls != 1:
            raise RuntimeError(f"expected one top-k query selection, saw {recorder.calls}")

        last = hidden[-1]
        boxes = (model.bbox_embed[-1](last) + inverse_sigmoid(references[-2])).sigmoid()
        logits = model.class_embed[-1](last, text_dict)[..., : input_ids.shape[1]]
        return logits, boxes, recorder.scores, recorder.indices
