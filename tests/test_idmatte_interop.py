"""Our ID-matte files read by readers nobody here wrote (cryptomatte-api,
OpenImageIO, the OpenEXR binding), and files those libraries write read by us."""

import sys

import numpy as np
import pytest

from idmatte_layers import crowd_layers, expected_alpha, overlapping_layers
from SegmentationCore.idmatte import cryptomatte, mattefilter, objectid
from SegmentationCore.idmatte.murmur import cryptomatte_hex, hash_to_float, murmurhash3_32

OpenEXR = pytest.importorskip("OpenEXR")
oiio = pytest.importorskip("OpenImageIO")


def half(alpha):
    return expected_alpha(alpha).astype(np.float16).astype(np.float32)


def over_union(mattes):
    transmission = np.ones_like(np.asarray(mattes[0], np.float64))
    for matte in mattes:
        transmission *= 1.0 - np.asarray(matte, np.float64)
    return 1.0 - transmission


# -- Cryptomatte through cryptomatte-api -----------------------------------


@pytest.mark.parametrize("extra_alpha", [False, True])
def test_cryptomatte_api_extracts_our_layers(tmp_path, extra_alpha):
    cryptomatte_api = pytest.importorskip("cryptomatte_api")
    layers = crowd_layers(135, 240, count=60, pile=9)
    rank_sets = cryptomatte.required_rank_sets(layers)
    path = tmp_path / "crowd.crypto.exr"
    cryptomatte.write_cryptomatte(path, layers, rank_sets=rank_sets, extra_alpha_channels=extra_alpha)

    loaded = cryptomatte_api.Cryptomatte.load(str(path))
    assert len(loaded) == 1
    matte = loaded[0]
    assert (matte.width(), matte.height()) == (240, 135)
    assert matte.num_levels() == 2 * rank_sets
    metadata = matte.metadata()
    assert metadata.name() == "CryptoObject"
    assert metadata.key() == cryptomatte.metadata_key("CryptoObject")
    assert metadata.hash_method() == "MurmurHash3_32"
    assert metadata.conversion_method() == "uint32_to_float32"

    ours = cryptomatte.read_cryptomatte(path)
    theirs = matte.masks()
    assert set(theirs) == set(layers) == set(ours)
    for name, alpha in layers.items():
        np.testing.assert_array_equal(theirs[name], ours[name])
        np.testing.assert_array_equal(matte.mask(name), expected_alpha(alpha))
        # by id (the float bits, as in the manifest) as well as by name
        np.testing.assert_array_equal(matte.mask(int(cryptomatte_hex(name), 16)), expected_alpha(alpha))
    # the crowd includes names whose hash needs the exponent fix, so that path is exercised
    assert any(cryptomatte_hex(n) != f"{murmurhash3_32(n):08x}" for n in layers)


# -- ObjectId through OpenImageIO ------------------------------------------


def test_openimageio_flatten_gives_union_alpha(tmp_path):
    layers = overlapping_layers(135, 240)
    layers.update({k: v for k, v in list(crowd_layers(135, 240, count=12).items())[:12]})
    path = tmp_path / "frame.objectid.exr"
    objectid.write_objectid(path, layers)
    buf = oiio.ImageBuf(str(path))
    assert buf.read(), buf.geterror()
    spec = buf.spec()
    assert spec.deep and (spec.width, spec.height) == (240, 135)
    formats = dict(zip(spec.channelnames, [str(f) for f in spec.channelformats]))
    assert formats == {"A": "half", "Z": "float", "id": "uint"}
    flat = oiio.ImageBufAlgo.flatten(buf)
    assert not flat.has_error, flat.geterror()
    pixels = flat.get_pixels(oiio.FLOAT)
    alpha = pixels[..., list(flat.spec().channelnames).index("A")]
    union = over_union([half(a) for a in layers.values()])
    np.testing.assert_allclose(alpha, union, atol=2e-6)
    # the engine's filter gives the same union from the file
    np.testing.assert_allclose(mattefilter.extract_matte(path, "/"), union, atol=2e-6)


