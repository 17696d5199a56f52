"""Interactive prompts: the prompt file, clicks -> masks, tracking alone or with automatic layers."""

import json

import numpy as np
import pytest

from SegmentationCore.pipeline import interactive, metrics, stage2, tracking
from SegmentationCore.core import maskops
from SegmentationCore import synthetic
from SegmentationCore.core.errors import PromptError
from SegmentationCore.pipeline.interactive import InteractiveObject, Keyframe, PromptSet
from SegmentationCore.pipeline.mask_cache import MaskCache


@pytest.fixture(scope="module")
def shot():
    spec = synthetic.ShotSpec(width=320, height=180, num_frames=20, first_frame=1, objects=[
        synthetic.ObjectSpec(radius=(0.1, 0.3), start=(0.4, 0.5), velocity=(0.01, 0)),
        synthetic.ObjectSpec(radius=(0.1, 0.3), start=(1.2, 0.5), velocity=(-0.005, 0), colour=(0.2, 0.4, 0.9)),
    ])
    return synthetic.SyntheticShot(spec)


def centre(mask):
    return np.argwhere(mask >= 0.99).mean(axis=0)[::-1]


def test_prompt_file_round_trip_with_masks(tmp_path):
    mask = np.zeros((90, 160), np.float32)
    mask[20:60, 30:70] = 1.0
    mask[20:60, 70] = 0.5
    prompt_set = PromptSet((160, 90), [
        InteractiveObject("person", "/person/person_0007", {12: Keyframe([[40, 40], [10, 10]], [1, 0])}),
        InteractiveObject("car", None, {12: Keyframe(box=[1, 2, 30, 40]), 15: Keyframe(mask=mask)}),
    ], mode="only")
    interactive.save_prompts(tmp_path / "shot.prompts.json", prompt_set)
    data = json.loads((tmp_path / "shot.prompts.json").read_text())
    assert data["format"] == "autoseg-prompts" and data["objects"][1]["keyframes"]["15"]["mask"].endswith(".png")
    again = interactive.load_prompts(tmp_path / "shot.prompts.json")
    assert again.mode == "only" and again.image_size == (160, 90) and again.keyframes == [12, 15]
    first = again.objects[0]
    assert first.name == "/person/person_0007" and first.keyframes[12].labels.tolist() == [1, 0]
    np.testing.assert_allclose(again.objects[1].keyframes[15].mask, mask, atol=1 / 65535)
    np.testing.assert_allclose(again.objects[1].keyframes[12].box, [1, 2, 30, 40])


@pytest.mark.parametrize("data, message", [
    ({"format": "other"}, "not an autoseg prompt file"),
    ({"format": "autoseg-prompts", "objects": []}, "image_size"),
    ({"format": "autoseg-prompts", "image_size": [10, 10], "objects": []}, "holds no objects"),
    ({"format": "autoseg-prompts", "image_size": [10, 10], "objects": [{"keyframes": {}}]}, "object 0 .* no clicks"),
    ({"format": "autoseg-prompts", "image_size": [10, 10], "objects": [{"keyframes": {"x": {}}}]}, "not a frame number"),
    ({"format": "autoseg-prompts", "image_size": [10, 10], "objects": [{"keyframes": {"3": {"points": [[50, 1]]}}}]}, "outside the 10x10"),
    ({"format": "autoseg-prompts", "image_size": [10, 10], "objects": [{"keyframes": {"3": {"points": [[5, 1]], "labels": [1, 0]}}}]}, "labels"),
    ({"format": "autoseg-prompts", "image_size": [10, 10], "objects": [{"keyframes": {"3": {"mask": "nope.png"}}}]}, "nope.png"),
    ({"format": "autoseg-prompts", "image_size": [10, 10], "mode": "solo", "objects": [{"keyframes": {"3": {"box": [0, 0, 5, 5]}}}]}, "mode"),
    ({"format": "autoseg-prompts", "image_size": [10, 10], "objects": [{"name": "Bad Name", "keyframes": {"3": {"box": [0, 0, 5, 5]}}}]}, "layer name"),
])
def test_bad_prompt_files_are_prompt_errors_naming_the_place(tmp_path, data, message):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PromptError, match=message):
        interactive.load_prompts(path)


def test_unparseable_json_names_the_file(tmp_path):
    (tmp_path / "p.json").write_text("{oops")
    with pytest.raises(PromptError, match="p.json is not valid JSON"):
        interactive.load_prompts(tmp_path / "p.json")


