"""OpenEXR's standard ``idManifest`` header attribute, encoded and decoded
without the OpenEXR library (:func:`attribute`, :func:`decode`).

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
``OpenEXR`` module, so ObjectId files can be written and read inside
Gaffer's process (see :mod:`.exr_read`).

:func:`decode` is the inverse: bounds-checked (every count is checked
against the bytes left before anything is built, the inflated size is
capped at :data:`MAX_SERIALISED_BYTES`), raising :class:`IdManifestError`
that names the file for malformed data.
"""

from __future__ import annotations

import dataclasses
import itertools
import struct
import zlib
from typing import Iterable, Mapping, Sequence

import numpy as np

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


# -- decoding -----------------------------------------------------------------

#: The largest serialised manifest :func:`decode` inflates (the attribute's
#: declared size is checked against it before anything is allocated).
MAX_SERIALISED_BYTES = 1 << 30
_MAX_VARINT_BYTES = 10  # 64-bit values


class IdManifestError(ValueError):
    """An ``idManifest`` attribute value that cannot be decoded."""


class _Reader:
    """Bounds-checked reading of a serialised manifest."""

    def __init__(self, data: bytes, source: str):
        self.data = bytes(data)
        self.position = 0
        self.source = source

    def fail(self, what: str) -> IdManifestError:
        return IdManifestError(f"{self.source}: malformed idManifest attribute ({what} at byte {self.position})")

    def take(self, size: int, what: str) -> bytes:
        if size < 0 or self.position + size > len(self.data):
            raise self.fail(f"truncated {what}")
        start = self.position
        self.position += size
        return self.data[start:self.position]

    def remaining(self) -> int:
        return len(self.data) - self.position

    def int32(self, what: str) -> int:
        return struct.unpack("<i", self.take(4, what))[0]

    def count(self, what: str, least_bytes_each: int = 1) -> int:
        """An ``int32`` count of items that need at least
        ``least_bytes_each`` bytes each: checked against the bytes left, so
        a corrupt count never allocates."""
        value = self.int32(what)
        if value < 0 or value * least_bytes_each > self.remaining():
            raise self.fail(f"{what} {value} does not fit the {self.remaining()} bytes left")
        return value

    def byte(self, what: str) -> int:
        return self.take(1, what)[0]

    def varint(self, what: str) -> int:
        data, start = self.data, self.position
        end = min(len(data), start + _MAX_VARINT_BYTES)
        value = shift = 0
        for position in range(start, end):
            byte = data[position]
            value |= (byte & 127) << shift
            if byte < 128:
                self.position = position + 1
                return value
            shift += 7
        self.position = end
        if end - start < _MAX_VARINT_BYTES:
            raise self.fail(f"truncated {what}")
        raise self.fail(f"{what} longer than {_MAX_VARINT_BYTES} bytes")

    def text(self, raw: bytes, what: str) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise self.fail(f"{what} is not UTF-8 ({error.reason})") from None

    def string_list(self, what: str) -> list[bytes]:
        size = self.count(f"{what} count")
        lengths = [self.varint(f"{what} length") for _ in range(size)]
        return [self.take(length, what) for length in lengths]

    def pascal(self, what: str) -> str:
        (length,) = struct.unpack("<I", self.take(4, f"{what} length"))
        return self.text(self.take(length, what), what)


def _varint_run(reader: _Reader, count: int) -> list[int] | None:
    """The next ``count`` variable-length integers, decoded with numpy (the
    entries of a group whose ids are stored as variable-length deltas), or
    ``None`` when they are not all there or some is longer than 9 bytes
    (then the byte-by-byte reader reports or handles it)."""
    if count == 0:
        return []
    start = reader.position
    window = np.frombuffer(reader.data, np.uint8, count=min(reader.remaining(), count * 9), offset=start)
    ends = np.flatnonzero(window < 128)[:count]
    if ends.size < count:
        return None
    lengths = np.diff(ends, prepend=-1)
    if int(lengths.max()) > 9:  # 63 bits at most here
        return None
    used = int(ends[-1]) + 1
    firsts = ends - lengths + 1
    shifts = (np.arange(used) - np.repeat(firsts, lengths)) * 7
    parts = (window[:used] & 127).astype(np.uint64) << shifts.astype(np.uint64)
    reader.position = start + used
    return np.add.reduceat(parts, firsts).tolist()


def _unprefixed(reader: _Reader, stored: Sequence[bytes]) -> list[bytes]:
    """The string table from its stored form (inverse of :func:`_prefixed`)."""
    strings: list[bytes] = []
    for index, current in enumerate(stored):
        if index == 0:
            strings.append(current)
            continue
        previous = strings[-1]
        width = 2 if len(previous) > 255 else 1
        if len(current) < width:
            raise reader.fail(f"string {index} of the table is too short for its shared-prefix count")
        common = (current[0] << 8 | current[1]) if width == 2 else current[0]
        if common > len(previous):
            raise reader.fail(f"string {index} of the table shares {common} bytes with a {len(previous)}-byte string")
        strings.append(previous[:common] + current[width:])
    return strings