def test_openimageio_deep_samples_match(tmp_path):
    layers = overlapping_layers(18, 30, 4)
    names = list(layers)
    path = tmp_path / "small.objectid.exr"
    objectid.write_objectid(path, layers, depth_order=names[::-1])
    buf = oiio.ImageBuf(str(path))
    assert buf.read(), buf.geterror()
    channel = {name: i for i, name in enumerate(buf.spec().channelnames)}
    expected_z = {murmurhash3_32(n): float(len(names) - i) for i, n in enumerate(names)}
    seen = 0
    for y in range(18):
        for x in range(30):
            present = [n for n in names[::-1] if expected_alpha(layers[n])[y, x] > 0]  # front to back
            count = buf.deep_samples(x, y, 0)
            assert count == len(present)
            for s, name in enumerate(present):
                assert buf.deep_value_uint(x, y, 0, channel["id"], s) == murmurhash3_32(name)
                assert buf.deep_value(x, y, 0, channel["A"], s) == half(layers[name])[y, x]
                assert buf.deep_value(x, y, 0, channel["Z"], s) == expected_z[murmurhash3_32(name)]
                seen += 1
    assert seen > 100


# -- ObjectId through the OpenEXR binding ------------------------------------


def test_openexr_reads_id_manifest_and_samples(tmp_path):
    layers = overlapping_layers(12, 20, 3)
    path = tmp_path / "small.objectid.exr"
    objectid.write_objectid(path, layers)
    with OpenEXR.File(str(path), separate_channels=True) as exr_file:
        part = exr_file.parts[0]
        manifest = part.header["idManifest"]
        assert manifest.size() == 1
        group = manifest[0]
        assert set(group.getChannels()) == {"id"}
        assert list(group.getComponents()) == ["name"]
        assert group.getHashScheme() == "MurmurHash3_32"
        assert group.getEncodingScheme() == "id"
        assert group.getLifetime() == OpenEXR.LIFETIME_STABLE
        assert {int(e.id()): list(e.text()) for e in group} == {murmurhash3_32(n): [n] for n in layers}
        assert part.header["compression"] == OpenEXR.ZIPS_COMPRESSION
        ids, alphas = part.channels["id"].pixels, part.channels["A"].pixels
        for y in range(12):
            for x in range(20):
                present = [n for n in layers if expected_alpha(layers[n])[y, x] > 0]
                if not present:
                    assert ids[y, x] is None or len(ids[y, x]) == 0
                    continue
                assert ids[y, x].tolist() == [murmurhash3_32(n) for n in present]
                assert alphas[y, x].astype(np.float32).tolist() == [half(layers[n])[y, x] for n in present]


def _library_deep_file(path, compression, duplicate=False):
    """A deep ID file written by the OpenEXR library: 3x4 pixels, samples
    deliberately not in depth order, optionally one id twice in a pixel."""
    height, width = 3, 4
    a = np.empty((height, width), dtype=object)
    ids = np.empty((height, width), dtype=object)
    z = np.empty((height, width), dtype=object)
    one, two = murmurhash3_32("/a/a_0001"), murmurhash3_32("/b/b_0001")
    expected = {"/a/a_0001": np.zeros((height, width), np.float32), "/b/b_0001": np.zeros((height, width), np.float32)}
    for y in range(height):
        for x in range(width):
            if (x + y) % 3 == 0:
                continue
            alpha_a, alpha_b = 0.25 * (x + 1), 0.125 * (y + 1)
            a[y, x] = np.array([alpha_b, alpha_a], np.float16)
            ids[y, x] = np.array([two, one], np.uint32)
            z[y, x] = np.array([2.0, 1.0], np.float32)
            expected["/a/a_0001"][y, x], expected["/b/b_0001"][y, x] = alpha_a, alpha_b
    if duplicate:
        a[0, 1] = np.array([0.5, 0.5, 0.125], np.float16)
        ids[0, 1] = np.array([one, one, two], np.uint32)
        z[0, 1] = np.array([1.0, 1.5, 2.0], np.float32)
        expected["/a/a_0001"][0, 1], expected["/b/b_0001"][0, 1] = 0.75, 0.125
    manifest = OpenEXR.IDManifest()
    group = manifest.add("id")
    group.setHashScheme(OpenEXR.ID_MANIFEST_MURMURHASH3_32)
    group.setEncodingScheme(OpenEXR.ID_MANIFEST_ID_SCHEME)
    group.setComponent("name")
    group.insert("/a/a_0001")
    group.insert("/b/b_0001")
    header = {"compression": compression, "type": OpenEXR.deepscanline, "idManifest": manifest}
    with OpenEXR.File(header, {"A": a, "id": ids, "Z": z}) as exr_file:
        exr_file.write(str(path))
    return expected


