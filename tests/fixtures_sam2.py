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


def export_cached(
    config: str = SAM2_TEST_CONFIG,
    seed: int = SAM2_TEST_SEED,
    memory_attention: str = "folded",
    fused: bool = True,
) -> pathlib.Path:
    """The cached random-weights export of ``config`` (exported if missing).

    ``memory_attention="plain"`` gives the memory-attention graph from before
    issue 13 (benchmarks compare the two); ``fused=False`` exports attention
    as plain ONNX ops (for runtimes without ONNX Runtime's contrib ops)."""
    variant = "" if (memory_attention, fused) == ("folded", True) else f"-{memory_attention}{'' if fused else '-unfused'}"
    prefix = f"{config}-random{seed}{variant}-"
    folder = CACHE_ROOT / f"{prefix}{_export_sources_hash(config, seed)}"
    if _is_complete(folder):
        return folder
    import export_sam2

    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    # one exporter at a time (several test sessions may share the checkout)
    with open(CACHE_ROOT / ".sam2-export.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_complete(folder):
            return folder
        for stale in CACHE_ROOT.glob(f"{prefix}*"):  # older exporter versions
            if stale != folder and len(stale.name) == len(folder.name):
                shutil.rmtree(stale, ignore_errors=True)
        export_sam2.export(
            config, folder, random_weights=True, seed=seed, force=True, log=lambda message: None,
            memory_attention_variant=memory_attention, fused_roles=None if fused else (),
        )
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


def with_plain_memory_attention(folder: pathlib.Path, seed: int) -> pathlib.Path:
    """A copy of ``folder`` whose memory-attention graph is the pre-issue-13
    ``plain`` graph and whose manifest does not name a variant: a model
    folder as older exporters wrote it. Other graphs are hard links."""
    import json

    target = folder.with_name(folder.name + "-plainma")
    if _is_complete(target):
        return target
    import sam2_graphs
    import sam2_model

    with open(CACHE_ROOT / ".sam2-export.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_complete(target):
            return target
        shutil.rmtree(target, ignore_errors=True)
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        manifest = json.loads((folder / "manifest.json").read_text())
        for role, name in manifest["files"].items():
            if role != "memory_attention":
                os.link(folder / name, staging / name)
        _, config_path = sam2_model.resolve_config(manifest["model"])
        model = sam2_model.build_model(config_path, seed=seed)
        sam2_graphs.export_graph(
            model, "memory_attention", staging / manifest["files"]["memory_attention"],
            fused="memory_attention" in manifest.get("fused_attention", []), memory_attention_variant="plain",
        )
        manifest.pop("memory_attention_variant", None)
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
        os.replace(staging, target)
    return target


@pytest.fixture(scope="session")
def sam2_mixed_plain_model_dir(sam2_mixed_model_dir) -> pathlib.Path:
    """``sam2_mixed_model_dir`` with the older (plain) memory-attention graph."""
    return with_plain_memory_attention(sam2_mixed_model_dir, SAM2_MIXED_SEED)
