"""Plates: sequence names and frame ranges (``sequence``), reading frames
from disk (``reader``), the model's working image and masks back at plate
resolution (``working``), and in-memory frames (``arrays``).
"""

from .arrays import ArrayFrameSource
from .reader import FrameHeader, PlateFrameSource, read_header
from .sequence import (
    PlateSequence,
    check_sequence,
    output_would_clobber_plate,
    parse_frames,
    parse_sequence,
)
from .working import (
    COLORSPACES,
    linear_to_srgb,
    to_working_image,
    upsample_masks,
    working_size,
)

__all__ = [
    "COLORSPACES",
    "ArrayFrameSource",
    "FrameHeader",
    "PlateFrameSource",
    "PlateSequence",
    "check_sequence",
    "linear_to_srgb",
    "output_would_clobber_plate",
    "parse_frames",
    "parse_sequence",
    "read_header",
    "to_working_image",
    "upsample_masks",
    "working_size",
]