@pytest.mark.parametrize(
    "compression", ["ZIPS_COMPRESSION", "NO_COMPRESSION", "RLE_COMPRESSION", "ZSTD_COMPRESSION"]
)
@pytest.mark.parametrize("duplicate", [False, True])
def test_we_read_deep_id_files_written_by_the_openexr_library(tmp_path, compression, duplicate):
    path = tmp_path / "library.exr"
    expected = _library_deep_file(path, getattr(OpenEXR, compression), duplicate)
    assert mattefilter.detect_format(path) == "objectid"
    assert sorted(mattefilter.layer_names(path)) == sorted(expected)  # from idManifest, no JSON copy here
    back = objectid.read_objectid(path)
    assert set(back) == set(expected)
    for name, want in expected.items():
        np.testing.assert_allclose(back[name], want, atol=1e-7)


def test_we_read_a_cryptomatte_written_by_the_openexr_library(tmp_path):
    """Built straight from the specification, with a layer name and
    metadata key of its own and two rank sets only."""
    height, width = 2, 3
    names = ["bunny", "default", "torus"]
    float_ids = {n: np.float32(hash_to_float(murmurhash3_32(n))) for n in names}
    r = np.zeros((height, width), np.float32)
    g, b, a = r.copy(), r.copy(), r.copy()
    r[:, :] = float_ids["bunny"]
    g[:, :] = [[1.0, 0.75, 0.5], [0.25, 0.6, 0.5]]
    b[:, 1:] = float_ids["torus"]
    a[:, 1:] = [[0.25, 0.5], [0.4, 0.5]]
    r1 = np.zeros_like(r)
    g1, b1, a1 = r1.copy(), r1.copy(), r1.copy()
    r1[1, 0], g1[1, 0] = float_ids["default"], 0.75
    header = {
        "compression": OpenEXR.ZIP_COMPRESSION,
        "cryptomatte/d593dd7/name": "CryptoAsset",
        "cryptomatte/d593dd7/hash": "MurmurHash3_32",
        "cryptomatte/d593dd7/conversion": "uint32_to_float32",
        "cryptomatte/d593dd7/manifest": '{"bunny":"%08x", "default":"%08x"}'
        % tuple(int(float_ids[n].view(np.uint32)) for n in ("bunny", "default")),
    }
    channels = {
        "CryptoAsset00.R": r, "CryptoAsset00.G": g, "CryptoAsset00.B": b, "CryptoAsset00.A": a,
        "CryptoAsset01.R": r1, "CryptoAsset01.G": g1, "CryptoAsset01.B": b1, "CryptoAsset01.A": a1,
    }
    path = tmp_path / "spec.exr"
    with OpenEXR.File(header, channels) as exr_file:
        exr_file.write(str(path))
    back = cryptomatte.read_cryptomatte(path)
    torus_key = f"#{int(float_ids['torus'].view(np.uint32)):08x}"  # not in the manifest
    assert set(back) == {"bunny", "default", torus_key}
    np.testing.assert_array_equal(back["bunny"], g)
    np.testing.assert_array_equal(back["default"], g1)
    np.testing.assert_array_equal(back[torus_key], a)
    assert mattefilter.layer_names(path) == ["bunny", "default"]
    np.testing.assert_allclose(mattefilter.extract_matte(path, "bunny default"), over_union([g, g1]))


