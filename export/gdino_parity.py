"""ONNX Runtime vs PyTorch parity for an exported GroundingDINO graph.

The PyTorch reference is the package's own ``GroundingDINO.forward`` on a
caption (its tokenizer, its text-mask code), so the check covers the wrapper
as well as the export. The ONNX graph is fed the tokenised inputs the package
computes.

Two-stage query selection: the model keeps the top-900 of ~10^4 encoder
positions. With random weights many scores are near-ties, so a 1e-5
difference can swap a query in or out. The check therefore

1. compares ``proposal_scores`` (before the top-k) directly,
2. counts how many selected positions differ between the two runtimes,
3. re-runs PyTorch with the ONNX selection forced, and compares ``logits``
   and ``boxes`` slot by slot.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
import torch

import gdino_wrapper

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Captions checked by default: one phrase, and several with a multi-word one
#: (two text lengths also exercise the dynamic token axis).
DEFAULT_CAPTIONS = ("person .", "person . red car . traffic light .")

#: Limits above which the export is refused (measured errors are ~1e-4).
TOLERANCE = {"logits": 1e-2, "boxes": 1e-3, "proposal_scores": 1e-2}


def synthetic_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A deterministic sRGB test picture ``(H, W, 3)`` in [0, 1]: smooth
    gradients, a few rectangles and discs, light noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([x / width, y / height, 0.5 + 0.5 * np.sin(x / 37.0 + y / 53.0)], -1) * 0.6
    for _ in range(6):
        x0, y0 = rng.integers(0, width - 16), rng.integers(0, height - 16)
        w, h = rng.integers(16, max(17, width // 3)), rng.integers(16, max(17, height // 3))
        image[y0 : y0 + h, x0 : x0 + w] = rng.uniform(0, 1, 3)
    for _ in range(4):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(8, min(width, height) / 4)
        image[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.uniform(0, 1, 3)
    image += rng.normal(0, 0.02, image.shape).astype(np.float32)
    return np.clip(image, 0, 1).astype(np.float32)


def normalise(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` sRGB [0, 1] -> ``(1, 3, H, W)`` model input."""
    mean = np.asarray(IMAGENET_MEAN, np.float32)
    std = np.asarray(IMAGENET_STD, np.float32)
    return ((image - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)


def text_inputs(model: torch.nn.Module, caption: str) -> dict[str, np.ndarray]:
    """The graph's text inputs as the package computes them for ``caption``."""
    from groundingdino.models.GroundingDINO.bertwarper import generate_masks_with_special_tokens_and_transfer_map

    tokenized = model.tokenizer([caption], padding="longest", return_tensors="pt")
    self_attention, position_ids, _ = generate_masks_with_special_tokens_and_transfer_map(
        tokenized, model.specical_tokens, model.tokenizer
    )
    return {
        "input_ids": tokenized["input_ids"].numpy().astype(np.int64),
        "attention_mask": tokenized["attention_mask"].numpy().astype(np.int64),
        "position_ids": position_ids.numpy().astype(np.int64),
        "text_self_attention_mask": self_attention.numpy().astype(bool),
        "token_type_ids": tokenized["token_type_ids"].numpy().astype(np.int64),
    }


@dataclasses.dataclass
class ParityResult:
    logits: float
    boxes: float
    proposal_scores: float
    selection_differences: int  # selected positions ONNX picked that PyTorch did not
    queries: int

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _max_abs(a: np.ndarray, b: np.ndarray, what: str) -> float:
    if a.shape != b.shape:
        raise AssertionError(f"{what}: ONNX shape {a.shape} != PyTorch shape {b.shape}")
    finite_a, finite_b = np.isfinite(a), np.isfinite(b)
    if not np.array_equal(finite_a, finite_b):
        raise AssertionError(f"{what}: ONNX and PyTorch disagree on which values are infinite")
    if not finite_a.any():
        return 0.0
    return float(np.abs(a[finite_a] - b[finite_b]).max())


def compare(
    model: torch.nn.Module,
    session,
    height: int,
    width: int,
    captions: Sequence[str] = DEFAULT_CAPTIONS,
    image: np.ndarray | None = None,
) -> ParityResult:
    """Max |ONNX - PyTorch| over ``captions`` on one image (see module doc)."""
    if image is None:
        image = synthetic_image(height, width)
    pixels = normalise(image)
    worst = ParityResult(0.0, 0.0, 0.0, 0, 0)
    for caption in captions:
        feed = {"image": pixels, **text_inputs(model, caption)}
        logits, boxes, scores, indices = session.run(gdino_wrapper.OUTPUT_NAMES, feed)
        with torch.no_grad(), gdino_wrapper.topk_control(torch.from_numpy(indices)) as recorder:
            reference = model(torch.from_numpy(pixels), captions=[caption])
        tokens = feed["input_ids"].shape[1]
        ref_logits = reference["pred_logits"][..., :tokens].numpy()
        ref_boxes = reference["pred_boxes"].numpy()
        ref_scores = recorder.scores.numpy()
        free_choice = torch.topk(recorder.scores, indices.shape[1], dim=1).indices.numpy()
        differences = sum(len(set(a.tolist()) - set(b.tolist())) for a, b in zip(indices, free_choice))
        worst = ParityResult(
            logits=max(worst.logits, _max_abs(logits, ref_logits, "logits")),
            boxes=max(worst.boxes, _max_abs(boxes, ref_boxes, "boxes")),
            proposal_scores=max(worst.proposal_scores, _max_abs(scores, ref_scores, "proposal_scores")),
            selection_differences=max(worst.selection_differences, differences),
            queries=int(indices.shape[1]),
        )
    return worst


def check(result: ParityResult, tolerance: dict[str, float] = TOLERANCE) -> None:
    """Raise if any error is above ``tolerance``."""
    bad = [f"{key} {getattr(result, key):.3g} > {limit:g}" for key, limit in tolerance.items() if getattr(result, key) > limit]
    if bad:
        raise RuntimeError("ONNX Runtime does not match PyTorch: " + ", ".join(bad))
