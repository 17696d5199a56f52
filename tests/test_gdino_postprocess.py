"""GroundingDINO post-processing and frame <-> graph geometry on hand-made data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from SegmentationCore.core.errors import ModelFolderError
from SegmentationCore.models.groundingdino import (
    GraphSize,
    Letterbox,
    Thresholds,
    choose_graph,
    detections_from_outputs,
)
from SegmentationCore.models.groundingdino.geometry import prepare_image, suggested_size
from SegmentationCore.models.groundingdino.postprocess import batched_nms, nms, sigmoid

# caption "person . red car ." -> [CLS] person . red car . [SEP]
PHRASES = ["person", "red car"]
SPANS = [(1, 2), (3, 5)]
TOKENS = 7
FRAME = (576, 1024)  # height, width


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def make_query(token_probs: dict[int, float]) -> np.ndarray:
    row = np.full(TOKENS, logit(0.01), np.float32)
    for token, p in token_probs.items():
        row[token] = logit(p)
    return row


def identity_mapping(size=FRAME):
    height, width = size
    return lambda xyxy: xyxy * np.asarray([width, height, width, height], np.float32)


def run(queries, boxes, thresholds=Thresholds(), size=FRAME, to_frame=None):
    logits = np.stack(queries)
    return detections_from_outputs(
        logits, np.asarray(boxes, np.float32), PHRASES, SPANS, to_frame or identity_mapping(size), size, thresholds
    )


def test_box_threshold_keeps_only_confident_queries():
    result = run(
        [make_query({1: 0.6}), make_query({1: 0.34}), make_query({3: 0.9})],
        [[0.5, 0.5, 0.2, 0.2], [0.2, 0.2, 0.1, 0.1], [0.7, 0.3, 0.1, 0.2]],
    )
    assert result.labels == ["red car", "person"]  # best score first
    np.testing.assert_allclose(result.scores, [0.9, 0.6], atol=1e-5)


def test_label_comes_from_the_best_phrase_span_not_merged_tokens():
    # Both phrases' tokens are above the text threshold: upstream's posmap
    # decoding would label this "person red car"; we pick the best phrase.
    result = run([make_query({1: 0.55, 3: 0.5, 4: 0.8})], [[0.5, 0.5, 0.2, 0.2]])
    assert result.labels == ["red car"]
    assert result.scores[0] == pytest.approx(0.8, abs=1e-5)


def test_phrase_score_is_max_over_its_tokens():
    result = run([make_query({3: 0.3, 4: 0.7, 1: 0.6})], [[0.5, 0.5, 0.2, 0.2]])
    assert result.labels == ["red car"] and result.scores[0] == pytest.approx(0.7, abs=1e-5)


def test_text_threshold_drops_boxes_only_separators_vouch_for():
    # the '.' after "person" (token 2) is confident, the phrase tokens are not
    query = make_query({2: 0.9, 1: 0.2})
    assert len(run([query], [[0.5, 0.5, 0.2, 0.2]])) == 0
    kept = run([query], [[0.5, 0.5, 0.2, 0.2]], Thresholds(text_threshold=0.1))
    assert kept.labels == ["person"] and kept.scores[0] == pytest.approx(0.2, abs=1e-5)


def test_infinite_logits_of_padding_are_harmless():
    query = make_query({1: 0.9})
    query[5:] = -np.inf
    result = run([query], [[0.5, 0.5, 0.2, 0.2]])
    assert result.labels == ["person"]
    assert np.isfinite(sigmoid(np.array([-np.inf, np.inf, 0.0]))).all()


def test_boxes_become_frame_pixels_xyxy_and_are_clipped():
    result = run(
        [make_query({1: 0.9}), make_query({1: 0.8})],
        [[0.5, 0.5, 0.25, 0.5], [0.95, 0.05, 0.2, 0.2]],
    )
    np.testing.assert_allclose(result.boxes[0], [384, 144, 640, 432], atol=1e-3)
    np.testing.assert_allclose(result.boxes[1], [870.4, 0, 1024, 86.4], atol=1e-3)
    assert result.boxes.dtype == np.float32


def test_boxes_with_no_area_inside_the_frame_are_dropped():
    # a box entirely in the letterbox padding maps outside the frame
    result = run([make_query({1: 0.9})], [[0.5, 0.5, 0.2, 0.2]],
                 to_frame=lambda xyxy: xyxy * 1024 + 2000)
    assert len(result) == 0


def test_per_class_nms_and_cap():
    queries = [make_query({1: 0.9}), make_query({1: 0.8}), make_query({4: 0.7}), make_query({1: 0.6})]
    boxes = [[0.5, 0.5, 0.2, 0.2], [0.51, 0.5, 0.2, 0.2], [0.5, 0.5, 0.2, 0.2], [0.1, 0.1, 0.1, 0.1]]
    without = run(queries, boxes)
    assert without.labels == ["person", "person", "red car", "person"]
    with_nms = run(queries, boxes, Thresholds(nms_iou=0.5))
    # the overlapping second person goes; the car on the same spot stays (other class)
    assert with_nms.labels == ["person", "red car", "person"]
    np.testing.assert_allclose(with_nms.scores, [0.9, 0.7, 0.6], atol=1e-5)
    capped = run(queries, boxes, Thresholds(nms_iou=0.5, max_detections=2))
    assert capped.labels == ["person", "red car"]


def test_nms_helpers():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], np.float32)
    scores = np.array([0.5, 0.9, 0.7], np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.95).tolist() == [1, 2, 0]
    assert batched_nms(boxes, scores, np.array([0, 1, 0]), 0.5).tolist() == [1, 2, 0]


def test_no_detections_is_an_empty_result():
    result = run([make_query({})], [[0.5, 0.5, 0.2, 0.2]])
    assert len(result) == 0 and result.boxes.shape == (0, 4)


@pytest.mark.parametrize("kwargs", [{"box_threshold": 1.5}, {"text_threshold": -0.1}, {"nms_iou": 0.0}, {"max_detections": 0}])
def test_bad_thresholds_are_refused(kwargs):
    with pytest.raises(ValueError):
        Thresholds(**kwargs)


# -- geometry ----------------------------------------------------------------

SIZES = [GraphSize(1024, 576, "a.onnx"), GraphSize(576, 1024, "b.onnx"), GraphSize(800, 800, "c.onnx")]


@pytest.mark.parametrize("frame, expected", [
    ((576, 1024), "1024x576"),  # 16:9 working resolution
    ((1080, 1920), "1024x576"),
    ((553, 1024), "1024x576"),  # 1.85:1
    ((512, 1024), "1024x576"),  # 2:1
    ((1024, 576), "576x1024"),  # portrait
    ((1000, 1000), "800x800"),
    ((960, 1024), "800x800"),
])
def test_graph_matching_the_frame_aspect_is_chosen(frame, expected):
    assert choose_graph(SIZES, frame).label == expected


@pytest.mark.parametrize("frame, expected", [
    ((429, 1024), "1024x576"),  # 2.39:1 scope, letterboxed
    ((768, 1024), "800x800"),  # 4:3
    ((256, 1024), "1024x576"),  # 4:1, the widest accepted
    ((1024, 256), "576x1024"),  # 1:4
])
def test_every_everyday_aspect_is_served_by_the_default_export(frame, expected):
    assert choose_graph(SIZES, frame).label == expected


@pytest.mark.parametrize("frame", [(200, 1024), (1024, 200)])  # 5.1:1 and 1:5.1
def test_frames_beyond_four_to_one_are_refused_with_a_remedy(frame):
    with pytest.raises(ModelFolderError, match=r"no graph for \d+x\d+ frames.*only \d+ %.*--sizes 1024x576,576x1024,800x800,\d+x\d+"):
        choose_graph(SIZES, frame)
    assert choose_graph(SIZES, frame, tolerance=2.0)  # a looser tolerance accepts it


def test_boxes_centred_in_the_padding_are_dropped_and_the_rest_clipped():
    graph = SIZES[0]
    box = Letterbox.fit((429, 1024), graph)  # scope frame: rows 429..575 of the graph are padding
    logits = np.full((3, 4), -10.0, np.float32)
    logits[:, 1] = 5.0  # all three queries confident
    pad_y = (429 + 576) / 2 / 576
    boxes = np.array([
        [0.5, 0.3, 0.2, 0.2],  # in the picture
        [0.5, pad_y, 0.3, 0.2],  # centred in the padding, a sliver reaches into the picture
        [0.2, 420 / 576, 0.1, 0.1],  # straddles the edge, centred in the picture: clipped
    ], np.float32)
    result = detections_from_outputs(logits, boxes, ["person"], [(1, 2)], box.to_frame, box.frame_size, Thresholds())
    assert len(result) == 2
    assert (result.boxes[:, 3] <= 429).all()
    assert any(abs(b[3] - 429) < 1e-3 for b in result.boxes)


def test_suggested_sizes_are_multiples_of_32():
    assert suggested_size((768, 1024)) == "1024x768"
    assert suggested_size((1080, 2580)) == "1024x416"


def test_letterbox_maps_boxes_back_to_the_frame():
    graph = SIZES[0]
    box = Letterbox.fit((540, 1024), graph)  # 1.896:1 frame in a 16:9 graph: padded below
    assert box.scale == 1.0 and box.content_size == (540, 1024)
    # a box covering the content area maps to the whole frame
    content = np.array([[0, 0, 1, 540 / 576]], np.float32)
    np.testing.assert_allclose(box.to_frame(content), [[0, 0, 1024, 540]], atol=1e-3)

    half = Letterbox.fit((288, 512), graph)  # half resolution: scaled up by 2
    assert half.scale == 2.0 and half.content_size == (576, 1024)
    np.testing.assert_allclose(half.to_frame(np.array([[0.5, 0.5, 1, 1]], np.float32)), [[256, 144, 512, 288]])

    portrait = Letterbox.fit((1000, 600), SIZES[1])  # 0.6 aspect in a 0.5625 graph: padded right
    assert portrait.content_size == (960, 576)
    np.testing.assert_allclose(portrait.to_frame(np.array([[0, 0, 576 / 576, 960 / 1024]], np.float32)),
                               [[0, 0, 600, 1000]], atol=1e-3)


def test_prepare_image_normalises_resizes_and_pads_with_the_mean():
    graph = GraphSize(64, 32, "x.onnx")
    image = np.full((15, 32, 3), 0.5, np.float32)  # 2.13:1 into 2:1 -> padded below
    box = Letterbox.fit(image.shape[:2], graph)
    pixels = prepare_image(image, box, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0))
    assert pixels.shape == (3, 32, 64) and pixels.dtype == np.float32
    rows = box.content_size[0]
    assert rows == 30
    np.testing.assert_allclose(pixels[:, :rows], np.array([0.0, 1.0, 0.5])[:, None, None] * np.ones((3, rows, 64)),
                               atol=1e-5)
    assert (pixels[:, rows:] == 0).all()
    with pytest.raises(ValueError):
        prepare_image(np.zeros((10, 10, 3), np.float32), box, (0, 0, 0), (1, 1, 1))
