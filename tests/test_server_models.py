"""One end-to-end check of the browser tools on the real ONNX engines
(exported tiny SAM2.1 and reduced GroundingDINO, random weights): the bench's
fast threshold path agrees with the detector, clicks reuse the frame's
encoder features, and tracking runs. Random weights make the masks
meaningless; what is checked is the plumbing."""

from __future__ import annotations

import time

import numpy as np
import pytest

from SegmentationCore import synthetic
from SegmentationCore.models.groundingdino import load_detector
from SegmentationCore.plates import PlateFrameSource, parse_sequence

import server_helpers as helpers
from server_helpers import Client, decode_mask

SHOT = "shot/plate.####.png"


@pytest.fixture(scope="module")
def plates(tmp_path_factory):
    spec = synthetic.generate_shot(seed=11, num_frames=3, width=512, height=288, num_objects=2)
    root = tmp_path_factory.mktemp("models") / "plates"
    synthetic.SyntheticShot(spec).write_plate(root / "shot", "plate", "png")
    return root


def test_browser_tools_on_the_onnx_engines(plates, tmp_path, sam2_model_dir, gdino_model_dir):
    server = helpers.start(plates, tmp_path / "out", models=[str(sam2_model_dir), str(gdino_model_dir)])
    try:
        client = Client(server)
        info = client.get_json("/api/info")["models"]
        assert info["sam2"] and info["groundingdino"] and not info["synthetic"]

        # stage 1 through the bench equals the detector at the same thresholds
        frames = PlateFrameSource(parse_sequence(str(plates / "shot" / "plate.####.png")))
        chosen = None
        for box_threshold in (0.35, 0.2, 0.1, 0.05, 0.02):
            found = client.post("/api/detect", {"shot": SHOT, "frame": 1002, "prompt": "person", "box_threshold": box_threshold, "text_threshold": 0.01})
            if found["detections"]:
                chosen = box_threshold
                break
        assert chosen is not None, "random weights gave no box at any threshold"
        started = time.perf_counter()
        again = client.post("/api/detect", {"shot": SHOT, "frame": 1002, "prompt": "person", "box_threshold": chosen, "text_threshold": 0.01})
        rethreshold_seconds = time.perf_counter() - started
        reference = load_detector(gdino_model_dir, box_threshold=chosen, text_threshold=0.01).detect(frames, 1002, ["person"])
        assert len(again["detections"]) == len(reference) > 0
        ours = np.array([d["box"] for d in again["detections"]])
        assert np.allclose(ours, reference.boxes, atol=0.01)
        assert np.allclose([d["score"] for d in again["detections"]], reference.scores, atol=1e-4)
        print(f"re-thresholding a cached frame: {rethreshold_seconds:.3f} s")

        # stage 2 preview: a mask and a decision per box
        preview = client.post("/api/stage2", {"shot": SHOT, "frame": 1002, "prompt": "person", "box_threshold": chosen, "text_threshold": 0.01})
        assert len(preview["inputs"]) == len(reference)
        assert {item["action"] for item in preview["inputs"]} <= {"kept", "merged", "discarded", "empty"}
        assert decode_mask(preview["inputs"][0]["mask"]).shape == (288, 512)

        # clicks: the second one on the frame reuses the cached encoder features
        segmenter = server.app.backends.onnx_set().segmenter
        cache = segmenter.model.feature_cache
        client.post("/api/object/add", {"shot": SHOT, "class": "person"})
        timings = []
        for number, (x, y) in enumerate(((256.0, 144.0), (300.0, 150.0), (200.0, 100.0))):
            misses_before = cache.snapshot().misses
            started = time.perf_counter()
            answer = client.post("/api/click", {"shot": SHOT, "object": 1, "frame": 1003, "x": x, "y": y, "positive": number != 2})
            timings.append(time.perf_counter() - started)
            misses = cache.snapshot().misses - misses_before
            assert misses == (1 if number == 0 else 0), (number, misses)
            assert len(answer["masks"]) <= 1
        print("click round trips (s): " + ", ".join(f"{t:.2f}" for t in timings))

        # tracking over the shot from the keyframe
        job = client.post("/api/track", {"shot": SHOT, "backward": True})["job"]
        done = client.wait_job(job, timeout=600)
        assert done["state"] == "done", done
        print(f"tracking 3 frames: {done['elapsed']:.1f} s")
        masks = client.get_json("/api/masks", shot=SHOT, frame=1001)
        assert all(m["source"] == "tracked" for m in masks["masks"])
    finally:
        helpers.stop(server)
