"""The ONNX Runtime GroundingDINO detector (engine side, no torch in this process).

Uses the session-wide random-weights test model (``gdino_model_dir``,
graphs 512x288, 288x512 and 320x320), so scores mean nothing; the tests
check the contract: graph choice, coordinates, batching, thresholds, errors.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from SegmentationCore.core import protocols
from SegmentationCore.models import runtime
from SegmentationCore.core.errors import ModelFolderError, PlateError, PromptError
from SegmentationCore.plates.arrays import ArrayFrameSource
from SegmentationCore.models.groundingdino import GroundingDinoDetector, load_detector
from SegmentationCore.core.types import Detections

EVERYTHING = {"box_threshold": 0.0, "text_threshold": 0.0}


def frames_of(height, width, count=1, seed=0, noise=0.05):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    images = []
    for _ in range(count):
        image = np.stack([x, y, 0.5 * np.ones_like(x)], -1) + rng.normal(0, noise, (height, width, 3))
        images.append(np.clip(image, 0, 1).astype(np.float32))
    return ArrayFrameSource(images, first_frame=1001)


@pytest.fixture(scope="module")
def detector(gdino_model_dir):
    return load_detector(gdino_model_dir, providers="cpu", threads=2, **EVERYTHING)


def test_manifest_defaults_and_protocol(gdino_model_dir):
    default = load_detector(gdino_model_dir, providers="cpu")
    assert isinstance(default, protocols.Detector)
    assert default.thresholds.box_threshold == 0.35 and default.thresholds.text_threshold == 0.25
    custom = load_detector(gdino_model_dir, box_threshold=0.5, text_threshold=0.3, nms_iou=0.7, max_detections=7)
    assert (custom.thresholds.box_threshold, custom.thresholds.text_threshold) == (0.5, 0.3)
    assert custom.thresholds.nms_iou == 0.7 and custom.thresholds.max_detections == 7
    assert default.dynamic_batch


def test_detections_are_frame_pixels_with_prompt_labels(detector):
    frames = frames_of(288, 512)
    result = detector.detect(frames, 1001, ["person", "red car"])
    assert isinstance(result, Detections)
    assert 0 < len(result) <= detector.thresholds.max_detections
    assert set(result.labels) <= {"person", "red car"}
    boxes = result.boxes
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 512).all()
    assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= 288).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    assert (np.diff(result.scores) <= 0).all()  # best first


@pytest.mark.parametrize("frame, graph", [
    ((288, 512), "512x288"),
    ((576, 1024), "512x288"),  # working resolution, scaled into the 16:9 graph
    ((540, 1024), "512x288"),  # 1.9:1, letterboxed
    ((512, 288), "288x512"),
    ((300, 300), "320x320"),
])
def test_graph_follows_frame_aspect(detector, frame, graph):
    assert detector.graph_for(frame).label == graph
    frames = frames_of(*frame)
    result = detector.detect(frames, 1001, ["person"])
    assert len(result) > 0
    assert (result.boxes[:, 2] <= frame[1]).all() and (result.boxes[:, 3] <= frame[0]).all()


def test_aspects_beyond_four_to_one_are_refused(detector):
    assert detector.graph_for((768, 1024)).label == "320x320"  # 4:3 is letterboxed into the square graph
    assert detector.graph_for((429, 1024)).label == "512x288"  # 2.39:1 into 16:9
    with pytest.raises(ModelFolderError, match=r"no graph for 1024x200 frames.*--sizes 512x288,288x512,320x320,1024x192"):
        detector.detect(frames_of(200, 1024), 1001, ["person"])


def test_scaled_frame_gives_the_same_input_and_scaled_boxes(gdino_model_dir, monkeypatch):
    """The same picture at 512x288 and at 1024x576 (2x pixel repeat) gives the
    graph (nearly) the same input, and boxes scaled by 2."""
    from SegmentationCore.models.groundingdino.geometry import Letterbox, prepare_image

    detector = load_detector(gdino_model_dir, providers="cpu")
    small = frames_of(288, 512, noise=0.0)
    image = small.image(1001)
    large = ArrayFrameSource([np.repeat(np.repeat(image, 2, 0), 2, 1)], first_frame=1001)
    graph = detector.graph_for(small.size)
    assert detector.graph_for(large.size) == graph
    small_input = prepare_image(image, Letterbox.fit(small.size, graph), detector.mean, detector.std)
    large_input = prepare_image(large.image(1001), Letterbox.fit(large.size, graph), detector.mean, detector.std)
    assert np.abs(small_input - large_input).max() < 0.02
    fake = FakeSession(None)
    monkeypatch.setattr(detector, "session", lambda graph: fake)
    a = detector.detect(small, 1001, ["person", "car"])
    b = detector.detect(large, 1001, ["person", "car"])
    np.testing.assert_allclose(a.boxes, [[128, 72, 384, 216]], atol=1e-3)
    np.testing.assert_allclose(b.boxes, 2 * a.boxes, atol=1e-3)


class FakeSession:
    """Returns fixed outputs: one confident 'car' box in the middle of the input."""

    def __init__(self, tokens_seen):
        self.feeds = []
        self.tokens_seen = tokens_seen

    def run(self, names, feed):
        self.feeds.append(feed)
        batch, tokens = feed["input_ids"].shape
        logits = np.full((batch, 3, tokens), -10.0, np.float32)
        logits[:, 0, 3] = 5.0  # token 3 = "car" in "[CLS] person . car . [SEP]"
        boxes = np.tile(np.array([[0.5, 0.5, 0.5, 0.5]] * 3, np.float32), (batch, 1, 1))
        outputs = {"logits": logits, "boxes": boxes}
        return [outputs[name] for name in names]


def test_boxes_are_mapped_back_through_the_letterbox(gdino_model_dir, monkeypatch):
    detector = load_detector(gdino_model_dir, providers="cpu")
    fake = FakeSession(None)
    monkeypatch.setattr(detector, "session", lambda graph: fake)
    frames = frames_of(600, 300)  # 0.5 aspect -> 288x512 graph, content 256x512 of 288x512
    result = detector.detect(frames, 1001, ["person", "car"])
    assert result.labels == ["car"]
    # graph-input box: x 72..216 of 288, y 128..384 of 512; content scale 256/300 = 512/600
    scale = 512 / 600
    np.testing.assert_allclose(result.boxes[0], [72 / scale, 128 / scale, min(216 / scale, 300), 384 / scale], atol=0.5)
    assert fake.feeds[0]["image"].shape == (1, 3, 512, 288)
    assert (fake.feeds[0]["image"][:, :, :, 256:] == 0).all()  # padding on the right


def test_frames_are_batched(gdino_model_dir, monkeypatch):
    detector = load_detector(gdino_model_dir, providers="cpu", batch_size=2)
    fake = FakeSession(None)
    monkeypatch.setattr(detector, "session", lambda graph: fake)
    frames = frames_of(288, 512, count=5)
    results = detector.detect_frames(frames, frames.frame_numbers, ["person", "car"])
    assert list(results) == frames.frame_numbers
    assert [feed["image"].shape[0] for feed in fake.feeds] == [2, 2, 1]
    assert all(r.labels == ["car"] for r in results.values())


def test_batched_run_matches_single_frames(detector):
    """The graph's batch axis is dynamic: two frames in one call give what each gives alone."""
    frames = frames_of(288, 512, count=2, seed=3)
    graph = detector.graph_for(frames.size)
    session = detector.session(graph)
    prompt = detector.tokenizer.encode(["person", "red car"])
    from SegmentationCore.models.groundingdino.geometry import Letterbox, prepare_image

    box = Letterbox.fit(frames.size, graph)
    images = np.stack([prepare_image(frames.image(f), box, detector.mean, detector.std) for f in frames.frame_numbers])
    batched = session.run(None, {"image": images, **prompt.feed(2)})
    for index in range(2):
        single = session.run(None, {"image": images[index : index + 1], **prompt.feed(1)})
        # compare before the top-k (near-ties with random weights), then slot-wise if selections agree
        np.testing.assert_allclose(batched[2][index], single[2][0], atol=1e-3)
        if np.array_equal(batched[3][index], single[3][0]):
            np.testing.assert_allclose(batched[0][index], single[0][0], atol=1e-3)
            np.testing.assert_allclose(batched[1][index], single[1][0], atol=1e-4)


