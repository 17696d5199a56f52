"""Session-scoped GroundingDINO model fixtures (exported reduced config, random weights).

``gdino_model_dir``: a model folder exported with
``export/export_groundingdino.py --random-weights --config tiny`` at
:data:`GDINO_TEST_SIZES` (16:9 landscape, its portrait twin, square). The
export runs in a subprocess (the test process stays torch-free) once, and
is cached under ``build/test-models/`` keyed by a hash of the exporter's
sources, the settings and the export packages' versions, so a changed
exporter re-exports. Tests skip when the export packages are missing.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXPORT = ROOT / "export"
CACHE = ROOT / "build" / "test-models"

GDINO_TEST_CONFIG = "tiny"
GDINO_TEST_SIZES = ((512, 288), (288, 512), (320, 320))  # width x height


def _export_sources() -> list[pathlib.Path]:
    return sorted([EXPORT / "export_groundingdino.py", EXPORT / "export_common.py", *EXPORT.glob("gdino_*.py")])


def _cache_key(config: str, sizes) -> str:
    from importlib import metadata

    digest = hashlib.sha256()
    for path in _export_sources():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(repr((config, tuple(sizes))).encode())
    for name in ("torch", "groundingdino-py", "transformers", "onnx"):
        try:
            digest.update(f"{name}={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            pass
    return digest.hexdigest()[:16]


def export_gdino_test_model(config: str = GDINO_TEST_CONFIG, sizes=GDINO_TEST_SIZES) -> pathlib.Path:
    """The cached random-weights model folder (exported if needed)."""
    for module in ("torch", "groundingdino", "transformers", "onnx"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"GroundingDINO test model needs the export packages ({module} is missing)")
    CACHE.mkdir(parents=True, exist_ok=True)
    folder = CACHE / f"gdino-{config}-{_cache_key(config, sizes)}"
    with open(CACHE / ".gdino.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test session may be exporting the same model
        if (folder / "manifest.json").is_file():
            return folder
        command = [
            sys.executable, str(EXPORT / "export_groundingdino.py"), "--random-weights", "--config", config,
            "--sizes", ",".join(f"{w}x{h}" for w, h in sizes), "--output", str(folder), "--force",
        ]
        result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if result.returncode != 0:
            raise RuntimeError(f"GroundingDINO test export failed:\n{result.stdout}\n{result.stderr}")
        for stale in CACHE.glob(f"gdino-{config}-*"):  # exports of older exporter versions
            if stale != folder and stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
    return folder


@pytest.fixture(scope="session")
def gdino_model_dir() -> pathlib.Path:
    """A GroundingDINO model folder (reduced config, random weights), shared by the session."""
    return export_gdino_test_model()