def test_plain_zlib_fallback_writes_the_same_images(tmp_path, monkeypatch):
    """ISA-L (opt-in, AUTOSEG_DEFLATE=isal) and zlib (the default) deflate
    differently; readers see identical data."""
    import zlib

    from SegmentationCore.idmatte import exr_zip

    isal_zlib = pytest.importorskip("isal.isal_zlib")
    layers = crowd_layers(90, 160, count=20)
    rank_sets = cryptomatte.required_rank_sets(layers)
    monkeypatch.setattr(exr_zip, "_deflate_lib", isal_zlib)
    objectid.write_objectid(tmp_path / "fast.oid.exr", layers)
    cryptomatte.write_cryptomatte(tmp_path / "fast.crypto.exr", layers, rank_sets=rank_sets)
    monkeypatch.setattr(exr_zip, "_deflate_lib", zlib)
    objectid.write_objectid(tmp_path / "zlib.oid.exr", layers)
    cryptomatte.write_cryptomatte(tmp_path / "zlib.crypto.exr", layers, rank_sets=rank_sets)
    for kind in ("oid", "crypto"):
        fast = oiio.ImageBuf(str(tmp_path / f"fast.{kind}.exr"))
        slow = oiio.ImageBuf(str(tmp_path / f"zlib.{kind}.exr"))
        if kind == "oid":
            fast, slow = oiio.ImageBufAlgo.flatten(fast), oiio.ImageBufAlgo.flatten(slow)
        np.testing.assert_array_equal(fast.get_pixels(oiio.FLOAT), slow.get_pixels(oiio.FLOAT))
    with_zlib, with_isal = objectid.read_objectid(tmp_path / "zlib.oid.exr"), objectid.read_objectid(tmp_path / "fast.oid.exr")
    for name in layers:
        np.testing.assert_array_equal(with_zlib[name], with_isal[name])


@pytest.mark.parametrize("compression", ["none", "zips"])
def test_deep_encoder_compressions_read_by_openexr(tmp_path, compression):
    from SegmentationCore.idmatte import deep_exr, exr_header
    from SegmentationCore.idmatte.idsamples import collect_samples

    layers = overlapping_layers(9, 13, 3)
    samples = collect_samples("<test>", layers)
    channels = [
        deep_exr.DeepChannel("A", exr_header.PIXEL_HALF, samples.alpha.astype(np.float16)),
        deep_exr.DeepChannel("id", exr_header.PIXEL_UINT, samples.hashes[samples.layer]),
    ]
    path = tmp_path / f"{compression}.exr"
    path.write_bytes(deep_exr.encode_deep_scanline(13, 9, samples.counts, channels, compression=compression))
    with OpenEXR.File(str(path), separate_channels=True) as exr_file:
        ids = exr_file.parts[0].channels["id"].pixels
    mine = deep_exr.read_deep(path)
    assert mine.header.compression == compression
    flat_ids = [list(p) if p is not None else [] for p in ids.reshape(-1)]
    assert sum(flat_ids, []) == mine.channels["id"].tolist() == samples.hashes[samples.layer].tolist()
    assert [len(p) for p in flat_ids] == mine.counts.tolist()


def test_a_pure_python_iecore_keeps_the_openexr_readers(monkeypatch):
    """Only Cortex's compiled library (loaded by a real Gaffer's IECore) makes
    the PyPI OpenEXR module unsafe; the test suite's pure-Python stand-in of
    IECore must not switch every later test to the in-Gaffer readers."""
    from SegmentationCore.idmatte import exr_read

    monkeypatch.setitem(sys.modules, "IECore", type(sys)("IECore"))
    monkeypatch.delitem(sys.modules, "IECore._IECore", raising=False)
    assert exr_read.openexr_is_safe()
    monkeypatch.setitem(sys.modules, "IECore._IECore", type(sys)("IECore._IECore"))
    assert not exr_read.openexr_is_safe()
