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

from SegmentationCore import cli, mattefilter, synthetic
from SegmentationCore.mask_cache import MaskCache

pytestmark = [pytest.mark.export, pytest.mark.slow]

FIRST, COUNT = 1001, 5


def test_autoseg_on_tiny_random_weight_models(sam2_model_dir, gdino_model_dir, tmp_path):
    spec = synthetic.generate_shot(seed=2, num_frames=COUNT, width=512, height=288, num_objects=2, first_frame=FIRST)
    shot = synthetic.SyntheticShot(spec)
    shot.write_plate(tmp_path / "plate", "shot", "exr")
    click = np.argwhere(shot.gt_masks(1003)[1] >= 0.99).mean(axis=0)[::-1]
    prompts = {
        "format": "autoseg-prompts", "version": 1, "mode": "combine", "image_size": [512, 288],
        "objects": [{"class": "person", "keyframes": {"1003": {"points": [click.tolist()], "labels": [1]}}}],
    }
    (tmp_path / "prompts.json").write_text(json.dumps(prompts))
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
