"""The models over ONNX Runtime: sessions and execution providers
(``runtime``), SAM2 (``sam2``: image segmenter and video tracker) and
GroundingDINO (``groundingdino``: text prompt to boxes).

Model folders come from ``export/``; see docs/sam2.md and docs/groundingdino.md.
"""

from .groundingdino import GroundingDinoDetector, load_detector
from .runtime import find_model, load_manifest, resolve_providers
from .sam2 import FeatureCache, Sam2ImageSegmenter, Sam2VideoTracker, load_sam2

__all__ = [
    "FeatureCache",
    "GroundingDinoDetector",
    "Sam2ImageSegmenter",
    "Sam2VideoTracker",
    "find_model",
    "load_detector",
    "load_manifest",
    "load_sam2",
    "resolve_providers",
]
