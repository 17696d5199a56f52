"""SAM2 video tracking vs SAM2VideoPredictor (tiny config, random weights).

SAM2 1.1.0 tracks objects one at a time; the engine batches them. Parity is
checked per object and per frame: low-res mask logits within 1e-3, object
scores within 1e-3, and the same foreground pixels at working resolution.
Random weights make the masks meaningless, but the arithmetic is the same.
"""

import numpy as np
import pytest

from SegmentationCore.core.errors import PlateError, PromptError
from SegmentationCore.plates.arrays import ArrayFrameSource
from SegmentationCore.models.sam2 import FeatureCache, load_sam2
from SegmentationCore.models.sam2.preprocess import logits_to_size
from SegmentationCore.models.sam2.tracker import (
    Sam2VideoTracker,
    _ObjectState,
    _Memory,
    from_bfloat16,
    to_bfloat16,
)
from SegmentationCore.core.types import Prompt

from sam2_reference import disc_mask, disc_positions, run_video_predictor, synthetic_clip

HEIGHT, WIDTH = 180, 240


@pytest.fixture(scope="module")
def tracker(sam2_mixed_model_dir):
    _, tracker = load_sam2(sam2_mixed_model_dir, feature_cache=FeatureCache(max_bytes=512 << 20))
    return tracker


@pytest.fixture(scope="module")
def plain_tracker(sam2_mixed_plain_model_dir):
    """A model folder as exported before issue 13 (plain memory attention)."""
    _, tracker = load_sam2(sam2_mixed_plain_model_dir, feature_cache=FeatureCache(max_bytes=512 << 20))
    return tracker


def box_of(t, which):
    cx, cy, radius, _ = disc_positions(t, WIDTH)[which]
    return np.array([cx - radius - 4, cy - radius - 3, cx + radius + 5, cy + radius + 2], np.float32)


def compare(reference, tracked_frames, object_ids):
    assert [t.frame for t in tracked_frames] == list(reference)
    seen_present = seen_absent = False
    for tracked in tracked_frames:
        low_res, video_res, scores = reference[tracked.frame]
        assert tracked.object_ids == object_ids
        for k in range(len(object_ids)):
            where = f"frame {tracked.frame}, object {object_ids[k]}"
            np.testing.assert_allclose(tracked.low_res_logits[k], low_res[k], atol=1e-3, rtol=0, err_msg=where)
            assert abs(tracked.object_scores[k] - scores[k]) < 1e-3, where
            ours = logits_to_size(tracked.low_res_logits[k:k + 1], (HEIGHT, WIDTH))[0]
            np.testing.assert_allclose(ours, video_res[k], atol=1e-3, rtol=0, err_msg=where)
            differ = ((video_res[k] > 0) != (tracked.probabilities[k] > 0.5)) & (np.abs(video_res[k]) > 1e-3)
            assert not differ.any(), f"{where}: {int(differ.sum())} foreground pixels differ"
            seen_present |= scores[k] > 0
            seen_absent |= scores[k] <= 0
    return seen_present, seen_absent


@pytest.mark.export
def test_forward_tracking_matches_video_predictor(tracker):
    """Three objects batched: a mask prompt (also re-prompted on frame 3), a
    box, and an empty mask (object absent); forward over five frames."""
    images = synthetic_clip(5, HEIGHT, WIDTH)
    frames = ArrayFrameSource(images)
    empty = np.zeros((HEIGHT, WIDTH), bool)
    prompts = {
        0: {1: Prompt(mask=disc_mask(0, 0, HEIGHT, WIDTH).astype(np.float32)), 2: Prompt(box=box_of(0, 1)),
            3: Prompt(mask=empty.astype(np.float32))},
        3: {1: Prompt(mask=disc_mask(3, 0, HEIGHT, WIDTH).astype(np.float32))},
    }

    def add(predictor, state):
        predictor.add_new_mask(state, 0, 1, disc_mask(0, 0, HEIGHT, WIDTH))
        predictor.add_new_points_or_box(state, 0, 2, box=box_of(0, 1))
        predictor.add_new_mask(state, 0, 3, empty)
        predictor.add_new_mask(state, 3, 1, disc_mask(3, 0, HEIGHT, WIDTH))

    reference = run_video_predictor(images, add, start=0, reverse=False)
    tracked = list(tracker.track(frames, prompts, range(5)))
    present, absent = compare(reference, tracked, [1, 2, 3])
    assert present and absent
    # the IoU head's prediction (quality control): none on conditioning frames
    for frame in tracked:
        conditioned = {o for o in prompts.get(frame.frame, {})}
        for k, object_id in enumerate(frame.object_ids):
            value = frame.iou_predictions[k]
            assert np.isnan(value) if object_id in conditioned else np.isfinite(value), (frame.frame, object_id, value)


