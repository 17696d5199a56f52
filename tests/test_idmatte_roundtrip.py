"""Write -> read round trips of both ID-matte formats, and the file contents
the specifications require (checked from the raw header, not our reader)."""

import json
import logging
import os
import re

import numpy as np
import pytest

from idmatte_layers import crowd_layers, expected_alpha, overlapping_layers, soft_ellipse
from SegmentationCore.idmatte import cryptomatte, exr_header, objectid
from SegmentationCore.core import errors
from SegmentationCore.idmatte.murmur import cryptomatte_hex, murmurhash3_32

HALF_STEP = 2.0 ** -11  # half precision's step below 1.0


def single_pixel_layers():
    alpha = np.zeros((37, 53), np.float32)
    alpha[17, 29] = 0.625
    return {"/ball/ball_0001": alpha}


CASES = {
    "overlapping": lambda: overlapping_layers(),
    "empty": lambda: {},
    "all_zero": lambda: {"/person/person_0001": np.zeros((40, 64), np.float32)},
    "single_pixel": single_pixel_layers,
    "crowd60": lambda: crowd_layers(),
}
SHAPE_FOR_EMPTY = (40, 64)


def write(fmt, path, layers, **options):
    if fmt == "objectid":
        objectid.write_objectid(path, layers, shape=None if layers else SHAPE_FOR_EMPTY, **options)
    else:
        rank_sets = max(3, cryptomatte.required_rank_sets(layers)) if layers else 3
        cryptomatte.write_cryptomatte(path, layers, rank_sets=rank_sets, shape=None if layers else SHAPE_FOR_EMPTY, **options)


def read(fmt, path):
    return objectid.read_objectid(path) if fmt == "objectid" else cryptomatte.read_cryptomatte(path)


