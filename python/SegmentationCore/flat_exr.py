"""Flat (scanline) OpenEXR encoding from numpy planes.

Used for Cryptomatte files: a dozen or more float32 channels that are zero
almost everywhere. Laying the planes out as scan lines is one copy per
channel, and the ZIP/ZIPS compression runs per chunk on a thread pool
(:mod:`SegmentationCore.exr_zip`), which is faster here than the ``OpenEXR``
binding's single-threaded writer. Written files follow OpenEXR's File Layout
document (single part, increasing-y line order); reading them is left to
the ``OpenEXR`` binding.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Mapping, Sequence

import numpy as np

from . import exr_header as hdr
from . import exr_zip

NATIVE_COMPRESSIONS = {"none": 1, "zips": 1, "zip": 16}


@dataclasses.dataclass
class FlatChannel:
    name: str
    pixel_type: int  # exr_header.PIXEL_UINT / PIXEL_HALF / PIXEL_FLOAT
    pixels: np.ndarray  # (H, W)


def encode_flat_scanline(
    channels: Sequence[FlatChannel],
    attributes: Mapping[str, tuple[str, bytes]] | None = None,
    compression: str = "zip",
    level: int = exr_zip.DEFAULT_LEVEL,
) -> bytes:
    """The bytes of a single-part scanline EXR holding ``channels``."""
    if compression not in NATIVE_COMPRESSIONS:
        raise ValueError(f"flat compression must be one of {sorted(NATIVE_COMPRESSIONS)}, got {compression!r}")
    if not channels:
        raise ValueError("a flat EXR needs at least one channel")
    channels = sorted(channels, key=lambda c: c.name.encode("utf-8"))
    height, width = np.shape(channels[0].pixels)
    sizes = [hdr.PIXEL_SIZES[c.pixel_type] for c in channels]
    line_bytes = width * sum(sizes)
    rows = np.empty((height, line_bytes), dtype=np.uint8)
    column = 0
    for channel, size in zip(channels, sizes):
        plane = np.ascontiguousarray(channel.pixels, dtype=hdr.PIXEL_DTYPES[channel.pixel_type])
        if plane.shape != (height, width):
            raise ValueError(f"channel {channel.name!r} is {plane.shape}, expected {(height, width)}")
        rows[:, column:column + width * size] = plane.view(np.uint8).reshape(height, width * size)
        column += width * size

    lines_per_chunk = NATIVE_COMPRESSIONS[compression]
    chunk_starts = list(range(0, height, lines_per_chunk))
    lengths = [min(lines_per_chunk, height - y) * line_bytes for y in chunk_starts]
    raw = rows.reshape(-1)
    if compression == "none":
        flat = raw.tobytes()
        bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
        packed = [flat[bounds[i]:bounds[i + 1]] for i in range(len(lengths))]
    else:
        packed = exr_zip.compress_chunks(raw, lengths, level)

    header_attributes = {
        "channels": hdr.attr_chlist([hdr.ChannelInfo(c.name, c.pixel_type) for c in channels]),
        "compression": hdr.attr_compression(compression),
        "dataWindow": hdr.attr_box2i(0, 0, width - 1, height - 1),
        "displayWindow": hdr.attr_box2i(0, 0, width - 1, height - 1),
        "lineOrder": hdr.attr_line_order_increasing(),
        "pixelAspectRatio": hdr.attr_float(1.0),
        "screenWindowCenter": hdr.attr_v2f(0.0, 0.0),
        "screenWindowWidth": hdr.attr_float(1.0),
    }
    for name, value in (attributes or {}).items():
        if name in header_attributes:
            raise ValueError(f"attribute {name!r} is set by the flat writer")
        header_attributes[name] = value
    header_bytes = hdr.encode_header(2, header_attributes)

    offsets = np.empty(len(chunk_starts), dtype="<u8")
    position = len(header_bytes) + 8 * len(chunk_starts)
    pieces = []
    for index, (y, data) in enumerate(zip(chunk_starts, packed)):
        prefix = struct.pack("<ii", y, len(data))
        offsets[index] = position
        pieces.extend((prefix, data))
        position += len(prefix) + len(data)
    return b"".join([header_bytes, offsets.tobytes()] + pieces)
