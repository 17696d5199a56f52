"""The basics every part of the engine shares: value types, backend
protocols, errors (with their exit codes), prompt and layer names, mask
operations and atomic file output.

Modules: ``types``, ``protocols``, ``errors``, ``prompts``, ``maskops``,
``atomic_output``.
"""

from .errors import (
    ModelFolderError,
    OutputError,
    PlateError,
    PromptError,
    SegmentationError,
)
from .protocols import Detector, FrameSource, ImageSegmenter, VideoTracker
from .types import Detections, Prompt, SegmentResult, TrackedFrame

__all__ = [
    "Detections",
    "Detector",
    "FrameSource",
    "ImageSegmenter",
    "ModelFolderError",
    "OutputError",
    "PlateError",
    "Prompt",
    "PromptError",
    "SegmentResult",
    "SegmentationError",
    "TrackedFrame",
    "VideoTracker",
]
