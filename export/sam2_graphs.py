"""ONNX export of the four SAM2 graphs (see :mod:`sam2_wrappers`).

Attention can be exported as ONNX Runtime's fused
``com.microsoft::MultiHeadAttention`` kernel instead of the MatMul/Softmax
decomposition of ``scaled_dot_product_attention``: the same maths, about
twice as fast for memory attention on CPU and without the full attention
matrix in memory (image encoder peak 1.05 GB instead of 1.55 GB). ONNX
Runtime's CPU and CUDA providers run it; pure
TensorRT does not (export with ``fused_roles=()`` for that).
"""

from __future__ import annotations

import contextlib
import pathlib
import warnings

import torch
import torch.nn.functional as F

from sam2_wrappers import (
    MEMORY_ATTENTION_VARIANTS,
    ImageEncoderGraph,
    MaskDecoderGraph,
    MemoryAttentionGraph,
    MemoryEncoderGraph,
)

OPSET = 17
# "folded": exact v_proj/out_proj folding + shared first self-attention (issue 13);
# "plain": the earlier graph (same inputs/outputs; the engine runs either)
DEFAULT_MEMORY_ATTENTION_VARIANT = "folded"
DEFAULT_FUSED_ROLES = ("image_encoder", "mask_decoder", "memory_attention")

_plain_sdpa = F.scaled_dot_product_attention


class _FusedAttention(torch.autograd.Function):
    """SDPA on (B, H, N, d) tensors; exported as com.microsoft::MultiHeadAttention."""

    @staticmethod
    def forward(ctx, q, k, v, heads: int, head_dim: int):
        return _plain_sdpa(q, k, v)

    @staticmethod
    def symbolic(g, q, k, v, heads: int, head_dim: int):
        def pack(x):  # (B, H, N, d) -> (B, N, H*d)
            x = g.op("Transpose", x, perm_i=[0, 2, 1, 3])
            return g.op("Reshape", x, g.op("Constant", value_t=torch.tensor([0, 0, -1])))

        out = g.op("com.microsoft::MultiHeadAttention", pack(q), pack(k), pack(v), num_heads_i=heads)
        out = g.op("Reshape", out, g.op("Constant", value_t=torch.tensor([0, 0, heads, -1])))
        return g.op("Transpose", out, perm_i=[0, 2, 1, 3])


def _fused_sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, **kwargs):
    if attn_mask is not None or dropout_p or is_causal or scale is not None or kwargs or query.dim() != 4:
        return _plain_sdpa(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale, **kwargs)
    # ONNX Runtime's MultiHeadAttention takes values narrower than the keys
    # (the folded memory attention attends 64-dim memories with 256-dim keys)
    return _FusedAttention.apply(query, key, value, int(query.shape[1]), int(query.shape[-1]))


@contextlib.contextmanager
def fused_attention(enabled: bool):
    """Route ``F.scaled_dot_product_attention`` through the fused exporter."""
    if not enabled:
        yield
        return
    F.scaled_dot_product_attention = _fused_sdpa
    try:
        yield
    finally:
        F.scaled_dot_product_attention = _plain_sdpa

GRAPH_FILES = {
    "image_encoder": "image_encoder.onnx",
    "mask_decoder": "mask_decoder.onnx",
    "memory_encoder": "memory_encoder.onnx",
    "memory_attention": "memory_attention.onnx",
}


