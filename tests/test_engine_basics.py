"""Prompt parsing, layer naming, data types and the model runtime."""

import json

import numpy as np
import pytest

from SegmentationCore.core import prompts
from SegmentationCore.models import runtime
from SegmentationCore.core.errors import ModelFolderError, PromptError
from SegmentationCore.core.types import Detections, Prompt


@pytest.mark.parametrize(
    "text, expected",
    [
        ("person", ["person"]),
        ("person, car", ["person", "car"]),
        ("person . car .", ["person", "car"]),
        ("  Person ,  RED   car ; person\n", ["person", "red car"]),
    ],
)
def test_parse_text_prompt(text, expected):
    assert prompts.parse_text_prompt(text) == expected


@pytest.mark.parametrize("text", ["", "  ", " , . ;"])
def test_empty_prompt_is_refused_with_an_example(text):
    with pytest.raises(PromptError, match="person, car"):
        prompts.parse_text_prompt(text)


def test_layer_names_are_filter_safe():
    assert prompts.layer_name("person", 3) == "/person/person_0003"
    assert prompts.layer_name("Red car", 12) == "/red_car/red_car_0012"
    name = prompts.layer_name("man's hat [big]*", 1)
    assert not set(name) & set("*?[],\"'.")


def test_detections_round_trip_and_validation():
    detections = Detections([[1, 2, 30, 40], [5, 5, 9, 9]], [0.9, 0.4], ["person", "car"])
    again = Detections.from_dict(json.loads(json.dumps(detections.to_dict())))
    np.testing.assert_allclose(again.boxes, detections.boxes)
    assert again.labels == ["person", "car"]
    assert len(detections.select([1])) == 1 and detections.select([1]).labels == ["car"]
    with pytest.raises(ValueError):
        Detections([[0, 0, 1, 1]], [0.5, 0.6], ["a"])


def test_prompt_requires_something_and_matching_labels():
    with pytest.raises(ValueError):
        Prompt()
    with pytest.raises(ValueError):
        Prompt(points=[[1, 2], [3, 4]], point_labels=[1])
    prompt = Prompt(points=[[1, 2]])
    assert prompt.point_labels.tolist() == [1] and prompt.has_clicks


def test_providers_always_end_with_cpu(monkeypatch):
    assert runtime.resolve_providers("cpu") == ["CPUExecutionProvider"]
    assert runtime.resolve_providers("auto")[-1] == "CPUExecutionProvider"
    monkeypatch.setenv("SEGMENTATION_PROVIDERS", "cpu")
    assert runtime.resolve_providers() == ["CPUExecutionProvider"]


def test_unavailable_provider_is_a_clear_error():
    with pytest.raises(ModelFolderError, match="not available"):
        runtime.resolve_providers("NoSuchExecutionProvider")


def test_manifest_validation(tmp_path):
    with pytest.raises(ModelFolderError, match="does not exist"):
        runtime.load_manifest(tmp_path / "missing", "sam2")
    with pytest.raises(ModelFolderError, match="no manifest.json"):
        runtime.load_manifest(tmp_path, "sam2")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ModelFolderError, match="Cannot read"):
        runtime.load_manifest(tmp_path, "sam2")
    (tmp_path / "manifest.json").write_text(json.dumps({"kind": "groundingdino", "format": 1}))
    with pytest.raises(ModelFolderError, match="'groundingdino' model"):
        runtime.load_manifest(tmp_path, "sam2")
    (tmp_path / "manifest.json").write_text(
        json.dumps({"kind": "sam2", "format": 1, "files": {"image_encoder": "image_encoder.onnx"}})
    )
    with pytest.raises(ModelFolderError, match="image_encoder.onnx"):
        runtime.load_manifest(tmp_path, "sam2")
    (tmp_path / "image_encoder.onnx").write_bytes(b"")
    assert runtime.load_manifest(tmp_path, "sam2")["kind"] == "sam2"


def test_find_model_uses_search_path(tmp_path, monkeypatch):
    (tmp_path / "my_model").mkdir()
    monkeypatch.setenv("SEGMENTATION_MODEL_PATHS", str(tmp_path))
    assert runtime.find_model("my_model") == tmp_path / "my_model"
    with pytest.raises(ModelFolderError, match="SEGMENTATION_MODEL_PATHS"):
        runtime.find_model("nope")
