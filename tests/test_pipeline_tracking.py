"""Stage 3: matching, prompts, windows and passes, each rule against a known answer."""

import numpy as np
import pytest

from SegmentationCore.pipeline import metrics, stage2, tracking
from SegmentationCore import synthetic
from SegmentationCore.pipeline.mask_cache import MaskCache
from SegmentationCore.pipeline.tracking import TrackingParams, build_prompts, match_stage2, merge_into_cache
from SegmentationCore.core.types import TrackedFrame

SIZE = (60, 100)


def rect(x0, y0, x1, y1):
    mask = np.zeros(SIZE, np.float32)
    mask[y0:y1, x0:x1] = 1.0
    return mask


def stage2_of(*masks, frame=0, labels=None):
    masks = np.stack(masks)
    return stage2.cleanup_masks(masks, labels or ["person"] * len(masks), np.ones(len(masks)), stage2.Stage2Params(discard_sim=2.0, merge_sim=2.0), frame)


def cache_holding(*masks, frame=0):
    cache = MaskCache(SIZE)
    ids = [cache.new_layer("person", frame).id for _ in masks]
    merge_into_cache(cache, TrackedFrame(frame, ids, np.stack(masks), np.ones(len(ids), np.float32)))
    return cache


# ---------------------------------------------------------------- matching rules


def test_direct_match_keeps_the_layer_and_prompts_with_the_fresh_stage2_mask():
    cached = rect(10, 10, 30, 50)  # the cache has drifted by one pixel
    fresh = rect(11, 10, 31, 50)  # IoU 0.905
    cache = cache_holding(cached)
    matches = match_stage2(cache, 0, stage2_of(fresh))
    assert [(m.kind, m.layer_id) for m in matches.entries] == [("direct", 1)]
    assert matches.new_layers == []
    prompts = build_prompts(cache, 0, matches)
    np.testing.assert_array_equal(prompts[1].mask, fresh)  # not the union with the drifted cache


def test_a_stage2_part_of_a_layer_is_a_partial_match_not_a_new_layer():
    person = rect(10, 5, 30, 55)
    upper_half = rect(10, 5, 30, 30)
    cache = cache_holding(person)
    matches = match_stage2(cache, 0, stage2_of(upper_half))
    assert [(m.kind, m.layer_id) for m in matches.entries] == [("partial", 1)]
    assert matches.new_layers == []
    np.testing.assert_array_equal(build_prompts(cache, 0, matches)[1].mask, person)


def test_a_partial_match_restores_the_part_the_cache_lost():
    cache = cache_holding(rect(10, 5, 30, 25))  # tracking lost the legs
    whole = rect(10, 5, 30, 55)
    matches = match_stage2(cache, 0, stage2_of(whole))
    assert matches.entries[0].kind == "partial"
    np.testing.assert_array_equal(build_prompts(cache, 0, matches)[1].mask, whole)


def test_a_stage2_mask_over_two_layers_is_discarded():
    left, right = rect(10, 10, 30, 50), rect(32, 10, 52, 50)
    cache = cache_holding(left, right)
    matches = match_stage2(cache, 0, stage2_of(np.maximum(left, right)))
    assert matches.entries[0].kind == "discarded" and matches.entries[0].overlaps == [1, 2]
    assert matches.new_layers == []
    prompts = build_prompts(cache, 0, matches)
    np.testing.assert_array_equal(prompts[1].mask, left)  # layer 1 does not swallow its neighbour
    np.testing.assert_array_equal(prompts[2].mask, right)


def test_an_unmatched_mask_starts_a_new_layer():
    cache = cache_holding(rect(10, 10, 30, 50))
    newcomer = rect(60, 10, 80, 50)
    matches = match_stage2(cache, 0, stage2_of(newcomer))
    assert matches.entries[0].kind == "new" and matches.entries[0].layer_id == 2
    assert [info.name for info in matches.new_layers] == ["/person/person_0002"]
    assert cache.layer_ids == [1]  # matching is pure
    cache.add_layers(matches.new_layers)
    prompts = build_prompts(cache, 0, matches)
    assert sorted(prompts) == [1, 2]
    np.testing.assert_array_equal(prompts[2].mask, newcomer)


def test_matching_only_considers_layers_of_the_same_class():
    cache = cache_holding(rect(10, 10, 30, 50))
    matches = match_stage2(cache, 0, stage2_of(rect(10, 10, 30, 50), labels=["car"]))
    assert matches.entries[0].kind == "new" and matches.new_layers[0].name == "/car/car_0001"


def test_tiny_stage2_masks_and_layers_are_not_prompted():
    cache = cache_holding(rect(0, 0, 3, 3))
    matches = match_stage2(cache, 0, stage2_of(rect(50, 50, 53, 53)))
    assert matches.entries[0].kind == "too-small"
    assert build_prompts(cache, 0, matches) == {}


