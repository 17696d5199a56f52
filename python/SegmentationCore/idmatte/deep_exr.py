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
import io
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


class DeepScanlineWriter:
    """Writes a single-part deep scanline EXR to a seekable binary
    ``stream`` band by band of scan lines, top to bottom.

    The header and a zeroed offset table go out first; each
    :meth:`write_lines` call encodes and writes the chunks (one scan line
    each) of the next lines; :meth:`finish` writes the offset table and the
    header's ``maxSamplesPerPixel`` (a fixed-size int, so the header keeps
    its length) in place. The bytes are those of a whole-frame encode
    (:func:`encode_deep_scanline`, which uses this with one band).
    ``channels`` are ``(name, pixel type)``; ``attributes`` are extra header
    attributes (``name -> (type, raw)``), e.g. from
    :mod:`SegmentationCore.idmatte.exr_header`'s ``attr_*`` helpers;
    ``windows`` places the image (data window origin, display window, pixel
    aspect)."""

    def __init__(
        self,
        stream,
        width: int,
        height: int,
        channels: Sequence[tuple[str, int]],
        attributes: Mapping[str, tuple[str, bytes]] | None = None,
        compression: str = "zips",
        level: int = exr_zip.DEFAULT_LEVEL,
        windows: hdr.ImageWindows | None = None,
    ):
        if compression not in NATIVE_COMPRESSIONS:
            raise ValueError(f"deep compression must be one of {NATIVE_COMPRESSIONS}, got {compression!r}")
        self.stream, self.width, self.height = stream, int(width), int(height)
        self.compression, self.level = compression, level
        self.channels = sorted(channels, key=lambda c: c[0].encode("utf-8"))
        self.sizes = [hdr.PIXEL_SIZES[pixel_type] for _, pixel_type in self.channels]
        self.y_min = (windows or hdr.DEFAULT_WINDOWS).y
        self._header_attributes = hdr.image_attributes(
            [hdr.ChannelInfo(name, pixel_type) for name, pixel_type in self.channels],
            compression, self.width, self.height, self._deep_attributes(0), attributes, writer="the deep", windows=windows,
        )
        self._start = stream.tell()
        header = hdr.encode_header(2 | hdr.VERSION_NON_IMAGE, self._header_attributes)
        self._header_length = len(header)
        self.offsets = np.zeros(self.height, dtype="<u8")
        stream.write(header)
        stream.write(self.offsets.tobytes())
        self._position = self._start + self._header_length + 8 * self.height  # file offset of the next chunk
        self.next_line = 0
        self.max_samples = 0

    def _deep_attributes(self, max_samples: int) -> dict[str, tuple[str, bytes]]:
        return {
            "type": hdr.attr_string("deepscanline"),
            "version": hdr.attr_int(1),
            "chunkCount": hdr.attr_int(self.height),
            "maxSamplesPerPixel": hdr.attr_int(max_samples),
        }

    def write_lines(self, counts: np.ndarray, values: Sequence[DeepChannel]) -> None:
        """Encode and write the next ``len(counts)`` scan lines: ``counts``
        is their (rows, W) samples per pixel, ``values`` one
        :class:`DeepChannel` per channel with those lines' samples."""
        counts = np.asarray(counts, dtype=np.int64).reshape(-1, self.width)
        rows = counts.shape[0]
        first = self.next_line
        if first + rows > self.height:
            raise ValueError(f"deep lines {first}-{first + rows - 1} are past the image's {self.height} lines")
        if (counts < 0).any():
            raise ValueError("negative deep sample count")
        total = int(counts.sum())
        by_name = {channel.name: channel for channel in values}
        if sorted(by_name) != sorted(name for name, _ in self.channels):
            raise ValueError(f"deep channels {sorted(by_name)} do not match the header's {[n for n, _ in self.channels]}")
        views = [_channel_bytes(DeepChannel(name, pixel_type, by_name[name].values), total) for name, pixel_type in self.channels]
        sample_size = sum(self.sizes)

        line_counts = counts.sum(axis=1)
        line_starts = np.zeros(rows + 1, dtype=np.int64)
        np.cumsum(line_counts, out=line_starts[1:])
        starts = line_starts.tolist()
        # chunk y = [channel 0's samples of line y][channel 1's]... (joined on the workers)
        data_pieces = [
            [view[starts[y] * size:starts[y + 1] * size] for view, size in zip(views, self.sizes)] for y in range(rows)
        ]
        data_lengths = line_counts * sample_size

        tables = np.cumsum(counts, axis=1, dtype=np.int64)
        if tables.size and tables.max() > np.iinfo(np.int32).max:
            raise ValueError("too many deep samples in one scan line")
        raw_tables = np.ascontiguousarray(tables.astype("<i4")).view(np.uint8).reshape(rows, self.width * 4)

        if self.compression == "zips":
            packed_tables = exr_zip.compress_pieces([[row] for row in raw_tables], self.level)
            packed_data = exr_zip.compress_pieces(data_pieces, self.level)
        else:
            packed_tables = [row.tobytes() for row in raw_tables]
            packed_data = [b"".join(pieces) for pieces in data_pieces]

        pieces = []
        position = self._position
        raw_sizes = data_lengths.tolist()
        for y in range(rows):
            table, data = packed_tables[y], packed_data[y]
            prefix = struct.pack("<iQQQ", self.y_min + first + y, len(table), len(data), raw_sizes[y])
            self.offsets[first + y] = position
            pieces.extend((prefix, table, data))
            position += len(prefix) + len(table) + len(data)
        self.stream.write(b"".join(pieces))
        self._position = position
        self.next_line = first + rows
        if counts.size:
            self.max_samples = max(self.max_samples, int(counts.max()))

    def finish(self) -> None:
        """Write the offset table and ``maxSamplesPerPixel`` (every line
        must have been written)."""
        if self.next_line != self.height:
            raise ValueError(f"only {self.next_line} of {self.height} deep scan lines were written")
        self._header_attributes.update(self._deep_attributes(self.max_samples))
        header = hdr.encode_header(2 | hdr.VERSION_NON_IMAGE, self._header_attributes)
        if len(header) != self._header_length:  # pragma: no cover - an int attribute keeps its size
            raise RuntimeError("deep EXR header changed length")
        end = self.stream.tell()
        self.stream.seek(self._start)
        self.stream.write(header)
        self.stream.write(self.offsets.tobytes())
        self.stream.seek(end)


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
    """The bytes of a single-part deep scanline EXR file holding ``counts``
    ((H*W,) samples per pixel) and ``channels`` (see
    :class:`DeepScanlineWriter`, which this runs with one band)."""
    stream = io.BytesIO()
    writer = DeepScanlineWriter(
        stream, width, height, [(c.name, c.pixel_type) for c in channels], attributes, compression, level, windows
    )
    writer.write_lines(np.asarray(counts).reshape(height, width), channels)
    writer.finish()
    return stream.getvalue()


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
