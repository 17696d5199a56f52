"""The Gaffer node tests in a real Gaffer, and the engine's file I/O inside
Gaffer's process.

Runs when a Gaffer is installed at `.gaffer/` (`../shared/gaffer/install.sh
.gaffer`, as `.ci/run` does) or at `$GAFFER_ROOT`; skipped, saying so,
otherwise (the stand-in run, tests/test_gaffer_nodes.py, covers those
machines). The installed Gaffer runs with its default RTLD_GLOBAL symbol
loading and its own OpenImageIO module first on the path, as users' do.
"""

import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from SegmentationCore.idmatte import cryptomatte, exr_header, exr_read, flat_exr

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _gaffer_root():
    for candidate in (ROOT / ".gaffer", os.environ.get("GAFFER_ROOT")):
        if candidate and (pathlib.Path(candidate) / "bin" / "gaffer").is_file():
            return pathlib.Path(candidate)
    return None


def _gaffer_env(root):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "IECORE_RTLD_GLOBAL")}
    env.update({
        "GAFFER_ROOT": str(root),
        "GAFFER_PYTHON": os.environ.get("GAFFER_PYTHON", sys.executable),
        "PATH": f"{root}/bin:{env.get('PATH', '')}",
        "LD_LIBRARY_PATH": f"{root}/lib" + (f":{env['LD_LIBRARY_PATH']}" if env.get("LD_LIBRARY_PATH") else ""),
        # Gaffer's modules first (its OpenImageIO too), then the extension.
        "PYTHONPATH": os.pathsep.join([str(root / "python"), str(ROOT / "python")]),
        "GAFFER_STARTUP_PATHS": os.pathsep.join([str(root / "startup"), str(ROOT / "startup")]),
        "CORTEX_STARTUP_PATHS": str(root / "startup"),
        "GAFFER_APP_PATHS": str(root / "apps"),
        "GAFFER_JEMALLOC": "0",
        "PYTHONNOUSERSITE": "1",
        "USER": os.environ.get("USER", "gaffer"),
    })
    ocio = list((root / "openColorIO").glob("*.ocio"))
    if ocio and "OCIO" not in env:
        env["OCIO"] = str(ocio[0])
    env.pop("SEGMENTATION_MODEL_PATHS", None)
    return env


GAFFER = _gaffer_root()
needs_gaffer = pytest.mark.skipif(
    GAFFER is None,
    reason="no real Gaffer installed (run ../shared/gaffer/install.sh .gaffer, or set GAFFER_ROOT); "
    "the node tests ran against the stand-in instead (test_gaffer_nodes.py)",
)


@needs_gaffer
def test_node_tests_pass_in_real_gaffer(tmp_path, record_property):
    completed = subprocess.run(
        [str(GAFFER / "bin" / "gaffer"), "test", "GafferSegmentationTest", "GafferSegmentationUITest"],
        cwd=tmp_path, env=_gaffer_env(GAFFER), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        universal_newlines=True, timeout=1800,
    )
    output = completed.stdout
    ran = re.search(r"^Ran (\d+) tests? in ([\d.]+)s", output, re.MULTILINE)
    summary = output.strip().splitlines()[-1] if output.strip() else ""
    record_property("gaffer_tests_run", ran.group(1) if ran else "0")
    record_property("gaffer_tests_result", summary)
    print(f"real Gaffer ({GAFFER}): {ran.group(0) if ran else 'no tests ran'} -> {summary}")
    assert completed.returncode == 0, output[-20000:]
    assert ran and int(ran.group(1)) >= 60, output[-5000:]
    assert summary.startswith("OK"), summary


