"""Name hashing shared by the ID-matte formats.

Both output formats identify a layer by ``MurmurHash3_x86_32`` (seed 0) of
its UTF-8 name:

* ObjectId (OpenEXR Deep IDs) stores the hash as-is in the ``uint32`` ``id``
  channel; the ``idManifest`` declares the ``MurmurHash3_32`` scheme.
* Cryptomatte stores it as a ``float32`` whose bits are the hash with the
  exponent kept away from 0 and 255 (no denormals, infinities or NaNs), and
  its manifest lists those float bits as 8 lowercase hex digits.

Names are hashed once per frame (a handful to a few hundred per file), so a
plain-Python hash is fast enough; pixel arrays never pass through here
except in the vectorised :func:`hash_to_float_array`.
"""

from __future__ import annotations

import numpy as np

_MASK32 = 0xFFFFFFFF
_C1 = 0xCC9E2D51
_C2 = 0x1B873593


def _rotl32(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (32 - shift))) & _MASK32


def _fmix32(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK32
    h ^= h >> 16
    return h


def murmurhash3_32(name: str | bytes, seed: int = 0) -> int:
    """MurmurHash3_x86_32 of ``name`` (UTF-8 for ``str``) as an unsigned int."""
    data = name.encode("utf-8") if isinstance(name, str) else bytes(name)
    length = len(data)
    h = seed & _MASK32
    block_end = length - (length % 4)
    for k in np.frombuffer(data[:block_end], dtype="<u4").tolist():
        k = (k * _C1) & _MASK32
        k = _rotl32(k, 15)
        k = (k * _C2) & _MASK32
        h ^= k
        h = _rotl32(h, 13)
        h = (h * 5 + 0xE6546B64) & _MASK32
    tail = data[block_end:]
    if tail:
        k = int.from_bytes(tail, "little")
        k = (k * _C1) & _MASK32
        k = _rotl32(k, 15)
        k = (k * _C2) & _MASK32
        h ^= k
    h ^= length
    return _fmix32(h)


def hash_to_float_bits(h: int) -> int:
    """The Cryptomatte ``uint32_to_float32`` conversion, as float bits.

    An exponent of 0 (zero/denormal) or 255 (inf/NaN) gets bit 23 flipped,
    which is the same as clamping the exponent to [1, 254]."""
    h &= _MASK32
    exponent = (h >> 23) & 0xFF
    if exponent == 0 or exponent == 255:
        h ^= 1 << 23
    return h


def hash_to_float(h: int) -> np.float32:
    """The Cryptomatte id value stored in pixels for hash ``h``."""
    return np.array([hash_to_float_bits(h)], dtype=np.uint32).view(np.float32)[0]


def hash_to_float_array(hashes: np.ndarray) -> np.ndarray:
    """Vectorised :func:`hash_to_float` for a ``uint32`` array."""
    bits = np.asarray(hashes, dtype=np.uint32).copy()
    exponent = (bits >> np.uint32(23)) & np.uint32(0xFF)
    flip = (exponent == 0) | (exponent == 255)
    bits[flip] ^= np.uint32(1 << 23)
    return bits.view(np.float32)


def name_hash_hex(name: str) -> str:
    """8 lowercase hex digits of the raw MurmurHash3 of ``name``.

    This is the ObjectId ``id`` value (and what ``exrmanifest`` prints)."""
    return f"{murmurhash3_32(name):08x}"


def cryptomatte_hex(name: str) -> str:
    """8 lowercase hex digits of the Cryptomatte float bits of ``name``.

    This is the form the Cryptomatte manifest uses; it differs from
    :func:`name_hash_hex` only when the raw hash has exponent 0 or 255."""
    return f"{hash_to_float_bits(murmurhash3_32(name)):08x}"
