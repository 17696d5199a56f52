"""ONNX Runtime model runtime: execution providers, threads, sessions, manifests.

* One :class:`onnxruntime.InferenceSession` per model file per process
  (:func:`session`), shared by every backend and stage.
* Execution providers in the order TensorRT -> CUDA -> CPU, keeping those
  this ONNX Runtime build offers; override with ``providers=`` or the
  ``SEGMENTATION_PROVIDERS`` environment variable (``"cuda,cpu"``).
* Intra-op threads from ``SEGMENTATION_THREADS`` (default: all cores).
* All sessions of a process share one CPU memory arena (measured with SAM2:
  1.2 GB instead of 2.1 GB peak at the same speed); set
  ``SEGMENTATION_SHARED_ARENA=0`` to give every session its own.
* Model folders hold ``manifest.json`` plus graphs; :func:`load_manifest`
  validates them and :func:`find_model` searches ``SEGMENTATION_MODEL_PATHS``
  (``os.pathsep``-separated) and then the repository's ``onnx_models/``.
"""

from __future__ import annotations

import json
import os
import pathlib
import threading
from typing import Any, Sequence

from ..core.errors import ModelFolderError

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1

PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",  # only with the onnxruntime-openvino build (docs/sam2.md)
    "cpu": "CPUExecutionProvider",
}
DEFAULT_PROVIDER_ORDER = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")

_lock = threading.Lock()
_sessions: dict[tuple, Any] = {}
_shared_arena = False


def _ort():
    try:
        import onnxruntime
    except ImportError as error:  # pragma: no cover - depends on installation
        raise ModelFolderError(
            "ONNX Runtime is not installed: run scripts/setup.sh, or "
            "`pip install .[runtime]` (CPU) / `pip install .[gpu]` (CUDA)"
        ) from error
    return onnxruntime


def resolve_providers(requested: str | Sequence[str] | None = None) -> list[str]:
    """The execution providers to use, best first, always ending with CPU.

    ``requested`` is ``None``/``"auto"`` (every accelerator this build
    offers), or names such as ``"cuda"``, ``"cpu"`` or full ORT provider
    names, as a comma-separated string or a sequence.
    """
    if requested is None:
        requested = os.environ.get("SEGMENTATION_PROVIDERS", "auto")
    if isinstance(requested, str):
        requested = [part.strip() for part in requested.split(",") if part.strip()]
    available = _ort().get_available_providers()
    if not requested or list(requested) == ["auto"]:
        chosen = [name for name in DEFAULT_PROVIDER_ORDER if name in available]
    else:
        chosen = []
        for name in requested:
            full = PROVIDER_NAMES.get(name.lower(), name)
            if full not in available:
                raise ModelFolderError(
                    f"Execution provider {name!r} is not available in this ONNX Runtime "
                    f"build (available: {', '.join(available)}); install onnxruntime-gpu "
                    "for CUDA/TensorRT or choose 'cpu'"
                )
            if full not in chosen:
                chosen.append(full)
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


def default_threads() -> int:
    value = os.environ.get("SEGMENTATION_THREADS")
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise ModelFolderError(f"SEGMENTATION_THREADS={value!r} is not a whole number") from None
    return os.cpu_count() or 1


def _use_shared_arena(ort, options) -> None:
    """Register one process-wide CPU arena (once) and point ``options`` at it."""
    global _shared_arena
    if os.environ.get("SEGMENTATION_SHARED_ARENA", "1").strip().lower() in ("0", "false", "no", "off"):
        return
    if not _shared_arena:
        memory_info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(memory_info, ort.OrtArenaCfg(0, -1, -1, -1))
        _shared_arena = True
    options.add_session_config_entry("session.use_env_allocators", "1")


def session(
    path: str | os.PathLike,
    providers: str | Sequence[str] | None = None,
    threads: int | None = None,
):
    """The process-wide ONNX Runtime session for one model file."""
    path = pathlib.Path(path).resolve()
    chosen = tuple(resolve_providers(providers))
    threads = threads or default_threads()
    key = (str(path), chosen, threads)
    with _lock:
        existing = _sessions.get(key)
        if existing is not None:
            return existing
        if not path.is_file():
            raise ModelFolderError(f"Model file {path} does not exist; re-run the export (see onnx_models/README.md)")
        ort = _ort()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        _use_shared_arena(ort, options)
        try:
            created = ort.InferenceSession(str(path), sess_options=options, providers=list(chosen))
        except Exception as error:
            raise ModelFolderError(f"ONNX Runtime cannot load {path}: {error}") from error
        _sessions[key] = created
        return created


def clear_sessions() -> None:
    """Drop every cached session (frees their memory)."""
    with _lock:
        _sessions.clear()


def load_manifest(folder: str | os.PathLike, kind: str) -> dict[str, Any]:
    """Read and validate ``manifest.json`` of a model folder of ``kind``
    (``"sam2"`` or ``"groundingdino"``); every file it lists must exist."""
    folder = pathlib.Path(folder)
    path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise ModelFolderError(f"Model folder {folder} does not exist; export it first (see onnx_models/README.md)")
    if not path.is_file():
        raise ModelFolderError(f"{folder} is not a model folder: it has no {MANIFEST_NAME}")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelFolderError(f"Cannot read {path}: {error}; re-run the export") from error
    if not isinstance(manifest, dict):
        raise ModelFolderError(f"{path} does not hold a JSON object; re-run the export")
    if manifest.get("kind") != kind:
        raise ModelFolderError(
            f"{folder} holds a {manifest.get('kind')!r} model, but a {kind!r} model is needed here"
        )
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ModelFolderError(
            f"{path} has manifest format {manifest.get('format')!r}; this engine reads format "
            f"{MANIFEST_FORMAT}. Re-export the model with this version of export/"
        )
    for role, name in manifest.get("files", {}).items():
        if not (folder / name).is_file():
            raise ModelFolderError(f"{folder}: the manifest lists {name} ({role}) but the file is missing")
    return manifest


def model_search_paths() -> list[pathlib.Path]:
    paths = [pathlib.Path(p) for p in os.environ.get("SEGMENTATION_MODEL_PATHS", "").split(os.pathsep) if p]
    paths.append(pathlib.Path(__file__).resolve().parents[2] / "onnx_models")
    return paths


def find_model(name_or_path: str | os.PathLike) -> pathlib.Path:
    """A model folder given as a path, or a folder name on the search path."""
    candidate = pathlib.Path(name_or_path).expanduser()
    if candidate.is_dir():
        return candidate
    for root in model_search_paths():
        if (root / str(name_or_path)).is_dir():
            return root / str(name_or_path)
    searched = ", ".join(str(p) for p in model_search_paths())
    raise ModelFolderError(
        f"No model folder {str(name_or_path)!r}: not a directory and not found in {searched}. "
        "Export one (see onnx_models/README.md) or set SEGMENTATION_MODEL_PATHS"
    )
