"""The paper's algorithm and the resumable run over a plate.

- ``stage2``: per-frame SAM2 masks and the overlap clean-up (discard / merge);
- ``tracking``: the mask-cache loop, forward then backward (``track_shot``);
- ``mask_cache``: per-frame layer ids and probabilities, spilled to disk;
- ``interactive``: click / mask prompts on keyframes (prompt files);
- ``runner``: detect -> segment -> track -> write over a work folder
  (``Pipeline``, what ``autoseg run`` drives);
- ``metrics``: J, boundary F, J&F, ID switches (benchmarks and tests);
- ``refine``: per-layer edge refinement at plate resolution, guided by the
  plate (``refine_layers``, ``RefineParams``).
"""

from .interactive import PromptSet, load_prompts, save_prompts
from .mask_cache import MaskCache
from .refine import EdgeRefiner, RefineParams, guide_from_plate, refine_layers
from .runner import STAGES, Pipeline, RunConfig
from .stage2 import Stage2Params, cleanup_masks
from .tracking import TrackingParams, track_shot

__all__ = [
    "EdgeRefiner",
    "STAGES",
    "MaskCache",
    "Pipeline",
    "PromptSet",
    "RefineParams",
    "RunConfig",
    "Stage2Params",
    "TrackingParams",
    "cleanup_masks",
    "guide_from_plate",
    "load_prompts",
    "refine_layers",
    "save_prompts",
    "track_shot",
]
