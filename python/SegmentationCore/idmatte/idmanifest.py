"""OpenEXR's standard ``idManifest`` header attribute, encoded without the
OpenEXR library.

The attribute (type ``idmanifest``, OpenEXR >= 3.0) maps the ids stored in
a file's channels to names. Its value is an 8-byte little-endian size of
the serialised manifest followed by the serialised manifest, zlib
compressed. The serialisation below follows OpenEXR's
``IDManifest::serialize`` (``src/lib/OpenEXR/ImfIDManifest.cpp``) byte for
byte; everything is little-endian:

* ``int32 0`` (format version);
* the string table: every distinct string of all groups' entries, sorted
  by their bytes: ``int32`` count, one variable-length integer per string
  (its stored length), then the stored strings. The first is stored whole;
  each later one as the number of leading bytes it shares with the string
  before it (one byte, or two big-endian bytes when that previous string is
  longer than 255 bytes; at most 65535) followed by the rest of it;
* the string indices, run-length coded: ``int32`` run count, then
  ``(int32 first, int32 last)`` table positions per run. Strings are
  re-numbered most frequent first (ties in table order), in blocks that
  need 1, 2, 3, 4, 5 bytes as variable-length integers (2**7, 2**14 ...
  strings), each block in table order; a run continues while the next
  re-numbered string is the next table position not yet listed (after
  the first string: position 1, as OpenEXR writes it);
* ``int32`` group count, then per channel group: its channel names and its
  component names (each as ``int32`` count, variable-length lengths, bytes;
  channels sorted by their bytes), the lifetime (one byte: 0 frame,
  1 shot, 2 stable), the hash scheme and the encoding scheme (``uint32``
  length + bytes each), the id storage (one byte: 0 = ``uint64`` id
  deltas, 1 = ``uint32`` deltas, 2 = variable-length deltas, whichever is
  smallest), ``int32`` entry count, then per entry in increasing id order
  the id's difference to the previous id (0 before the first) and, per
  component, the string's new index as a variable-length integer.

Variable-length integers are 7 bits per byte, least significant first, the
top bit set on every byte but the last.

The deflate step is :mod:`zlib` at its default level (what OpenEXR up to
3.1 used; 3.2 and later use libdeflate at level 4, whose compressed bytes
differ, but every reader inflates either). Nothing here imports the PyPI
``OpenEXR`` module, so ObjectId files can be written inside Gaffer's
process (see :mod:`.exr_read`).
"""

from __future__ import annotations

import dataclasses
import struct
import zlib
from typing import Iterable, Mapping, Sequence

ATTRIBUTE_TYPE = "idmanifest"
LIFETIME_FRAME, LIFETIME_SHOT, LIFETIME_STABLE = 0, 1, 2
MURMURHASH3_32 = "MurmurHash3_32"
ID_SCHEME = "id"


@dataclasses.dataclass
class ChannelGroup:
    """One channel group of a manifest: ``table`` maps an id to one string
    per component."""

    channels: Iterable[str]
    components: Sequence[str]
    table: Mapping[int, Sequence[str]]
    lifetime: int = LIFETIME_STABLE
    hash_scheme: str = MURMURHASH3_32
    encoding_scheme: str = ID_SCHEME


def _varint(value: int) -> bytes:
    """OpenEXR's variable-length integer (7 bits a byte, low bits first)."""
    if value < 0:
        raise ValueError(f"cannot store negative value {value} as a variable-length integer")
    out = bytearray()
    while True:
        byte = value & 127
        value >>= 7
        if value:
            out.append(byte | 128)
        else:
            out.append(byte)
            return bytes(out)


def _string_list(strings: Sequence[bytes]) -> bytes:
    return struct.pack("<i", len(strings)) + b"".join(_varint(len(s)) for s in strings) + b"".join(strings)


