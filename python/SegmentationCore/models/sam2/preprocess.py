"""SAM2 input/output conversions in numpy (no torch).

* frames: resized to the model's square input with antialiased bilinear
  interpolation and normalised with the ImageNet mean/std, exactly as
  ``SAM2ImagePredictor`` (``SAM2Transforms``) does to a float image;
* prompt coordinates: working-resolution pixels -> model-input pixels;
* mask prompts: as ``SAM2VideoPredictor.add_new_mask`` (resize, >= 0.5) and
  ``SAM2Base._use_mask_as_output`` (+-10 logits, antialiased 4x downscale);
* low-res mask logits -> probabilities at working resolution (bilinear, as
  SAM2 resizes its output logits).
"""

from __future__ import annotations

import numpy as np

from .resize import resize


def preprocess_image(image: np.ndarray, input_size: int, mean, std) -> np.ndarray:
    """(H, W, 3) float sRGB in [0, 1] -> (1, 3, S, S) float32 model input."""
    image = np.asarray(image, np.float32)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    planes = np.ascontiguousarray(image.transpose(2, 0, 1))
    planes = resize(planes, (input_size, input_size), antialias=True)
    mean = np.asarray(mean, np.float32).reshape(3, 1, 1)
    std = np.asarray(std, np.float32).reshape(3, 1, 1)
    planes = (planes - mean) / std
    return planes[None].astype(np.float32, copy=False)


def points_to_model(points: np.ndarray, size: tuple[int, int], input_size: int) -> np.ndarray:
    """(..., 2) xy working-resolution pixels -> model-input pixels (float32)."""
    height, width = size
    points = np.asarray(points, np.float32)
    scale = np.array([width, height], np.float32)
    return (points / scale) * np.float32(input_size)


def mask_to_input(mask: np.ndarray, input_size: int) -> np.ndarray:
    """A working-resolution mask -> SAM2's binary (S, S) mask input.

    The mask is binarised first (probabilities at 0.5, booleans as they
    are), then resized with antialiasing and thresholded at 0.5, as
    ``add_new_mask`` does.
    """
    mask = np.asarray(mask)
    binary = mask if mask.dtype == bool else mask >= 0.5
    planes = binary.astype(np.float32)
    if planes.shape != (input_size, input_size):
        planes = resize(planes, (input_size, input_size), antialias=True)
        planes = (planes >= 0.5).astype(np.float32)
    return planes


def mask_input_to_logits(mask_input: np.ndarray, low_res_size: int, scale: float = 20.0, bias: float = -10.0) -> np.ndarray:
    """Binary (..., S, S) mask input -> (..., s, s) low-res logits
    (``_use_mask_as_output``: ``mask * 20 - 10``, antialiased downscale)."""
    high_res = np.asarray(mask_input, np.float32) * np.float32(scale) + np.float32(bias)
    return resize(high_res, (low_res_size, low_res_size), antialias=True)


def mask_downsample(mask_input: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """SAM2's learned ``mask_downsample`` conv (1 -> 1 channel, kernel = stride)
    on (N, S, S) binary masks -> (N, S/k, S/k)."""
    mask_input = np.asarray(mask_input, np.float32)
    k = weight.shape[-1]
    n, height, width = mask_input.shape
    blocks = mask_input.reshape(n, height // k, k, width // k, k)
    return (np.einsum("nyuxv,uv->nyx", blocks, weight.astype(np.float32)) + bias.astype(np.float32)[0]).astype(np.float32)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, np.float32)
    return (0.5 * (1.0 + np.tanh(0.5 * logits))).astype(np.float32)


def logits_to_size(low_res_logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, s, s) low-res logits -> (N, H, W) logits at working resolution."""
    return resize(np.asarray(low_res_logits, np.float32), size, antialias=False)


def logits_to_probabilities(low_res_logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, s, s) low-res logits -> (N, H, W) float32 probabilities."""
    return sigmoid(logits_to_size(low_res_logits, size))