def inflate(raw: bytes, source: str = "idManifest") -> bytes:
    """The serialised manifest held by an ``idManifest`` attribute value,
    inflating no more than its declared size (at most
    :data:`MAX_SERIALISED_BYTES`)."""
    if len(raw) < 8:
        raise IdManifestError(f"{source}: malformed idManifest attribute (only {len(raw)} bytes)")
    (size,) = struct.unpack_from("<Q", raw)
    if size > MAX_SERIALISED_BYTES:
        raise IdManifestError(
            f"{source}: malformed idManifest attribute (declares {size} bytes uncompressed, "
            f"more than the {MAX_SERIALISED_BYTES} read here)"
        )
    inflater = zlib.decompressobj()
    try:
        serial = inflater.decompress(bytes(raw[8:]), size + 1)
    except zlib.error as error:
        raise IdManifestError(f"{source}: malformed idManifest attribute (cannot inflate: {error})") from None
    if len(serial) != size or not inflater.eof:
        raise IdManifestError(
            f"{source}: malformed idManifest attribute (inflates to "
            f"{'more than ' if len(serial) > size else ''}{len(serial)} bytes"
            f"{'' if inflater.eof or len(serial) > size else ', truncated'}, declares {size})"
        )
    return serial


def parse(serial: bytes, source: str = "idManifest") -> list[ChannelGroup]:
    """The channel groups of a serialised manifest (inverse of
    :func:`serialise`; ``source`` names the file in errors). Ids are
    Python ints (up to 64 bits); ``channels`` is a sorted list."""
    reader = _Reader(serial, source)
    version = reader.int32("version")
    if version != 0:
        raise reader.fail(f"unknown version {version}")
    strings = _unprefixed(reader, reader.string_list("string table"))
    runs = reader.count("index run count", 8)
    by_new_index: list[bytes] = []
    for _ in range(runs):
        first, last = reader.int32("index run"), reader.int32("index run")
        if not 0 <= first <= last < len(strings) or len(by_new_index) + last - first + 1 > len(strings):
            raise reader.fail(f"index run {first}..{last} outside the {len(strings)} strings")
        by_new_index.extend(strings[first:last + 1])
    texts = [reader.text(raw, "string") for raw in by_new_index]

    groups: list[ChannelGroup] = []
    for _ in range(reader.count("group count")):
        channels = [reader.text(raw, "channel name") for raw in reader.string_list("channel name")]
        components = [reader.text(raw, "component name") for raw in reader.string_list("component name")]
        lifetime = reader.byte("lifetime")
        if lifetime not in (LIFETIME_FRAME, LIFETIME_SHOT, LIFETIME_STABLE):
            raise reader.fail(f"unknown lifetime {lifetime}")
        hash_scheme = reader.pascal("hash scheme")
        encoding_scheme = reader.pascal("encoding scheme")
        storage = reader.byte("id storage")
        if storage not in (0, 1, 2):
            raise reader.fail(f"unknown id storage {storage}")
        entries = reader.count("entry count", (8, 4, 1)[storage])
        table: dict[int, list[str]] = {}
        value = 0
        varint, width = reader.varint, len(components)
        flat = _varint_run(reader, entries * (1 + width)) if storage == 2 else None
        if flat is not None:
            ids = list(itertools.accumulate(flat[::1 + width]))
            if ids and ids[-1] >= 1 << 64:
                raise reader.fail("id past 64 bits")
            indices = [flat[1 + component::1 + width] for component in range(width)]
            if entries and width and max(max(column) for column in indices) >= len(texts):
                raise reader.fail(f"a string index outside the {len(texts)} strings")
            rows = zip(*[[texts[index] for index in column] for column in indices]) if width else ([] for _ in ids)
            table.update(zip(ids, map(list, rows)))
            groups.append(ChannelGroup(channels, components, table, lifetime, hash_scheme, encoding_scheme))
            continue
        for _ in range(entries):
            if storage == 2:
                value += varint("id")
            else:
                value += struct.unpack("<Q" if storage == 0 else "<I", reader.take(8 if storage == 0 else 4, "id"))[0]
            if value >= 1 << 64:
                raise reader.fail("id past 64 bits")
            try:
                table[value] = [texts[varint("string index")] for _ in range(width)]
            except IndexError:
                raise reader.fail(f"a string index outside the {len(texts)} strings") from None
        groups.append(ChannelGroup(channels, components, table, lifetime, hash_scheme, encoding_scheme))
    if reader.remaining():
        raise reader.fail(f"{reader.remaining()} bytes after the last group")
    return groups


def decode(raw: bytes, source: str = "idManifest") -> list[ChannelGroup]:
    """The channel groups of an ``idManifest`` attribute value (the raw
    bytes in a header); malformed data raises :class:`IdManifestError`
    naming ``source``."""
    return parse(inflate(raw, source), source)
