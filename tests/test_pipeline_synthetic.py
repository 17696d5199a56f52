"""Synthetic shots and backends: determinism, ground truth, and each injected fault."""

import numpy as np
import pytest

from SegmentationCore.core import maskops
from SegmentationCore import plates, synthetic
from SegmentationCore.core.types import Prompt


@pytest.fixture(scope="module")
def shot():
    return synthetic.SyntheticShot(synthetic.generate_shot(seed=3, num_frames=30, width=320, height=180, num_objects=5))


def test_shots_are_deterministic_from_the_seed(shot):
    again = synthetic.SyntheticShot(synthetic.generate_shot(seed=3, num_frames=30, width=320, height=180, num_objects=5))
    other = synthetic.SyntheticShot(synthetic.generate_shot(seed=4, num_frames=30, width=320, height=180, num_objects=5))
    np.testing.assert_array_equal(shot.image(1010), again.image(1010))
    assert not np.array_equal(shot.image(1010), other.image(1010))
    masks, masks_again = shot.gt_masks(1010), again.gt_masks(1010)
    assert masks.keys() == masks_again.keys()
    assert all(np.array_equal(masks[k], masks_again[k]) for k in masks)


def test_spec_round_trips_through_json(tmp_path, shot):
    shot.spec.save(tmp_path / "s.json")
    assert synthetic.ShotSpec.load(tmp_path / "s.json") == shot.spec


def test_ground_truth_is_visible_soft_alpha_with_occlusion(shot):
    for frame in shot.frame_numbers[::3]:
        masks = shot.gt_masks(frame)
        total = sum(masks.values())
        assert total.max() <= 1.0 + 1e-5  # visible alphas partition coverage
        soft = [m for m in masks.values() if ((m > 0.05) & (m < 0.95)).any()]
        assert soft, "edges are soft"
    # somewhere in the shot one object hides part of another
    hidden = 0
    for frame in shot.frame_numbers:
        for k, visible in shot.gt_masks(frame).items():
            full = shot.full_mask(k, frame)
            hidden = max(hidden, np.count_nonzero(full >= 0.5) - np.count_nonzero(visible >= 0.5))
    assert hidden > 100


def test_objects_enter_and_leave(shot):
    first, last = shot.frame_numbers[0], shot.frame_numbers[-1]
    assert 0 not in shot.gt_masks(first) and 0 in shot.gt_masks(last)  # enters from the left
    assert 1 in shot.gt_masks(first) and 1 not in shot.gt_masks(last)  # leaves on the right


def test_any_resolution_gives_the_same_shapes(shot):
    small = shot.gt_masks(1015, (90, 160))
    large = shot.gt_masks(1015, (360, 640))
    for k in small:
        down = maskops.resize_area(large[k], (90, 160))
        assert maskops.iou(small[k], down) > 0.9
    assert shot.image(1015, (90, 160)).shape == (90, 160, 3)


@pytest.mark.parametrize("extension", ["exr", "png"])
def test_plates_written_to_disk_read_back_as_the_render(tmp_path, shot, extension):
    pattern = shot.write_plate(tmp_path, "plate", extension, frames=[1001, 1002])
    assert (tmp_path / "plate.shot.json").is_file()
    source = plates.PlateFrameSource(plates.parse_sequence(pattern), max_size=None)
    assert source.frame_numbers == [1001, 1002]
    error = np.abs(source.image(1002) - shot.image(1002)).max()
    assert error < (0.01 if extension == "exr" else 0.5 / 255 + 1e-4)


def detect(shot, faults, frame=1015):
    return synthetic.SyntheticDetector(shot, faults).detect(shot, frame, ["person"])


def test_detector_answers_from_ground_truth_and_honours_the_prompt(shot):
    clean = detect(shot, synthetic.DetectorFaults())
    truth = shot.gt_masks(1015)
    assert len(clean) == len(truth)
    assert len(synthetic.SyntheticDetector(shot).detect(shot, 1015, ["car"])) == 0


