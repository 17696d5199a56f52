"""SAM2 image path: preprocessing and the image segmenter vs SAM2ImagePredictor
(tiny config, random weights), plus model-folder errors."""

import json
import shutil

import numpy as np
import pytest

from SegmentationCore.core.errors import ModelFolderError, PromptError
from SegmentationCore.plates.arrays import ArrayFrameSource
from SegmentationCore.core.protocols import ImageSegmenter, VideoTracker
from SegmentationCore.models.sam2 import FeatureCache, load_sam2
from SegmentationCore.models.sam2.heads import decode, padded_points
from SegmentationCore.models.sam2.preprocess import preprocess_image
from SegmentationCore.models.sam2.resize import resize
from SegmentationCore.models.sam2.segmenter import prompt_points
from SegmentationCore.core.types import Prompt

from sam2_reference import mixed_reference_model, synthetic_clip

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(5)
    base = synthetic_clip(1, 300, 420)[0]
    return np.clip(base + rng.normal(0, 0.02, base.shape), 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def engine(sam2_mixed_model_dir):
    segmenter, tracker = load_sam2(sam2_mixed_model_dir, feature_cache=FeatureCache(max_bytes=256 << 20))
    return segmenter, tracker


@pytest.fixture(scope="module")
def predictor(image):
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    predictor = SAM2ImagePredictor(mixed_reference_model())
    predictor.set_image(image)
    return predictor


def assert_same_foreground(reference_logits, probabilities, margin=1e-3):
    """Same foreground pixels, except where the reference logit is within
    ``margin`` of the threshold (float rounding decides those)."""
    differ = (reference_logits > 0) != (probabilities > 0.5)
    undecided = np.abs(reference_logits) <= margin
    assert not np.any(differ & ~undecided), f"{int(np.sum(differ & ~undecided))} foreground pixels differ"


@pytest.mark.export
@pytest.mark.parametrize("size", [(300, 420), (1080, 1920), (1024, 1024), (77, 131)])
def test_resize_matches_torch(size):
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    planes = rng.random((3,) + size).astype(np.float32)
    for out in [(1024, 1024), (256, 256), (540, 960)]:
        for antialias in (False, True):
            expected = F.interpolate(torch.from_numpy(planes)[None], size=out, mode="bilinear",
                                     align_corners=False, antialias=antialias)[0].numpy()
            np.testing.assert_allclose(resize(planes, out, antialias=antialias), expected, atol=2e-6, rtol=0)


@pytest.mark.export
def test_preprocessing_matches_sam2_transforms(image):
    from sam2.utils.transforms import SAM2Transforms

    expected = SAM2Transforms(resolution=1024, mask_threshold=0.0)(image).numpy()
    got = preprocess_image(image, 1024, MEAN, STD)[0]
    np.testing.assert_allclose(got, expected, atol=2e-5, rtol=0)


PROMPTS = [
    ("box", Prompt(box=[60, 40, 260, 220])),
    ("one click", Prompt(points=[[210, 120]], point_labels=[1])),
    ("two clicks", Prompt(points=[[210, 120], [60, 250]], point_labels=[1, 0])),
    ("box and negative click", Prompt(box=[30, 20, 400, 280], points=[[200, 150]], point_labels=[0])),
]


def reference_predict(predictor, prompt: Prompt, mask_input=None):
    points = 0 if prompt.points is None else len(prompt.points)
    points += 2 if prompt.box is not None else 0
    multimask = 0 <= points <= 1  # SAM2.1 multimask_min/max_pt_num
    logits, scores, low_res = predictor.predict(
        point_coords=prompt.points, point_labels=prompt.point_labels, box=prompt.box,
        mask_input=None if mask_input is None else mask_input[None], multimask_output=multimask, return_logits=True,
    )
    best = int(np.argmax(scores)) if multimask else 0
    return logits[best], scores[best], low_res[best]


@pytest.mark.export
def test_segmenter_matches_image_predictor(engine, predictor, image):
    segmenter, _ = engine
    segmenter.suppress_absent = False  # SAM2ImagePredictor ignores object scores
    frames = ArrayFrameSource([image])
    result = segmenter.segment(frames, 0, [p for _, p in PROMPTS])
    assert result.probabilities.shape == (len(PROMPTS),) + image.shape[:2]
    assert result.low_res_logits.shape == (len(PROMPTS), 256, 256)
    for index, (name, prompt) in enumerate(PROMPTS):
        logits, score, low_res = reference_predict(predictor, prompt)
        np.testing.assert_allclose(result.low_res_logits[index], low_res, atol=1e-3, rtol=0, err_msg=name)
        assert abs(result.scores[index] - score) < 1e-4, name
        assert_same_foreground(logits, result.probabilities[index])

    # refinement: feed the low-res logits back with another click, as SAM2 demos do
    refine = Prompt(points=[[210, 120], [300, 200]], point_labels=[1, 1], mask_logits=result.low_res_logits[1])
    refined = segmenter.segment(frames, 0, [refine])
    logits, _, low_res = reference_predict(predictor, refine, mask_input=result.low_res_logits[1])
    np.testing.assert_allclose(refined.low_res_logits[0], low_res, atol=1e-3, rtol=0)
    assert_same_foreground(logits, refined.probabilities[0])


@pytest.mark.export
def test_batched_prompts_equal_single_calls(engine, image):
    segmenter, _ = engine
    segmenter.suppress_absent = True
    frames = ArrayFrameSource([image])
    prompts = [p for _, p in PROMPTS] + [Prompt(box=[100, 100, 200, 200]), Prompt(mask=np.pad(np.ones((100, 100)), ((50, 150), (80, 240))))]
    together = segmenter.segment(frames, 0, prompts)
    for index, prompt in enumerate(prompts):
        alone = segmenter.segment(frames, 0, [prompt])
        np.testing.assert_allclose(together.low_res_logits[index], alone.low_res_logits[0], atol=1e-4, rtol=0)
        np.testing.assert_allclose(together.scores[index], alone.scores[0], atol=1e-5)


@pytest.mark.export
def test_absent_objects_get_empty_masks(engine, image):
    segmenter, _ = engine
    frames = ArrayFrameSource([image])
    prompts = [Prompt(points=[[x, y]], point_labels=[1]) for x in range(20, 420, 40) for y in (30, 150, 270)]
    segmenter.suppress_absent = False
    raw = segmenter.segment(frames, 0, prompts)
    segmenter.suppress_absent = True
    suppressed = segmenter.segment(frames, 0, prompts)
    model = segmenter.model
    features = model.features(frames, 0)
    points = [prompt_points(model, p, frames.size) for p in prompts]
    coords, labels = padded_points([c for c, _ in points], [l for _, l in points])
    _, _, _, object_scores = decode(model, model.image_embedding(features), features, coords, labels, None, None)
    present = object_scores.reshape(-1) > 0
    assert present.any() and (~present).any(), "choose prompts so that both cases occur"
    assert np.all(suppressed.probabilities[~present].max(axis=(1, 2)) < 1e-6)
    np.testing.assert_array_equal(suppressed.probabilities[present], raw.probabilities[present])


def test_protocols(engine):
    segmenter, tracker = engine
    assert isinstance(segmenter, ImageSegmenter)
    assert isinstance(tracker, VideoTracker)


def test_features_are_encoded_once_per_frame(sam2_model_dir, image):
    cache = FeatureCache(max_bytes=256 << 20)
    segmenter, _ = load_sam2(sam2_model_dir, feature_cache=cache)
    frames = ArrayFrameSource([image, image[::-1].copy()])
    segmenter.segment(frames, 0, [Prompt(box=[10, 10, 100, 100])])
    segmenter.segment(frames, 0, [Prompt(points=[[50, 50]])])
    segmenter.segment(frames, 1, [Prompt(points=[[50, 50]])])
    stats = cache.snapshot()
    assert stats.misses == 2 and stats.hits >= 1 and stats.ram_entries == 2


def test_prompt_errors(engine, image):
    segmenter, _ = engine
    frames = ArrayFrameSource([image])
    with pytest.raises(PromptError, match="working resolution"):
        segmenter.segment(frames, 0, [Prompt(mask=np.ones((10, 10), np.float32))])
    with pytest.raises(PromptError, match="low-res logits"):
        segmenter.segment(frames, 0, [Prompt(points=[[1, 1]], mask_logits=np.zeros((64, 64), np.float32))])
    empty = segmenter.segment(frames, 0, [])
    assert empty.probabilities.shape == (0,) + image.shape[:2]


def test_model_folder_errors(sam2_model_dir, tmp_path):
    with pytest.raises(ModelFolderError, match="does not exist"):
        load_sam2(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFolderError, match="no manifest.json"):
        load_sam2(tmp_path / "empty")

    copy = tmp_path / "copy"
    shutil.copytree(sam2_model_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "kind": "groundingdino"}))
    with pytest.raises(ModelFolderError, match="'groundingdino' model"):
        load_sam2(copy)

    settings = dict(manifest["settings"])
    del settings["num_maskmem"]
    (copy / "manifest.json").write_text(json.dumps({**manifest, "settings": settings}))
    with pytest.raises(ModelFolderError, match="num_maskmem"):
        load_sam2(copy)

    (copy / "manifest.json").write_text(json.dumps(manifest))
    (copy / manifest["files"]["memory_attention"]).unlink()
    with pytest.raises(ModelFolderError, match="missing"):
        load_sam2(copy)
