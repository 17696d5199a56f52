"""Name patterns and matte extraction; both formats must give the same mattes."""

import numpy as np
import pytest

from idmatte_layers import crowd_layers, expected_alpha, overlapping_layers
from SegmentationCore.idmatte import cryptomatte, mattefilter, objectid
from SegmentationCore.core import errors

NAMES = ["/person/person_0001", "/person/person_0012", "/personal/item_0001", "/car/car_0003", "/car/car_0007"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("/person/*", ["/person/*"]),
        ("/person, /car/car_0003", ["/person", "/car/car_0003"]),
        ("/person   /car ,, ", ["/person", "/car"]),
        ('"/traffic light" /car', ["/traffic light", "/car"]),
        ("", []),
        (None, []),
        (["/a b/c", " /d ", ""], ["/a b/c", "/d"]),
    ],
)
def test_parse_patterns(text, expected):
    assert mattefilter.parse_patterns(text) == expected


@pytest.mark.parametrize(
    "patterns, selected",
    [
        ("/person/person_0001", ["/person/person_0001"]),
        ("/person", ["/person/person_0001", "/person/person_0012"]),  # ancestor, not /personal
        ("/person/", ["/person/person_0001", "/person/person_0012"]),
        ("person", ["/person/person_0001", "/person/person_0012"]),  # leading / optional
        ("/person/*", ["/person/person_0001", "/person/person_0012"]),
        ("/person*", ["/person/person_0001", "/person/person_0012", "/personal/item_0001"]),
        ("/*/*_0001", ["/person/person_0001", "/personal/item_0001"]),
        ("/car/car_000[0-4]", ["/car/car_0003"]),
        ("/car/car_000?", ["/car/car_0003", "/car/car_0007"]),
        ("/car/car_000[!3]", ["/car/car_0007"]),
        ("/car*0003", []),  # * never crosses /
        ("/.../person_0001", ["/person/person_0001"]),  # ... spans levels
        ("/.../*_0001", ["/person/person_0001", "/personal/item_0001"]),
        ("/...", NAMES),
        ("*", NAMES),
        ("/person/person_0001/more", []),
        ("/", NAMES),
        ("/*", NAMES),
        ("/person/person_0001, /car", ["/person/person_0001", "/car/car_0003", "/car/car_0007"]),
        ("/per", []),
        ("/person/person_00", []),
        ("/Person", []),  # case-sensitive, like the names
        ("", []),
    ],
)
def test_select(patterns, selected):
    assert mattefilter.select(NAMES, patterns) == selected
    assert [n for n in NAMES if mattefilter.matches(n, patterns)] == selected


def _both_formats(tmp_path, layers):
    oid = tmp_path / "shot.objectid.0001.exr"
    crypto = tmp_path / "shot.crypto.0001.exr"
    objectid.write_objectid(oid, layers)
    cryptomatte.write_cryptomatte(crypto, layers, rank_sets=cryptomatte.required_rank_sets(layers))
    return oid, crypto


def _union(arrays):
    transmission = np.ones_like(arrays[0], dtype=np.float64)
    for array in arrays:
        transmission *= 1.0 - array
    return 1.0 - transmission


@pytest.mark.parametrize("patterns", ["/person", "/car/*", "/person/person_0003", "/", "person/person_0001 car", "/nothing"])
def test_extract_matte_agrees_between_formats(tmp_path, patterns):
    layers = crowd_layers(135, 240, count=60)
    oid, crypto = _both_formats(tmp_path, layers)
    assert mattefilter.detect_format(oid) == "objectid"
    assert mattefilter.detect_format(crypto) == "cryptomatte"
    assert sorted(mattefilter.layer_names(oid)) == sorted(mattefilter.layer_names(crypto)) == sorted(layers)

    from_oid = mattefilter.extract_matte(oid, patterns)
    from_crypto = mattefilter.extract_matte(crypto, patterns)
    selected = mattefilter.select(layers, patterns)
    want = _union([expected_alpha(layers[n]) for n in selected]) if selected else np.zeros((135, 240))
    assert from_oid.shape == from_crypto.shape == (135, 240)
    assert from_oid.dtype == from_crypto.dtype == np.float32
    np.testing.assert_allclose(from_crypto, want, atol=1e-6)
    np.testing.assert_allclose(from_oid, from_crypto, atol=2.0 ** -11)
    if patterns == "/nothing":
        assert not from_oid.any() and not from_crypto.any()
    else:
        assert from_oid.max() > 0.5


def test_single_layer_matte_is_the_layer(tmp_path):
    layers = overlapping_layers(60, 100)
    oid, crypto = _both_formats(tmp_path, layers)
    for name, alpha in layers.items():
        np.testing.assert_array_equal(mattefilter.extract_matte(crypto, [name]), expected_alpha(alpha))
        np.testing.assert_array_equal(
            mattefilter.extract_matte(oid, [name]), expected_alpha(alpha).astype(np.float16).astype(np.float32)
        )


def test_read_layers_dispatches_and_filters(tmp_path):
    layers = overlapping_layers(30, 50)
    oid, crypto = _both_formats(tmp_path, layers)
    a, b = mattefilter.read_layers(oid), mattefilter.read_layers(crypto)
    assert set(a) == set(b) == set(layers)
    for name in layers:
        np.testing.assert_allclose(a[name], b[name], atol=2.0 ** -12)
    some = list(layers)[:2]
    assert set(mattefilter.read_layers(oid, some)) == set(some)
    assert set(mattefilter.read_layers(crypto, some)) == set(some)


def test_not_an_id_matte_file(tmp_path):
    import OpenEXR

    plain = tmp_path / "plate.exr"
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION}, {"R": np.zeros((4, 4), np.float32)}) as exr_file:
        exr_file.write(str(plain))
    with pytest.raises(errors.OutputError, match="plate.exr"):
        mattefilter.extract_matte(plain, "/")
    text = tmp_path / "notes.exr"
    text.write_text("hello")
    with pytest.raises(errors.OutputError, match="notes.exr"):
        mattefilter.layer_names(text)
    with pytest.raises(errors.OutputError, match="missing.exr"):
        mattefilter.read_layers(tmp_path / "missing.exr")


@pytest.mark.parametrize("keep", [40, 600, -200])
def test_truncated_files_are_reported(tmp_path, keep):
    layers = overlapping_layers(30, 50)
    oid, crypto = _both_formats(tmp_path, layers)
    for path in (oid, crypto):
        data = path.read_bytes()
        path.write_bytes(data[:keep])
        with pytest.raises(errors.OutputError, match=path.name):
            mattefilter.read_layers(path)
