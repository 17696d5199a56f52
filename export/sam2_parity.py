"""ONNX Runtime vs PyTorch checks for the exported SAM2 graphs.

The PyTorch side is SAM2's *own* code path (``SAM2Base.forward_image``,
``PromptEncoder`` + ``MaskDecoder.predict_masks``, ``_encode_new_memory``,
``_prepare_memory_conditioned_features``), not the export wrappers, so a
check also catches a wrapper that re-expresses something differently.
Returns the max absolute error per graph.
"""

from __future__ import annotations

import pathlib

import numpy as np
import torch
import torch.nn.functional as F


def synthetic_image(size: int, seed: int = 0) -> np.ndarray:
    """A deterministic, smooth RGB test picture (float32 (size, size, 3), [0, 1])."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    image = np.stack([x, y, 0.5 + 0.5 * np.sin(6.0 * x + 4.0 * y)], axis=-1)
    for _ in range(6):
        cx, cy, radius = rng.uniform(0.15, 0.85), rng.uniform(0.15, 0.85), rng.uniform(0.05, 0.2)
        disc = (x - cx) ** 2 + (y - cy) ** 2 < radius**2
        image[disc] = rng.uniform(0, 1, 3).astype(np.float32)
    return image.astype(np.float32)


def normalise(image: np.ndarray) -> torch.Tensor:
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    return torch.from_numpy(((image - mean) / std).transpose(2, 0, 1)[None].copy())


def _session(path: pathlib.Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _err(a, b) -> float:
    a = np.asarray(a, np.float64)
    b = b.detach().numpy().astype(np.float64) if isinstance(b, torch.Tensor) else np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise AssertionError(f"shape mismatch {a.shape} vs {b.shape}")
    return float(np.abs(a - b).max()) if a.size else 0.0


def _hw_b_c(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (HW, B, C) as SAM2 keeps vision features."""
    return x.flatten(2).permute(2, 0, 1)


