"""GroundingDINO over ONNX Runtime: text prompt -> boxes (stage 1).

No torch, no transformers: prompts are tokenised with the ``tokenizers``
package on the vocabulary shipped in the model folder, and the graph outputs
are post-processed in numpy. Model folders come from
``export/export_groundingdino.py``; see docs/groundingdino.md.

>>> detector = load_detector("onnx_models/groundingdino_swint")  # doctest: +SKIP
>>> detector.detect(frames, 1001, ["person", "car"])  # doctest: +SKIP
"""

from .detector import GroundingDinoDetector, load_detector
from .geometry import ASPECT_TOLERANCE, GraphSize, Letterbox, choose_graph
from .postprocess import Thresholds, detections_from_outputs
from .tokenizer import PromptTokenizer, TokenizedPrompt, caption_for

__all__ = [
    "ASPECT_TOLERANCE",
    "GraphSize",
    "GroundingDinoDetector",
    "Letterbox",
    "PromptTokenizer",
    "Thresholds",
    "TokenizedPrompt",
    "caption_for",
    "choose_graph",
    "detections_from_outputs",
    "load_detector",
]