@pytest.mark.parametrize("fmt", ["objectid", "cryptomatte"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_round_trip(tmp_path, fmt, case):
    layers = CASES[case]()
    path = tmp_path / f"{case}.{fmt}.exr"
    write(fmt, path, layers)
    back = read(fmt, path)
    assert set(back) == set(layers)
    for name, alpha in layers.items():
        want = expected_alpha(alpha)
        got = back[name]
        assert got.shape == alpha.shape and got.dtype == np.float32
        assert np.abs(got - want).max(initial=0.0) <= HALF_STEP / 2
        if fmt == "objectid":  # stored as half: exactly the half-rounded alpha
            np.testing.assert_array_equal(got, want.astype(np.float16).astype(np.float32))
        else:  # float32 coverage: exact
            np.testing.assert_array_equal(got, want)
        assert np.abs(got - np.clip(alpha, 0, 1)).max(initial=0.0) <= HALF_STEP


def test_empty_frame_is_valid_and_sized(tmp_path):
    for fmt in ("objectid", "cryptomatte"):
        path = tmp_path / f"empty.{fmt}.exr"
        write(fmt, path, {})
        header, _ = exr_header.read_header(str(path))
        assert header.data_window == (0, 0, SHAPE_FOR_EMPTY[1] - 1, SHAPE_FOR_EMPTY[0] - 1)
        assert read(fmt, path) == {}


def test_objectid_header_and_samples(tmp_path):
    layers = overlapping_layers(60, 100, 3)
    names = list(layers)
    path = tmp_path / "frame.objectid.exr"
    objectid.write_objectid(path, layers, depth_order=[names[2], "/not/in_this_frame", names[0]])
    header, _ = exr_header.read_header(str(path))
    assert header.type_name == "deepscanline" and header.is_deep
    assert header.compression == "zips"
    channels = {c.name: c.pixel_type for c in header.channels}
    assert channels == {"A": exr_header.PIXEL_HALF, "Z": exr_header.PIXEL_FLOAT, "id": exr_header.PIXEL_UINT}
    assert header.attributes["idManifest"][0] == "idmanifest"
    manifest = json.loads(header.value("objectid/manifest"))
    assert manifest == {name: f"{murmurhash3_32(name):08x}" for name in names}
    densest = int(sum((expected_alpha(a) > 0).astype(int) for a in layers.values()).max())
    assert header.value("maxSamplesPerPixel") == densest == 2

    from SegmentationCore.idmatte import deep_exr

    image = deep_exr.read_deep(path)
    ids, depth = image.channels["id"], image.channels["Z"]
    # Z is the depth order: names[2] front (1), names[0] (2), then names[1] (3)
    z_of = {murmurhash3_32(names[2]): 1.0, murmurhash3_32(names[0]): 2.0, murmurhash3_32(names[1]): 3.0}
    assert all(depth[ids == h].tolist() == [z] * int((ids == h).sum()) for h, z in z_of.items())
    # samples are sorted front to back within every pixel
    pixel = image.pixel_index
    same_pixel = pixel[1:] == pixel[:-1]
    assert np.all(depth[1:][same_pixel] > depth[:-1][same_pixel])


def test_cryptomatte_layout(tmp_path):
    layers = crowd_layers(90, 160, count=20, pile=9)
    densest = int(sum((expected_alpha(a) > 0).astype(int) for a in layers.values()).max())
    rank_sets = cryptomatte.required_rank_sets(layers)
    assert densest >= 9 and rank_sets == (densest + 1) // 2  # more than the minimum 3 sets
    path = tmp_path / "frame.crypto.exr"
    cryptomatte.write_cryptomatte(path, layers, rank_sets=rank_sets)
    header, _ = exr_header.read_header(str(path))
    channels = {c.name: c.pixel_type for c in header.channels}
    assert sorted(channels) == sorted(f"CryptoObject{k:02d}.{c}" for k in range(rank_sets) for c in "RGBA")
    assert set(channels.values()) == {exr_header.PIXEL_FLOAT}
    assert header.compression == "zip"
    assert header.data_window == header.value("displayWindow") == (0, 0, 159, 89)
    metadata = header.strings("cryptomatte/")
    key = f"{murmurhash3_32('CryptoObject'):08x}"[:7]
    assert sorted(metadata) == sorted(f"cryptomatte/{key}/{k}" for k in ("name", "hash", "conversion", "manifest"))
    assert re.fullmatch(r"[0-9a-f]{7}", key)
    assert metadata[f"cryptomatte/{key}/name"] == "CryptoObject"
    assert metadata[f"cryptomatte/{key}/hash"] == "MurmurHash3_32"
    assert metadata[f"cryptomatte/{key}/conversion"] == "uint32_to_float32"
    assert json.loads(metadata[f"cryptomatte/{key}/manifest"]) == {n: cryptomatte_hex(n) for n in layers}

    import OpenEXR

    with OpenEXR.File(str(path), separate_channels=True) as exr_file:
        planes = {name: channel.pixels for name, channel in exr_file.parts[0].channels.items()}
    coverage = np.stack([planes[f"CryptoObject{r // 2:02d}.{'A' if r % 2 else 'G'}"] for r in range(2 * rank_sets)])
    ids = np.stack([planes[f"CryptoObject{r // 2:02d}.{'B' if r % 2 else 'R'}"] for r in range(2 * rank_sets)])
    assert coverage.dtype == np.float32 and ids.dtype == np.float32
    assert np.all(np.diff(coverage, axis=0) <= 0), "ranks must be sorted by coverage"
    assert np.all(np.isfinite(ids))
    assert np.all((ids == 0) == (coverage == 0)), "empty ranks are id 0, coverage 0"
    assert coverage.max() == 1.0 and (coverage > 0).sum(axis=0).max() == densest


def test_cryptomatte_too_few_rank_sets_keeps_strongest_and_warns(tmp_path, caplog):
    layers = crowd_layers(90, 160, count=12, pile=9)
    path = tmp_path / "frame.crypto.exr"
    with caplog.at_level(logging.WARNING, logger="SegmentationCore.idmatte.cryptomatte"):
        cryptomatte.write_cryptomatte(path, layers, rank_sets=3)
    assert f"rank_sets={cryptomatte.required_rank_sets(layers)}" in caplog.text
    back = cryptomatte.read_cryptomatte(path)
    stack = np.stack([expected_alpha(layers[n]) for n in layers])
    got = np.stack([back[n] for n in layers])
    order = np.sort(stack, axis=0)[::-1]
    # every pixel keeps exactly its 6 strongest layers
    np.testing.assert_array_equal(np.sort(got, axis=0)[::-1][:6], order[:6])


@pytest.mark.parametrize("compression", ["dwaa", "dwab", "b44", "b44a", "pxr24", "half", "jpeg"])
def test_cryptomatte_refuses_lossy_compression(tmp_path, compression):
    path = tmp_path / "frame.crypto.exr"
    with pytest.raises(errors.OutputError, match=str(path)):
        cryptomatte.write_cryptomatte(path, overlapping_layers(20, 30), compression=compression)
    assert not path.exists()


@pytest.mark.parametrize("compression", ["none", "rle", "zips", "zip", "piz"])
def test_cryptomatte_lossless_compressions_round_trip(tmp_path, compression):
    layers = overlapping_layers(30, 50)
    path = tmp_path / f"frame.{compression}.exr"
    cryptomatte.write_cryptomatte(path, layers, compression=compression)
    assert exr_header.read_header(str(path))[0].compression == compression
    back = cryptomatte.read_cryptomatte(path)
    for name, alpha in layers.items():
        np.testing.assert_array_equal(back[name], expected_alpha(alpha))


@pytest.mark.parametrize("bad", [{"rank_sets": 2}, {"rank_sets": 0}, {"layer_name": "Crypto Object"}, {"layer_name": "0Crypto"}])
def test_cryptomatte_refuses_bad_options(tmp_path, bad):
    with pytest.raises(errors.OutputError):
        cryptomatte.write_cryptomatte(tmp_path / "x.exr", overlapping_layers(20, 30), **bad)


def test_extra_alpha_channels(tmp_path):
    layers = overlapping_layers(40, 60, 3)
    layers["/traffic light/traffic light_0001"] = soft_ellipse(40, 60, 30, 20, 10, 8)
    path = tmp_path / "frame.crypto.exr"
    cryptomatte.write_cryptomatte(path, layers, extra_alpha_channels=True)
    header, _ = exr_header.read_header(str(path))
    mapping = json.loads(header.value("idmatte/alphaChannels"))
    assert mapping["/person/person_0001"] == "matte_person__person_0001"
    odd = mapping["/traffic light/traffic light_0001"]
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", odd) and odd.endswith(f"{murmurhash3_32('/traffic light/traffic light_0001'):08x}")
    channels = {c.name: c.pixel_type for c in header.channels}
    import OpenEXR

    with OpenEXR.File(str(path), separate_channels=True) as exr_file:
        planes = {name: channel.pixels for name, channel in exr_file.parts[0].channels.items()}
    for name, prefix in mapping.items():
        assert channels[f"{prefix}.A"] == exr_header.PIXEL_HALF
        np.testing.assert_array_equal(planes[f"{prefix}.A"].astype(np.float32), expected_alpha(layers[name]).astype(np.float16).astype(np.float32))
    # the Cryptomatte part is unchanged by the extra channels
    assert sorted(header.strings("cryptomatte/"))[0].startswith("cryptomatte/")
    back = cryptomatte.read_cryptomatte(path)
    for name, alpha in layers.items():
        np.testing.assert_array_equal(back[name], expected_alpha(alpha))


def test_alpha_channel_prefix_is_stable_and_unique():
    names = ["/person/person_0001", "/person_a/b", "/person/a_b", "/a/b/c", "/a/b_c", "/a_b/c", "/a b/c", "/a_b/c "]
    prefixes = [cryptomatte.alpha_channel_prefix(n) for n in names]
    assert len(set(prefixes)) == len(prefixes)
    assert all(re.fullmatch(r"matte_[A-Za-z0-9_]+", p) for p in prefixes)
    assert prefixes == [cryptomatte.alpha_channel_prefix(n) for n in names]


@pytest.mark.parametrize("fmt", ["objectid", "cryptomatte"])
def test_refuses_to_overwrite_and_writes_atomically(tmp_path, fmt):
    path = tmp_path / "frame.exr"
    path.write_bytes(b"precious plate")
    with pytest.raises(errors.OutputError, match="frame.exr"):
        write(fmt, path, overlapping_layers(20, 30))
    assert path.read_bytes() == b"precious plate"
    write(fmt, path, overlapping_layers(20, 30), overwrite=True)
    assert read(fmt, path)
    assert os.listdir(tmp_path) == ["frame.exr"], "no temporary files left behind"


@pytest.mark.parametrize("fmt", ["objectid", "cryptomatte"])
def test_failed_write_leaves_nothing(tmp_path, fmt):
    bad = {"/a/a_0001": np.zeros((10, 10), np.float32), "/b/b_0001": np.zeros((10, 12), np.float32)}
    with pytest.raises(errors.OutputError, match="one"):
        write(fmt, tmp_path / "frame.exr", bad)
    nan = {"/a/a_0001": np.full((10, 10), np.nan, np.float32)}
    with pytest.raises(errors.OutputError, match="NaN"):
        write(fmt, tmp_path / "frame.exr", nan)
    assert os.listdir(tmp_path) == []


def test_out_of_range_alpha_is_clipped(tmp_path):
    layers = {"/a/a_0001": np.array([[1.5, -0.25, 0.5]], np.float32)}
    for fmt in ("objectid", "cryptomatte"):
        write(fmt, tmp_path / f"{fmt}.exr", layers)
        np.testing.assert_array_equal(read(fmt, tmp_path / f"{fmt}.exr")["/a/a_0001"], [[1.0, 0.0, 0.5]])


def test_min_alpha_keeps_both_formats_identical(tmp_path):
    alpha = np.array([[0.0, 1e-6, 2.0 ** -12, 2.0 ** -11, 0.01]], np.float32)
    layers = {"/a/a_0001": alpha}
    for fmt in ("objectid", "cryptomatte"):
        write(fmt, tmp_path / f"{fmt}.exr", layers)
    a = read("objectid", tmp_path / "objectid.exr")["/a/a_0001"]
    b = read("cryptomatte", tmp_path / "cryptomatte.exr")["/a/a_0001"]
    np.testing.assert_array_equal(a > 0, b > 0)
    assert (a > 0).tolist() == [[False, False, False, True, True]]
    write("objectid", tmp_path / "all.exr", layers, min_alpha=0.0)
    assert (read("objectid", tmp_path / "all.exr")["/a/a_0001"] > 0).sum() == 4  # 1e-6 and 2**-12 kept too


def test_cryptomatte_ranks_by_coverage_then_depth(tmp_path):
    a = np.array([[0.5, 0.25, 0.5, 0.0]], np.float32)
    b = np.array([[0.5, 0.75, 0.125, 0.5]], np.float32)
    c = np.array([[0.5, 0.0, 0.5, 0.5]], np.float32)
    layers = {"/a/a": a, "/b/b": b, "/c/c": c}
    path = tmp_path / "ties.exr"
    cryptomatte.write_cryptomatte(path, layers, depth_order=["/c/c", "/a/a", "/b/b"])
    import OpenEXR

    with OpenEXR.File(str(path), separate_channels=True) as exr_file:
        planes = {name: channel.pixels for name, channel in exr_file.parts[0].channels.items()}
    ids = [planes["CryptoObject00.R"], planes["CryptoObject00.B"], planes["CryptoObject01.R"]]
    coverage = [planes["CryptoObject00.G"], planes["CryptoObject00.A"], planes["CryptoObject01.G"]]
    from SegmentationCore.idmatte.murmur import hash_to_float

    fid = {n: hash_to_float(murmurhash3_32(n)) for n in layers}
    # pixel 0: a three-way tie -> depth order c, a, b
    assert [r[0, 0] for r in ids] == [fid["/c/c"], fid["/a/a"], fid["/b/b"]]
    # pixel 1: b (0.75) before a (0.25)
    assert [r[0, 1] for r in ids][:2] == [fid["/b/b"], fid["/a/a"]] and coverage[2][0, 1] == 0
    # pixel 2: c and a tie at 0.5 (c is in front), then b
    assert [r[0, 2] for r in ids] == [fid["/c/c"], fid["/a/a"], fid["/b/b"]]
    assert [r[0, 2] for r in coverage] == [0.5, 0.5, 0.125]
    # pixel 3: c and b tie, c in front
    assert [r[0, 3] for r in ids][:2] == [fid["/c/c"], fid["/b/b"]]


@pytest.mark.parametrize("depth", [2, 5, 12, 20])
def test_rank_computation_matches_a_plain_sort(depth):
    from SegmentationCore.idmatte.idsamples import collect_samples

    rng = np.random.default_rng(depth)
    layers = {}
    for index in range(depth):
        alpha = rng.choice([0.0, 0.25, 0.5, 1.0, rng.uniform()], size=(6, 7)).astype(np.float32)
        alpha[0, 0] = 0.5  # every layer in pixel 0: the deepest pixel, with ties
        layers[f"/l/l_{index:02d}"] = alpha
    samples = collect_samples("<test>", layers)
    assert samples.max_samples == depth
    ranks = cryptomatte._ranks(samples)
    for pixel in range(42):
        chosen = np.flatnonzero(samples.pixel == pixel)
        alphas = samples.alpha[chosen]
        expected = sorted(range(len(chosen)), key=lambda i: (-alphas[i], samples.layer[chosen][i]))
        assert [int(ranks[chosen][i]) for i in expected] == list(range(len(chosen)))


def test_writers_refuse_attributes_that_would_replace_their_own():
    # A caller's metadata may not silently change the image's layout.
    channels = [exr_header.ChannelInfo("A", exr_header.PIXEL_FLOAT)]
    header = exr_header.image_attributes(channels, "zip", 4, 2, {"type": exr_header.attr_string("deepscanline")},
                                         {"owner": exr_header.attr_string("comp")}, writer="the deep")
    assert header["dataWindow"] == exr_header.attr_box2i(0, 0, 3, 1) and "owner" in header and "type" in header
    for taken in ("dataWindow", "type"):
        with pytest.raises(ValueError, match=f"attribute '{taken}' is set by the deep writer"):
            exr_header.image_attributes(channels, "zip", 4, 2, {"type": exr_header.attr_string("deepscanline")},
                                        {taken: exr_header.attr_int(1)}, writer="the deep")
