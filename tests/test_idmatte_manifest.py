"""The standard ``idManifest`` attribute, encoded by our own code
(:mod:`SegmentationCore.idmatte.idmanifest`): the same serialised bytes as
the OpenEXR library writes, read back identically by the PyPI ``OpenEXR``
module, and never an ``import OpenEXR`` in the writer (inside Gaffer's
process that import crashes)."""

import io
import struct
import zlib
import os
import subprocess
import sys

import numpy as np
import pytest

from SegmentationCore.idmatte import exr_header, idmanifest, objectid
from SegmentationCore.idmatte.murmur import murmurhash3_32

OpenEXR = pytest.importorskip("OpenEXR")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def library_manifest(groups):
    """The groups as an ``OpenEXR.IDManifest`` built with the library's own API."""
    manifest = OpenEXR.IDManifest()
    for group in groups:
        library_group = manifest.add(set(group.channels))
        library_group.setEncodingScheme(group.encoding_scheme)
        library_group.setHashScheme(group.hash_scheme)
        library_group.setComponents(list(group.components))
        library_group.setLifetime(
            {0: OpenEXR.LIFETIME_FRAME, 1: OpenEXR.LIFETIME_SHOT, 2: OpenEXR.LIFETIME_STABLE}[group.lifetime]
        )
        for value, strings in group.table.items():
            library_group.insert(value, list(strings))
    return manifest


def library_attribute(groups):
    """The attribute as the OpenEXR library writes it (a 1x1 file's header)."""
    header = {"type": OpenEXR.scanlineimage, "compression": OpenEXR.NO_COMPRESSION, "idManifest": library_manifest(groups)}
    stream = io.BytesIO()
    with OpenEXR.File(header, {"A": np.zeros((1, 1), np.float16)}) as exr_file:
        exr_file.write(stream)
    return exr_header.parse_header(stream.getvalue()).attributes["idManifest"]


def name_group(names, channel="id"):
    return idmanifest.ChannelGroup([channel], ["name"], {murmurhash3_32(n): [n] for n in names})


