"""``autoseg run`` end to end on the real ONNX models (tiny configs, random weights).

The masks are meaningless (untrained weights); what is checked are the
mechanics with the real backends: GroundingDINO boxes, SAM2 batched masks,
interactive clicks -> SAM2 masks, SAM2 tracking windows forward and
backward through the mask cache, and both output formats on every frame.
Heavy (model export on first use, ~2 min of CPU): run under the lock.
"""

import json

import numpy as np
import pytest

from SegmentationCore import cli, synthetic
from SegmentationCore.pipeline import interactive
from SegmentationCore.idmatte import mattefilter
from SegmentationCore.pipeline.mask_cache import MaskCache

pytestmark = [pytest.mark.export, pytest.mark.slow]

FIRST, COUNT = 1001, 5


def test_autoseg_on_tiny_random_weight_models(sam2_model_dir, gdino_model_dir, tmp_path, monkeypatch):
    from SegmentationCore.models.sam2 import tracker as sam2_tracker

    tracked = []  # (first frame, objects, frames) of every real tracking session
    original = sam2_tracker.Sam2VideoTracker.track

    def counting(self, frames, prompts, frame_order):
        objects = sorted({o for p in prompts.values() for o in p})
        results = list(original(self, frames, prompts, frame_order))
        tracked.append((frame_order[0], objects, len(results)))
        yield from results

    monkeypatch.setattr(sam2_tracker.Sam2VideoTracker, "track", counting)
    spec = synthetic.generate_shot(seed=2, num_frames=COUNT, width=512, height=288, num_objects=2, first_frame=FIRST)
    shot = synthetic.SyntheticShot(spec)
    shot.write_plate(tmp_path / "plate", "shot", "exr")
    truth = shot.gt_masks(1003)
    click = np.argwhere(truth[1] >= 0.99).mean(axis=0)[::-1]
    # untrained models rarely give masks that survive stage 2: a mask "from
    # another tool" guarantees the real tracker has a layer to follow
    prompt_set = interactive.PromptSet((512, 288), [
        interactive.InteractiveObject("person", None, {1003: interactive.Keyframe(mask=truth[0])}),
        interactive.InteractiveObject("person", None, {1003: interactive.Keyframe(points=[click], labels=[1])}),
    ])
    interactive.save_prompts(tmp_path / "prompts.json", prompt_set)
    argv = [
        "run", str(tmp_path / "plate/shot.####.exr"), "--output", str(tmp_path / "out"), "--prompt", "person",
        "--sam2", str(sam2_model_dir), "--detector", str(gdino_model_dir), "--providers", "cpu",
        "--box-threshold", "0.05", "--max-detections", "3", "--prompts", str(tmp_path / "prompts.json"),
        "--progress", "none", "--summary", str(tmp_path / "summary.json"),
    ]
    assert cli.main(argv) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    stages = summary["stages"]
    # stages 1-2 only where tracking re-prompts: both pass starts and the keyframe
    assert stages["detect"]["frames"] == stages["segment"]["frames"] == 3
    assert stages["track"]["windows"] == 2 + 2 + 2  # seed, forward, backward
    work = tmp_path / "out/.autoseg/shot"
    assert sorted(p.name for p in (work / "detect").iterdir()) == ["1001.json", "1003.json", "1005.json"]
    # The keyframe starts a window in each pass (seed and backward: 1003-1001,
    # forward: 1003-1005), always with the mask-prompted layer 1; other
    # windows run only where the untrained tracker left pixels in the cache.
    assert tracked[0] == (1003, tracked[0][1], 3) and 1 in tracked[0][1]
    keyframe_sessions = [t for t in tracked if t[0] == 1003]
    assert len(keyframe_sessions) == 3 and all(1 in objects and count == 3 for _, objects, count in keyframe_sessions)
    cache = MaskCache.load(work / "track/cache")
    assert cache.layer(1).source == "interactive" and cache.layer(1).name == "/person/person_0001"
    names = set(cache.names().values())
    for frame in range(FIRST, FIRST + COUNT):
        for kind in ("objectid", "crypto"):
            layers = mattefilter.read_layers(tmp_path / f"out/shot.{kind}.{frame:04d}.exr")
            assert set(layers) <= names
            assert all(mask.shape == (288, 512) for mask in layers.values())
    # a rerun of the same command resumes: nothing left to do, no model is loaded
    assert cli.main(argv) == 0
    again = json.loads((tmp_path / "summary.json").read_text())["stages"]
    assert again["detect"]["computed"] == again["segment"]["computed"] == 0
    assert again["write"]["written"] == 0
