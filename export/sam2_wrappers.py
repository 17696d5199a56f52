"""Export-friendly wrappers around a built SAM2 model (``sam2`` package).

Each wrapper is one ONNX graph and reuses the SAM2 model's own sub-modules
and weights; only the parts that the ONNX exporters cannot handle, or that
would bake shapes into the graph, are re-expressed:

* rotary position encoding (RoPE) uses complex numbers in ``sam2``; here it
  is the same rotation written with real cos/sin tables computed from the
  same ``compute_axial_cis`` values (bit-identical rotation angles);
* token re-shaping uses ``flatten``/``unflatten`` with static inner sizes, so
  axes that may be empty (zero object pointers) stay dynamic;
* constant tables (RoPE cos/sin, sine position encodings, dense prompt
  position encoding) are registered once as *persistent* buffers of the
  wrapper and shared by every layer, so each is stored once in the file.

Graphs (batch axis ``B`` = objects / prompts; ``1`` broadcasts where noted):

``image_encoder``
    image (1, 3, S, S) normalised  ->  pix_feat (1, C, s, s),
    high_res_feat0 (1, C/8, 4s, 4s), high_res_feat1 (1, C/4, 2s, 2s)
    where ``s = S / 16``; the high-res maps already went through the mask
    decoder's ``conv_s0``/``conv_s1`` (as ``SAM2Base.forward_image``).
``mask_decoder``
    image_embed (1|B, C, s, s), high_res_feat0/1 (1|B, ...),
    point_coords (B, P, 2) in model-input pixels, point_labels (B, P) int64,
    mask_input (B, 1, 4s, 4s) logits, has_mask_input (B,) float 0/1
    ->  masks (B, 4, 4s, 4s) logits of all four mask tokens,
    iou_predictions (B, 4), obj_ptr (B, 4, C) (object-pointer projection of
    each mask token), object_score_logits (B, 1).
    The prompt encoder does *not* add SAM's padding point: callers append it
    (label -1) exactly where SAM2 would, so ``P`` may be 0.
``memory_encoder``
    pix_feat (1|B, C, s, s), mask_logits (B, 1, 4s, 4s),
    object_score_logits (B, 1), binarize (B,) float 0/1
    ->  maskmem_features (B, Cm, s, s) (no-object embedding included).
``memory_attention``
    pix_feat (1, C, s, s), memory (B, M, Cm, s, s), memory_tpos (M,) int64
    (index into ``maskmem_tpos_enc``), obj_ptrs (B, K, C),
    obj_ptr_tpos (K,) float (signed frame offsets), obj_ptr_tpos_max (1,)
    float  ->  pix_feat_with_mem (B, C, s, s).

Memory attention variant ``folded`` (default since issue 13; ``plain`` is
the earlier graph, same inputs and outputs, still exportable) rewrites the
maths exactly:

* cross-attention has one head, so ``out_proj(P @ v_proj(X))`` equals
  ``(P @ X) @ (W_out W_v)^T + (W_out b_v + b_out)`` because every row of
  the softmax ``P`` sums to 1: the attention-weighted product runs over
  the Cm = 64-dim memories instead of 256-dim values (4x fewer
  multiply-adds there), the folded matrix is computed in float64, and the
  value projection disappears (the 64-dim values are shared by all layers);
* the first layer's self-attention only sees the frame (every object has
  the same input there), so it runs once per call instead of once per
  object, then broadcasts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sam2.modeling.position_encoding import compute_axial_cis
from sam2.modeling.sam2_utils import get_1d_sine_pe


MEMORY_ATTENTION_VARIANTS = ("folded", "plain")


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive channel pairs of ``x`` (..., N, D) by the angles
    whose cos/sin tables are (N, D/2): SAM2's complex RoPE in real arithmetic."""
    pairs = x.unflatten(-1, (x.shape[-1] // 2, 2))
    real = pairs[..., 0]
    imag = pairs[..., 1]
    rotated = torch.stack((real * cos - imag * sin, real * sin + imag * cos), dim=-1)
    return rotated.flatten(-2)


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, N, H*D) -> (B, H, N, D)."""
    return x.unflatten(-1, (heads, x.shape[-1] // heads)).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, N, D) -> (B, N, H*D)."""
    return x.transpose(1, 2).flatten(2)


class ImageEncoderGraph(nn.Module):
    """Hiera trunk + FPN neck, with the decoder's high-res projections."""

    def __init__(self, model: nn.Module):
        super().__init__()
        if not model.use_high_res_features_in_sam:
            raise ValueError("only SAM2 configs with use_high_res_features_in_sam are supported")
        self.image_encoder = model.image_encoder
        self.conv_s0 = model.sam_mask_decoder.conv_s0
        self.conv_s1 = model.sam_mask_decoder.conv_s1
        self.levels = model.num_feature_levels

    def forward(self, image: torch.Tensor):
        features = self.image_encoder(image)["backbone_fpn"][-self.levels:]
        return features[2], self.conv_s0(features[0]), self.conv_s1(features[1])


class MaskDecoderGraph(nn.Module):
    """Prompt encoder (points, boxes as points 2/3, dense mask) + mask decoder,
    returning every mask token so that the caller chooses as SAM2 does."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.prompt_encoder = model.sam_prompt_encoder
        self.decoder = model.sam_mask_decoder
        self.obj_ptr_proj = model.obj_ptr_proj
        self.pred_obj_scores = model.pred_obj_scores
        with torch.no_grad():
            dense_pe = self.prompt_encoder.get_dense_pe().clone()
        self.register_buffer("dense_pe", dense_pe, persistent=True)

    def forward(
        self,
        image_embed: torch.Tensor,
        high_res_feat0: torch.Tensor,
        high_res_feat1: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor,
        has_mask_input: torch.Tensor,
    ):
        encoder = self.prompt_encoder
        decoder = self.decoder
        sparse = encoder._embed_points(point_coords, point_labels, pad=False)
        mask_dense = encoder.mask_downscaling(mask_input)
        no_mask = encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand_as(mask_dense)
        use_mask = (has_mask_input > 0.5).reshape(-1, 1, 1, 1)
        dense = torch.where(use_mask, mask_dense, no_mask)

        if self.pred_obj_scores:
            output_tokens = torch.cat(
                [decoder.obj_score_token.weight, decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0
            )
            first = 1
        else:
            output_tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
            first = 0
        batch = sparse.shape[0]
        tokens = torch.cat((output_tokens.unsqueeze(0).expand(batch, -1, -1), sparse), dim=1)

        src = image_embed + dense
        pos_src = self.dense_pe.expand(batch, -1, -1, -1)
        hs, src = decoder.transformer(src, pos_src, tokens)
        iou_token_out = hs[:, first, :]
        mask_tokens_out = hs[:, first + 1: first + 1 + decoder.num_mask_tokens, :]

        src = src.transpose(1, 2).unflatten(2, (image_embed.shape[2], image_embed.shape[3]))
        dc1, ln1, act1, dc2, act2 = decoder.output_upscaling
        upscaled = act1(ln1(dc1(src) + high_res_feat1))
        upscaled = act2(dc2(upscaled) + high_res_feat0)

        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(decoder.output_hypernetworks_mlps)], dim=1
        )
        height, width = upscaled.shape[2], upscaled.shape[3]
        masks = (hyper_in @ upscaled.flatten(2)).unflatten(2, (height, width))
        iou_pred = decoder.iou_prediction_head(iou_token_out)
        if self.pred_obj_scores:
            object_score_logits = decoder.pred_obj_score_head(hs[:, 0, :])
        else:
            object_score_logits = 10.0 * torch.ones_like(iou_pred[:, :1])
        obj_ptr = self.obj_ptr_proj(mask_tokens_out)
        return masks, iou_pred, obj_ptr, object_score_logits


class MemoryEncoderGraph(nn.Module):
    """SAM2Base._encode_new_memory from low-res mask logits: upsample to the
    model input size, binarise (prompted frames) or sigmoid, scale/bias,
    fuse with the frame's features, add the no-object embedding."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.memory_encoder = model.memory_encoder
        self.image_size = int(model.image_size)
        self.scale = float(model.sigmoid_scale_for_mem_enc)
        self.bias = float(model.sigmoid_bias_for_mem_enc)
        self.no_obj_embed_spatial = model.no_obj_embed_spatial

    def forward(
        self,
        pix_feat: torch.Tensor,
        mask_logits: torch.Tensor,
        object_score_logits: torch.Tensor,
        binarize: torch.Tensor,
    ):
        high_res = F.interpolate(
            mask_logits, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False
        )
        hard = (high_res > 0).float()
        soft = torch.sigmoid(high_res)
        mask = torch.where((binarize > 0.5).reshape(-1, 1, 1, 1), hard, soft)
        if self.scale != 1.0:
            mask = mask * self.scale
        if self.bias != 0.0:
            mask = mask + self.bias
        encoder = self.memory_encoder
        masks = encoder.mask_downsampler(mask)
        x = encoder.pix_feat_proj(pix_feat)
        x = x + masks
        x = encoder.fuser(x)
        features = encoder.out_proj(x)
        if self.no_obj_embed_spatial is not None:
            appearing = (object_score_logits > 0).float()
            features = features + (1 - appearing)[..., None, None] * self.no_obj_embed_spatial[..., None, None]
        return features


class MemoryAttentionGraph(nn.Module):
    """SAM2Base._prepare_memory_conditioned_features for a non-initial frame:
    builds the memory tokens and their position encodings (spatial sine PE +
    temporal encoding; object pointers split into tokens with their temporal
    sine PE) and runs the memory-attention transformer with real-valued RoPE."""

    def __init__(self, model: nn.Module, variant: str = "folded"):
        super().__init__()
        attention = model.memory_attention
        self.layers = attention.layers
        self.norm = attention.norm
        self.pos_enc_at_input = attention.pos_enc_at_input
        self.maskmem_tpos_enc = model.maskmem_tpos_enc
        self.obj_ptr_tpos_proj = model.obj_ptr_tpos_proj
        self.hidden_dim = int(model.hidden_dim)
        self.mem_dim = int(model.mem_dim)
        self.add_tpos_enc_to_obj_ptrs = bool(model.add_tpos_enc_to_obj_ptrs)
        self.tpos_dim = self.hidden_dim if model.proj_tpos_enc_in_obj_ptrs else self.mem_dim
        size = int(model.image_size) // int(model.backbone_stride)
        self.size = size

        for layer in self.layers:
            for attn in (layer.self_attn, layer.cross_attn_image):
                if not hasattr(attn, "compute_cis"):
                    raise ValueError("memory attention without RoPE attention is not supported")
            if layer.pos_enc_at_attn or layer.pos_enc_at_cross_attn_queries or not layer.pos_enc_at_cross_attn_keys:
                raise ValueError("unsupported memory-attention position-encoding flags")
        first = self.layers[0]
        head_dim = first.self_attn.internal_dim // first.self_attn.num_heads
        with torch.no_grad():
            cis = compute_axial_cis(dim=head_dim, end_x=size, end_y=size, theta=self._theta(first.self_attn))
            curr_pos = model.image_encoder.neck.position_encoding(torch.zeros(1, self.hidden_dim, size, size))
            mem_pos = model.memory_encoder.position_encoding(torch.zeros(1, self.mem_dim, size, size))
        for layer in self.layers:
            for attn in (layer.self_attn, layer.cross_attn_image):
                if attn.internal_dim // attn.num_heads != head_dim:
                    raise ValueError("all RoPE attentions must share one head size")
        self.register_buffer("rope_cos", cis.real.contiguous(), persistent=True)
        self.register_buffer("rope_sin", cis.imag.contiguous(), persistent=True)
        # (HW, C) and (HW, Cm) sine position encodings of the current frame and of memories
        self.register_buffer("curr_pos", curr_pos.flatten(2)[0].transpose(0, 1).contiguous(), persistent=True)
        self.register_buffer("memory_pos", mem_pos.flatten(2)[0].transpose(0, 1).contiguous(), persistent=True)

        if variant not in MEMORY_ATTENTION_VARIANTS:
            raise ValueError(f"unknown memory-attention variant {variant!r}; choose from {MEMORY_ATTENTION_VARIANTS}")
        self.fold_values = variant == "folded" and all(layer.cross_attn_image.num_heads == 1 for layer in self.layers)
        self.shared_first_self_attention = variant == "folded"
        if self.fold_values:
            # one (Cm -> C) linear map per layer: out_proj after v_proj, folded in float64
            self.folded_value_out = nn.ModuleList()
            for layer in self.layers:
                attn = layer.cross_attn_image
                with torch.no_grad():
                    w_out = attn.out_proj.weight.double()
                    weight = w_out @ attn.v_proj.weight.double()
                    bias = w_out @ attn.v_proj.bias.double() + attn.out_proj.bias.double()
                linear = nn.Linear(weight.shape[1], weight.shape[0])
                with torch.no_grad():
                    linear.weight.copy_(weight.float())
                    linear.bias.copy_(bias.float())
                self.folded_value_out.append(linear)

    @staticmethod
    def _theta(attn: nn.Module) -> float:
        theta = attn.compute_cis.keywords.get("theta", 10000.0)
        return float(theta)

    def _attention(self, attn, q, k_spatial, k_pointers, v, rope_keys: bool, value_out: nn.Module | None = None):
        """RoPEAttention.forward with the keys given as a spatial part (rotated,
        (B, Mk, HW, D_in)) and a pointer part (not rotated, (B, T, D_in)).
        With ``value_out`` (one head only) the values are attended unprojected
        and ``value_out`` (= out_proj after v_proj, folded) maps the result."""
        heads = attn.num_heads
        q = _split_heads(attn.q_proj(q), heads)
        q = _rotate(q, self.rope_cos, self.rope_sin)
        k_sp = attn.k_proj(k_spatial)  # (B, Mk, HW, Di)
        k_sp = k_sp.unflatten(-1, (heads, k_sp.shape[-1] // heads)).permute(0, 3, 1, 2, 4)  # (B, H, Mk, HW, d)
        if rope_keys:
            k_sp = _rotate(k_sp, self.rope_cos, self.rope_sin)
        k_sp = k_sp.flatten(2, 3)
        if k_pointers is not None:
            k_ptr = _split_heads(attn.k_proj(k_pointers), heads)
            k = torch.cat([k_sp, k_ptr], dim=2)
        else:
            k = k_sp
        if value_out is not None:
            out = F.scaled_dot_product_attention(q, k, v.unsqueeze(1))  # (B, 1, N, Cm)
            return value_out(out.squeeze(1))
        v = _split_heads(attn.v_proj(v), heads)
        out = F.scaled_dot_product_attention(q, k, v)
        return attn.out_proj(_merge_heads(out))

    def forward(
        self,
        pix_feat: torch.Tensor,
        memory: torch.Tensor,
        memory_tpos: torch.Tensor,
        obj_ptrs: torch.Tensor,
        obj_ptr_tpos: torch.Tensor,
        obj_ptr_tpos_max: torch.Tensor,
    ):
        batch = memory.shape[0]
        # current frame tokens (1, HW, C), as MemoryAttention with batch_first
        output = pix_feat.flatten(2).transpose(1, 2)
        if self.pos_enc_at_input:
            output = output + 0.1 * self.curr_pos
        if not self.shared_first_self_attention:
            output = output.expand(batch, -1, -1)

        # spatial memories (B, M, HW, Cm) and their position encodings (M, HW, Cm)
        mem_sp = memory.flatten(3).transpose(2, 3)
        tpos = self.maskmem_tpos_enc[memory_tpos].flatten(1, 2)  # (M, 1, Cm)
        pos_sp = self.memory_pos.unsqueeze(0) + tpos

        # object pointers (B, K, C) -> (B, K * C/Cm, Cm)
        split = self.hidden_dim // self.mem_dim
        if self.add_tpos_enc_to_obj_ptrs:
            ptr_pos = get_1d_sine_pe(obj_ptr_tpos / obj_ptr_tpos_max, dim=self.tpos_dim)
            ptr_pos = self.obj_ptr_tpos_proj(ptr_pos)  # (K, Cm)
        else:
            ptr_pos = torch.zeros_like(obj_ptrs[0, :, : self.mem_dim]) + 0.0 * obj_ptr_tpos.unsqueeze(-1) * obj_ptr_tpos_max
        if split > 1:
            ptr_tokens = obj_ptrs.unflatten(-1, (split, self.mem_dim)).flatten(1, 2)
            ptr_pos = ptr_pos.unsqueeze(1).expand(-1, split, -1).flatten(0, 1)
        else:
            ptr_tokens = obj_ptrs

        k_sp = mem_sp + pos_sp
        k_ptr = ptr_tokens + ptr_pos
        values = torch.cat([mem_sp.flatten(1, 2), ptr_tokens], dim=1)
        for index, layer in enumerate(self.layers):
            # self-attention (the first layer's input is the frame alone: one call, then broadcast)
            tgt2 = layer.norm1(output)
            tgt2 = self._attention(layer.self_attn, tgt2, tgt2.unsqueeze(1), None, tgt2, rope_keys=True)
            output = output + tgt2
            if index == 0 and self.shared_first_self_attention:
                output = output.expand(batch, -1, -1)
            # cross-attention to memories (keys carry position encodings, values do not)
            tgt2 = layer.norm2(output)
            value_out = self.folded_value_out[index] if self.fold_values else None
            tgt2 = self._attention(layer.cross_attn_image, tgt2, k_sp, k_ptr, values, rope_keys=True, value_out=value_out)
            output = output + tgt2
            # feed-forward
            tgt2 = layer.norm3(output)
            tgt2 = layer.linear2(layer.activation(layer.linear1(tgt2)))
            output = output + tgt2
        output = self.norm(output)
        return output.transpose(1, 2).unflatten(2, (self.size, self.size))
