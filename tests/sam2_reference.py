"""PyTorch SAM2 references for the SAM2 parity tests (tiny config, random weights).

Builds the same model the ``sam2_model_dir`` fixture exported (same config,
same seed) and runs ``SAM2ImagePredictor`` / ``SAM2VideoPredictor`` on it.
The video predictor is given the engine's preprocessed frames (its own
loader reads JPEG folders through PIL); preprocessing itself is compared
with ``SAM2Transforms`` separately.
"""

from __future__ import annotations

import functools

import numpy as np

from fixtures_sam2 import SAM2_MIXED_SEED, SAM2_TEST_CONFIG, SAM2_TEST_SEED


@functools.lru_cache(maxsize=2)
def reference_model(seed: int = SAM2_TEST_SEED):
    """The PyTorch model a fixture folder was exported from (SAM2VideoPredictor)."""
    import sam2_model

    _, config_path = sam2_model.resolve_config(SAM2_TEST_CONFIG)
    return sam2_model.build_model(config_path, seed=seed)


def mixed_reference_model():
    return reference_model(SAM2_MIXED_SEED)


def synthetic_clip(count: int, height: int = 180, width: int = 240, seed: int = 0) -> list[np.ndarray]:
    """Two coloured discs moving across a gradient (float32 sRGB frames)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for t in range(count):
        image = np.stack([x / width, y / height, np.full_like(x, 0.3)], axis=-1)
        for cx, cy, radius, colour in disc_positions(t, width):
            image[(x - cx) ** 2 + (y - cy) ** 2 < radius**2] = colour
        frames.append(image.astype(np.float32))
    return frames


def disc_positions(t: int, width: int = 240):
    return [
        (60 + 5 * t, 70, 28, (1.0, 0.2, 0.1)),
        (width - 70 - 4 * t, 115, 34, (0.1, 0.3, 1.0)),
    ]


def disc_mask(t: int, which: int, height: int = 180, width: int = 240) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    cx, cy, radius, _ = disc_positions(t, width)[which]
    return (x - cx) ** 2 + (y - cy) ** 2 < radius**2


def run_video_predictor(images: list[np.ndarray], add_prompts, start: int, reverse: bool, seed: int = SAM2_MIXED_SEED):
    """``SAM2VideoPredictor.propagate_in_video`` on ``images`` (engine-preprocessed).

    ``add_prompts(predictor, state)`` adds the prompts. Returns
    ``{frame: (low_res (K, s, s), video_res (K, H, W), scores (K,))}``.
    """
    import torch
    import sam2.sam2_video_predictor as video_module

    from SegmentationCore.models.sam2.preprocess import preprocess_image

    model = reference_model(seed)
    height, width = images[0].shape[:2]
    tensors = torch.from_numpy(np.concatenate([
        preprocess_image(image, int(model.image_size), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]) for image in images
    ]))
    original = video_module.load_video_frames
    video_module.load_video_frames = lambda **kwargs: (tensors, height, width)
    try:
        state = model.init_state("in-memory")
    finally:
        video_module.load_video_frames = original
    add_prompts(model, state)
    results = {}
    for frame, object_ids, video_res in model.propagate_in_video(state, start_frame_idx=start, reverse=reverse):
        low_res, scores = [], []
        for index in range(len(object_ids)):
            outputs = state["output_dict_per_obj"][index]
            out = outputs["cond_frame_outputs"].get(frame) or outputs["non_cond_frame_outputs"].get(frame)
            low_res.append(out["pred_masks"][0, 0].numpy())
            scores.append(float(out["object_score_logits"].reshape(-1)[0]))
        results[frame] = (np.stack(low_res), video_res[:, 0].numpy(), np.array(scores, np.float32))
    return results
