"""Building SAM2 / SAM2.1 models from the installed ``sam2`` package.

Config names are those of the package (``sam2.1_hiera_t``, ``sam2_hiera_b+``,
...); checkpoint-style aliases (``sam2.1_hiera_tiny``, ``base_plus``) are
accepted too. Models are built with the same Hydra overrides that
``sam2.build_sam.build_sam2_video_predictor`` applies, never through the
Hugging Face hub.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

SIZE_ALIASES = {
    "t": "t", "tiny": "t",
    "s": "s", "small": "s",
    "b+": "b+", "base_plus": "b+", "base+": "b+", "bplus": "b+", "base-plus": "b+",
    "l": "l", "large": "l",
}

# Overrides of build_sam2_video_predictor (apply_postprocessing=True)
VIDEO_OVERRIDES = [
    "++model._target_=sam2.sam2_video_predictor.SAM2VideoPredictor",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=true",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta=0.05",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh=0.98",
    "++model.binarize_mask_from_pts_for_mem_enc=true",
    "++model.fill_hole_area=8",
]


class ConfigError(ValueError):
    """The requested SAM2 config does not exist in the installed package."""


def available_configs() -> list[str]:
    import sam2

    root = pathlib.Path(sam2.__file__).parent / "configs"
    names = []
    for family in ("sam2", "sam2.1"):
        for path in sorted((root / family).glob("*.yaml")):
            names.append(path.stem)
    return names


def resolve_config(name: str) -> tuple[str, str]:
    """``(canonical name, hydra config path)`` for a config name or alias."""
    text = str(name).strip()
    stem = pathlib.PurePath(text).name
    if stem.endswith(".yaml"):
        stem = stem[: -len(".yaml")]
    stem = stem.replace("-", "_")
    family, _, size = stem.partition("_hiera_")
    if family not in ("sam2", "sam2.1") or size.lower() not in SIZE_ALIASES:
        raise ConfigError(
            f"Unknown SAM2 config {name!r}; use one of: {', '.join(available_configs())} "
            "(aliases such as sam2.1_hiera_tiny / small / base_plus / large work too)"
        )
    canonical = f"{family}_hiera_{SIZE_ALIASES[size.lower()]}"
    config_path = f"configs/{family}/{canonical}.yaml"
    if canonical not in available_configs():
        raise ConfigError(f"The installed sam2 package has no config {config_path}")
    return canonical, config_path


def build_model(config_path: str, checkpoint: str | os.PathLike | None = None, seed: int = 0):
    """A SAM2VideoPredictor in eval mode on the CPU.

    With ``checkpoint`` the official ``{"model": state_dict}`` layout is
    loaded with ``torch.load(weights_only=True)`` and must match exactly;
    without it the weights are the model's own random initialisation from
    ``seed``.
    """
    import torch
    from hydra import compose
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    import sam2  # noqa: F401  (initialises Hydra's config module)

    cfg = compose(config_name=config_path, overrides=list(VIDEO_OVERRIDES))
    OmegaConf.resolve(cfg)
    torch.manual_seed(seed)
    model = instantiate(cfg.model, _recursive_=True)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint)
    return model.to("cpu").eval()


def load_checkpoint(model, checkpoint: str | os.PathLike) -> None:
    import torch

    path = pathlib.Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint {path} does not exist")
    try:
        data: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle errors, truncated files, ...
        raise ValueError(f"Cannot read checkpoint {path} with torch.load(weights_only=True): {error}") from error
    if not isinstance(data, dict) or "model" not in data or not isinstance(data["model"], dict):
        raise ValueError(
            f"Checkpoint {path} is not in the official SAM2 layout {{'model': state_dict}}"
        )
    try:
        missing, unexpected = model.load_state_dict(data["model"], strict=False)
    except RuntimeError as error:  # shape mismatches
        raise ValueError(
            f"Checkpoint {path} does not match this config: {str(error).splitlines()[-1].strip()}. "
            "Pick the --config that the checkpoint was trained with"
        ) from None
    if missing or unexpected:
        raise ValueError(
            f"Checkpoint {path} does not match this config: "
            f"{len(missing)} missing keys (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected keys (e.g. {unexpected[:3]}). "
            "Pick the --config that the checkpoint was trained with"
        )


def model_settings(model) -> dict[str, Any]:
    """Everything the numpy engine needs to reproduce SAM2's inference rules."""
    decoder = model.sam_mask_decoder
    size = int(model.image_size)
    stride = int(model.backbone_stride)
    feat = size // stride
    return {
        "input_size": size,
        "backbone_stride": stride,
        "hidden_dim": int(model.hidden_dim),
        "mem_dim": int(model.mem_dim),
        "feature_shapes": {
            "pix_feat": [int(model.hidden_dim), feat, feat],
            "high_res_feat0": [int(model.hidden_dim) // 8, feat * 4, feat * 4],
            "high_res_feat1": [int(model.hidden_dim) // 4, feat * 2, feat * 2],
            "maskmem_features": [int(model.mem_dim), feat, feat],
        },
        "low_res_mask_size": feat * 4,
        "num_maskmem": int(model.num_maskmem),
        "max_obj_ptrs_in_encoder": int(model.max_obj_ptrs_in_encoder),
        "max_cond_frames_in_attn": int(model.max_cond_frames_in_attn),
        "memory_temporal_stride_for_eval": int(model.memory_temporal_stride_for_eval),
        "use_obj_ptrs_in_encoder": bool(model.use_obj_ptrs_in_encoder),
        "add_tpos_enc_to_obj_ptrs": bool(model.add_tpos_enc_to_obj_ptrs),
        "use_signed_tpos_enc_to_obj_ptrs": bool(model.use_signed_tpos_enc_to_obj_ptrs),
        "only_obj_ptrs_in_the_past_for_eval": bool(model.only_obj_ptrs_in_the_past_for_eval),
        "directly_add_no_mem_embed": bool(model.directly_add_no_mem_embed),
        "multimask_output_in_sam": bool(model.multimask_output_in_sam),
        "multimask_output_for_tracking": bool(model.multimask_output_for_tracking),
        "multimask_min_pt_num": int(model.multimask_min_pt_num),
        "multimask_max_pt_num": int(model.multimask_max_pt_num),
        "use_multimask_token_for_obj_ptr": bool(model.use_multimask_token_for_obj_ptr),
        "dynamic_multimask_via_stability": bool(decoder.dynamic_multimask_via_stability),
        "dynamic_multimask_stability_delta": float(decoder.dynamic_multimask_stability_delta),
        "dynamic_multimask_stability_thresh": float(decoder.dynamic_multimask_stability_thresh),
        "pred_obj_scores": bool(model.pred_obj_scores),
        "fixed_no_obj_ptr": bool(model.fixed_no_obj_ptr),
        "soft_no_obj_ptr": bool(model.soft_no_obj_ptr),
        "no_obj_embed_spatial": model.no_obj_embed_spatial is not None,
        "use_mask_input_as_output_without_sam": bool(model.use_mask_input_as_output_without_sam),
        "binarize_mask_from_pts_for_mem_enc": bool(model.binarize_mask_from_pts_for_mem_enc),
        "sigmoid_scale_for_mem_enc": float(model.sigmoid_scale_for_mem_enc),
        "sigmoid_bias_for_mem_enc": float(model.sigmoid_bias_for_mem_enc),
        "non_overlap_masks": bool(getattr(model, "non_overlap_masks", False)),
        "fill_hole_area": int(getattr(model, "fill_hole_area", 0)),
        "mask_threshold": 0.0,
        "no_obj_score": -1024.0,
        "mask_as_output_scale": 20.0,
        "mask_as_output_bias": -10.0,
        "prompt_logit_clamp": 32.0,
        "memory_dtype": "bfloat16",
    }


def model_constants(model) -> dict[str, Any]:
    """Small learned tensors the engine applies in numpy (float32 arrays)."""
    import numpy as np

    def array(tensor):
        return tensor.detach().to("cpu").float().numpy().astype(np.float32)

    constants = {
        "no_mem_embed": array(model.no_mem_embed).reshape(-1),
    }
    if model.pred_obj_scores and model.use_obj_ptrs_in_encoder:
        constants["no_obj_ptr"] = array(model.no_obj_ptr).reshape(-1)
    if model.use_obj_ptrs_in_encoder:
        constants["mask_downsample_weight"] = array(model.mask_downsample.weight).reshape(
            model.mask_downsample.weight.shape[-2:]
        )
        constants["mask_downsample_bias"] = array(model.mask_downsample.bias).reshape(1)
    return constants
