"""The GroundingDINO :class:`~SegmentationCore.core.protocols.Detector` over ONNX Runtime."""

from __future__ import annotations

import os
import pathlib
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ...core.errors import ModelFolderError, PlateError, PromptError
from ...core.protocols import FrameSource
from ...core.types import Detections
from .. import runtime
from .geometry import (
    ASPECT_TOLERANCE,
    GraphSize,
    Letterbox,
    choose_graph,
    prepare_image,
)
from .postprocess import MAX_DETECTIONS, Thresholds, detections_from_outputs
from .tokenizer import MAX_TEXT_LEN, PromptTokenizer

KIND = "groundingdino"
OUTPUTS = ["logits", "boxes"]


def _graph_sizes(manifest: Mapping[str, Any], folder: pathlib.Path) -> list[GraphSize]:
    sizes = []
    for entry in manifest.get("sizes", []):
        try:
            size = GraphSize(int(entry["width"]), int(entry["height"]), str(entry["file"]))
        except (KeyError, TypeError, ValueError):
            raise ModelFolderError(f"{folder}/manifest.json: bad size entry {entry!r}; re-run the export") from None
        if not (folder / size.file).is_file():
            raise ModelFolderError(f"{folder}: graph {size.file} ({size.label}) is missing; re-run the export")
        sizes.append(size)
    if not sizes:
        raise ModelFolderError(f"{folder}/manifest.json lists no graph sizes; re-run the export")
    return sizes


class GroundingDinoDetector:
    """Text-prompted boxes per frame, in working-resolution pixels.

    One ONNX Runtime session per graph size, created on first use (a Swin-T
    session takes 15-25 s and about 2 GB to load), shared process-wide
    through :func:`SegmentationCore.models.runtime.session`. The graphs take a
    dynamic batch: :meth:`detect_frames` runs ``batch_size`` frames per call.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike,
        manifest: Mapping[str, Any] | None = None,
        providers: str | Sequence[str] | None = None,
        threads: int | None = None,
        box_threshold: float | None = None,
        text_threshold: float | None = None,
        nms_iou: float | None = None,
        max_detections: int = MAX_DETECTIONS,
        aspect_tolerance: float = ASPECT_TOLERANCE,
        batch_size: int = 1,
    ):
        self.model_dir = pathlib.Path(model_dir)
        self.manifest = dict(manifest if manifest is not None else runtime.load_manifest(self.model_dir, KIND))
        defaults = self.manifest.get("thresholds", {})
        self.thresholds = Thresholds(
            box_threshold=float(defaults.get("box", 0.35) if box_threshold is None else box_threshold),
            text_threshold=float(defaults.get("text", 0.25) if text_threshold is None else text_threshold),
            nms_iou=nms_iou,
            max_detections=int(max_detections),
        )
        self.sizes = _graph_sizes(self.manifest, self.model_dir)
        normalisation = self.manifest.get("normalisation", {})
        self.mean = tuple(normalisation.get("mean", (0.485, 0.456, 0.406)))
        self.std = tuple(normalisation.get("std", (0.229, 0.224, 0.225)))
        text = self.manifest.get("text", {})
        vocab = self.manifest.get("files", {}).get("vocab", text.get("vocab", "vocab.txt"))
        self.tokenizer = PromptTokenizer(
            self.model_dir / vocab,
            special_ids=text.get("special_token_ids"),
            max_length=int(text.get("max_text_len", MAX_TEXT_LEN)),
            lowercase=bool(text.get("lowercase", True)),
        )
        self.dynamic_batch = self.manifest.get("batch") == "dynamic"
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = int(batch_size) if self.dynamic_batch else 1
        self.aspect_tolerance = float(aspect_tolerance)
        self.providers = providers
        self.threads = threads

    # -- graph selection ---------------------------------------------------

    def graph_for(self, frame_size: tuple[int, int]) -> GraphSize:
        """The graph used for frames of ``(height, width)`` (raises if none fits)."""
        return choose_graph(self.sizes, frame_size, self.aspect_tolerance, where=f"The GroundingDINO model {self.model_dir}")

    def session(self, graph: GraphSize):
        return runtime.session(self.model_dir / graph.file, self.providers, self.threads)

    # -- detection ------------------------------------------------------

    def detect(self, frames: FrameSource, frame: int, phrases: Sequence[str]) -> Detections:
        """Boxes for every phrase on one frame (working-resolution pixels)."""
        return self.detect_frames(frames, [frame], phrases)[frame]

    def detect_frames(self, frames: FrameSource, frame_numbers: Iterable[int], phrases: Sequence[str]) -> dict[int, Detections]:
        """Boxes on several frames, ``batch_size`` frames per graph call."""
        phrases = [str(p) for p in phrases]
        if not phrases:
            raise PromptError("GroundingDINO needs at least one phrase to look for, e.g. \"person\"")
        prompt = self.tokenizer.encode(phrases)
        frame_numbers = list(frame_numbers)
        graph = self.graph_for(frames.size)
        letterbox = Letterbox.fit(frames.size, graph)
        session = self.session(graph)
        results: dict[int, Detections] = {}
        for start in range(0, len(frame_numbers), self.batch_size):
            chunk = frame_numbers[start : start + self.batch_size]
            images = np.stack([self._input(frames, number, letterbox) for number in chunk])
            feed = {"image": images, **prompt.feed(len(chunk))}
            logits, boxes = session.run(OUTPUTS, feed)
            for index, number in enumerate(chunk):
                results[number] = detections_from_outputs(
                    logits[index], boxes[index], prompt.phrases, prompt.phrase_spans,
                    letterbox.to_frame, letterbox.frame_size, self.thresholds,
                )
        return results

    def _input(self, frames: FrameSource, frame: int, letterbox: Letterbox) -> np.ndarray:
        try:
            image = frames.image(frame)
        except (KeyError, OSError) as error:
            raise PlateError(f"GroundingDINO cannot read frame {frame}: {error}") from error
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[:2] != letterbox.frame_size:
            raise PlateError(
                f"frame {frame} is {image.shape}, but the shot's frames are "
                f"{letterbox.frame_size[1]}x{letterbox.frame_size[0]} RGB"
            )
        return prepare_image(image, letterbox, self.mean, self.std)


def load_detector(
    model_dir: str | os.PathLike,
    providers: str | Sequence[str] | None = None,
    threads: int | None = None,
    box_threshold: float | None = None,
    text_threshold: float | None = None,
    nms_iou: float | None = None,
    max_detections: int = MAX_DETECTIONS,
    aspect_tolerance: float = ASPECT_TOLERANCE,
    batch_size: int = 1,
) -> GroundingDinoDetector:
    """A :class:`GroundingDinoDetector` for a model folder (a path, or a folder
    name on ``SEGMENTATION_MODEL_PATHS``), validated against its manifest."""
    folder = runtime.find_model(model_dir)
    manifest = runtime.load_manifest(folder, KIND)
    return GroundingDinoDetector(
        folder, manifest, providers=providers, threads=threads, box_threshold=box_threshold,
        text_threshold=text_threshold, nms_iou=nms_iou, max_detections=max_detections,
        aspect_tolerance=aspect_tolerance, batch_size=batch_size,
    )