def test_clicks_become_masks_in_one_batched_call_per_keyframe(shot):
    truth = shot.gt_masks(5)
    # clicks in plate pixels of a 640x360 image: twice the working size
    prompt_set = PromptSet((640, 360), [
        InteractiveObject("person", None, {5: Keyframe([centre(truth[0]) * 2], [1])}),
        InteractiveObject("person", None, {5: Keyframe([centre(truth[1]) * 2, centre(truth[0]) * 2], [1, 0])}),
        InteractiveObject("person", None, {9: Keyframe(mask=maskops.resize_bilinear(shot.gt_masks(9)[1], (360, 640)))}),
    ])
    segmenter = synthetic.SyntheticSegmenter(shot)
    cache = MaskCache(shot.size)
    ids = interactive.register_layers(cache, prompt_set)
    assert ids == [1, 2, 3] and cache.layer(1).source == "interactive"
    prompts = interactive.keyframe_prompts(prompt_set, ids, shot, segmenter)
    assert segmenter.calls == [(5, 2)]  # the mask-only keyframe needs no segmenter
    assert maskops.iou(prompts[5][1].mask, truth[0]) > 0.99
    assert maskops.iou(prompts[5][2].mask, truth[1]) > 0.99
    assert maskops.iou(prompts[9][3].mask, shot.gt_masks(9)[1]) > 0.95
    with pytest.raises(PromptError, match="needs the SAM2 model"):
        interactive.keyframe_prompts(prompt_set, ids, shot, None)


def test_interactive_prompts_alone_track_the_clicked_object_through_the_shot(shot):
    click = centre(shot.gt_masks(10)[1])
    prompt_set = PromptSet((320, 180), [InteractiveObject("person", None, {10: Keyframe([click], [1])})], mode="only")
    _, segmenter, tracker = synthetic.make_backends(shot)
    cache = MaskCache(shot.size)
    ids = interactive.register_layers(cache, prompt_set)
    keyframes = interactive.keyframe_prompts(prompt_set, ids, shot, segmenter)
    tracking.track_shot(tracker, shot, cache, None, tracking.TrackingParams(), keyframes=keyframes)
    assert cache.layer_ids == [1]
    ious = [maskops.iou(cache.layer_mask(f, 1), shot.gt_masks(f)[1]) for f in shot.frame_numbers]
    assert min(ious) > 0.99  # before the keyframe too: the backward pass
    assert all(call["frames"][0] in (1, 6, 10, 11, 16, 20, 15, 5) for call in tracker.calls)


def test_interactive_layers_combine_with_automatic_ones_without_duplicates(shot):
    prompt_set = PromptSet((320, 180), [InteractiveObject("person", None, {6: Keyframe(mask=shot.gt_masks(6)[0])})])
    detector, segmenter, tracker = synthetic.make_backends(shot)
    params = tracking.TrackingParams()
    frames = tracking.stage2_frames(shot.frame_numbers, params, prompt_set.keyframes)
    results = {f: stage2.segment_frame(segmenter, shot, f, detector.detect(shot, f, ["person"])) for f in frames}
    cache = MaskCache(shot.size)
    ids = interactive.register_layers(cache, prompt_set)
    keyframes = interactive.keyframe_prompts(prompt_set, ids, shot, segmenter)
    passes = tracking.track_shot(tracker, shot, cache, results, params, keyframes=keyframes)
    # the automatic mask of the clicked object on the keyframe is superseded, the other one is new
    assert [p.direction for p in passes] == ["backward", "forward", "backward"]  # seed pass first
    on_keyframe = [m for m in passes[1].matches if m.frame == 6][0]
    assert sorted(e.kind for e in on_keyframe.entries) in (["direct", "superseded"], ["new", "superseded"])
    assert cache.names() == {1: "/person/person_0001", 2: "/person/person_0002"}
    assert cache.layer(1).source == "interactive"
    scores = metrics.evaluate(shot.frame_numbers, cache.layers, shot.gt_masks)
    assert scores.jf > 0.99 and scores.objects[0].layer == "/person/person_0001"


def test_keyframes_outside_the_shot_are_refused(shot):
    prompt_set = PromptSet((320, 180), [InteractiveObject("person", None, {99: Keyframe(box=[0, 0, 5, 5])})])
    with pytest.raises(PromptError, match="keyframe 99 is outside"):
        interactive.keyframe_prompts(prompt_set, [1], shot, synthetic.SyntheticSegmenter(shot))


def test_resumed_runs_reuse_the_interactive_layers(shot):
    prompt_set = PromptSet((320, 180), [InteractiveObject("person", None, {6: Keyframe(box=[0, 0, 5, 5])})])
    cache = MaskCache(shot.size)
    assert interactive.register_layers(cache, prompt_set) == [1]
    assert interactive.register_layers(cache, prompt_set) == [1]
    assert cache.layer_ids == [1]