def _pascal(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<I", len(raw)) + raw


def _prefixed(strings: Sequence[bytes]) -> list[bytes]:
    """Each string after the first as (bytes shared with the previous one) + rest."""
    stored = []
    previous = b""
    for index, current in enumerate(strings):
        if index == 0:
            stored.append(current)
        else:
            limit = min(65535, len(previous), len(current))
            common = 0
            while common < limit and previous[common] == current[common]:
                common += 1
            count = bytes([common >> 8, common & 255]) if len(previous) > 255 else bytes([common])
            stored.append(count + current[common:])
        previous = current
    return stored


def _renumber(counts: Sequence[int]) -> tuple[list[int], list[tuple[int, int]]]:
    """New index of every table string, and the runs of table positions
    that list them (see the module docstring)."""
    size = len(counts)
    by_frequency = sorted(range(size), key=lambda index: (-counts[index], index))
    limits = (1 << 7, 1 << 14, 1 << 21, 1 << 28)

    def block(position: int) -> int:
        return next((number for number, limit in enumerate(limits) if position < limit), len(limits))

    order = [index for _, index in sorted((block(position), index) for position, index in enumerate(by_frequency))]
    new_index = [-1] * size
    runs: list[list[int]] = []
    following = -1
    for position, index in enumerate(order):
        if runs and index == following:
            runs[-1][1] = index
        else:
            runs.append([index, index])
        new_index[index] = position
        if position == 0:
            # as OpenEXR does: after the first string the run may continue
            # with position 1 (its new index + 1), seen strings not skipped
            following = 1
            continue
        following = index + 1
        while following < size and new_index[following] >= 0:
            following += 1
    return new_index, [(first, last) for first, last in runs]


def serialise(groups: Sequence[ChannelGroup]) -> bytes:
    """The uncompressed serialisation of a manifest (see module docstring)."""
    frequency: dict[bytes, int] = {}
    for group in groups:
        for strings in group.table.values():
            if len(strings) != len(group.components):
                raise ValueError(f"an id manifest entry has {len(strings)} strings for {len(group.components)} components")
            for text in strings:
                raw = text.encode("utf-8")
                frequency[raw] = frequency.get(raw, 0) + 1
    strings = sorted(frequency)
    table_position = {raw: index for index, raw in enumerate(strings)}
    new_index, runs = _renumber([frequency[raw] for raw in strings])

    parts = [struct.pack("<i", 0), _string_list(_prefixed(strings)), struct.pack("<i", len(runs))]
    parts.extend(struct.pack("<ii", first, last) for first, last in runs)
    parts.append(struct.pack("<i", len(groups)))
    for group in groups:
        ids = sorted(int(value) for value in group.table)
        if ids and (ids[0] < 0 or ids[-1] >= 1 << 64):
            raise ValueError("id manifest ids must fit in 64 unsigned bits")
        deltas = [value - previous for previous, value in zip([0] + ids[:-1], ids)]
        variable = sum(len(_varint(delta)) for delta in deltas)
        if all(delta < 1 << 32 for delta in deltas):
            scheme = 2 if variable < 4 * len(ids) else 1
        else:
            scheme = 2 if variable < 8 * len(ids) else 0
        parts.append(_string_list(sorted(name.encode("utf-8") for name in set(group.channels))))
        parts.append(_string_list([name.encode("utf-8") for name in group.components]))
        parts.append(bytes([group.lifetime]))
        parts.append(_pascal(group.hash_scheme))
        parts.append(_pascal(group.encoding_scheme))
        parts.append(bytes([scheme]) + struct.pack("<i", len(ids)))
        for value, delta in zip(ids, deltas):
            if scheme == 0:
                parts.append(struct.pack("<Q", delta))
            elif scheme == 1:
                parts.append(struct.pack("<I", delta))
            else:
                parts.append(_varint(delta))
            for text in group.table[value]:
                parts.append(_varint(new_index[table_position[text.encode("utf-8")]]))
    return b"".join(parts)


def attribute(groups: Sequence[ChannelGroup]) -> tuple[str, bytes]:
    """The ``idManifest`` attribute's ``(type, raw value)`` for a header."""
    serial = serialise(groups)
    return ATTRIBUTE_TYPE, struct.pack("<Q", len(serial)) + zlib.compress(serial)


def decompress(raw: bytes) -> bytes:
    """The serialised manifest held by an ``idManifest`` attribute value."""
    if len(raw) < 8:
        raise ValueError("idManifest attribute is too short")
    (size,) = struct.unpack_from("<Q", raw)
    serial = zlib.decompress(raw[8:])
    if len(serial) != size:
        raise ValueError(f"idManifest inflated to {len(serial)} bytes, its header says {size}")
    return serial


def name_manifest_attribute(channel: str, names: Iterable[str], hashes: Iterable[int]) -> tuple[str, bytes]:
    """The attribute of one channel group ``channel`` whose component
    ``name`` is each of ``names`` under its MurmurHash3_32 ``hashes``
    (encoding ``id``, lifetime stable), as the ObjectId files carry it."""
    table = {int(value): [name] for name, value in zip(names, hashes)}
    return attribute([ChannelGroup([channel], ["name"], table)])
