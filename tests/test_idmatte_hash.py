"""MurmurHash3 and the Cryptomatte float conversion against published vectors
and against the OpenEXR library's own hash."""

import struct

import numpy as np
import pytest

from SegmentationCore.idmatte.murmur import (
    cryptomatte_hex,
    hash_to_float,
    hash_to_float_array,
    hash_to_float_bits,
    murmurhash3_32,
    name_hash_hex,
)

# Cryptomatte specification / Psyop's reference tests (float ids).
CRYPTOMATTE_VECTORS = {
    "hello": 6.0705627102400005616e-17,
    "cube": -4.08461912519e15,
    "sphere": 2.79018604383e15,
    "plane": 3.66557617593e-11,
    "равнина": -1.3192631212399999468e-25,  # "plane" in Bulgarian, UTF-8
    "mädchen": 6.2361298211599995797e25,  # "girl" in German, UTF-8
}


def test_torus_vector_from_the_specification():
    assert murmurhash3_32("torus") == 4053562365
    value = float(hash_to_float(murmurhash3_32("torus")))
    assert value == pytest.approx(-1.549e30, rel=1e-3)


@pytest.mark.parametrize("name, expected", sorted(CRYPTOMATTE_VECTORS.items()))
def test_cryptomatte_float_ids(name, expected):
    assert float(hash_to_float(murmurhash3_32(name))) == float(np.float32(expected))


def test_murmur_known_values():
    # SMHasher's verification values for MurmurHash3_x86_32, seed 0
    assert murmurhash3_32("") == 0
    assert murmurhash3_32("a") == 0x3C2569B2
    assert murmurhash3_32(b"abc") == 0xB3DD93FA
    assert murmurhash3_32("abcd") == 0x43ED676A
    assert murmurhash3_32("", seed=1) == 0x514E28B7


def test_agrees_with_openexr_library_hash():
    OpenEXR = pytest.importorskip("OpenEXR")
    manifest = OpenEXR.IDManifest()
    group = manifest.add("id")
    group.setHashScheme(OpenEXR.ID_MANIFEST_MURMURHASH3_32)
    group.setComponent("name")
    names = [f"/person/person_{i:04d}" for i in range(200)] + ["/ünïcödé/名前_0001", "x", "ab", "abc", "abcde"]
    for name in names:
        assert int(group.insert(name)) == murmurhash3_32(name), name


def _bits(value: float) -> int:
    return struct.unpack("<I", struct.pack("<f", value))[0]


@pytest.mark.parametrize("raw", [0x00000000, 0x00000001, 0x807FFFFF, 0x7F800000, 0x7FFFFFFF, 0xFF800001, 0x3F800000])
def test_exponent_fix_never_makes_denormals_inf_or_nan(raw):
    value = hash_to_float(raw)
    assert np.isfinite(value)
    exponent = (hash_to_float_bits(raw) >> 23) & 0xFF
    assert 1 <= exponent <= 254
    # same as clamping the exponent to [1, 254], keeping sign and mantissa
    clamped = (raw & 0x807FFFFF) | (min(max((raw >> 23) & 0xFF, 1), 254) << 23)
    assert _bits(float(value)) == clamped
    assert hash_to_float_array(np.array([raw], np.uint32)).view(np.uint32)[0] == clamped


def test_hex_forms():
    assert name_hash_hex("torus") == f"{4053562365:08x}"
    assert len(name_hash_hex("a")) == 8 and name_hash_hex("a") == name_hash_hex("a").lower()
    # the Cryptomatte manifest uses the float bits, which differ only for exponent 0/255
    for i in range(2000):
        name = f"/thing/thing_{i:04d}"
        raw = murmurhash3_32(name)
        exponent = (raw >> 23) & 0xFF
        if exponent in (0, 255):
            assert cryptomatte_hex(name) != name_hash_hex(name)
            assert int(cryptomatte_hex(name), 16) == raw ^ (1 << 23)
        else:
            assert cryptomatte_hex(name) == name_hash_hex(name)


def test_vectorised_conversion_matches_scalar():
    rng = np.random.default_rng(1)
    raws = rng.integers(0, 2**32, size=5000, dtype=np.uint64).astype(np.uint32)
    raws[:4] = [0, 0x7F800000, 0xFF800000, 0x00800000]
    vector = hash_to_float_array(raws).view(np.uint32)
    assert [int(v) for v in vector] == [hash_to_float_bits(int(r)) for r in raws]
