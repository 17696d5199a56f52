"""Stage 2: Sim, the discard and merge rules, batched segmentation, persistence."""

import numpy as np
import pytest

from SegmentationCore.pipeline import stage2
from SegmentationCore import synthetic
from SegmentationCore.pipeline.stage2 import Stage2Params, cleanup_masks, similarity
from SegmentationCore.core.types import Detections

SIZE = (60, 100)


def rect(x0, y0, x1, y1, size=SIZE):
    mask = np.zeros(size, np.float32)
    mask[y0:y1, x0:x1] = 1.0
    return mask


def test_similarity_is_the_asymmetric_share_of_a_inside_b():
    whole = rect(10, 10, 30, 30)
    half = rect(10, 10, 30, 20)
    assert similarity(half, whole) == pytest.approx(1.0)
    assert similarity(whole, half) == pytest.approx(0.5)
    assert similarity(whole, rect(50, 10, 60, 20)) == 0.0
    assert similarity(np.zeros(SIZE, np.float32), whole) == 0.0  # empty A: no share
    stack = np.stack([whole, half, rect(20, 10, 40, 30)])
    matrix = similarity(stack)
    for i in range(3):
        for j in range(3):
            assert matrix[i, j] == pytest.approx(similarity(stack[i], stack[j]))


def test_soft_masks_are_binarised_at_the_threshold():
    a = rect(0, 0, 10, 10) * 0.6
    b = rect(5, 0, 10, 10) * 0.4  # below 0.5: empty
    assert similarity(a, b) == 0.0
    assert similarity(a, b, threshold=0.3) == pytest.approx(0.5)


def test_a_box_spanning_two_neighbours_is_discarded():
    left, right = rect(10, 10, 30, 50), rect(32, 10, 52, 50)
    spanning = np.maximum(left, right)
    result = cleanup_masks(np.stack([left, right, spanning]), ["person"] * 3, [0.9, 0.8, 0.7])
    assert len(result) == 2
    np.testing.assert_array_equal(result.masks[0], left)
    np.testing.assert_array_equal(result.masks[1], right)
    decision = result.decisions[2]
    assert decision.action == "discarded" and decision.overlaps == [0, 1]
    assert decision.reason.startswith("discarded: overlaps 0 (Sim 0.50), 1 (Sim 0.50)")
    assert [d.action for d in result.decisions[:2]] == ["kept", "kept"]


def test_overlap_with_only_one_other_mask_is_not_a_false_positive():
    # Two people standing close: each overlaps the other by 25%, one partner only.
    a, b = rect(10, 10, 30, 50), rect(25, 10, 45, 50)
    result = cleanup_masks(np.stack([a, b]), ["person"] * 2, [0.9, 0.9])
    assert len(result) == 2
    assert [d.action for d in result.decisions] == ["kept", "kept"]


def test_the_discard_threshold_is_respected():
    # A mask touching two others by 5% each stays; at 10% it goes.
    a, b = rect(0, 0, 20, 20), rect(40, 0, 60, 20)
    wide_light = rect(19, 0, 41, 20)  # 1/22 of it in a, 1/22 in b
    kept = cleanup_masks(np.stack([a, b, wide_light]), ["x"] * 3, [1, 1, 1])
    assert len(kept) == 3
    wide_heavy = rect(17, 0, 43, 20)  # 3/26 in each
    dropped = cleanup_masks(np.stack([a, b, wide_heavy]), ["x"] * 3, [1, 1, 1])
    assert dropped.decisions[2].action == "discarded"


def test_a_duplicate_part_box_is_merged_into_its_object():
    person = rect(10, 5, 30, 55)
    head_and_torso = rect(10, 5, 30, 25)
    result = cleanup_masks(np.stack([head_and_torso, person]), ["person"] * 2, [0.6, 0.9])
    assert len(result) == 1
    np.testing.assert_array_equal(result.masks[0], person)
    assert result.sources == [[1, 0]]
    part = result.decisions[0]
    assert part.action == "merged" and part.into == 1 and part.output_index == 0
    assert part.reason == "merged into 1 (Sim 1.00)"
    assert result.scores[0] == pytest.approx(0.9)


def test_merged_mask_is_the_union_of_probabilities():
    person = rect(10, 5, 30, 55) * 0.9
    part = rect(10, 0, 30, 20)  # pokes out above the person
    result = cleanup_masks(np.stack([person, part]), ["person"] * 2, [0.9, 0.5])
    assert len(result) == 1  # Sim(part, person) = 15/20 >= 0.6
    assert result.masks[0][2, 15] == 1.0 and result.masks[0][40, 15] == pytest.approx(0.9)


