"""Minimal OpenEXR header reading and writing (single-part files).

Only what the ID-matte writers and readers need: the magic number and version
field, attributes as ``name -> (type, raw value bytes)``, decoders for the
standard types used here, and encoders to build a deep scanline header.
The layout follows OpenEXR's "File Layout" document; anything this module
does not understand is kept as raw bytes, never guessed at.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any, Mapping

MAGIC = 20000630
VERSION_TILED = 0x200
VERSION_LONG_NAMES = 0x400
VERSION_NON_IMAGE = 0x800
VERSION_MULTIPART = 0x1000

PIXEL_UINT, PIXEL_HALF, PIXEL_FLOAT = 0, 1, 2
PIXEL_SIZES = {PIXEL_UINT: 4, PIXEL_HALF: 2, PIXEL_FLOAT: 4}
PIXEL_DTYPES = {PIXEL_UINT: "<u4", PIXEL_HALF: "<f2", PIXEL_FLOAT: "<f4"}

COMPRESSION_NAMES = {
    0: "none", 1: "rle", 2: "zips", 3: "zip", 4: "piz", 5: "pxr24",
    6: "b44", 7: "b44a", 8: "dwaa", 9: "dwab", 10: "htj2k256", 11: "htj2k32",
}
COMPRESSION_CODES = {name: code for code, name in COMPRESSION_NAMES.items()}


class ExrFormatError(ValueError):
    """The bytes are not an OpenEXR file this module can parse."""


@dataclasses.dataclass
class ChannelInfo:
    name: str
    pixel_type: int
    x_sampling: int = 1
    y_sampling: int = 1
    p_linear: bool = False


@dataclasses.dataclass
class ExrHeader:
    """A parsed single-part header; ``end`` is the offset just past it."""

    version: int
    attributes: dict[str, tuple[str, bytes]]
    end: int

    @property
    def is_deep(self) -> bool:
        return bool(self.version & VERSION_NON_IMAGE) or self.type_name.startswith("deep")

    @property
    def is_multipart(self) -> bool:
        return bool(self.version & VERSION_MULTIPART)

    @property
    def type_name(self) -> str:
        if "type" in self.attributes:
            return self.attributes["type"][1].decode("utf-8", "replace")
        return "tiledimage" if self.version & VERSION_TILED else "scanlineimage"

    def has(self, name: str) -> bool:
        return name in self.attributes

    def value(self, name: str) -> Any:
        """Decoded value of a standard-typed attribute (raw bytes otherwise)."""
        type_name, raw = self.attributes[name]
        return decode_attribute(type_name, raw)

    def strings(self, prefix: str = "") -> dict[str, str]:
        """All ``string`` attributes whose name starts with ``prefix``."""
        return {
            name: raw.decode("utf-8")
            for name, (type_name, raw) in self.attributes.items()
            if type_name == "string" and name.startswith(prefix)
        }

    @property
    def channels(self) -> list[ChannelInfo]:
        return self.value("channels")

    @property
    def data_window(self) -> tuple[int, int, int, int]:
        return self.value("dataWindow")

    @property
    def compression(self) -> str:
        return COMPRESSION_NAMES.get(self.value("compression"), "unknown")


def _read_cstring(data: bytes, offset: int, limit: int) -> tuple[bytes, int]:
    end = data.find(b"\0", offset, offset + limit + 1)
    if end < 0:
        if offset + limit + 1 > len(data):
            raise ExrFormatError("EXR header is truncated")
        raise ExrFormatError("unterminated or over-long name in the EXR header")
    return data[offset:end], end + 1


def parse_header(data: bytes) -> ExrHeader:
    """Parse the magic, version and first header from the start of a file."""
    if len(data) < 8:
        raise ExrFormatError("too short to be an OpenEXR file")
    magic, version = struct.unpack_from("<ii", data, 0)
    if magic != MAGIC:
        raise ExrFormatError("not an OpenEXR file (bad magic number)")
    limit = 255 if version & VERSION_LONG_NAMES else 31
    offset = 8
    attributes: dict[str, tuple[str, bytes]] = {}
    while True:
        if offset >= len(data):
            raise ExrFormatError("EXR header is truncated")
        name, offset = _read_cstring(data, offset, limit)
        if not name:
            break
        type_name, offset = _read_cstring(data, offset, limit)
        if offset + 4 > len(data):
            raise ExrFormatError("EXR header is truncated")
        (size,) = struct.unpack_from("<i", data, offset)
        offset += 4
        if size < 0:
            raise ExrFormatError(f"EXR attribute {name!r} has an invalid size")
        if offset + size > len(data):
            raise ExrFormatError("EXR header is truncated")
        attributes[name.decode("utf-8")] = (type_name.decode("utf-8"), bytes(data[offset:offset + size]))
        offset += size
    return ExrHeader(version=version, attributes=attributes, end=offset)


def read_header(path: str, max_bytes: int = 1 << 20) -> tuple[ExrHeader, bytes]:
    """Read enough of ``path`` to parse its header; returns the header and the
    bytes read (the whole file when it is smaller than ``max_bytes``)."""
    with open(path, "rb") as handle:
        data = handle.read(max_bytes)
        while True:
            try:
                return parse_header(data), data
            except ExrFormatError as error:
                more = handle.read(max_bytes)
                if not more or "truncated" not in str(error):
                    raise
                data += more


# -- decoding -------------------------------------------------------------


def _decode_chlist(raw: bytes) -> list[ChannelInfo]:
    channels = []
    offset = 0
    while offset < len(raw):
        end = raw.find(b"\0", offset)
        if end < 0:
            raise ExrFormatError("bad chlist attribute")
        name = raw[offset:end]
        offset = end + 1
        if not name:
            break
        pixel_type, p_linear, x_sampling, y_sampling = struct.unpack_from("<iB3xii", raw, offset)
        offset += 16
        channels.append(ChannelInfo(name.decode("utf-8"), pixel_type, x_sampling, y_sampling, bool(p_linear)))
    return channels


def decode_attribute(type_name: str, raw: bytes) -> Any:
    if type_name == "string":
        return raw.decode("utf-8")
    if type_name == "int":
        return struct.unpack("<i", raw)[0]
    if type_name == "float":
        return struct.unpack("<f", raw)[0]
    if type_name == "box2i":
        return struct.unpack("<4i", raw)
    if type_name == "v2f":
        return struct.unpack("<2f", raw)
    if type_name in ("compression", "lineOrder"):
        return raw[0]
    if type_name == "chlist":
        return _decode_chlist(raw)
    return raw


# -- encoding -------------------------------------------------------------


def encode_chlist(channels: list[ChannelInfo]) -> bytes:
    parts = []
    for channel in sorted(channels, key=lambda c: c.name.encode("utf-8")):
        parts.append(channel.name.encode("utf-8") + b"\0")
        parts.append(struct.pack("<iB3xii", channel.pixel_type, int(channel.p_linear), channel.x_sampling, channel.y_sampling))
    return b"".join(parts) + b"\0"


def attr_string(value: str) -> tuple[str, bytes]:
    return "string", value.encode("utf-8")


def attr_int(value: int) -> tuple[str, bytes]:
    return "int", struct.pack("<i", int(value))


def attr_float(value: float) -> tuple[str, bytes]:
    return "float", struct.pack("<f", float(value))


def attr_box2i(x_min: int, y_min: int, x_max: int, y_max: int) -> tuple[str, bytes]:
    return "box2i", struct.pack("<4i", x_min, y_min, x_max, y_max)


def attr_v2f(x: float, y: float) -> tuple[str, bytes]:
    return "v2f", struct.pack("<2f", x, y)


def attr_compression(name: str) -> tuple[str, bytes]:
    return "compression", bytes([COMPRESSION_CODES[name]])


def attr_line_order_increasing() -> tuple[str, bytes]:
    return "lineOrder", b"\0"


def attr_chlist(channels: list[ChannelInfo]) -> tuple[str, bytes]:
    return "chlist", encode_chlist(channels)


@dataclasses.dataclass(frozen=True)
class ImageWindows:
    """Where a ``width`` x ``height`` image sits, as a plate's mattes must:
    the data window's origin ``(x, y)``, the display window as an inclusive
    ``(x_min, y_min, x_max, y_max)`` box (``None``: the data window) and the
    pixel aspect ratio (2.0 for a 2x anamorphic squeeze)."""

    x: int = 0
    y: int = 0
    display: tuple[int, int, int, int] | None = None
    pixel_aspect: float = 1.0

    def data_box(self, width: int, height: int) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.x + width - 1, self.y + height - 1)


DEFAULT_WINDOWS = ImageWindows()


def image_attributes(
    channels: list[ChannelInfo],
    compression: str,
    width: int,
    height: int,
    writer_attributes: Mapping[str, tuple[str, bytes]] | None = None,
    attributes: Mapping[str, tuple[str, bytes]] | None = None,
    writer: str = "the",
    windows: ImageWindows | None = None,
) -> dict[str, tuple[str, bytes]]:
    """The header of a single-part scanline image of ``width`` x ``height``
    pixels placed by ``windows`` (default: data and display windows at the
    origin, square pixels): the attributes every such file needs, the
    ``writer_attributes`` of its kind (flat or deep) and the caller's
    ``attributes``, which may not replace either."""
    windows = windows or DEFAULT_WINDOWS
    data_box = windows.data_box(width, height)
    display_box = windows.display or data_box
    if display_box[2] < display_box[0] or display_box[3] < display_box[1]:
        raise ValueError(f"empty display window {display_box}")
    if not windows.pixel_aspect > 0:
        raise ValueError(f"pixel aspect ratio must be positive, got {windows.pixel_aspect}")
    header = {
        "channels": attr_chlist(channels),
        "compression": attr_compression(compression),
        "dataWindow": attr_box2i(*data_box),
        "displayWindow": attr_box2i(*display_box),
        "lineOrder": attr_line_order_increasing(),
        "pixelAspectRatio": attr_float(windows.pixel_aspect),
        "screenWindowCenter": attr_v2f(0.0, 0.0),
        "screenWindowWidth": attr_float(1.0),
    }
    header.update(writer_attributes or {})
    for name, value in (attributes or {}).items():
        if name in header:
            raise ValueError(f"attribute {name!r} is set by {writer} writer")
        header[name] = value
    return header


def encode_header(version: int, attributes: Mapping[str, tuple[str, bytes]]) -> bytes:
    """Magic, version and one header with its terminating null byte.

    Attributes are written in name order, as the OpenEXR library does. The
    long-names bit is set when any attribute name, type or channel name is
    longer than 31 bytes (OpenEXR's strict check refuses such files
    without it: ``EXR_ERR_NAME_TOO_LONG``)."""
    long_names = any(len(n.encode("utf-8")) > 31 or len(t) > 31 for n, (t, _) in attributes.items())
    for type_name, raw in attributes.values():
        if type_name == "chlist" and not long_names:
            long_names = any(len(c.name.encode("utf-8")) > 31 for c in _decode_chlist(raw))
    if long_names:
        version |= VERSION_LONG_NAMES
    parts = [struct.pack("<ii", MAGIC, version)]
    for name in sorted(attributes, key=lambda n: n.encode("utf-8")):
        type_name, raw = attributes[name]
        if len(name.encode("utf-8")) > 255 or len(type_name) > 255:
            raise ValueError(f"EXR attribute name or type too long: {name!r}")
        parts.append(name.encode("utf-8") + b"\0" + type_name.encode("ascii") + b"\0")
        parts.append(struct.pack("<i", len(raw)))
        parts.append(raw)
    parts.append(b"\0")
    return b"".join(parts)