def test_detect_frames_with_a_batch_equals_one_by_one(gdino_model_dir):
    frames = frames_of(288, 512, count=2, seed=5)
    one = load_detector(gdino_model_dir, providers="cpu", **EVERYTHING)
    two = load_detector(gdino_model_dir, providers="cpu", batch_size=2, **EVERYTHING)
    singles = {f: one.detect(frames, f, ["dog"]) for f in frames.frame_numbers}
    batched = two.detect_frames(frames, frames.frame_numbers, ["dog"])
    for frame, single in singles.items():
        top = min(10, len(single))
        np.testing.assert_allclose(batched[frame].scores[:top], single.scores[:top], atol=1e-3)


def test_prompt_and_frame_errors(detector):
    frames = frames_of(288, 512)
    with pytest.raises(PromptError):
        detector.detect(frames, 1001, [])
    with pytest.raises(PlateError, match="frame 7"):
        detector.detect(frames, 7, ["person"])


def _copy_folder(source: pathlib.Path, target: pathlib.Path, edit=None, drop=()):
    target.mkdir()
    for path in source.iterdir():
        if path.name in drop or path.name == "manifest.json":
            continue
        (target / path.name).symlink_to(path)
    manifest = json.loads((source / "manifest.json").read_text())
    if edit:
        edit(manifest)
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


def test_model_folder_errors(gdino_model_dir, tmp_path):
    wrong_kind = _copy_folder(gdino_model_dir, tmp_path / "kind", edit=lambda m: m.update(kind="sam2"))
    with pytest.raises(ModelFolderError, match="'sam2' model"):
        load_detector(wrong_kind)
    no_graph = _copy_folder(gdino_model_dir, tmp_path / "graph", drop={"groundingdino_320x320.onnx"})
    with pytest.raises(ModelFolderError, match="groundingdino_320x320.onnx"):
        load_detector(no_graph)
    no_vocab = _copy_folder(gdino_model_dir, tmp_path / "vocab", drop={"vocab.txt"})
    with pytest.raises(ModelFolderError, match="vocab.txt"):
        load_detector(no_vocab)
    no_weights = _copy_folder(gdino_model_dir, tmp_path / "weights", drop={"groundingdino.onnx.data"})
    with pytest.raises(ModelFolderError, match="groundingdino.onnx.data"):
        load_detector(no_weights)
    no_sizes = _copy_folder(gdino_model_dir, tmp_path / "sizes", edit=lambda m: m.update(sizes=[]))
    with pytest.raises(ModelFolderError, match="no graph sizes"):
        load_detector(no_sizes)
    with pytest.raises(ModelFolderError, match="No model folder"):
        load_detector(tmp_path / "absent")


def test_model_found_by_name_on_the_search_path(gdino_model_dir, monkeypatch):
    monkeypatch.setenv("SEGMENTATION_MODEL_PATHS", str(gdino_model_dir.parent))
    detector = load_detector(gdino_model_dir.name)
    assert isinstance(detector, GroundingDinoDetector)
    assert detector.model_dir == runtime.find_model(gdino_model_dir.name)