def test_mutual_duplicates_keep_the_larger_mask():
    a = rect(10, 10, 30, 50)
    b = rect(10, 12, 30, 50)  # 95% of a, entirely inside it
    result = cleanup_masks(np.stack([b, a]), ["person"] * 2, [0.9, 0.5])
    assert len(result) == 1
    assert result.decisions[1].action == "kept" and result.decisions[0].into == 1


def test_masks_of_other_classes_do_not_discard_each_other():
    p1, p2 = rect(10, 10, 30, 50), rect(32, 10, 52, 50)
    car = np.maximum(p1, p2)
    labels = ["person", "person", "car"]
    assert len(cleanup_masks(np.stack([p1, p2, car]), labels, [1, 1, 1])) == 3
    assert len(cleanup_masks(np.stack([p1, p2, car]), labels, [1, 1, 1], Stage2Params(per_class=False))) == 2


def test_empty_masks_are_dropped_and_nothing_in_gives_nothing_out():
    result = cleanup_masks(np.stack([rect(0, 0, 10, 10), np.zeros(SIZE, np.float32)]), ["a", "a"], [1, 1])
    assert len(result) == 1 and result.decisions[1].action == "empty"
    empty = cleanup_masks(np.zeros((0,) + SIZE, np.float32), [], [])
    assert len(empty) == 0 and empty.masks.shape == (0,) + SIZE


@pytest.fixture
def faulty_frame():
    spec = synthetic.ShotSpec(width=320, height=180, num_frames=1, objects=[
        synthetic.ObjectSpec(radius=(0.08, 0.3), start=(0.5, 0.5)),
        synthetic.ObjectSpec(radius=(0.08, 0.3), start=(0.72, 0.5), colour=(0.2, 0.4, 0.9)),
        synthetic.ObjectSpec(radius=(0.08, 0.3), start=(1.4, 0.5), colour=(0.2, 0.8, 0.3)),
    ])
    shot = synthetic.SyntheticShot(spec)
    frame = shot.frame_numbers[0]
    faults = synthetic.DetectorFaults(false_pairs=frozenset({(0, 1, frame)}), part_boxes=frozenset({(2, frame)}))
    return shot, frame, synthetic.SyntheticDetector(shot, faults), synthetic.SyntheticSegmenter(shot)


def test_segment_frame_repairs_detector_faults_in_one_batched_call(faulty_frame):
    shot, frame, detector, segmenter = faulty_frame
    detections = detector.detect(shot, frame, ["person"])
    assert len(detections) == 5  # 3 objects + a box over 0 and 1 + a part box on 2
    result = stage2.segment_frame(segmenter, shot, frame, detections)
    assert segmenter.calls == [(frame, 5)]
    assert len(result) == 3
    truth = shot.gt_masks(frame)
    for mask in result.masks:
        best = max(similarity(mask, t) * similarity(t, mask) for t in truth.values())
        assert best > 0.95
    actions = [d.action for d in result.decisions]
    assert actions.count("discarded") == 1 and actions.count("merged") == 1
    np.testing.assert_array_equal(result.boxes, detections.boxes)


def test_segment_frame_without_boxes_does_not_call_the_segmenter(faulty_frame):
    shot, frame, _, segmenter = faulty_frame
    result = stage2.segment_frame(segmenter, shot, frame, Detections.empty())
    assert len(result) == 0 and segmenter.calls == []


def test_stage2_result_round_trips_through_disk(tmp_path, faulty_frame):
    shot, frame, detector, segmenter = faulty_frame
    result = stage2.segment_frame(segmenter, shot, frame, detector.detect(shot, frame, ["person"]))
    result.save(tmp_path / "r.npz")
    again = stage2.Stage2Result.load(tmp_path / "r.npz")
    assert again.labels == result.labels and again.sources == result.sources
    assert [d.reason for d in again.decisions] == [d.reason for d in result.decisions]
    assert np.abs(again.masks - result.masks).max() <= 0.5 / 255 + 1e-6
    assert not list(tmp_path.glob(".*"))  # no temporary files left
    summary = result.to_dict()
    assert summary["decisions"][3]["reason"].startswith(("discarded", "merged", "kept"))
