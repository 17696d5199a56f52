"""Deep scanline OpenEXR files from and to flat numpy sample arrays.

A deep image is held as ``counts`` (samples per pixel, row-major) plus one
flat array per channel with the samples of all pixels in row-major order
(within a pixel in stored order). That is exactly the deep chunk layout, so
writing and reading are a handful of vectorised numpy operations plus one
zlib call per scan line, instead of one Python object per pixel as the
``OpenEXR`` Python binding needs.

Written files follow OpenEXR's File Layout document (single-part
``deepscanline``, version 1, ``chunkCount`` and ``maxSamplesPerPixel``
attributes, one scan line per chunk, NONE or ZIPS compression). The reader
handles those two compressions natively; anything else (RLE, ZIP, ZSTD,
deep tiles, multi-part) is decoded by the ``OpenEXR`` binding instead:
slower, but correct.
"""

from __future__ import annotations

import dataclasses
import os
import struct
from typing import Mapping, Sequence

import numpy as np

from . import exr_header as hdr
from . import exr_read
from . import exr_zip

NATIVE_COMPRESSIONS = ("none", "zips")
DEEP_COMPRESSIONS = ("none", "rle", "zips", "zip", "zstd")


@dataclasses.dataclass
class DeepChannel:
    name: str
    pixel_type: int  # exr_header.PIXEL_UINT / PIXEL_HALF / PIXEL_FLOAT
    values: np.ndarray  # (N,) samples in file order


@dataclasses.dataclass
class DeepImage:
    width: int
    height: int
    counts: np.ndarray  # (H*W,) int32
    channels: dict[str, np.ndarray]  # name -> (N,) values (native dtype)
    header: hdr.ExrHeader | None = None

    @property
    def pixel_index(self) -> np.ndarray:
        """(N,) flat pixel index of every sample."""
        return np.repeat(np.arange(self.counts.size, dtype=np.int64), self.counts)


def _channel_bytes(channel: DeepChannel, total: int) -> np.ndarray:
    """The channel's samples as little-endian bytes (a view when possible)."""
    dtype = np.dtype(hdr.PIXEL_DTYPES[channel.pixel_type])
    values = np.ascontiguousarray(channel.values, dtype=dtype).reshape(-1)
    if values.size != total:
        raise ValueError(f"deep channel {channel.name!r} has {values.size} samples, expected {total}")
    return values.view(np.uint8)