_READER_SCRIPT = """
import sys
import IECore, Gaffer, GafferImage      # Gaffer's OpenEXR / OpenImageIO, RTLD_GLOBAL
import numpy
from SegmentationCore.idmatte import cryptomatte, mattefilter, objectid
folder = sys.argv[1]
h, w = 40, 64
layers = {"/person/a": numpy.zeros((h, w), numpy.float32), "/person/b": numpy.zeros((h, w), numpy.float32)}
layers["/person/a"][5:20, 5:30] = 1.0
layers["/person/b"][15:35, 20:60] = 0.5
for compression in ("zip", "zips", "none"):
    crypto = f"{folder}/crypto.{compression}.exr"
    cryptomatte.write_cryptomatte(crypto, layers, compression=compression)
    read = cryptomatte.read_cryptomatte(crypto)
    assert sorted(read) == sorted(layers), read.keys()
    for name, matte in layers.items():
        assert numpy.abs(read[name] - matte).max() < 1e-3, name
union = mattefilter.extract_matte(f"{folder}/crypto.zip.exr", "/person")
assert abs(float(union.max()) - 1.0) < 1e-3
assert "OpenEXR" not in sys.modules, "the PyPI OpenEXR module was imported inside Gaffer"
# The ObjectId writer still builds the standard idManifest attribute with the
# OpenEXR binding (objectid._id_manifest_attribute) : it must not crash here.
oid = f"{folder}/objectid.exr"
objectid.write_objectid(oid, layers)
assert sorted(mattefilter.layer_names(oid)) == sorted(layers)
assert abs(float(mattefilter.extract_matte(oid, "/person/a").max()) - 1.0) < 1e-3
print("engine I/O inside Gaffer: OK")
"""


@needs_gaffer
def test_idmatte_readers_inside_gaffers_process(tmp_path):
    """The readers in `gaffer python`, where importing IECore made Gaffer's
    OpenEXR symbols global (the PyPI OpenEXR wheel crashed there)."""
    script = tmp_path / "readers.py"
    script.write_text(_READER_SCRIPT)
    completed = subprocess.run(
        [str(GAFFER / "bin" / "gaffer"), "python", str(script), str(tmp_path)],
        cwd=tmp_path, env=_gaffer_env(GAFFER), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        universal_newlines=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-5000:]
    assert "engine I/O inside Gaffer: OK" in completed.stdout


# The decoder used inside Gaffer, checked here against the OpenEXR binding.


@pytest.mark.parametrize("compression", ["zip", "zips", "none"])
def test_own_flat_decoder_matches_openexr(tmp_path, compression):
    rng = np.random.default_rng(3)
    height, width = 37, 53  # not a multiple of ZIP's 16 lines
    channels = [
        flat_exr.FlatChannel("R", exr_header.PIXEL_FLOAT, rng.random((height, width), np.float32)),
        flat_exr.FlatChannel("A", exr_header.PIXEL_HALF, rng.random((height, width)).astype(np.float16)),
        flat_exr.FlatChannel("id", exr_header.PIXEL_UINT, rng.integers(0, 2**32, (height, width), dtype=np.uint32)),
    ]
    path = tmp_path / f"flat.{compression}.exr"
    path.write_bytes(flat_exr.encode_flat_scanline(channels, compression=compression))
    data = path.read_bytes()
    decoded = exr_read.decode_flat_scanline(data)
    import OpenEXR

    with OpenEXR.File(str(path), separate_channels=True) as exr_file:
        reference = {name: np.asarray(c.pixels) for name, c in exr_file.parts[0].channels.items()}
    for channel in channels:
        np.testing.assert_array_equal(decoded[channel.name], channel.pixels)
        np.testing.assert_array_equal(decoded[channel.name], reference[channel.name])
    assert set(exr_read.decode_flat_scanline(data, names=["A"])) == {"A"}


def test_readers_take_the_in_gaffer_path_when_iecore_is_loaded(tmp_path, monkeypatch):
    layers = {"/car/a": np.zeros((20, 30), np.float32)}
    layers["/car/a"][2:9, 3:17] = 1.0
    path = tmp_path / "crypto.exr"
    cryptomatte.write_cryptomatte(path, layers)
    monkeypatch.setitem(sys.modules, "IECore", type(sys)("IECore"))
    monkeypatch.setitem(sys.modules, "IECore._IECore", type(sys)("IECore._IECore"))
    assert not exr_read.openexr_is_safe()
    calls = []
    monkeypatch.setattr(exr_read, "_read_with_openexr", lambda *a: calls.append(a))
    read = cryptomatte.read_cryptomatte(path)
    assert not calls
    np.testing.assert_allclose(read["/car/a"], layers["/car/a"], atol=1e-3)


def test_truncated_file_is_an_error_not_a_crash(tmp_path):
    channels = [flat_exr.FlatChannel("R", exr_header.PIXEL_FLOAT, np.ones((20, 20), np.float32))]
    data = flat_exr.encode_flat_scanline(channels, compression="zip")
    with pytest.raises(ValueError):
        exr_read.decode_flat_scanline(data[: len(data) - 10])
