"""Which models answer the browser tools: exported ONNX model folders, or the
synthetic backends (for tests and demos without model weights).

``--models`` takes model folders (each has a ``manifest.json`` saying
whether it is a SAM2 or a GroundingDINO export) or the word ``synthetic``.
Synthetic backends answer from a generated shot's ground truth, so they
work on plates written by :meth:`SegmentationCore.synthetic.SyntheticShot.write_plate`
(the ``<name>.shot.json`` next to the frames); on other plates they refuse
with a clear message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import pathlib
import threading
from typing import Any, Sequence

from ..core.errors import ModelFolderError, SegmentationError
from ..core.protocols import Detector, FrameSource, ImageSegmenter, VideoTracker
from .shots import ShotInfo

SYNTHETIC = "synthetic"


class ModelsBusy(SegmentationError):
    """The models are held by a long-running job (answered with HTTP 409)."""


@dataclasses.dataclass
class BackendSet:
    """The models that answer for one shot."""

    detector: Detector | None
    segmenter: ImageSegmenter | None
    tracker: VideoTracker | None
    kind: str  # "onnx" or "synthetic"


class Backends:
    """Loads models once and hands out the :class:`BackendSet` for a shot.

    Inference is serialised by :attr:`lock`: the models already use every
    core, and ONNX Runtime sessions plus the SAM2 feature cache are shared.
    """

    busy_with: str | None = None  # the job holding the models for a long time (tracking)

    def __init__(
        self,
        models: Sequence[str] | None = None,
        providers: str | Sequence[str] | None = None,
        synthetic_faults="none",
    ):
        self.lock = threading.RLock()  # one model call at a time
        self._load_lock = threading.Lock()  # loading models (not held while they run)
        self.providers = providers
        self.synthetic_faults = synthetic_faults
        self.synthetic = False
        self.sam2_dir: pathlib.Path | None = None
        self.gdino_dir: pathlib.Path | None = None
        self.box_threshold = 0.35
        self.text_threshold = 0.25
        self._onnx: BackendSet | None = None
        self._synthetic_sets: dict[str, BackendSet] = {}
        for item in models or []:
            self._add(str(item))

    def _add(self, item: str) -> None:
        if item.lower() == SYNTHETIC:
            self.synthetic = True
            return
        from ..models.runtime import find_model

        folder = find_model(item)
        manifest_path = folder / "manifest.json"
        try:
            kind = json.loads(manifest_path.read_text()).get("kind")
        except (OSError, ValueError) as error:
            raise ModelFolderError(f"{folder} is not a model folder: cannot read {manifest_path} ({error})") from error
        if kind == "sam2":
            self.sam2_dir = folder
        elif kind == "groundingdino":
            self.gdino_dir = folder
        else:
            raise ModelFolderError(f"{folder}: unknown model kind {kind!r}; expected a sam2 or groundingdino export")

    @contextlib.contextmanager
    def use(self, job: str | None = None):
        """Hold the models for one call. While a long job (``job`` given, e.g.
        tracking) holds them, other callers are refused at once with
        :class:`ModelsBusy` instead of waiting minutes for a web request."""
        if not self.lock.acquire(blocking=False):
            busy = self.busy_with
            if busy is not None:
                raise ModelsBusy(f"The models are busy with {busy}; try again when it has finished (or cancel it)")
            self.lock.acquire()
        previous = self.busy_with
        if job is not None:
            self.busy_with = job
        try:
            yield
        finally:
            self.busy_with = previous
            self.lock.release()

    def describe(self) -> dict[str, Any]:
        return {
            "synthetic": self.synthetic,
            "synthetic_faults": (self.synthetic_faults if isinstance(self.synthetic_faults, str) else "custom") if self.synthetic else None,
            "sam2": str(self.sam2_dir) if self.sam2_dir else None,
            "groundingdino": str(self.gdino_dir) if self.gdino_dir else None,
            "box_threshold": self.box_threshold,
            "text_threshold": self.text_threshold,
        }

    def onnx_set(self) -> BackendSet:
        with self._load_lock:
            if self._onnx is None:
                detector = segmenter = tracker = None
                if self.gdino_dir is not None:
                    from ..models.groundingdino import load_detector

                    detector = load_detector(self.gdino_dir, providers=self.providers)
                if self.sam2_dir is not None:
                    from ..models.sam2 import load_sam2

                    segmenter, tracker = load_sam2(self.sam2_dir, providers=self.providers)
                self._onnx = BackendSet(detector, segmenter, tracker, "onnx")
            return self._onnx

    def _synthetic_set(self, shot: ShotInfo, frames: FrameSource) -> BackendSet | None:
        spec_path = shot.folder / f"{shot.prefix.rstrip('._-')}.shot.json"
        if not spec_path.is_file():
            return None
        key = f"{shot.id}@{frames.size}"
        with self._load_lock:
            existing = self._synthetic_sets.get(key)
            if existing is None:
                from .. import synthetic

                spec = synthetic.ShotSpec.load(spec_path)
                generated = synthetic.SyntheticShot(spec, size=tuple(frames.size))
                detector, segmenter, tracker = synthetic.make_backends(generated, self.synthetic_faults)
                existing = BackendSet(detector, segmenter, tracker, SYNTHETIC)
                self._synthetic_sets[key] = existing
            return existing

    def for_shot(self, shot: ShotInfo, frames: FrameSource) -> BackendSet:
        """The models for a shot: ONNX folders first, the synthetic backends
        where no folder was given and the shot is a generated one."""
        onnx = self.onnx_set() if (self.sam2_dir or self.gdino_dir) else BackendSet(None, None, None, "onnx")
        synthetic = self._synthetic_set(shot, frames) if self.synthetic else None
        if synthetic is None:
            return onnx
        return BackendSet(
            onnx.detector or synthetic.detector,
            onnx.segmenter or synthetic.segmenter,
            onnx.tracker or synthetic.tracker,
            SYNTHETIC if onnx.detector is None and onnx.segmenter is None else "mixed",
        )

    @staticmethod
    def require(backends: BackendSet, role: str, shot: ShotInfo) -> Any:
        model = getattr(backends, role)
        if model is None:
            what = {"detector": "a GroundingDINO", "segmenter": "a SAM2", "tracker": "a SAM2"}[role]
            raise ModelFolderError(
                f"No {role} for shot {shot.id}: start the server with --models <{what} model folder> "
                "(or --models synthetic for a shot generated by `autoseg synth`/`autoseg demo`)"
            )
        return model