def test_detector_faults(shot):
    clean = detect(shot, synthetic.DetectorFaults())
    assert len(detect(shot, synthetic.DetectorFaults(miss_rate=1.0))) == 0
    pair = detect(shot, synthetic.DetectorFaults(false_pairs=frozenset({(2, 3, 1015)})))
    assert len(pair) == len(clean) + 1
    union = pair.boxes[-1]
    boxes = {k: maskops.bounding_box(m) for k, m in shot.gt_masks(1015).items()}
    np.testing.assert_allclose(union[:2], np.minimum(boxes[2], boxes[3])[:2])
    part = detect(shot, synthetic.DetectorFaults(part_boxes=frozenset({(2, 1015)})))
    assert len(part) == len(clean) + 1 and part.boxes[-1][3] < boxes[2][3]
    jittered = detect(shot, synthetic.DetectorFaults(jitter=0.05))
    assert not np.allclose(jittered.boxes, clean.boxes)
    np.testing.assert_array_equal(jittered.boxes, detect(shot, synthetic.DetectorFaults(jitter=0.05)).boxes)


def test_segmenter_reads_boxes_points_and_masks_like_sam(shot):
    segmenter = synthetic.SyntheticSegmenter(shot)
    truth = shot.gt_masks(1015)
    box = maskops.bounding_box(truth[2])
    upper = box.copy()
    upper[3] = box[1] + 0.4 * (box[3] - box[1])
    centre = np.argwhere(truth[2] >= 0.99).mean(axis=0)[::-1]
    result = segmenter.segment(shot, 1015, [Prompt(box=box), Prompt(box=upper), Prompt(points=[centre]), Prompt(mask=truth[2])])
    assert maskops.iou(result.probabilities[0], truth[2]) > 0.99  # box: whole object
    assert 0.2 < np.count_nonzero(result.probabilities[1] >= 0.5) / np.count_nonzero(truth[2] >= 0.5) < 0.6  # part
    assert maskops.iou(result.probabilities[2], truth[2]) > 0.99  # click
    assert maskops.iou(result.probabilities[3], truth[2]) > 0.99  # mask
    assert segmenter.calls == [(1015, 4)]


def test_segmenter_size_faults(shot):
    truth = shot.gt_masks(1015)[2]
    box = maskops.bounding_box(truth)
    area = np.count_nonzero(truth >= 0.5)
    small = synthetic.SyntheticSegmenter(shot, synthetic.SegmenterFaults(shrink_rate=1.0)).segment(shot, 1015, [Prompt(box=box)])
    large = synthetic.SyntheticSegmenter(shot, synthetic.SegmenterFaults(grow_rate=1.0)).segment(shot, 1015, [Prompt(box=box)])
    assert np.count_nonzero(small.probabilities[0] >= 0.5) < 0.85 * area
    assert np.count_nonzero(large.probabilities[0] >= 0.5) > 1.15 * area


def test_tracker_follows_the_prompted_object_and_drifts_with_distance(shot):
    truth = shot.gt_masks(1005)
    prompts = {1005: {7: Prompt(mask=truth[3])}}
    frames = list(range(1005, 1016))
    clean = list(synthetic.SyntheticTracker(shot).track(shot, prompts, frames))
    assert [t.frame for t in clean] == frames
    for t in clean:
        assert maskops.iou(t.mask(7), shot.gt_masks(t.frame)[3]) > 0.99
    drifting = list(synthetic.SyntheticTracker(shot, synthetic.TrackerFaults(drift=0.01)).track(shot, prompts, frames))
    ious = [maskops.iou(t.mask(7), shot.gt_masks(t.frame)[3]) for t in drifting]
    assert ious[0] > 0.99 and ious[-1] < ious[3] < ious[1]


