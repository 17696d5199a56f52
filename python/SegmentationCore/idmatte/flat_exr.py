"""Flat (scanline) OpenEXR encoding from numpy planes.

Used for Cryptomatte files: a dozen or more float32 channels that are zero
almost everywhere. Laying the planes out as scan lines is one copy per
channel, and the ZIP/ZIPS compression runs per chunk on a thread pool
(:mod:`SegmentationCore.idmatte.exr_zip`), which is faster here than the ``OpenEXR``
binding's single-threaded writer. Written files follow OpenEXR's File Layout
document (single part, increasing-y line order); reading them is left to
the ``OpenEXR`` binding.
"""

from __future__ import annotations

import dataclasses
import io
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


class FlatLayout:
    """A zero-filled buffer holding the image exactly as the scan lines of a
    flat EXR lay it out (per line: each channel's row, channels sorted by
    name). :meth:`plane` gives a writable (H, W) view of one channel, so
    pixels are written in place and never copied again before compression."""

    def __init__(self, height: int, width: int, channels: Sequence[tuple[str, int]]):
        names = [name for name, _ in channels]
        if len(set(names)) != len(names):
            raise ValueError("duplicate channel names")
        if not channels:
            raise ValueError("a flat EXR needs at least one channel")
        self.height, self.width = int(height), int(width)
        self.channels = sorted(channels, key=lambda c: c[0].encode("utf-8"))
        self._columns = {}
        column = 0
        for name, pixel_type in self.channels:
            size = hdr.PIXEL_SIZES[pixel_type]
            self._columns[name] = (column, column + self.width * size, pixel_type)
            column += self.width * size
        self.line_bytes = column
        self.rows = np.zeros((self.height, self.line_bytes), dtype=np.uint8)

    def plane(self, name: str) -> np.ndarray:
        """(H, W) view of channel ``name`` (its native dtype), writable."""
        start, end, pixel_type = self._columns[name]
        return self.rows[:, start:end].view(hdr.PIXEL_DTYPES[pixel_type])

    def encode(
        self,
        attributes: Mapping[str, tuple[str, bytes]] | None = None,
        compression: str = "zip",
        level: int = exr_zip.DEFAULT_LEVEL,
        windows: hdr.ImageWindows | None = None,
    ) -> bytes:
        """The bytes of a single-part scanline EXR holding this image, placed
        by ``windows`` (data window origin, display window, pixel aspect)."""
        stream = io.BytesIO()
        writer = FlatScanlineWriter(stream, self.width, self.height, self.channels, attributes, compression, level, windows)
        writer.write_rows(self)
        writer.finish()
        return stream.getvalue()


class FlatScanlineWriter:
    """Writes a single-part flat scanline EXR to a seekable binary
    ``stream`` band by band, top to bottom: the header and a zeroed offset
    table first, then each :meth:`write_rows` band's chunks (1 scan line
    for NONE and ZIPS, 16 for ZIP, so every band but the last must be a
    multiple of that many rows), then :meth:`finish` fills the offset table
    in. The bytes are those of :meth:`FlatLayout.encode` on the whole image
    (which uses this with one band)."""

    def __init__(
        self,
        stream,
        width: int,
        height: int,
        channels: Sequence[tuple[str, int]],
        attributes: Mapping[str, tuple[str, bytes]] | None = None,
        compression: str = "zip",
        level: int = exr_zip.DEFAULT_LEVEL,
        windows: hdr.ImageWindows | None = None,
    ):
        if compression not in NATIVE_COMPRESSIONS:
            raise ValueError(f"flat compression must be one of {sorted(NATIVE_COMPRESSIONS)}, got {compression!r}")
        self.stream, self.width, self.height = stream, int(width), int(height)
        self.compression, self.level = compression, level
        self.channels = sorted(channels, key=lambda c: c[0].encode("utf-8"))
        self.lines_per_chunk = NATIVE_COMPRESSIONS[compression]
        self.y_min = (windows or hdr.DEFAULT_WINDOWS).y
        header_attributes = hdr.image_attributes(
            [hdr.ChannelInfo(name, pixel_type) for name, pixel_type in self.channels],
            compression, self.width, self.height, attributes=attributes, writer="the flat", windows=windows,
        )
        self._start = stream.tell()
        header = hdr.encode_header(2, header_attributes)
        self.offsets = np.zeros(-(-self.height // self.lines_per_chunk), dtype="<u8")
        stream.write(header)
        self._offsets_at = self._start + len(header)
        stream.write(self.offsets.tobytes())
        self._position = self._offsets_at + 8 * self.offsets.size  # file offset of the next chunk
        self.next_line = 0

    def write_rows(self, layout: FlatLayout) -> None:
        """Encode and write ``layout`` (a band of rows with this file's
        width and channels) as the next scan lines."""
        if layout.width != self.width or layout.channels != self.channels:
            raise ValueError("the band's width or channels differ from the file's")
        first, rows = self.next_line, layout.height
        if first + rows > self.height:
            raise ValueError(f"rows {first}-{first + rows - 1} are past the image's {self.height} lines")
        if rows % self.lines_per_chunk and first + rows != self.height:
            raise ValueError(f"a band of {rows} rows is not a whole number of {self.lines_per_chunk}-line chunks")
        chunk_starts = list(range(0, rows, self.lines_per_chunk))
        lengths = [min(self.lines_per_chunk, rows - y) * layout.line_bytes for y in chunk_starts]
        raw = layout.rows.reshape(-1)
        if self.compression == "none":
            bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
            packed = [raw[bounds[i]:bounds[i + 1]].tobytes() for i in range(len(lengths))]
        else:
            packed = exr_zip.compress_chunks(raw, lengths, self.level)
        pieces = []
        position = self._position
        first_chunk = first // self.lines_per_chunk
        for index, (y, data) in enumerate(zip(chunk_starts, packed)):
            prefix = struct.pack("<ii", self.y_min + first + y, len(data))
            self.offsets[first_chunk + index] = position
            pieces.extend((prefix, data))
            position += len(prefix) + len(data)
        self.stream.write(b"".join(pieces))
        self._position = position
        self.next_line = first + rows

    def finish(self) -> None:
        """Write the offset table (every line must have been written)."""
        if self.next_line != self.height:
            raise ValueError(f"only {self.next_line} of {self.height} scan lines were written")
        end = self.stream.tell()
        self.stream.seek(self._offsets_at)
        self.stream.write(self.offsets.tobytes())
        self.stream.seek(end)


def encode_flat_scanline(
    channels: Sequence[FlatChannel],
    attributes: Mapping[str, tuple[str, bytes]] | None = None,
    compression: str = "zip",
    level: int = exr_zip.DEFAULT_LEVEL,
) -> bytes:
    """The bytes of a single-part scanline EXR holding ``channels``."""
    if not channels:
        raise ValueError("a flat EXR needs at least one channel")
    height, width = np.shape(channels[0].pixels)
    layout = FlatLayout(height, width, [(c.name, c.pixel_type) for c in channels])
    for channel in channels:
        if np.shape(channel.pixels) != (height, width):
            raise ValueError(f"channel {channel.name!r} is {np.shape(channel.pixels)}, expected {(height, width)}")
        layout.plane(channel.name)[...] = channel.pixels
    return layout.encode(attributes, compression, level)
