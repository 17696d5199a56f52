"""Session-scoped SAM2 model fixtures (exported tiny config, random weights).

``sam2_model_dir`` is a model folder of ``sam2.1_hiera_t`` with random
weights (seed 0), exported once per test session. Exports are cached under
``build/test-models/`` keyed by a hash of the exporter sources, the config
and the installed torch/sam2/onnx versions, so local reruns reuse them and a
changed exporter re-exports. Exporting needs torch; without it the fixture
skips the test that asked for it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pathlib
import shutil
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXPORT_DIR = ROOT / "export"
CACHE_ROOT = ROOT / "build" / "test-models"

for _path in (EXPORT_DIR, ROOT / "python"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

SAM2_TEST_CONFIG = "sam2.1_hiera_t"
SAM2_TEST_SEED = 0
# With seed 1 the random object-score head gives some prompts a score above
# and some below zero, so parity tests see present and absent objects.
SAM2_MIXED_SEED = 1


def _export_sources_hash(config: str, seed: int) -> str:
    digest = hashlib.sha256(f"{config}|{seed}".encode())
    for path in sorted(EXPORT_DIR.glob("sam2_*.py")) + [EXPORT_DIR / "export_sam2.py", EXPORT_DIR / "export_common.py"]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    from importlib import metadata

    for package in ("torch", "sam2", "onnx"):
        try:
            digest.update(f"{package}={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package}=missing".encode())
    return digest.hexdigest()[:16]


def _is_complete(folder: pathlib.Path) -> bool:
    if not (folder / "manifest.json").is_file():
        return False
    from SegmentationCore.models import runtime
    from SegmentationCore.core.errors import ModelFolderError

    try:
        runtime.load_manifest(folder, "sam2")
    except ModelFolderError:
        return False
    return True


def export_cached(config: str = SAM2_TEST_CONFIG, seed: int = SAM2_TEST_SEED) -> pathlib.Path:
    """The cached random-weights export of ``config`` (exported if missing)."""
    folder = CACHE_ROOT / f"{config}-random{seed}-{_export_sources_hash(config, seed)}"
    if _is_complete(folder):
        return folder
    import export_sam2

    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    # one exporter at a time (several test sessions may share the checkout)
    with open(CACHE_ROOT / ".sam2-export.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_complete(folder):
            return folder
        for stale in CACHE_ROOT.glob(f"{config}-random{seed}-*"):  # older exporter versions
            if stale != folder:
                shutil.rmtree(stale, ignore_errors=True)
        export_sam2.export(config, folder, random_weights=True, seed=seed, force=True, log=lambda message: None)
    return folder


def _fixture_folder(seed: int, variable: str) -> pathlib.Path:
    override = os.environ.get(variable)
    if override:
        return pathlib.Path(override)
    try:
        import torch  # noqa: F401
        import sam2  # noqa: F401
    except ImportError:
        pytest.skip("exporting the SAM2 test model needs torch and sam2 (pip install .[export])")
    return export_cached(SAM2_TEST_CONFIG, seed)


@pytest.fixture(scope="session")
def sam2_model_dir() -> pathlib.Path:
    """Model folder of the tiny SAM2.1 config with random weights (seed 0, exported once).

    ``SAM2_TEST_MODEL_DIR`` points it at an existing folder instead."""
    return _fixture_folder(SAM2_TEST_SEED, "SAM2_TEST_MODEL_DIR")


@pytest.fixture(scope="session")
def sam2_mixed_model_dir() -> pathlib.Path:
    """Like ``sam2_model_dir`` with seed 1: object scores on both sides of zero."""
    return _fixture_folder(SAM2_MIXED_SEED, "SAM2_MIXED_TEST_MODEL_DIR")