def test_tracker_can_lose_objects_that_get_hidden():
    spec = synthetic.ShotSpec(width=200, height=100, num_frames=20, first_frame=0, objects=[
        synthetic.ObjectSpec(radius=(0.1, 0.3), start=(0.3, 0.5), velocity=(0.05, 0), depth=0),
        synthetic.ObjectSpec(radius=(0.2, 0.4), start=(1.0, 0.5), depth=1),  # a wall it walks behind
    ])
    shot = synthetic.SyntheticShot(spec)
    tracker = synthetic.SyntheticTracker(shot, synthetic.TrackerFaults(lose_below_visible=0.3))
    out = list(tracker.track(shot, {0: {1: Prompt(mask=shot.gt_masks(0)[0])}}, list(range(20))))
    scores = [t.object_scores[0] for t in out]
    assert scores[0] > 0 and scores[-1] < 0
    assert all(t.mask(1).max() == 0 for t in out[scores.index(-1):])  # lost for good in this session
    # the object is visible again at the end: a later session would find it
    assert 0 in shot.gt_masks(19)


# ---------------------------------------------------------------- worlds and drift modes


def visible_runs(shot, index):
    """Per frame whether object ``index`` is in the frame (any visible or hidden pixel)."""
    return [bool((shot.full_mask(index, f) >= 0.5).any()) for f in shot.frame_numbers]


def test_worlds_are_deterministic_and_have_what_their_names_promise():
    make = lambda world, seed=0: synthetic.generate_shot(seed=seed, num_frames=48, width=320, height=180, num_objects=5, world=world)  # noqa: E731
    for world in synthetic.WORLDS:
        assert make(world) == make(world) and make(world) != make(world, 1)
    crowded = synthetic.SyntheticShot(make("crowded"))
    assert len(crowded.spec.objects) >= 8
    hidden = [sum(1 for k, m in crowded.gt_masks(f).items() if (m >= 0.5).sum() < 0.7 * (crowded.full_mask(k, f) >= 0.5).sum())
              for f in crowded.frame_numbers]
    assert np.mean(hidden) >= 2  # heavy occlusion: on average two or more objects mostly hidden
    crossing = make("crossing")
    directions = {np.sign(o.velocity[0]) for o in crossing.objects}
    assert directions == {-1.0, 1.0}
    back = synthetic.SyntheticShot(make("return"))
    returns = 0
    for index in range(len(back.spec.objects)):
        runs = visible_runs(back, index)
        gone = [i for i in range(1, len(runs)) if runs[i - 1] and not runs[i]]
        returns += any(any(runs[i:]) for i in gone)
    assert returns >= 2  # objects that leave the frame and come back
    with pytest.raises(ValueError, match="unknown synthetic world 'busy'"):
        make("busy")


def test_smear_and_creep_drift_grow_the_mask_instead_of_sliding_it():
    spec = synthetic.ShotSpec(width=200, height=100, num_frames=12, first_frame=0, objects=[
        synthetic.ObjectSpec(radius=(0.1, 0.3), start=(0.7, 0.5), depth=0),
        synthetic.ObjectSpec(radius=(0.1, 0.3), start=(0.95, 0.5), depth=1),  # a touching neighbour
    ])
    shot = synthetic.SyntheticShot(spec)
    truth = shot.gt_masks(0)
    prompts = {0: {1: Prompt(mask=truth[0])}}

    def last(mode):
        faults = synthetic.TrackerFaults(drift=0.02, drift_mode=mode)
        return list(synthetic.SyntheticTracker(shot, faults).track(shot, prompts, list(range(12))))[-1].mask(1) >= 0.5

    area = (truth[0] >= 0.5).sum()
    slide, smear, creep = last("slide"), last("smear"), last("creep")
    assert abs(slide.sum() - area) < 0.1 * area  # rigid: same size, moved
    assert smear.sum() > 1.3 * area and (smear & (truth[0] >= 0.5)).sum() == area  # keeps the object, grows a trail
    neighbour = truth[1] >= 0.5
    assert (creep & neighbour).sum() > 0.1 * neighbour.sum() and (creep & (truth[0] >= 0.5)).sum() == area
    with pytest.raises(ValueError, match="unknown tracker drift mode"):
        last("wobble")
