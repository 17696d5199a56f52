"""Plates: sequence names and frame ranges (``sequence``), reading frames
from disk strictly (``reader``), colour spaces through OCIO (``colour``), the model's working image and masks back at plate
resolution (``working``), and in-memory frames (``arrays``).
"""

from . import colour
from .arrays import ArrayFrameSource
from .reader import FrameHeader, PlateFrameSource, Window, read_header, read_rgb
from .sequence import (
    PlateSequence,
    check_sequence,
    output_would_clobber_plate,
    parse_frames,
    parse_sequence,
)
from .working import (
    COLORSPACES,
    MaskUpsampler,
    linear_to_srgb,
    to_working_image,
    upsample_masks,
    working_size,
)

__all__ = [
    "COLORSPACES",
    "ArrayFrameSource",
    "FrameHeader",
    "MaskUpsampler",
    "PlateFrameSource",
    "PlateSequence",
    "check_sequence",
    "colour",
    "linear_to_srgb",
    "output_would_clobber_plate",
    "parse_frames",
    "parse_sequence",
    "read_header",
    "read_rgb",
    "to_working_image",
    "upsample_masks",
    "working_size",
    "Window",
]