@pytest.mark.export
def test_folded_and_plain_memory_attention_track_alike(tracker, plain_tracker):
    """The folded memory attention (default export) and the plain graph of
    older model folders give the same tracking (1e-3 on low-res logits, same
    foreground) against SAM2VideoPredictor, and agree with each other."""
    assert tracker.model.manifest["memory_attention_variant"] == "folded"
    assert "memory_attention_variant" not in plain_tracker.model.manifest
    images = synthetic_clip(6, HEIGHT, WIDTH, seed=2)
    frames = ArrayFrameSource(images)
    prompts = {0: {1: Prompt(mask=disc_mask(0, 0, HEIGHT, WIDTH).astype(np.float32)), 2: Prompt(box=box_of(0, 1))}}

    def add(predictor, state):
        predictor.add_new_mask(state, 0, 1, disc_mask(0, 0, HEIGHT, WIDTH))
        predictor.add_new_points_or_box(state, 0, 2, box=box_of(0, 1))

    reference = run_video_predictor(images, add, start=0, reverse=False)
    folded = list(tracker.track(frames, prompts, range(6)))
    plain = list(plain_tracker.track(frames, prompts, range(6)))
    compare(reference, folded, [1, 2])
    compare(reference, plain, [1, 2])
    worst = max(float(np.abs(a.low_res_logits - b.low_res_logits).max()) for a, b in zip(folded, plain))
    assert worst < 1e-3


@pytest.mark.export
def test_backward_tracking_matches_video_predictor(tracker):
    """Two objects batched, prompted on the last frame (a click: multimask
    choice; a mask), tracked backwards to the first frame."""
    images = synthetic_clip(4, HEIGHT, WIDTH, seed=1)
    frames = ArrayFrameSource(images, first_frame=1001)  # frame numbers are not indices
    cx, cy, _, _ = disc_positions(3, WIDTH)[1]
    click = np.array([[cx, cy]], np.float32)
    prompts = {1004: {7: Prompt(points=click, point_labels=[1]), 9: Prompt(mask=disc_mask(3, 0, HEIGHT, WIDTH).astype(np.float32))}}

    def add(predictor, state):
        predictor.add_new_points_or_box(state, 3, 7, points=click, labels=np.array([1], np.int32))
        predictor.add_new_mask(state, 3, 9, disc_mask(3, 0, HEIGHT, WIDTH))

    reference = run_video_predictor(images, add, start=3, reverse=True)
    reference = {1001 + index: value for index, value in reference.items()}
    tracked = list(tracker.track(frames, prompts, [1004, 1003, 1002, 1001]))
    compare(reference, tracked, [7, 9])


# ---------------------------------------------------------------------------- memory-bank rules (no model runs)


class _Settings:
    """A tracker over a stand-in model that only carries SAM2.1 settings."""

    def __init__(self, sam2_model_dir):
        import json

        self.settings = json.loads((sam2_model_dir / "manifest.json").read_text())["settings"]


def _state(cond, tracked):
    memory = _Memory(np.zeros(1, np.uint16), np.zeros(1, np.float32))
    return _ObjectState({t: memory for t in cond}, {}, {t: _Memory(memory.maskmem, memory.obj_ptr) for t in tracked})