@torch.no_grad()
def check_graphs(model, folder: pathlib.Path, files: dict[str, str], log=print) -> dict[str, float]:
    size = int(model.image_size)
    feat = size // int(model.backbone_stride)
    errors: dict[str, float] = {}

    # image encoder
    image = normalise(synthetic_image(size))
    session = _session(folder / files["image_encoder"])
    pix_feat, s0, s1 = session.run(None, {"image": image.numpy()})
    backbone = model.forward_image(image)
    fpn = backbone["backbone_fpn"]
    errors["image_encoder"] = max(_err(pix_feat, fpn[2]), _err(s0, fpn[0]), _err(s1, fpn[1]))
    log(f"  parity image_encoder: {errors['image_encoder']:.3g}")
    pix_t, s0_t, s1_t = fpn[2], fpn[0], fpn[1]

    # mask decoder: a box, one click, two clicks + mask prompt, and a mask-only prompt
    session = _session(folder / files["mask_decoder"])
    embed = pix_t + model.no_mem_embed.reshape(1, -1, 1, 1)
    rng = np.random.default_rng(1)
    prompts = [
        (np.array([[200.0, 300.0], [700.0, 800.0]]), np.array([2, 3]), None),
        (np.array([[512.0, 400.0]]), np.array([1]), None),
        (np.array([[100.0, 120.0], [900.0, 50.0]]), np.array([1, 0]), rng.normal(size=(feat * 4, feat * 4))),
        (np.zeros((0, 2)), np.zeros((0,), np.int64), rng.normal(size=(feat * 4, feat * 4))),
    ]
    worst = 0.0
    for coords, labels, mask in prompts:
        points = None
        if len(coords):
            points = (torch.tensor(coords[None], dtype=torch.float32), torch.tensor(labels[None], dtype=torch.int32))
        mask_t = None if mask is None else torch.tensor(mask[None, None], dtype=torch.float32)
        sparse, dense = model.sam_prompt_encoder(points=points, boxes=None, masks=mask_t)
        masks, iou, tokens, score = model.sam_mask_decoder.predict_masks(
            image_embeddings=embed,
            image_pe=model.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            repeat_image=False,
            high_res_features=[s0_t, s1_t],
        )
        obj_ptr = model.obj_ptr_proj(tokens)
        if len(coords):  # SAM2's padding point, added by the caller of the graph
            coords = np.concatenate([coords, [[0.0, 0.0]]])
            labels = np.concatenate([labels, [-1]])
        outputs = session.run(None, {
            "image_embed": embed.numpy(),
            "high_res_feat0": s0_t.numpy(),
            "high_res_feat1": s1_t.numpy(),
            "point_coords": coords[None].astype(np.float32),
            "point_labels": labels[None].astype(np.int64),
            "mask_input": (np.zeros((1, 1, feat * 4, feat * 4)) if mask is None else mask[None, None]).astype(np.float32),
            "has_mask_input": np.array([0.0 if mask is None else 1.0], np.float32),
        })
        worst = max(worst, _err(outputs[0], masks), _err(outputs[1], iou), _err(outputs[2], obj_ptr), _err(outputs[3], score))
    errors["mask_decoder"] = worst
    log(f"  parity mask_decoder: {worst:.3g}")

    # memory encoder: soft and binarised masks, object present and absent
    session = _session(folder / files["memory_encoder"])
    low_res = torch.tensor(rng.normal(scale=4.0, size=(2, 1, feat * 4, feat * 4)), dtype=torch.float32)
    scores = torch.tensor([[2.0], [-3.0]])
    worst = 0.0
    for binarize in (False, True):
        high_res = F.interpolate(low_res, size=(size, size), mode="bilinear", align_corners=False)
        features, _ = model._encode_new_memory(
            current_vision_feats=[_hw_b_c(pix_t.expand(2, -1, -1, -1))],
            feat_sizes=[(feat, feat)],
            pred_masks_high_res=high_res,
            object_score_logits=scores,
            is_mask_from_pts=binarize,
        )
        (onnx_features,) = session.run(None, {
            "pix_feat": pix_t.numpy(),
            "mask_logits": low_res.numpy(),
            "object_score_logits": scores.numpy(),
            "binarize": np.full(2, float(binarize and model.binarize_mask_from_pts_for_mem_enc), np.float32),
        })
        worst = max(worst, _err(onnx_features, features))
    errors["memory_encoder"] = worst
    log(f"  parity memory_encoder: {worst:.3g}")

    # memory attention: frame 3 of 10 with a conditioning frame 0 and memories of frames 1, 2
    session = _session(folder / files["memory_attention"])
    batch = 2
    pos_enc = model.memory_encoder.position_encoding(torch.zeros(1, int(model.mem_dim), feat, feat))

    def entry(seed):
        generator = torch.Generator().manual_seed(seed)
        return {
            "maskmem_features": torch.randn(batch, int(model.mem_dim), feat, feat, generator=generator),
            "maskmem_pos_enc": [pos_enc.expand(batch, -1, -1, -1)],
            "obj_ptr": torch.randn(batch, int(model.hidden_dim), generator=generator),
        }

    curr_pos = _hw_b_c(backbone["vision_pos_enc"][-1].expand(batch, -1, -1, -1))
    cases = [
        # (frame, cond frames, non-cond frames, memory order, memory tpos, pointer frames, pointer positions)
        (3, {0: entry(10)}, {1: entry(11), 2: entry(12)}, [0, 1, 2], [6, 1, 0], [0, 2, 1], [3.0, 1.0, 2.0]),
        (0, {5: entry(13)}, {}, [5], [6], [], []),  # no pointer in the past: zero pointers
    ]
    worst = 0.0
    num_frames = 10
    for frame, cond, non_cond, order, tpos, ptr_frames, ptr_pos in cases:
        reference = model._prepare_memory_conditioned_features(
            frame_idx=frame,
            is_init_cond_frame=False,
            current_vision_feats=[_hw_b_c(pix_t.expand(batch, -1, -1, -1))],
            current_vision_pos_embeds=[curr_pos],
            feat_sizes=[(feat, feat)],
            output_dict={"cond_frame_outputs": cond, "non_cond_frame_outputs": non_cond},
            num_frames=num_frames,
            track_in_reverse=False,
        )
        outputs = {**cond, **non_cond}
        memory = np.stack([outputs[t]["maskmem_features"].numpy() for t in order], axis=1)
        ptrs = np.stack([outputs[t]["obj_ptr"].numpy() for t in ptr_frames], axis=1) if ptr_frames else np.zeros(
            (batch, 0, int(model.hidden_dim)), np.float32)
        (result,) = session.run(None, {
            "pix_feat": pix_t.numpy(),
            "memory": memory.astype(np.float32),
            "memory_tpos": np.array(tpos, np.int64),
            "obj_ptrs": ptrs.astype(np.float32),
            "obj_ptr_tpos": np.array(ptr_pos, np.float32),
            "obj_ptr_tpos_max": np.array([min(num_frames, model.max_obj_ptrs_in_encoder) - 1], np.float32),
        })
        worst = max(worst, _err(result, reference))
    errors["memory_attention"] = worst
    log(f"  parity memory_attention: {worst:.3g}")
    return errors
