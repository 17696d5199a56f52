"""Reading flat EXR pixels without a foreign EXR library where possible.

The ID-matte readers run inside Gaffer's process too (the ObjectIdMatte
node). There, importing IECore has loaded Gaffer's own OpenEXR and
OpenImageIO libraries with ``RTLD_GLOBAL``; the PyPI ``OpenEXR`` wheel
exports the same C symbols, so its calls land in Gaffer's library and
crash, and ``import OpenImageIO`` gives Gaffer's module (2.4 to 3.0
depending on the Gaffer), not the PyPI one. So:

* where IECore is not loaded (:func:`openexr_is_safe`: ``autoseg``, the
  browser tools), the PyPI ``OpenEXR`` binding reads the pixels: its C++
  decoder is 2-4x faster than the numpy one here (bench_idmatte.py);
* inside Gaffer, the files this package writes (single-part scanline,
  NONE / ZIPS / ZIP, see :mod:`.flat_exr`) are decoded here with
  :mod:`.exr_zip`, and other files go to whichever OpenImageIO is
  importable (Gaffer's), through the API common to its 2.4 and 3.x Python
  bindings. The PyPI ``OpenEXR`` module is never imported there.
"""

from __future__ import annotations

import math
import os
import struct
import sys
from typing import Collection

import numpy as np

from . import exr_header as hdr
from . import exr_zip

LINES_PER_CHUNK = {"none": 1, "zips": 1, "zip": 16}


def openexr_is_safe() -> bool:
    """False in a process where Cortex's compiled library is loaded (a Gaffer
    process: ``IECore`` imports its ``_IECore`` extension, which loads Gaffer's
    OpenEXR with global symbols): there the PyPI ``OpenEXR`` module would call
    into Gaffer's OpenEXR library. A pure-Python stand-in of IECore (the test
    suite's) loads no OpenEXR library and does not count."""
    return "IECore._IECore" not in sys.modules


def decode_flat_scanline(
    data: bytes, header: hdr.ExrHeader | None = None, names: Collection[str] | None = None
) -> dict[str, np.ndarray]:
    """``{channel: (H, W) array}`` of a single-part flat scanline file with
    NONE, ZIPS or ZIP compression (only ``names`` if given), in the channel's
    own dtype. Raises :class:`NotImplementedError` for other layouts."""
    header = header or hdr.parse_header(data)
    if header.is_multipart or header.is_deep or header.type_name != "scanlineimage":
        raise NotImplementedError(f"not a single-part flat scanline file ({header.type_name})")
    compression = header.compression
    if compression not in LINES_PER_CHUNK:
        raise NotImplementedError(f"flat compression {compression!r} is not decoded here")
    channels = sorted(header.channels, key=lambda c: c.name.encode("utf-8"))
    if any(c.x_sampling != 1 or c.y_sampling != 1 for c in channels):
        raise NotImplementedError("sub-sampled channels")
    x_min, y_min, x_max, y_max = header.data_window
    width, height = x_max - x_min + 1, y_max - y_min + 1
    sizes = [width * hdr.PIXEL_SIZES[c.pixel_type] for c in channels]
    line_bytes = sum(sizes)
    lines = LINES_PER_CHUNK[compression]
    count = math.ceil(height / lines)

    if header.end + 8 * count > len(data):
        raise ValueError("EXR file is truncated (offset table)")
    offsets = np.frombuffer(data, dtype="<u8", count=count, offset=header.end).tolist()
    view = memoryview(data)
    packed: list[memoryview | None] = [None] * count
    for offset in offsets:
        if offset + 8 > len(data):
            raise ValueError("EXR file is truncated (chunk offset past the end)")
        y, size = struct.unpack_from("<ii", data, offset)
        line = y - y_min
        if line < 0 or line >= height or line % lines or size < 0:
            raise ValueError(f"EXR chunk for scan line {y} does not fit the data window")
        if offset + 8 + size > len(data):
            raise ValueError(f"EXR file is truncated (scan line {y})")
        packed[line // lines] = view[offset + 8:offset + 8 + size]
    if any(p is None for p in packed):
        raise ValueError("EXR file is missing scan line chunks")
    lengths = [min(lines, height - index * lines) * line_bytes for index in range(count)]

    if compression == "none":
        if [len(p) for p in packed] != lengths:
            raise ValueError("uncompressed EXR chunk of the wrong size")
        raw = np.frombuffer(b"".join(packed), dtype=np.uint8)
    else:
        raw = exr_zip.decompress_chunks(packed, lengths)
    rows = raw.reshape(height, line_bytes)

    result = {}
    column = 0
    for channel, size in zip(channels, sizes):
        if names is None or channel.name in names:
            plane = np.ascontiguousarray(rows[:, column:column + size])
            result[channel.name] = plane.view(hdr.PIXEL_DTYPES[channel.pixel_type]).reshape(height, width)
        column += size
    return result


def read_flat_channels(path: str | os.PathLike, names: Collection[str]) -> dict[str, np.ndarray]:
    """``{channel: (H, W) float32}`` for ``names`` of a flat EXR file."""
    path = os.fspath(path)
    if openexr_is_safe():
        planes = _read_with_openexr(path, names)
    else:
        with open(path, "rb") as handle:
            data = handle.read()
        try:
            planes = decode_flat_scanline(data, hdr.parse_header(data), names)
        except NotImplementedError:
            planes = _read_with_openimageio(path, names)
    missing = sorted(set(names) - set(planes))
    if missing:
        raise ValueError(f"no channel {missing[0]!r}")
    return {name: np.asarray(planes[name], np.float32) for name in names}


def _read_with_openexr(path: str, names: Collection[str]) -> dict[str, np.ndarray]:
    import OpenEXR

    with OpenEXR.File(path, separate_channels=True) as exr_file:
        channels = exr_file.parts[0].channels
        return {name: np.asarray(channels[name].pixels) for name in names if name in channels}


def _read_with_openimageio(path: str, names: Collection[str]) -> dict[str, np.ndarray]:
    """Through whichever OpenImageIO is importable (Gaffer's inside Gaffer);
    ``ImageInput.open`` / ``spec`` / ``read_image`` are the same in 2.4 and 3.x."""
    import OpenImageIO

    image = OpenImageIO.ImageInput.open(path)
    if image is None:
        raise ValueError(f"OpenImageIO cannot open it ({OpenImageIO.geterror()})")
    try:
        spec = image.spec()
        pixels = image.read_image(format="float")
    finally:
        image.close()
    if pixels is None:
        raise ValueError(f"OpenImageIO cannot read its pixels ({OpenImageIO.geterror()})")
    pixels = np.asarray(pixels, np.float32).reshape(spec.height, spec.width, spec.nchannels)
    channel_names = list(spec.channelnames)
    return {name: pixels[:, :, channel_names.index(name)] for name in names if name in channel_names}