def test_building_prompts_never_writes_the_cache():
    cache = cache_holding(rect(10, 10, 30, 50))
    before = cache.id_map(0), cache.probability_map(0)
    matches = match_stage2(cache, 0, stage2_of(rect(10, 10, 30, 30), rect(60, 10, 80, 50)))
    cache.add_layers(matches.new_layers)
    build_prompts(cache, 0, matches)
    np.testing.assert_array_equal(cache.id_map(0), before[0])
    np.testing.assert_array_equal(cache.probability_map(0), before[1])


class ShrinkingTracker:
    """Returns every prompt mask eroded by 3 pixels on every frame."""

    def __init__(self):
        self.calls = []

    def track(self, frames, prompts, frame_order):
        from SegmentationCore.core import maskops

        self.calls.append((sorted(prompts), list(frame_order)))
        first = prompts[frame_order[0]]
        ids = sorted(first)
        masks = np.stack([maskops.erode(first[i].mask, 3) for i in ids])
        for frame in frame_order:
            yield TrackedFrame(frame, ids, masks, np.ones(len(ids), np.float32))


def test_only_tracking_results_enter_the_cache_even_on_the_prompted_frame():
    from SegmentationCore.plates.arrays import ArrayFrameSource

    frames = ArrayFrameSource([np.zeros(SIZE + (3,), np.float32)] * 3)
    cache = MaskCache(SIZE)
    prompt_mask = rect(20, 10, 40, 50)
    tracking.run_pass(ShrinkingTracker(), frames, cache, {0: stage2_of(prompt_mask)}, TrackingParams(window=3, reprompt_every=3))
    area = cache.layer_areas(0)[1]
    assert area == (20 - 6) * (40 - 6)  # the tracker's eroded mask, not the 20x40 prompt


# ---------------------------------------------------------------- windows and passes


def test_reprompt_schedule_and_window_frames():
    frames = list(range(1001, 1024))
    params = TrackingParams()
    assert tracking.reprompt_frames(frames, params, "forward") == [1001, 1006, 1011, 1016, 1021]
    assert tracking.reprompt_frames(frames, params, "backward") == [1023, 1018, 1013, 1008, 1003]
    assert tracking.reprompt_frames(frames, params, "forward", keyframes=[1004]) == [1001, 1004, 1006, 1011, 1016, 1021]
    assert tracking.window_frames(frames, 1006, "forward", 20) == list(range(1006, 1024))
    assert tracking.window_frames(frames, 1023, "backward", 20) == list(range(1023, 1003, -1))
    assert tracking.stage2_frames(frames, params) == sorted({1001, 1006, 1011, 1016, 1021, 1023, 1018, 1013, 1008, 1003})
    with pytest.raises(ValueError):
        TrackingParams(window=4, reprompt_every=5).validate()


def one_walker(num_frames=24, **kwargs):
    spec = synthetic.ShotSpec(width=160, height=90, num_frames=num_frames, first_frame=1, objects=[
        synthetic.ObjectSpec(radius=(0.1, 0.3), start=(0.4, 0.5), velocity=(0.02, 0.0), **kwargs),
    ])
    return synthetic.SyntheticShot(spec)


def stage2_results(shot, detector, segmenter, frames=None):
    return {f: stage2.segment_frame(segmenter, shot, f, detector.detect(shot, f, ["person"])) for f in (frames or shot.frame_numbers)}


def test_windows_track_every_layer_in_one_batched_session_per_reprompt():
    shot = one_walker()
    detector, segmenter, tracker = synthetic.make_backends(shot)
    cache = MaskCache(shot.size)
    result = tracking.run_pass(tracker, shot, cache, stage2_results(shot, detector, segmenter), TrackingParams())
    starts = [call["frames"][0] for call in tracker.calls]
    assert starts == [1, 6, 11, 16, 21]
    assert all(len(call["frames"]) == min(20, 25 - start) for call, start in zip(tracker.calls, starts))
    assert [w.start_frame for w in result.windows] == starts
    assert cache.layer_ids == [1]
    assert [m.counts() for m in result.matches[1:]] == [{"direct": 1}] * 4


def test_backward_pass_recovers_the_frames_before_the_first_detection():
    shot = one_walker()
    missed = frozenset((0, f) for f in range(1, 9))  # not found before frame 9
    detector = synthetic.SyntheticDetector(shot, synthetic.DetectorFaults(missed=missed))
    segmenter, tracker = synthetic.SyntheticSegmenter(shot), synthetic.SyntheticTracker(shot)
    results = stage2_results(shot, detector, segmenter)
    early = range(1, 11)

    def early_j(cache):
        return np.mean([metrics.region_similarity(cache.layer_mask(f, 1), shot.gt_masks(f)[0]) for f in early])

    forward_only = MaskCache(shot.size)
    tracking.track_shot(tracker, shot, forward_only, results, TrackingParams(backward=False))
    assert early_j(forward_only) < 0.2  # first found at the re-prompt on frame 11
    both = MaskCache(shot.size)
    tracking.track_shot(tracker, shot, both, results, TrackingParams())
    assert early_j(both) > 0.99
    assert both.layer_ids == [1]


