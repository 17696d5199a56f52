"""`scons install PREFIX=...` makes a Gaffer extension : the layout that
`GAFFER_EXTENSION_PATHS=PREFIX` expects (python/ on PYTHONPATH, startup/ on
GAFFER_STARTUP_PATHS, references/ for the template), and the installed copy
works on its own (checked with the Gaffer stand-in, from outside the
repository)."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
STANDIN = ROOT / "tests" / "gaffer_standin"


def _scons():
    candidate = pathlib.Path(sys.executable).parent / "scons"
    if candidate.is_file():
        return [str(candidate)]
    found = shutil.which("scons")
    if found:
        return [found]
    pytest.skip("scons is not installed (pip install scons)")


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("extension") / "GafferSegmentation"
    subprocess.run(
        _scons() + ["-Q", "install", f"PREFIX={prefix}"], cwd=ROOT, check=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    return prefix


def test_layout(prefix):
    for path in [
        "python/GafferSegmentation/__init__.py",
        "python/GafferSegmentation/Track.py",
        "python/GafferSegmentationUI/__init__.py",
        "python/GafferSegmentationTest/__init__.py",
        "python/GafferSegmentationUITest/__init__.py",
        "python/SegmentationCore/__init__.py",
        "startup/gui/segmentation.py",
        "startup/GafferSegmentation/modelSearchPaths.py",
        "references/AutoSegment.grf",
        "onnx_models/README.md",
    ]:
        assert (prefix / path).is_file(), path
    assert not list(prefix.rglob("__pycache__"))
    assert not list(prefix.rglob("*.pyc"))


def test_installed_extension_runs_its_tests(prefix, tmp_path):
    """What `GAFFER_EXTENSION_PATHS=PREFIX gaffer test GafferSegmentationTest`
    does, with the stand-in in place of Gaffer : every module comes from
    PREFIX, and the startup files run from PREFIX/startup."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(STANDIN), str(prefix / "python")])
    env["GAFFER_STARTUP_PATHS"] = str(prefix / "startup")
    env.pop("SEGMENTATION_MODEL_PATHS", None)
    script = (
        "import unittest, sys, GafferSegmentation, GafferSegmentationUI, SegmentationCore\n"
        f"prefix = {str(prefix)!r}\n"
        "for module in ( GafferSegmentation, GafferSegmentationUI, SegmentationCore ) :\n"
        "    assert module.__file__.startswith( prefix ), module.__file__\n"
        "suite = unittest.defaultTestLoader.loadTestsFromNames( [\n"
        "    'GafferSegmentationTest.ModuleTest', 'GafferSegmentationTest.AutoSegmentTest.testLoads',\n"
        "    'GafferSegmentationUITest.NodeMenuTest', 'GafferSegmentationUITest.DocumentationTest',\n"
        "] )\n"
        "result = unittest.TextTestRunner( verbosity = 2 ).run( suite )\n"
        "sys.exit( 0 if result.wasSuccessful() and not result.skipped else 1 )\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
    )
    assert completed.returncode == 0, completed.stdout
