"""The paper's algorithm and the resumable run over a plate.

- ``stage2``: per-frame SAM2 masks and the overlap clean-up (discard / merge);
- ``tracking``: the mask-cache loop, forward then backward (``track_shot``);
- ``mask_cache``: per-frame layer ids and probabilities, spilled to disk;
- ``interactive``: click / mask prompts on keyframes (prompt files);
- ``runner``: detect -> segment -> track -> write over a work folder
  (``Pipeline``, what ``autoseg run`` drives);
- ``metrics``: J, boundary F, J&F, ID switches (benchmarks and tests).
"""

from .interactive import PromptSet, load_prompts, save_prompts
from .mask_cache import MaskCache
from .runner import STAGES, Pipeline, RunConfig
from .stage2 import Stage2Params, cleanup_masks
from .tracking import TrackingParams, track_shot

__all__ = [
    "STAGES",
    "MaskCache",
    "Pipeline",
    "PromptSet",
    "RunConfig",
    "Stage2Params",
    "TrackingParams",
    "cleanup_masks",
    "load_prompts",
    "save_prompts",
    "track_shot",
]