def encode_deep_scanline(
    width: int,
    height: int,
    counts: np.ndarray,
    channels: Sequence[DeepChannel],
    attributes: Mapping[str, tuple[str, bytes]] | None = None,
    compression: str = "zips",
    level: int = exr_zip.DEFAULT_LEVEL,
    windows: hdr.ImageWindows | None = None,
) -> bytes:
    """The bytes of a single-part deep scanline EXR file.

    ``attributes`` are extra header attributes (``name -> (type, raw)``),
    e.g. from :mod:`SegmentationCore.idmatte.exr_header`'s ``attr_*`` helpers;
    ``windows`` places the image (data window origin, display window, pixel
    aspect)."""
    if compression not in NATIVE_COMPRESSIONS:
        raise ValueError(f"deep compression must be one of {NATIVE_COMPRESSIONS}, got {compression!r}")
    counts = np.asarray(counts, dtype=np.int64).reshape(height, width)
    if (counts < 0).any():
        raise ValueError("negative deep sample count")
    total = int(counts.sum())
    channels = sorted(channels, key=lambda c: c.name.encode("utf-8"))
    sizes = [hdr.PIXEL_SIZES[c.pixel_type] for c in channels]
    sample_size = sum(sizes)
    views = [_channel_bytes(c, total) for c in channels]

    line_counts = counts.sum(axis=1)
    line_starts = np.zeros(height + 1, dtype=np.int64)
    np.cumsum(line_counts, out=line_starts[1:])
    starts = line_starts.tolist()
    # chunk y = [channel 0's samples of line y][channel 1's]... (joined on the workers)
    data_pieces = [
        [view[starts[y] * size:starts[y + 1] * size] for view, size in zip(views, sizes)] for y in range(height)
    ]
    data_lengths = line_counts * sample_size

    tables = np.cumsum(counts, axis=1, dtype=np.int64)
    if tables.size and tables.max() > np.iinfo(np.int32).max:
        raise ValueError("too many deep samples in one scan line")
    raw_tables = np.ascontiguousarray(tables.astype("<i4")).view(np.uint8).reshape(height, width * 4)

    if compression == "zips":
        packed_tables = exr_zip.compress_pieces([[row] for row in raw_tables], level)
        packed_data = exr_zip.compress_pieces(data_pieces, level)
    else:
        packed_tables = [row.tobytes() for row in raw_tables]
        packed_data = [b"".join(pieces) for pieces in data_pieces]

    deep_attributes = {
        "type": hdr.attr_string("deepscanline"),
        "version": hdr.attr_int(1),
        "chunkCount": hdr.attr_int(height),
        "maxSamplesPerPixel": hdr.attr_int(int(counts.max()) if counts.size else 0),
    }
    header_attributes = hdr.image_attributes(
        [hdr.ChannelInfo(c.name, c.pixel_type) for c in channels],
        compression, width, height, deep_attributes, attributes, writer="the deep", windows=windows,
    )
    y_min = (windows or hdr.DEFAULT_WINDOWS).y
    header_bytes = hdr.encode_header(2 | hdr.VERSION_NON_IMAGE, header_attributes)

    chunk_pieces = []
    offsets = np.empty(height, dtype="<u8")
    position = len(header_bytes) + 8 * height
    raw_sizes = data_lengths.tolist()
    for y in range(height):
        table, data = packed_tables[y], packed_data[y]
        prefix = struct.pack("<iQQQ", y_min + y, len(table), len(data), raw_sizes[y])
        offsets[y] = position
        chunk_pieces.extend((prefix, table, data))
        position += len(prefix) + len(table) + len(data)
    return b"".join([header_bytes, offsets.tobytes()] + chunk_pieces)