def example_inputs(model, role: str) -> dict[str, torch.Tensor]:
    """Small valid inputs used for tracing (values do not matter)."""
    size = int(model.image_size)
    feat = size // int(model.backbone_stride)
    hidden = int(model.hidden_dim)
    mem = int(model.mem_dim)
    generator = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=generator)

    if role == "image_encoder":
        return {"image": rand(1, 3, size, size)}
    if role == "mask_decoder":
        return {
            "image_embed": rand(1, hidden, feat, feat),
            "high_res_feat0": rand(1, hidden // 8, feat * 4, feat * 4),
            "high_res_feat1": rand(1, hidden // 4, feat * 2, feat * 2),
            "point_coords": torch.rand(2, 3, 2, generator=generator) * size,
            "point_labels": torch.tensor([[2, 3, -1], [1, 0, -1]], dtype=torch.int64),
            "mask_input": rand(2, 1, feat * 4, feat * 4),
            "has_mask_input": torch.tensor([0.0, 1.0]),
        }
    if role == "memory_encoder":
        return {
            "pix_feat": rand(1, hidden, feat, feat),
            "mask_logits": rand(2, 1, feat * 4, feat * 4),
            "object_score_logits": torch.tensor([[1.0], [-1.0]]),
            "binarize": torch.tensor([1.0, 0.0]),
        }
    if role == "memory_attention":
        return {
            "pix_feat": rand(1, hidden, feat, feat),
            "memory": rand(2, 2, mem, feat, feat),
            "memory_tpos": torch.tensor([6, 0], dtype=torch.int64),
            "obj_ptrs": rand(2, 3, hidden),
            "obj_ptr_tpos": torch.tensor([3.0, 1.0, 2.0]),
            "obj_ptr_tpos_max": torch.tensor([15.0]),
        }
    raise KeyError(role)


OUTPUT_NAMES = {
    "image_encoder": ["pix_feat", "high_res_feat0", "high_res_feat1"],
    "mask_decoder": ["masks", "iou_predictions", "obj_ptr", "object_score_logits"],
    "memory_encoder": ["maskmem_features"],
    "memory_attention": ["pix_feat_with_mem"],
}

DYNAMIC_AXES = {
    "image_encoder": {},
    "mask_decoder": {
        "image_embed": {0: "embed_batch"},
        "high_res_feat0": {0: "embed_batch"},
        "high_res_feat1": {0: "embed_batch"},
        "point_coords": {0: "batch", 1: "points"},
        "point_labels": {0: "batch", 1: "points"},
        "mask_input": {0: "batch"},
        "has_mask_input": {0: "batch"},
        "masks": {0: "batch"},
        "iou_predictions": {0: "batch"},
        "obj_ptr": {0: "batch"},
        "object_score_logits": {0: "batch"},
    },
    "memory_encoder": {
        "pix_feat": {0: "feat_batch"},
        "mask_logits": {0: "batch"},
        "object_score_logits": {0: "batch"},
        "binarize": {0: "batch"},
        "maskmem_features": {0: "batch"},
    },
    "memory_attention": {
        "memory": {0: "batch", 1: "memories"},
        "memory_tpos": {0: "memories"},
        "obj_ptrs": {0: "batch", 1: "pointers"},
        "obj_ptr_tpos": {0: "pointers"},
        "pix_feat_with_mem": {0: "batch"},
    },
}

WRAPPERS = {
    "image_encoder": ImageEncoderGraph,
    "mask_decoder": MaskDecoderGraph,
    "memory_encoder": MemoryEncoderGraph,
    "memory_attention": MemoryAttentionGraph,
}


def export_graph(
    model, role: str, path: pathlib.Path, opset: int = OPSET, fused: bool = False,
    memory_attention_variant: str = DEFAULT_MEMORY_ATTENTION_VARIANT,
) -> pathlib.Path:
    """Trace one wrapper and write it as a single self-contained ONNX file."""
    if role == "memory_attention":
        wrapper = MemoryAttentionGraph(model, variant=memory_attention_variant).eval()
    else:
        wrapper = WRAPPERS[role](model).eval()
    inputs = example_inputs(model, role)
    with torch.no_grad(), warnings.catch_warnings(), fused_attention(fused):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            tuple(inputs.values()),
            str(path),
            input_names=list(inputs),
            output_names=OUTPUT_NAMES[role],
            dynamic_axes=DYNAMIC_AXES[role] or None,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
            custom_opsets={"com.microsoft": 1} if fused else None,
        )
    return path