def test_memory_layout_forward(sam2_model_dir):
    tracker = Sam2VideoTracker(_Settings(sam2_model_dir))
    layout = tracker._layout(_state([0], range(1, 10)), 10, reverse=False, num_frames=100)
    assert layout.memory_frames == (("cond", 0),) + tuple(("tracked", t) for t in (4, 5, 6, 7, 8, 9))
    assert layout.memory_tpos == (6, 5, 4, 3, 2, 1, 0)
    assert layout.pointer_frames == (("cond", 0),) + tuple(("tracked", t) for t in range(9, 0, -1))
    assert layout.pointer_tpos == (10,) + tuple(range(1, 10))


def test_memory_layout_backward_and_future_conditioning(sam2_model_dir):
    tracker = Sam2VideoTracker(_Settings(sam2_model_dir))
    # backward from a prompt on frame 50, with another prompt on frame 20 (in the "future")
    layout = tracker._layout(_state([50, 20], range(41, 50)), 40, reverse=True, num_frames=60)
    assert layout.memory_frames[:2] == (("cond", 50), ("cond", 20))
    assert layout.memory_tpos == (6, 6, 5, 4, 3, 2, 1, 0)
    assert layout.memory_frames[2:] == tuple(("tracked", t) for t in (46, 45, 44, 43, 42, 41))
    # pointers: only the conditioning frame "in the past" (50), with a signed offset
    assert layout.pointer_frames[0] == ("cond", 50)
    assert layout.pointer_tpos[0] == (40 - 50) * -1
    assert ("cond", 20) not in layout.pointer_frames
    assert layout.pointer_tpos[1:] == tuple(range(1, 10))
    # 15 pointers at most, stopping at the first frame of the shot
    layout = tracker._layout(_state([0], range(1, 30)), 30, reverse=False, num_frames=60)
    assert len(layout.pointer_frames) == 1 + 15
    layout = tracker._layout(_state([5], []), 0, reverse=False, num_frames=60)
    assert layout.pointer_frames == () and layout.memory_frames == (("cond", 5),)


def test_pruning_keeps_memory_bounded(sam2_model_dir):
    tracker = Sam2VideoTracker(_Settings(sam2_model_dir))
    state = _state([0], [])
    for index in range(1, 200):
        state.tracked[index] = _Memory(np.zeros(1, np.uint16), np.zeros(1, np.float32))
        tracker._prune(state, index, reverse=False)
        assert len(state.tracked) <= 16
        assert sum(m.maskmem is not None for m in state.tracked.values()) <= 7
        # everything the next frame attends to is still there
        layout = tracker._layout(state, index + 1, reverse=False, num_frames=1000)
        assert len(layout.memory_frames) == 1 + min(index, 6)
        assert len(layout.pointer_frames) == 1 + min(index, 15)


@pytest.mark.export
def test_bfloat16_round_trip_is_nearest_even():
    values = np.array([1.0, 1.00390625, 1.005859375, -3.14159, 1e-20, 65504.0], np.float32)
    import torch

    expected = torch.from_numpy(values).to(torch.bfloat16).float().numpy()
    np.testing.assert_array_equal(from_bfloat16(to_bfloat16(values)), expected)


@pytest.mark.parametrize("order, message", [([0, 2, 1], "ascending"), ([], "empty")])
def test_bad_frame_order(tracker, order, message):
    frames = ArrayFrameSource(synthetic_clip(3, HEIGHT, WIDTH))
    with pytest.raises(ValueError, match=message):
        tracker.track(frames, {0: {1: Prompt(box=[1, 1, 50, 50])}}, order)


def test_bad_prompts(tracker):
    frames = ArrayFrameSource(synthetic_clip(3, HEIGHT, WIDTH))
    with pytest.raises(PromptError):
        tracker.track(frames, {}, [0, 1])
    with pytest.raises(PlateError, match="frame 7"):
        tracker.track(frames, {7: {1: Prompt(box=[1, 1, 50, 50])}}, [0, 1])
    with pytest.raises(PromptError, match="working resolution"):
        tracker.track(frames, {0: {1: Prompt(mask=np.ones((5, 5), np.float32))}}, [0, 1])