LONG = "/crowd/" + "x" * 300
CASES = {
    "empty": [name_group([])],
    "one": [name_group(["/person/person_0001"])],
    # 300 strings: past the 128 strings that re-number in one byte
    "three_hundred": [name_group([f"/person/person_{i:04d}" for i in range(1, 301)])],
    # shared prefixes after a string longer than 255 bytes (two-byte counts), non-ASCII
    "long_and_unicode": [name_group(["b", "a", LONG, LONG + "y", LONG + "yz", "/Menschen/Müller_0001", "/人/人_0002"])],
    # several groups and components, strings used several times (re-numbered
    # most frequent first), ids whose differences need 64 bits, other lifetimes
    "groups": [
        idmanifest.ChannelGroup(
            ["id", "id2"], ["model", "instance"],
            {5: ["car", "car_1"], 9: ["car", "car_2"], 1 << 40: ["tree", "tree_1"], (1 << 41) + 3: ["car", "tree_1"]},
            lifetime=idmanifest.LIFETIME_SHOT, hash_scheme="MurmurHash3_64", encoding_scheme="id2",
        ),
        idmanifest.ChannelGroup(
            ["other.id"], ["name"], {i * 7919: [f"n{i % 5}"] for i in range(1, 40)},
            lifetime=idmanifest.LIFETIME_FRAME, hash_scheme="custom",
        ),
        idmanifest.ChannelGroup(["sparse"], ["name"], {i * 1000003: [f"s{i}"] for i in range(3)}),
    ],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_serialisation_is_openexrs_byte_for_byte(case):
    groups = CASES[case]
    type_name, raw = library_attribute(groups)
    ours_type, ours = idmanifest.attribute(groups)
    assert ours_type == type_name == "idmanifest"
    assert ours[:8] == raw[:8]  # the uncompressed size
    assert idmanifest.decompress(ours) == idmanifest.decompress(raw)


def test_varint_and_renumbering_rules():
    assert idmanifest._varint(0) == b"\x00"
    assert idmanifest._varint(127) == b"\x7f"
    assert idmanifest._varint(128) == b"\x80\x01"
    assert idmanifest._varint(300) == b"\xac\x02"
    # all strings equally frequent: table order, one run
    assert idmanifest._renumber([1, 1, 1]) == ([0, 1, 2], [(0, 2)])
    # frequency decides which strings get the 128 one-byte indices; within
    # that block, table order
    assert idmanifest._renumber([1, 3, 1]) == ([0, 1, 2], [(0, 2)])
    counts = [1] * 130
    counts[129] = 2
    new_index, runs = idmanifest._renumber(counts)
    assert new_index[:127] == list(range(127)) and new_index[127:] == [128, 129, 127]
    assert runs == [(0, 126), (129, 129), (127, 128)]


def test_openexr_reads_the_objectid_manifest_back(tmp_path):
    names = [f"/person/person_{i:04d}" for i in range(1, 140)] + ["/car/car_0001", "/Bäume/baum_0001"]
    layers = {name: np.zeros((6, 9), np.float32) for name in names}
    layers[names[0]][2:4, 3:6] = 0.75
    path = tmp_path / "shot.objectid.1001.exr"
    objectid.write_objectid(path, layers)
    with OpenEXR.File(str(path), header_only=True) as exr_file:
        manifest = exr_file.parts[0].header["idManifest"]
    assert manifest.size() == 1
    group = manifest[0]
    assert set(group.getChannels()) == {"id"}
    assert list(group.getComponents()) == ["name"]
    assert group.getHashScheme() == "MurmurHash3_32"
    assert group.getEncodingScheme() == "id"
    assert group.getLifetime() == OpenEXR.LIFETIME_STABLE
    table = {int(entry.id()): list(entry.text()) for entry in group}
    assert table == {murmurhash3_32(name): [name] for name in names}
    # and our own readers still find every name
    assert sorted(objectid.objectid_layer_names(path)) == sorted(names)


def test_debians_openexr_tools_accept_the_attribute(tmp_path):
    exrheader = "/usr/bin/exrheader"
    if not os.path.exists(exrheader):
        pytest.skip("exrheader (Debian package openexr) is not installed")
    path = tmp_path / "x.exr"
    objectid.write_objectid(path, {"/a/a_0001": np.ones((3, 4), np.float32)})
    completed = subprocess.run([exrheader, str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert completed.returncode == 0, completed.stdout
    assert "idManifest (type idmanifest)" in completed.stdout


_NO_OPENEXR_SCRIPT = """
import sys
sys.modules.setdefault("IECore", type(sys)("IECore"))  # as inside Gaffer, where IECore and
sys.modules.setdefault("IECore._IECore", type(sys)("IECore._IECore"))  # its compiled library are loaded
import numpy
from SegmentationCore.idmatte import objectid, output
layers = {"/person/a": numpy.zeros((20, 30), numpy.float32)}
layers["/person/a"][3:9, 4:20] = 1.0
objectid.write_objectid(sys.argv[1] + "/a.exr", layers)
output.write_frame(sys.argv[1] + "/shot", 1001, layers)
assert "OpenEXR" not in sys.modules, "the writer imported the PyPI OpenEXR module"
assert sorted(objectid.objectid_layer_names(sys.argv[1] + "/a.exr")) == ["/person/a"]
print("no OpenEXR: OK")
"""


def test_writers_never_import_openexr(tmp_path):
    """Fails if the ObjectId writer builds its manifest with the OpenEXR module (as before)."""
    script = tmp_path / "write.py"
    script.write_text(_NO_OPENEXR_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    completed = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        universal_newlines=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert "no OpenEXR: OK" in completed.stdout


_GAFFER_SCRIPT = """
import sys
import IECore, Gaffer, GafferImage      # Gaffer's OpenEXR symbols global, as in every Gaffer
import numpy
from SegmentationCore.idmatte import objectid, output
layers = {"/person/a": numpy.zeros((40, 64), numpy.float32), "/person/b": numpy.zeros((40, 64), numpy.float32)}
layers["/person/a"][5:20, 5:30] = 1.0
layers["/person/b"][15:35, 20:60] = 0.5
objectid.write_objectid(sys.argv[1] + "/oid.exr", layers)
output.write_frame(sys.argv[1] + "/shot", 1001, layers)
assert "OpenEXR" not in sys.modules, "the PyPI OpenEXR module was imported inside Gaffer"
back = objectid.read_objectid(sys.argv[1] + "/oid.exr")
assert sorted(back) == sorted(layers)
assert abs(float(back["/person/b"].max()) - 0.5) < 1e-3
print("ObjectId written inside Gaffer without OpenEXR: OK")
"""


def test_objectid_written_inside_real_gaffer_without_openexr(tmp_path):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        import test_gaffer_real as real
    finally:
        sys.path.pop(0)
    if real.GAFFER is None:
        pytest.skip("no real Gaffer installed (run ../shared/gaffer/install.sh .gaffer, or set GAFFER_ROOT)")
    script = tmp_path / "write.py"
    script.write_text(_GAFFER_SCRIPT)
    completed = subprocess.run(
        [str(real.GAFFER / "bin" / "gaffer"), "python", str(script), str(tmp_path)],
        cwd=tmp_path, env=real._gaffer_env(real.GAFFER), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        universal_newlines=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-5000:]
    assert "ObjectId written inside Gaffer without OpenEXR: OK" in completed.stdout


# -- decoding (idmanifest.decode: our own reader, used inside Gaffer too) -------

LIFETIMES = {OpenEXR.LIFETIME_FRAME: 0, OpenEXR.LIFETIME_SHOT: 1, OpenEXR.LIFETIME_STABLE: 2}
DECODE_CASES = dict(CASES)
# past 2**14 strings: re-numbered indices of 1, 2 and 3 bytes
DECODE_CASES["many"] = [name_group([f"/crowd/extra_{i:05d}" for i in range(16500)])]
# ids up to the last 64-bit value (stored as uint64 deltas), non-ASCII components
DECODE_CASES["ids_64bit"] = [
    idmanifest.ChannelGroup(["id"], ["name", "Größe"], {0: ["null", "ä"], (1 << 63) + 1: ["mitte", "ö"], (1 << 64) - 1: ["ende", "人"]}),
]


def normalised(groups):
    return [
        (sorted(g.channels), list(g.components), g.lifetime, g.hash_scheme, g.encoding_scheme,
         {int(k): list(v) for k, v in g.table.items()})
        for g in groups
    ]


def library_file_and_reading(groups, tmp_path):
    """A file whose idManifest the OpenEXR library wrote, and the groups the
    PyPI OpenEXR module reads back from it."""
    path = tmp_path / "library.exr"
    header = {"type": OpenEXR.scanlineimage, "compression": OpenEXR.NO_COMPRESSION, "idManifest": library_manifest(groups)}
    with OpenEXR.File(header, {"A": np.zeros((1, 1), np.float16)}) as exr_file:
        exr_file.write(str(path))
    with OpenEXR.File(str(path), header_only=True) as exr_file:
        back = exr_file.parts[0].header["idManifest"]
    reading = [
        idmanifest.ChannelGroup(
            list(back[i].getChannels()), list(back[i].getComponents()),
            {int(entry.id()): list(entry.text()) for entry in back[i]},
            LIFETIMES[back[i].getLifetime()], back[i].getHashScheme(), back[i].getEncodingScheme(),
        )
        for i in range(back.size())
    ]
    return path, reading


@pytest.mark.parametrize("case", sorted(DECODE_CASES))
def test_decode_inverts_our_encoder(case):
    groups = DECODE_CASES[case]
    assert normalised(idmanifest.decode(idmanifest.attribute(groups)[1])) == normalised(groups)


@pytest.mark.parametrize("case", sorted(DECODE_CASES))
def test_decode_reads_library_files_as_the_openexr_module_does(case, tmp_path):
    groups = DECODE_CASES[case]
    path, reading = library_file_and_reading(groups, tmp_path)
    header, _ = exr_header.read_header(path)
    type_name, raw = header.attributes["idManifest"]
    assert type_name == "idmanifest"
    decoded = idmanifest.decode(raw, str(path))
    assert normalised(decoded) == normalised(reading)
    assert normalised(decoded) == normalised(groups)  # and the library kept what it was given


def test_objectid_names_come_from_a_library_only_idmanifest(tmp_path):
    """Several groups, only one of them for the ``id`` channel; no JSON copy."""
    groups = [name_group(["/Menschen/Müller_0001", LONG, "/人/人_0002"]), DECODE_CASES["groups"][1]]
    path, _ = library_file_and_reading(groups, tmp_path)
    header, _ = exr_header.read_header(path)
    assert not header.has(objectid.MANIFEST_ATTRIBUTE)
    assert objectid._manifest_from_header(str(path), header) == {murmurhash3_32(n): n for n in groups[0].table.values() for n in n}


def _serial(groups):
    return idmanifest.inflate(idmanifest.attribute(groups)[1])


def _with_serial(serial, declared=None):
    return struct.pack("<Q", len(serial) if declared is None else declared) + zlib.compress(serial)


def test_truncated_serialisations_are_clear_errors():
    serial = _serial(DECODE_CASES["groups"])
    for end in range(len(serial)):
        with pytest.raises(idmanifest.IdManifestError, match=r"shot\.exr: malformed idManifest attribute"):
            idmanifest.decode(_with_serial(serial[:end]), "shot.exr")
    with pytest.raises(idmanifest.IdManifestError, match="bytes after the last group"):
        idmanifest.decode(_with_serial(serial + b"\0"), "shot.exr")


@pytest.mark.parametrize("what, raw, message", [
    ("short", b"\x01\x02", "only 2 bytes"),
    ("not zlib", struct.pack("<Q", 10) + b"not deflate data", "cannot inflate"),
    ("huge declared size", struct.pack("<Q", 1 << 62) + zlib.compress(b"\0" * 8), "declares 4611686018427387904 bytes"),
    ("inflates to more", struct.pack("<Q", 4) + zlib.compress(b"\0" * 64), "inflates to more than 5 bytes"),
    ("inflates to less", struct.pack("<Q", 64) + zlib.compress(b"\0" * 8), "inflates to 8 bytes"),
    ("cut deflate stream", struct.pack("<Q", 4000) + zlib.compress(bytes(range(256)) * 16)[:40], "truncated|inflates to"),
])
def test_corrupt_attribute_values_are_clear_errors(what, raw, message):
    with pytest.raises(idmanifest.IdManifestError, match=message):
        idmanifest.decode(raw, "shot.exr")


def test_corrupt_counts_and_indices_allocate_nothing_and_name_the_problem():
    i32 = lambda v: struct.pack("<i", v)
    cases = [
        (i32(1), "unknown version 1"),
        (i32(0) + i32(2**31 - 1), "string table count 2147483647 does not fit"),
        (i32(0) + i32(-1), "string table count -1"),
        (i32(0) + i32(1) + b"\x01a" + i32(1) + i32(0) + i32(5), "index run 0..5 outside the 1 strings"),
        (i32(0) + i32(1) + b"\x01a" + i32(100000), "index run count 100000 does not fit"),
        (i32(0) + i32(1) + b"\xff" * 12, "longer than 10 bytes"),
        # a later string sharing more bytes than the one before it has
        (i32(0) + i32(2) + b"\x01\x02" + b"a" + b"\x05b" + i32(1) + i32(0) + i32(1), "shares 5 bytes with a 1-byte string"),
    ]
    one_string = i32(0) + i32(1) + b"\x01a" + i32(1) + i32(0) + i32(0) + i32(1)
    group = i32(1) + b"\x02id" + i32(1) + b"\x04name"
    schemes = struct.pack("<I", 1) + b"h" + struct.pack("<I", 2) + b"id"
    cases += [
        (one_string + group + b"\x07" + schemes, "unknown lifetime 7"),
        (one_string + group + b"\x02" + schemes + b"\x03", "unknown id storage 3"),
        (one_string + group + b"\x02" + schemes + b"\x00" + i32(1 << 28), "entry count 268435456 does not fit"),
        (one_string + group + b"\x02" + schemes + b"\x02" + i32(1) + b"\x05\x01", "a string index outside the 1 strings"),
        (one_string + group + b"\x02" + schemes + b"\x00" + i32(2) + struct.pack("<QBQB", 2**63, 0, 2**63, 0),
         "id past 64 bits"),
        (one_string + i32(1) + b"\x02\xff\xfe" + i32(0), "channel name is not UTF-8"),
    ]
    for serial, message in cases:
        with pytest.raises(idmanifest.IdManifestError, match=message):
            idmanifest.decode(_with_serial(serial), "shot.exr")
    # and the well-formed variant of the last groups decodes
    good = idmanifest.decode(_with_serial(one_string + group + b"\x02" + schemes + b"\x02" + i32(1) + b"\x05\x00"))
    assert normalised(good) == [(["id"], ["name"], 2, "h", "id", {5: ["a"]})]


def test_a_corrupt_idmanifest_is_an_output_error_naming_the_file(tmp_path):
    from SegmentationCore.core import errors

    path, _ = library_file_and_reading([name_group(["/a/a_0001"])], tmp_path)
    header, _ = exr_header.read_header(path)
    type_name, raw = header.attributes["idManifest"]
    header.attributes["idManifest"] = (type_name, raw[:-3])
    with pytest.raises(errors.OutputError, match=rf"{tmp_path}.*malformed idManifest attribute.*cannot be named"):
        objectid._manifest_from_header(str(path), header)
    header.attributes["idManifest"] = ("string", raw)
    with pytest.raises(errors.OutputError, match="has type 'string'"):
        objectid._manifest_from_header(str(path), header)


def _interop():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        import test_idmatte_interop
    finally:
        sys.path.pop(0)
    return test_idmatte_interop


@pytest.mark.parametrize("compression", ["ZIPS_COMPRESSION", "NO_COMPRESSION"])
@pytest.mark.parametrize("duplicate", [False, True])
def test_library_deep_id_files_read_on_the_in_gaffer_path(tmp_path, monkeypatch, compression, duplicate):
    """As inside Gaffer (IECore and its compiled library loaded): the names
    come from the standard idManifest alone, and the PyPI OpenEXR module is
    never touched (an import of it would fail here)."""
    from SegmentationCore.idmatte import exr_read, mattefilter

    path = tmp_path / "library.exr"
    expected = _interop()._library_deep_file(path, getattr(OpenEXR, compression), duplicate)
    monkeypatch.setitem(sys.modules, "IECore", type(sys)("IECore"))
    monkeypatch.setitem(sys.modules, "IECore._IECore", type(sys)("IECore._IECore"))
    monkeypatch.setitem(sys.modules, "OpenEXR", None)  # `import OpenEXR` raises ImportError
    assert not exr_read.openexr_is_safe()
    assert not exr_header.read_header(path)[0].has(objectid.MANIFEST_ATTRIBUTE)
    assert sorted(mattefilter.layer_names(path)) == sorted(expected)
    assert sorted(objectid.objectid_layer_names(path)) == sorted(expected)
    back = objectid.read_objectid(path)
    assert set(back) == set(expected)
    for name, want in expected.items():
        np.testing.assert_allclose(back[name], want, atol=1e-7)