def test_a_late_union_box_does_not_merge_two_tracked_people():
    spec = synthetic.ShotSpec(width=200, height=100, num_frames=12, first_frame=1, objects=[
        synthetic.ObjectSpec(radius=(0.12, 0.3), start=(0.6, 0.5)),
        synthetic.ObjectSpec(radius=(0.12, 0.3), start=(0.88, 0.5), colour=(0.1, 0.4, 0.9)),
    ])
    shot = synthetic.SyntheticShot(spec)
    # On the re-prompt frame 6 only a box around both people is found.
    faults = synthetic.DetectorFaults(missed=frozenset({(0, 6), (1, 6)}), false_pairs=frozenset({(0, 1, 6)}))
    detector = synthetic.SyntheticDetector(shot, faults)
    _, segmenter, tracker = synthetic.make_backends(shot)
    results = stage2_results(shot, detector, segmenter)
    assert len(results[6]) == 1  # stage 2 alone cannot tell: a single mask over both
    cache = MaskCache(shot.size)
    passes = tracking.track_shot(tracker, shot, cache, results, TrackingParams(backward=False))
    assert passes[0].matches[1].entries[0].kind == "discarded"
    scores = metrics.evaluate(shot.frame_numbers, cache.layers, shot.gt_masks)
    assert scores.jf > 0.98 and scores.id_switches == 0 and len(cache.layer_ids) == 2


def test_objects_entering_later_get_new_layers_with_stable_names():
    spec = synthetic.ShotSpec(width=160, height=90, num_frames=20, first_frame=1, objects=[
        synthetic.ObjectSpec(radius=(0.1, 0.3), start=(0.4, 0.5)),
        synthetic.ObjectSpec(radius=(0.1, 0.3), start=(1.2, 0.5), present=(7, 19), colour=(0.2, 0.3, 0.9)),
    ])
    shot = synthetic.SyntheticShot(spec)
    detector, segmenter, tracker = synthetic.make_backends(shot)
    cache = MaskCache(shot.size)
    tracking.track_shot(tracker, shot, cache, stage2_results(shot, detector, segmenter), TrackingParams())
    assert cache.names() == {1: "/person/person_0001", 2: "/person/person_0002"}
    assert cache.layer(2).created_frame == 11  # first re-prompt after it appeared
    scores = metrics.evaluate(shot.frame_numbers, cache.layers, shot.gt_masks)
    assert scores.jf > 0.99  # the backward pass fills frames 8-10


def test_the_full_loop_on_a_faulty_shot_keeps_identities():
    spec = synthetic.generate_shot(seed=3, num_frames=30, width=320, height=180, num_objects=4)
    shot = synthetic.SyntheticShot(spec)
    faults = synthetic.FAULT_PRESETS["faulty"]()
    faults.tracker.drift = 0.0
    detector, segmenter, tracker = synthetic.make_backends(shot, faults)
    params = TrackingParams()
    results = stage2_results(shot, detector, segmenter, tracking.stage2_frames(shot.frame_numbers, params))
    cache = MaskCache(shot.size)
    tracking.track_shot(tracker, shot, cache, results, params)
    scores = metrics.evaluate(shot.frame_numbers, cache.layers, shot.gt_masks)
    assert scores.id_switches == 0 and scores.extra_layers == 0
    assert scores.jf > 0.9


def test_a_pass_resumes_after_an_interruption_with_the_same_result():
    shot = one_walker(num_frames=30)
    detector, segmenter, tracker = synthetic.make_backends(shot)
    results = stage2_results(shot, detector, segmenter)
    whole = MaskCache(shot.size)
    tracking.run_pass(tracker, shot, whole, results, TrackingParams())

    class Stop(Exception):
        pass

    def stop_after_two(index, total, matches, window):
        if index == 1:
            raise Stop

    resumed = MaskCache(shot.size)
    with pytest.raises(Stop):
        tracking.run_pass(tracker, shot, resumed, results, TrackingParams(), on_window=stop_after_two)
    tracking.run_pass(tracker, shot, resumed, results, TrackingParams(), skip_windows=2)
    for frame in shot.frame_numbers:
        np.testing.assert_array_equal(resumed.id_map(frame), whole.id_map(frame))


def test_track_window_rejects_unregistered_layers_and_out_of_order_frames():
    from SegmentationCore.plates.arrays import ArrayFrameSource
    from SegmentationCore.core.types import Prompt

    frames = ArrayFrameSource([np.zeros(SIZE + (3,), np.float32)] * 4)
    cache = MaskCache(SIZE)
    with pytest.raises(ValueError, match="register"):
        tracking.track_window(ShrinkingTracker(), frames, cache, 0, {5: Prompt(mask=rect(0, 0, 10, 10))})

    class Backwards:
        def track(self, frames, prompts, order):
            yield TrackedFrame(order[-1], [1], np.zeros((1,) + SIZE, np.float32), np.ones(1, np.float32))

    cache.new_layer("person")
    with pytest.raises(RuntimeError, match="expected 0"):
        tracking.track_window(Backwards(), frames, cache, 0, {1: Prompt(mask=rect(0, 0, 10, 10))})