def decode_deep_scanline(data: bytes, header: hdr.ExrHeader | None = None) -> DeepImage:
    """Decode a single-part deep scanline file with NONE or ZIPS compression.

    Raises :class:`NotImplementedError` for other layouts (see
    :func:`read_deep`, which falls back to the ``OpenEXR`` binding)."""
    header = header or hdr.parse_header(data)
    if header.is_multipart or header.type_name != "deepscanline":
        raise NotImplementedError(f"not a single-part deep scanline file ({header.type_name})")
    compression = header.compression
    if compression not in NATIVE_COMPRESSIONS:
        raise NotImplementedError(f"deep compression {compression!r} is decoded by the OpenEXR binding")
    x_min, y_min, x_max, y_max = header.data_window
    width, height = x_max - x_min + 1, y_max - y_min + 1
    channels = sorted(header.channels, key=lambda c: c.name.encode("utf-8"))
    if any(c.x_sampling != 1 or c.y_sampling != 1 for c in channels):
        raise NotImplementedError("sub-sampled deep channels")
    sizes = [hdr.PIXEL_SIZES[c.pixel_type] for c in channels]
    sample_size = sum(sizes)

    if header.end + 8 * height > len(data):
        raise ValueError("deep EXR file is truncated (offset table)")
    offsets = np.frombuffer(data, dtype="<u8", count=height, offset=header.end).tolist()
    view = memoryview(data)
    tables: list[bytes | memoryview] = [b""] * height
    packed: list[bytes | memoryview] = [b""] * height
    raw_sizes = [0] * height
    for offset in offsets:
        if offset + 28 > len(data):
            raise ValueError("deep EXR file is truncated (chunk offset past the end)")
        y, table_size, packed_size, raw_size = struct.unpack_from("<iQQQ", data, offset)
        line = y - y_min
        if not 0 <= line < height:
            raise ValueError(f"deep chunk for scan line {y} is outside the data window")
        body = offset + 28
        if body + table_size + packed_size > len(data):
            raise ValueError(f"deep EXR file is truncated (scan line {y})")
        tables[line] = view[body:body + table_size]
        packed[line] = view[body + table_size:body + table_size + packed_size]
        raw_sizes[line] = raw_size

    table_lengths = np.full(height, width * 4, dtype=np.int64)
    if compression == "zips":
        table_bytes = exr_zip.decompress_chunks(tables, table_lengths)
        sample_bytes = exr_zip.decompress_chunks(packed, np.asarray(raw_sizes, dtype=np.int64))
    else:
        table_bytes = np.frombuffer(b"".join(tables), dtype=np.uint8)
        sample_bytes = np.frombuffer(b"".join(packed), dtype=np.uint8)
    cumulative = table_bytes.view("<i4").reshape(height, width).astype(np.int64)
    counts = np.diff(cumulative, axis=1, prepend=0)
    if (counts < 0).any():
        raise ValueError("corrupt deep sample count table")
    line_counts = cumulative[:, -1] if width else np.zeros(height, np.int64)
    if not np.array_equal(line_counts * sample_size, np.asarray(raw_sizes, dtype=np.int64)):
        raise ValueError("deep sample data size does not match the sample count table")

    # per line: [channel 0 samples][channel 1 samples]...; regroup per channel
    line_starts = np.zeros(height + 1, dtype=np.int64)
    np.cumsum(line_counts, out=line_starts[1:])
    byte_view = memoryview(sample_bytes.tobytes() if not sample_bytes.flags.c_contiguous else sample_bytes)
    starts = (line_starts * sample_size).tolist()
    lc = line_counts.tolist()
    per_channel: list[list] = [[] for _ in channels]
    for y in range(height):
        position = starts[y]
        for index, size in enumerate(sizes):
            length = lc[y] * size
            per_channel[index].append(byte_view[position:position + length])
            position += length
    values = {}
    for channel, pieces in zip(channels, per_channel):
        values[channel.name] = np.frombuffer(b"".join(pieces), dtype=hdr.PIXEL_DTYPES[channel.pixel_type])
    return DeepImage(width, height, counts.reshape(-1).astype(np.int32), values, header)


def _read_with_openexr(path: str, header: hdr.ExrHeader) -> DeepImage:
    """Fallback decoder: the OpenEXR binding's per-pixel object arrays."""
    import OpenEXR

    with OpenEXR.File(path, separate_channels=True) as exr_file:
        part = exr_file.parts[0]
        channels = part.channels
        x_min, y_min, x_max, y_max = header.data_window
        width, height = x_max - x_min + 1, y_max - y_min + 1
        counts = None
        values = {}
        for name, channel in channels.items():
            pixels = channel.pixels.reshape(-1)
            lengths = np.fromiter((0 if p is None else len(p) for p in pixels), dtype=np.int32, count=pixels.size)
            if counts is None:
                counts = lengths
            present = [p for p in pixels if p is not None and len(p)]
            dtype = hdr.PIXEL_DTYPES[next(c.pixel_type for c in header.channels if c.name == name)]
            values[name] = np.concatenate(present).astype(dtype) if present else np.zeros(0, dtype)
    if counts is None:
        counts = np.zeros(width * height, np.int32)
    return DeepImage(width, height, counts, values, header)


def read_deep(path: str | os.PathLike) -> DeepImage:
    """Read a single-part deep EXR file (see module docstring)."""
    path = os.fspath(path)
    with open(path, "rb") as handle:
        data = handle.read()
    header = hdr.parse_header(data)
    if not header.is_deep:
        raise ValueError(f"{path} is not a deep EXR file")
    try:
        return decode_deep_scanline(data, header)
    except NotImplementedError as error:
        if not exr_read.openexr_is_safe():
            # Inside Gaffer the PyPI OpenEXR module would call into Gaffer's
            # OpenEXR library (see exr_read).
            raise ValueError(
                f"{path}: {error}; inside Gaffer only NONE and ZIPS deep files (as written here) can be read"
            ) from error
        return _read_with_openexr(path, header)
