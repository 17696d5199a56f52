"""The automatic pipeline over a plate on disk: detect -> segment -> track -> write.

Every stage persists its results in a work folder, so stages can run as
separate processes (one model in memory at a time, as the paper does) and a
farm retry resumes where it stopped::

    WORK/run.json                 settings the results depend on
    WORK/detect/<frame>.json      stage 1: boxes, scores, phrases
    WORK/segment/<frame>.npz      stage 2: cleaned-up masks + decisions
    WORK/track/state.json         stage 3: windows done per pass, finished?
    WORK/track/cache/             the mask cache (layers.json + frames/*.npz)
    WORK/track/chunks/<i>/        chunked tracking: chunk i's state.json + cache/
    WORK/track/qc/<pass>-<n>.npz  per-window quality data collected while tracking (pipeline.qc)
    WORK/qc.json                  the QC summary: per-layer series, events, ranked flags
    WORK/write/<frame>.done       output frames written by this run

Farm API (docs/farm.md): ``run_detect(frames)``, ``run_segment(frames)`` and
``run_write(frames)`` run one stage on a batch of plate frames (``None``:
every frame the stage needs); ``run_track(chunk=(i, n))`` tracks chunk i of
n (:mod:`SegmentationCore.pipeline.chunks`) and ``reconcile_chunks(n)``
merges the chunks into the shot cache. All of them skip what is done
already, write atomically, and may run concurrently from several processes
on disjoint batches / different chunks of one work folder (call
:meth:`Pipeline.prepare` once, or let each call do its cheap checks).

Each file is written atomically (temporary name + rename), so a crash never
leaves a result that looks finished; a rerun skips frames/windows already
done. Stages 1 and 2 only run on the frames where tracking re-prompts
(every ``reprompt_every`` frames of both passes, plus keyframes) unless
``detect_frames="all"``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import time
from typing import Any, Callable, Iterable

from .. import plates
from ..core import atomic_output
from ..core.errors import ModelFolderError, OutputError, PromptError, SegmentationError
from ..core.prompts import parse_text_prompt
from ..core.types import Detections
from ..models import runtime
from . import chunks as chunking
from . import interactive, qc, refine, stage2, tracking
from .mask_cache import MaskCache

STAGES = ("detect", "segment", "track", "write")
WORK_FORMAT = "autoseg-work"
WORK_VERSION = 1
OUTPUT_FORMATS = ("objectid", "crypto")

Progress = Callable[[str, int, int, str], None]


@dataclasses.dataclass
class RunConfig:
    """Everything ``autoseg run`` needs. Paths may be relative to the cwd."""

    plate: str
    output: str
    prompt: str | None = "person"
    frames: str | None = None
    models: str | None = None  # a folder holding model folders (or one model folder)
    sam2_model: str | None = None
    detector_model: str | None = None
    max_size: int = 1024
    colorspace: str = "auto"  # auto | linear | srgb | any colour space of the active OCIO config
    crop_to_display: bool = False  # mattes cover the display window instead of the data window
    name: str | None = None  # output file name stem; default: the plate's name
    work_dir: str | None = None  # default: OUTPUT/.autoseg/<name>
    prompts_file: str | None = None
    providers: str | None = None
    threads: int | None = None
    box_threshold: float | None = None
    text_threshold: float | None = None
    max_detections: int | None = None
    stage2: stage2.Stage2Params = dataclasses.field(default_factory=stage2.Stage2Params)
    tracking: tracking.TrackingParams = dataclasses.field(default_factory=tracking.TrackingParams)
    detect_frames: str = "reprompt"  # reprompt | all
    formats: tuple[str, ...] = OUTPUT_FORMATS
    force: bool = False
    synthetic: str | None = None  # a synthetic shot spec (shot.json): answer from its ground truth
    synthetic_faults: str = "none"
    chunks: int = 1  # track the shot in this many overlapping chunks (1: the whole shot in one loop)
    refine_edges: bool = True  # refine each layer's edge at plate resolution, guided by the plate (pipeline.refine)
    refine_params: refine.RefineParams = dataclasses.field(default_factory=refine.RefineParams)
    chunk_overlap: int | None = None  # frames neighbouring chunks share at least; None: one window (tracking.window)


# ---------------------------------------------------------------------------- backends


def find_model_folders(models: str | os.PathLike | None) -> dict[str, pathlib.Path]:
    """``{kind: folder}`` for the model folders in ``models`` (a folder of
    model folders, or one model folder). Two folders of one kind are an error."""
    if models is None:
        return {}
    root = pathlib.Path(models)
    if not root.is_dir():
        raise ModelFolderError(f"model folder {root} does not exist; export the models first (see docs/autoseg.md)")
    candidates = [root] if (root / runtime.MANIFEST_NAME).is_file() else sorted(p for p in root.iterdir() if (p / runtime.MANIFEST_NAME).is_file())
    found: dict[str, pathlib.Path] = {}
    for folder in candidates:
        try:
            kind = json.loads((folder / runtime.MANIFEST_NAME).read_text()).get("kind")
        except (OSError, ValueError) as error:
            raise ModelFolderError(f"cannot read {folder / runtime.MANIFEST_NAME}: {error}; re-run the export") from error
        if kind in found:
            raise ModelFolderError(
                f"{root} holds two {kind} models ({found[kind].name}, {folder.name}); "
                f"choose one with --{'sam2' if kind == 'sam2' else 'detector'} FOLDER"
            )
        if kind:
            found[kind] = folder
    if not found:
        raise ModelFolderError(f"{root} holds no model folder (no */manifest.json); export the models into it first")
    return found


def _search_model(kind: str, option: str) -> pathlib.Path:
    """The one model folder of ``kind`` on the model search path
    (``SEGMENTATION_MODEL_PATHS``, then the repository's ``onnx_models/``)."""
    found = []
    for root in runtime.model_search_paths():
        if not root.is_dir():
            continue
        for folder in sorted(p for p in root.iterdir() if (p / runtime.MANIFEST_NAME).is_file()):
            try:
                if json.loads((folder / runtime.MANIFEST_NAME).read_text()).get("kind") == kind:
                    found.append(folder)
            except (OSError, ValueError):
                continue
    searched = ", ".join(str(p) for p in runtime.model_search_paths())
    if not found:
        raise ModelFolderError(f"no {kind} model found (searched {searched}); export one or give --models DIR / {option} FOLDER")
    if len(found) > 1:
        raise ModelFolderError(f"several {kind} models found ({', '.join(str(f) for f in found)}); choose one with {option} FOLDER")
    return found[0]


class Backends:
    """Loads each backend once, on first use (stages only load what they need)."""

    def __init__(self, config: RunConfig, frames):
        self.config = config
        self.frames = frames
        self._detector = None
        self._sam2 = None
        self._synthetic = None
        self._folders: dict[str, pathlib.Path] | None = None

    def model_folder(self, kind: str) -> pathlib.Path:
        explicit = self.config.sam2_model if kind == "sam2" else self.config.detector_model
        option = "--sam2" if kind == "sam2" else "--detector"
        if explicit:
            folder = runtime.find_model(explicit)
        elif self.config.models:
            if self._folders is None:
                self._folders = find_model_folders(self.config.models)
            if kind not in self._folders:
                raise ModelFolderError(f"no {kind} model folder in {self.config.models}; give one with --models DIR or {option} FOLDER")
            folder = self._folders[kind]
        else:
            folder = _search_model(kind, option)
        runtime.load_manifest(folder, kind)  # validates kind, format, files
        return folder

    def check(self, stages: Iterable[str], needs_segmenter: bool) -> None:
        """Validate the model folders the requested stages need, before any work."""
        if self.config.synthetic:
            return
        stages = set(stages)
        if "detect" in stages:
            self.model_folder("groundingdino")
        if stages & {"segment", "track"} or needs_segmenter:
            self.model_folder("sam2")

    def _synthetic_backends(self):
        if self._synthetic is None:
            from .. import synthetic

            try:
                spec = synthetic.ShotSpec.load(self.config.synthetic)
            except (OSError, ValueError, TypeError) as error:
                raise ModelFolderError(f"cannot read the synthetic shot {self.config.synthetic}: {error}") from error
            shot = synthetic.SyntheticShot(spec, size=self.frames.size)
            self._synthetic = synthetic.make_backends(shot, self.config.synthetic_faults)
        return self._synthetic

    def detector(self):
        if self.config.synthetic:
            return self._synthetic_backends()[0]
        if self._detector is None:
            from ..models.groundingdino import load_detector

            self._detector = load_detector(
                self.model_folder("groundingdino"), providers=self.config.providers, threads=self.config.threads,
                box_threshold=self.config.box_threshold, text_threshold=self.config.text_threshold,
                **({"max_detections": self.config.max_detections} if self.config.max_detections else {}),
            )
        return self._detector

    def _load_sam2(self):
        if self._sam2 is None:
            from ..models.sam2 import load_sam2

            self._sam2 = load_sam2(self.model_folder("sam2"), providers=self.config.providers, threads=self.config.threads)
        return self._sam2

    def segmenter(self):
        if self.config.synthetic:
            return self._synthetic_backends()[1]
        return self._load_sam2()[0]

    def tracker(self):
        if self.config.synthetic:
            return self._synthetic_backends()[2]
        return self._load_sam2()[1]

    def release_detector(self) -> None:
        """Drop the detector (frees its sessions) before SAM2 is loaded."""
        if self._detector is not None:
            self._detector = None
            runtime.clear_sessions()


# ---------------------------------------------------------------------------- helpers


def _write_json(path: pathlib.Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_output.write_bytes(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode(), overwrite=True)


def _read_json(path: pathlib.Path) -> Any:
    return json.loads(path.read_text())


def _ranges_text(frames: Iterable[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3,7"``."""
    parts: list[str] = []
    frames = sorted(frames)
    start = previous = None
    for frame in frames + [None]:
        if start is not None and (frame is None or frame != previous + 1):
            parts.append(str(start) if start == previous else f"{start}-{previous}")
            start = None
        if frame is not None and start is None:
            start = frame
        previous = frame
    return ",".join(parts)


def output_path(output: str | os.PathLike, name: str, kind: str, frame: int, padding: int = 4) -> pathlib.Path:
    """``OUT/<name>.objectid.1001.exr`` / ``OUT/<name>.crypto.1001.exr`` (docs/output-format.md)."""
    from ..idmatte.output import frame_path

    return pathlib.Path(frame_path(pathlib.Path(output) / name, kind, frame, padding))


class Pipeline:
    """Runs the stages of one shot in a work folder (see module docs)."""

    def __init__(self, config: RunConfig, progress: Progress | None = None, log: Callable[[str], None] | None = None):
        self.config = config
        self.progress = progress or (lambda stage, done, total, detail: None)
        self.log = log or (lambda message: None)
        self.sequence = plates.parse_sequence(config.plate, config.frames)
        self.frames = plates.PlateFrameSource(
            self.sequence, config.max_size, config.colorspace, crop_to_display=config.crop_to_display
        )
        self.name = config.name or self.sequence.name
        self.output = pathlib.Path(config.output)
        self.work = pathlib.Path(config.work_dir) if config.work_dir else self.output / ".autoseg" / self.name
        self.prompt_set = interactive.load_prompts(config.prompts_file) if config.prompts_file else None
        self.interactive_only = self.prompt_set is not None and self.prompt_set.mode == "only"
        if self.interactive_only:
            self.phrases: list[str] = []
        else:
            if config.prompt is None:
                raise PromptError("give a text prompt with --prompt (e.g. \"person\"), or a prompt file in \"only\" mode")
            self.phrases = parse_text_prompt(config.prompt)
        for kind in config.formats:
            if kind not in OUTPUT_FORMATS:
                raise OutputError(f"unknown output format {kind!r}; choose from {', '.join(OUTPUT_FORMATS)}")
        config.tracking.validate()
        if config.refine_edges:
            config.refine_params.validate()
        self.backends = Backends(config, self.frames)
        self.keyframes = self.prompt_set.keyframes if self.prompt_set else []
        outside = [f for f in self.keyframes if f not in set(self.sequence.frames)]
        if outside:
            raise PromptError(f"{config.prompts_file}: keyframes {outside} are outside the shot's frames {self.sequence.frames[0]}-{self.sequence.frames[-1]}")
        self.chunk_list = self.chunk_ranges(config.chunks)

    # ------------------------------------------------------------ chunks
    @property
    def chunk_overlap(self) -> int:
        """Frames neighbouring chunks share at least (default: one window)."""
        overlap = self.config.chunk_overlap
        return int(overlap) if overlap is not None else self.config.tracking.window

    def chunk_ranges(self, n: int) -> list[chunking.Chunk]:
        """The shot cut into ``n`` chunks with this run's overlap (see
        :func:`SegmentationCore.pipeline.chunks.chunk_ranges`)."""
        try:
            return chunking.chunk_ranges(self.sequence.frames, n, self.chunk_overlap, self.config.tracking.reprompt_every)
        except ValueError as error:
            raise SegmentationError(f"--chunks {n}: {error}") from None

    # ------------------------------------------------------------ settings
    def settings(self) -> dict[str, Any]:
        """What the results depend on (compared on resume)."""
        cfg = self.config
        prompt_digest = None
        if cfg.prompts_file:
            import hashlib

            prompt_digest = hashlib.sha256(pathlib.Path(cfg.prompts_file).read_bytes()).hexdigest()
        return {
            "format": WORK_FORMAT,
            "version": WORK_VERSION,
            "plate": os.path.abspath(self.sequence.pattern),
            "frames": [self.sequence.frames[0], self.sequence.frames[-1], len(self.sequence.frames)],
            "plate_size": list(self.frames.plate_size),
            "working_size": list(self.frames.size),
            "colorspace": self.frames.colorspace,
            "matte_window": list(self.frames.window.box),
            "pixel_aspect": self.frames.pixel_aspect,
            "phrases": self.phrases,
            "models": {
                "sam2": str(cfg.sam2_model or ""), "detector": str(cfg.detector_model or ""),
                "folder": os.path.abspath(cfg.models) if cfg.models else "", "synthetic": cfg.synthetic or "",
                "synthetic_faults": cfg.synthetic_faults if cfg.synthetic else "",
            },
            "thresholds": [cfg.box_threshold, cfg.text_threshold, cfg.max_detections],
            "stage2": cfg.stage2.to_dict(),
            "tracking": cfg.tracking.to_dict(),
            "detect_frames": cfg.detect_frames,
            "prompts_file": prompt_digest,
            "name": self.name,
            "formats": list(cfg.formats),
            **({"chunks": [int(cfg.chunks), self.chunk_overlap]} if cfg.chunks > 1 else {}),
        }

    def prepare_work_dir(self) -> None:
        """Create the work folder, or check it belongs to the same run (resume).
        A different run's folder is refused unless ``force`` (then it is wiped)."""
        settings = self.settings()
        run_file = self.work / "run.json"
        if run_file.is_file():
            try:
                previous = _read_json(run_file)
            except (OSError, ValueError):
                previous = None
            if previous != settings:
                if not self.config.force:
                    changed = sorted(k for k in settings if not previous or previous.get(k) != settings[k])
                    raise OutputError(
                        f"the work folder {self.work} holds results of a different run (differs in: {', '.join(changed) or 'format'}); "
                        "pass --force to start over, or choose another --output / --work-dir"
                    )
                self.log(f"settings changed: starting over in {self.work}")
                shutil.rmtree(self.work)
        elif self.work.exists() and any(not p.name.startswith(".") for p in self.work.iterdir()) and not self.config.force:
            # another task of this run may have created the folder just now (farm batches start together)
            if not run_file.is_file() or _read_json(run_file) != settings:
                raise OutputError(f"{self.work} exists and is not an autoseg work folder; choose another --work-dir or pass --force")
        self.work.mkdir(parents=True, exist_ok=True)
        _write_json(run_file, settings)

    # ------------------------------------------------------------ frames
    def stage2_frames(self) -> list[int]:
        if self.interactive_only:
            return []
        if self.config.detect_frames == "all":
            return list(self.sequence.frames)
        return tracking.stage2_frames(self.sequence.frames, self.config.tracking, self.keyframes)

    def output_paths(self, frame: int) -> list[pathlib.Path]:
        padding = max(self.sequence.padding, 4)
        return [output_path(self.output, self.name, kind, frame, padding) for kind in self.config.formats]

    def check_outputs(self) -> None:
        """Refuse outputs that would overwrite the plate, or results this run did not write."""
        all_paths = [p for f in self.sequence.frames for p in self.output_paths(f)]
        clash = plates.output_would_clobber_plate(self.sequence, [str(p) for p in all_paths])
        if clash:
            raise OutputError(f"writing {clash} would overwrite a plate frame; choose another --output or --name")
        if self.config.force:
            return
        run_file = self.work / "run.json"
        try:
            if run_file.is_file() and _read_json(run_file) == self.settings():
                return  # resuming this very run: files with our names are ours
        except (OSError, ValueError):
            pass
        for frame in self.sequence.frames:
            if (self.work / "write" / f"{frame}.done").is_file():
                continue
            for path in self.output_paths(frame):
                if path.exists():
                    raise OutputError(f"{path} already exists and was not written by this run; pass --force to overwrite it, or choose another --output")

    # ------------------------------------------------------------ run
    def prepare(self, stages: Iterable[str] = STAGES, frames: Iterable[int] | None = None) -> list[str]:
        """The checks and set-up before stages run: stage names, plate
        headers, model folders, outputs, the work folder (created, or checked
        to hold this run's results). With ``force`` the requested stages' (and
        later stages') results are forgotten. Returns the stages in run order
        (``reconcile`` is a stage of its own between ``track`` and ``write``)."""
        stages = list(stages)
        order = [*STAGES[:3], "reconcile", STAGES[3]]
        unknown = set(stages) - set(order)
        if unknown:
            raise SegmentationError(f"unknown stage(s) {sorted(unknown)}; choose from {', '.join(STAGES)} (or reconcile)")
        stages = [s for s in order if s in set(stages)]
        self.frames.check_headers(self._batch(frames) if frames is not None else None)
        needs_segmenter = self.prompt_set is not None and any(k.needs_segmenter for o in self.prompt_set.objects for k in o.keyframes.values())
        model_stages = [s for s in stages if s != "reconcile"]
        self.backends.check(model_stages if not self.interactive_only else [s for s in model_stages if s not in ("detect", "segment")], needs_segmenter and "track" in stages)
        if "write" in stages:
            self.check_outputs()
        self.prepare_work_dir()
        if self.config.force:
            self._clear(stages)
        return stages

    def run(self, stages: Iterable[str] = STAGES, frames: Iterable[int] | None = None, chunk: tuple[int, int] | None = None) -> dict[str, Any]:
        """Run the given stages in order; returns a summary (per-stage counts and seconds).

        ``frames`` limits detect, segment and write to those plate frames (a
        farm batch); ``chunk=(i, n)`` makes the track stage track chunk i of n
        only. Without them a stage does the whole shot (tracking with
        ``config.chunks > 1``: every chunk, then the reconcile)."""
        if self.config.force and (frames is not None or chunk is not None):
            raise SegmentationError("--force redoes whole stages: run it without --batch / --chunk (then run the batches)")
        batch = self._batch(frames) if frames is not None else None
        stages = self.prepare(stages, batch)
        summary: dict[str, Any] = {"work_dir": str(self.work), "stages": {}}
        for stage in stages:
            started = time.perf_counter()
            if stage == "track":
                result = self.run_track(chunk)
            elif stage == "reconcile":
                result = self.reconcile_chunks(self.config.chunks)
            else:
                result = getattr(self, f"run_{stage}")(batch)
            result["seconds"] = round(time.perf_counter() - started, 2)
            summary["stages"][stage] = result
            if stage == "detect":
                self.backends.release_detector()
        return summary

    def _clear(self, stages: list[str]) -> None:
        """With --force: forget the requested stages' results (and later stages')."""
        if stages == ["reconcile"] or stages == ["reconcile", "write"]:
            for path in (self.work / "track" / "cache", self.work / "track" / "state.json", self.work / "write"):
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
            return
        first = min(STAGES.index(s) for s in stages if s in STAGES)
        if first <= STAGES.index("track"):
            (self.work / qc.QC_FILE).unlink(missing_ok=True)
        for stage in STAGES[first:]:
            folder = self.work / stage
            if folder.exists():
                shutil.rmtree(folder)

    def _batch(self, frames: Iterable[int]) -> list[int]:
        """A batch of plate frames, checked against the shot."""
        batch = sorted({int(f) for f in frames})
        outside = sorted(set(batch) - set(self.sequence.frames))
        if outside:
            raise SegmentationError(
                f"frames {_ranges_text(outside)} of the batch are not in the shot {self.sequence.pattern} "
                f"({self.sequence.frames[0]}-{self.sequence.frames[-1]})"
            )
        return batch

    def run_detect(self, frames: Iterable[int] | None = None) -> dict[str, Any]:
        """Stage 1 on ``frames`` (plate frame numbers; ``None``: every frame
        stages 1-2 run on). Frames tracking never re-prompts on are skipped."""
        if self.interactive_only:
            return {"skipped": "interactive prompts only"}
        frames = self._stage_frames(self.stage2_frames(), frames)
        folder = self.work / "detect"
        folder.mkdir(parents=True, exist_ok=True)
        todo = [f for f in frames if not (folder / f"{f}.json").is_file()]
        done = len(frames) - len(todo)
        self.progress("detect", done, len(frames), "")
        boxes = 0
        if todo:
            detector = self.backends.detector()
            for frame in todo:
                detections = detector.detect(self.frames, frame, self.phrases)
                boxes += len(detections)
                _write_json(folder / f"{frame}.json", {"frame": frame, **detections.to_dict()})
                done += 1
                self.progress("detect", done, len(frames), f"frame {frame}: {len(detections)} boxes")
        return {"frames": len(frames), "computed": len(todo), "boxes": boxes}

    def load_detections(self, frame: int) -> Detections:
        path = self.work / "detect" / f"{frame}.json"
        if not path.is_file():
            raise SegmentationError(f"no stage-1 boxes for frame {frame} in {path.parent}; run --stage detect first")
        try:
            return Detections.from_dict(_read_json(path))
        except (OSError, ValueError) as error:
            raise SegmentationError(f"cannot read {path}: {error}; rerun with --stage detect --force") from error

    def _stage_frames(self, needed: list[int], frames: Iterable[int] | None) -> list[int]:
        if frames is None:
            return needed
        batch = set(self._batch(frames))
        return [f for f in needed if f in batch]

    def run_segment(self, frames: Iterable[int] | None = None) -> dict[str, Any]:
        """Stage 2 on ``frames`` (as :meth:`run_detect`); needs their stage-1 boxes."""
        if self.interactive_only:
            return {"skipped": "interactive prompts only"}
        frames = self._stage_frames(self.stage2_frames(), frames)
        folder = self.work / "segment"
        folder.mkdir(parents=True, exist_ok=True)
        todo = [f for f in frames if not (folder / f"{f}.npz").is_file()]
        for frame in todo:  # fail before loading SAM2 if stage 1 is incomplete
            if not (self.work / "detect" / f"{frame}.json").is_file():
                raise SegmentationError(f"no stage-1 boxes for frame {frame} in {self.work / 'detect'}; run --stage detect first")
        done = len(frames) - len(todo)
        self.progress("segment", done, len(frames), "")
        counts: dict[str, int] = {}
        if todo:
            segmenter = self.backends.segmenter()
            for frame in todo:
                result = stage2.segment_frame(segmenter, self.frames, frame, self.load_detections(frame), self.config.stage2)
                result.save(folder / f"{frame}.npz")
                for action, count in result.summary().items():
                    counts[action] = counts.get(action, 0) + count
                done += 1
                self.progress("segment", done, len(frames), f"frame {frame}: {len(result)} masks")
        return {"frames": len(frames), "computed": len(todo), "decisions": counts}

    def load_stage2(self, frame: int) -> stage2.Stage2Result | None:
        if self.interactive_only:
            return None
        path = self.work / "segment" / f"{frame}.npz"
        if not path.is_file():
            raise SegmentationError(f"no stage-2 masks for frame {frame} in {path.parent}; run --stage segment first")
        return stage2.Stage2Result.load(path)

    def open_cache(self, folder: pathlib.Path | None = None) -> MaskCache:
        """The disk-backed mask cache (default: the shot's, ``track/cache``);
        about one window of frames stays in RAM."""
        folder = folder or self.work / "track" / "cache"
        resident = self.config.tracking.window + self.config.tracking.reprompt_every
        if (folder / "layers.json").is_file():
            return MaskCache.load(folder, max_resident=resident)
        return MaskCache(self.frames.size, folder, max_resident=resident)

    def chunk_folder(self, index: int) -> pathlib.Path:
        """Where chunk ``index`` keeps its ``state.json`` and ``cache/``."""
        return self.work / "track" / "chunks" / str(int(index))

    def _check_chunk_count(self, n: int) -> None:
        if int(n) != int(self.config.chunks):
            raise SegmentationError(
                f"this run tracks in {self.config.chunks} chunk(s) (--chunks {self.config.chunks}), not {n}; "
                f"give the same --chunks to every stage of a run"
            )

    def run_track(self, chunk: tuple[int, int] | None = None) -> dict[str, Any]:
        """Stage 3. ``chunk=None``: the whole shot -- one loop when
        ``config.chunks == 1``, else every chunk in turn and then
        :meth:`reconcile_chunks`. ``chunk=(i, n)``: chunk i (0-based) of n
        (``n`` must be ``config.chunks``) into :meth:`chunk_folder`; resumable
        per window like the whole-shot loop."""
        if chunk is None and self.config.chunks > 1:
            state = self._track_state(self.work / "track" / "state.json")
            if state.get("complete"):
                self.progress("track", 1, 1, "already done")
                return {"layers": len(state.get("layers", {})), "windows": 0, "resumed": True}
            results = [self.run_track((i, self.config.chunks)) for i in range(self.config.chunks)]
            merged = self.reconcile_chunks(self.config.chunks)
            merged["windows"] = sum(r["windows"] for r in results)
            merged["chunk_results"] = results
            return merged
        if chunk is None:
            return self._track(self.work / "track", self.frames, None)
        index, count = int(chunk[0]), int(chunk[1])
        self._check_chunk_count(count)
        if not 0 <= index < count:
            raise SegmentationError(f"--chunk {index}/{count}: the index must lie in 0..{count - 1}")
        part = self.chunk_list[index]
        result = self._track(self.chunk_folder(index), chunking.FrameSubset(self.frames, part.frames), part)
        result["chunk"] = part.to_dict()
        return result

    @staticmethod
    def _track_state(path: pathlib.Path) -> dict[str, Any]:
        return _read_json(path) if path.is_file() else {"windows": {}, "complete": False}

    def _track(self, folder: pathlib.Path, frames, part: chunking.Chunk | None) -> dict[str, Any]:
        """The tracking loop over ``frames`` (the shot, or one chunk's
        :class:`~SegmentationCore.pipeline.chunks.FrameSubset`) into ``folder``."""
        params = self.config.tracking
        label = "track" if part is None else f"track {part.label}"
        state_path = folder / "state.json"
        state = self._track_state(state_path)
        cache = self.open_cache(folder / "cache")
        if state.get("complete"):
            self.progress(label, 1, 1, "already done")
            return {"layers": len(cache.layer_ids), "windows": 0, "resumed": True}
        frame_numbers = list(frames.frame_numbers)
        inside = set(frame_numbers)
        keyframes = [k for k in self.keyframes if k in inside]
        if self.interactive_only:
            needed: list[int] = []
        elif self.config.detect_frames == "all":
            needed = frame_numbers
        else:
            needed = tracking.stage2_frames(frame_numbers, params, keyframes)
        for frame in needed:  # fail early if stage 2 is incomplete
            if not (self.work / "segment" / f"{frame}.npz").is_file():
                raise SegmentationError(f"no stage-2 masks for frame {frame} in {self.work / 'segment'}; run --stage segment first")
        keyframe_prompts: dict[int, dict] = {}
        if self.prompt_set is not None:
            layer_ids = interactive.register_layers(cache, self.prompt_set)
            needs = any(k.needs_segmenter for o in self.prompt_set.objects for k in o.keyframes.values())
            keyframe_prompts = interactive.keyframe_prompts(
                self.prompt_set, layer_ids, self.frames, self.backends.segmenter() if needs else None
            )
            keyframe_prompts = {f: p for f, p in keyframe_prompts.items() if f in inside}
        plan = tracking.pass_plan(params, keyframe_prompts, automatic=not self.interactive_only)
        schedules = {name: tracking.reprompt_frames(frame_numbers, params, direction, keyframe_prompts) for name, direction, _ in plan}
        total = sum(len(s) for s in schedules.values())
        done = sum(min(int(state["windows"].get(name, 0)), len(schedules[name])) for name, _, _ in plan)
        self.progress(label, done, total, "")
        tracker = self.backends.tracker()
        computed = 0
        recorder = qc.QcRecorder(cache, folder / "qc", params.mask_threshold)
        for name, direction, uses_stage2 in plan:
            skip = int(state["windows"].get(name, 0))

            def on_window(index, count, matches, window, name=name):
                nonlocal done, computed
                recorder.end_window(name, index, matches, window)
                cache.flush()
                state["windows"][name] = index + 1
                _write_json(state_path, state)
                done += 1
                computed += 1
                self.progress(label, done, total, f"{name} window at {window.start_frame}: {len(window.objects)} layers")

            tracking.run_pass(
                tracker, frames, cache, self.load_stage2 if uses_stage2 else None, params, direction,
                keyframes=keyframe_prompts, skip_windows=skip, on_window=on_window, on_frame=recorder.frame_hook(name),
            )
        before = len(cache.layer_ids)
        cache.compact(min_area=params.min_layer_area)
        cache.flush()
        if part is None:
            self._save_rank_sets(cache)
            self._write_qc(cache, recorder.records())
        state["complete"] = True
        state["layers"] = cache.names()
        if part is not None:
            state["chunk"] = part.to_dict()
        _write_json(state_path, state)
        return {"layers": len(cache.layer_ids), "windows": computed, "dropped_layers": before - len(cache.layer_ids)}

    def reconcile_chunks(self, n: int | None = None) -> dict[str, Any]:
        """Merge the ``n`` chunk caches (every chunk tracked) into the shot
        cache ``track/cache`` that :meth:`run_write` reads: layers matched
        one-to-one across each overlap, names ``/<class>/<class>_NNNN``
        stable across the shot (see :mod:`~SegmentationCore.pipeline.chunks`).
        Built in a temporary folder and renamed, so a killed reconcile leaves
        nothing half-done; rerunning it is safe (it does nothing once done)."""
        n = int(self.config.chunks if n is None else n)
        self._check_chunk_count(n)
        track = self.work / "track"
        state_path = track / "state.json"
        state = self._track_state(state_path)
        if state.get("complete"):
            self.progress("reconcile", 1, 1, "already done")
            return {"layers": len(state.get("layers", {})), "resumed": True}
        if n == 1:
            raise SegmentationError(f"tracking has not finished in {track}; run --stage track first (one chunk: nothing to reconcile)")
        missing = [i for i in range(n) if not self._track_state(self.chunk_folder(i) / "state.json").get("complete")]
        if missing:
            raise SegmentationError(
                f"chunk(s) {', '.join(f'{i}/{n}' for i in missing)} not tracked yet in {track / 'chunks'}; "
                f"run --stage track --chunk i/{n} for each first"
            )
        for stale in track.glob(".cache.*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)
        temporary = track / f".cache.{os.getpid()}.tmp"
        resident = self.config.tracking.window + self.config.tracking.reprompt_every
        target = MaskCache(self.frames.size, temporary, max_resident=resident)
        caches = [self.open_cache(self.chunk_folder(i) / "cache") for i in range(n)]
        self.progress("reconcile", 0, 1, f"{n} chunks")
        result = chunking.reconcile(self.chunk_list, caches, target, min_area=self.config.tracking.min_layer_area,
                                    params=self.config.tracking)
        final = track / "cache"
        if final.exists():
            shutil.rmtree(final)
        os.replace(temporary, final)
        self._save_rank_sets(self.open_cache(final))
        self._write_qc(self.open_cache(final), [])  # layers are renamed across chunks: what the final cache shows
        _write_json(state_path, {"complete": True, "chunks": n, "layers": {str(k): v for k, v in target.names().items()}, "reconcile": result})
        self.progress("reconcile", 1, 1, f"{result['layers']} layers")
        return result

    def _write_qc(self, cache: MaskCache, records: list) -> dict[str, Any]:
        """``WORK/qc.json`` from the final cache and the live records."""
        summary = qc.summarise(cache, list(self.frames.frame_numbers), records, qc.QcThresholds(min_area=self.config.tracking.min_layer_area), self.config.tracking.mask_threshold)
        qc.write_summary(self.work, summary)
        flags = summary["flags"]
        self.log(f"QC: {len(flags)} flag(s) in {self.work / qc.QC_FILE}" + (f"; first: {flags[0]['text']}" if flags else ""))
        return summary

    def qc_summary(self) -> dict[str, Any]:
        """The QC summary (built from the cache when tracking finished
        without one, e.g. in a work folder older than QC)."""
        try:
            return qc.read_summary(self.work)
        except FileNotFoundError:
            return self._write_qc(self.open_cache(), [])

    def write_settings(self) -> dict[str, Any]:
        """What the written mattes depend on beyond :meth:`settings` (kept in
        ``write/settings.json``): changing it rewrites the mattes, not the
        tracking."""
        cfg = self.config
        return {"refine_edges": bool(cfg.refine_edges), "refine": cfg.refine_params.to_dict() if cfg.refine_edges else None}

    def _check_write_settings(self, folder: pathlib.Path) -> None:
        """Frames written with other write settings are not reused: they are
        forgotten (and rewritten), and the log says so."""
        cfg = self.config
        if cfg.refine_edges:
            cfg.refine_params.validate()
        settings = self.write_settings()
        path = folder / "settings.json"
        done = sorted(folder.glob("*.done"))
        if path.is_file():
            try:
                previous = _read_json(path)
            except (OSError, ValueError):
                previous = None
        else:  # a work folder written before edge refinement existed
            previous = {"refine_edges": False, "refine": None} if done else settings
        if previous != settings:
            if done:
                was = "on" if previous and previous.get("refine_edges") else "off"
                now = "on" if settings["refine_edges"] else "off"
                detail = f"edge refinement {was} -> {now}" if was != now else "edge refinement settings changed"
                self.log(f"{detail}: rewriting the {len(done)} frame(s) written with the previous setting in {self.output}")
            for stale in [*done, folder / "rank_sets.json"]:
                stale.unlink(missing_ok=True)
        if previous != settings or not path.is_file():
            _write_json(path, settings)

    def _refined_rank_sets(self, cache: MaskCache) -> int:
        """The shot's rank-set count when edges are refined: refinement can
        spread a layer up to its band beyond the bilinear matte."""
        from ..core.maskops import dilate
        from ..idmatte.cryptomatte import required_rank_sets

        reach = self.config.refine_params.reach(self.frames.plate_size, self.frames.size)
        rank_sets = 3
        for frame in self.sequence.frames:
            layers = {n: dilate(m, reach) for n, m in cache.layers(frame).items()}
            rank_sets = max(rank_sets, required_rank_sets(layers))
        return rank_sets

    def _edge_refiner(self, cache: MaskCache, frame: int) -> "refine.EdgeRefiner":
        """Refined bands of rows for one frame, guided by the plate frame at
        plate resolution (read again; the 8-bit guide is all that is kept)."""
        header, pixels = plates.read_rgb(self.sequence.path(frame), self.config.crop_to_display)
        guide = refine.guide_from_plate(pixels, self.frames.reading(header))
        del pixels
        return refine.EdgeRefiner(cache.layers(frame), self.frames.plate_size, guide, self.config.refine_params)

    def _save_rank_sets(self, cache: MaskCache) -> int:
        """The shot's Cryptomatte rank-set count, once, when tracking ends
        (so write batches do not each scan the whole cache)."""
        from ..core.maskops import dilate
        from ..idmatte.cryptomatte import required_rank_sets

        # Bilinear upsampling spreads a layer by at most one working
        # pixel, so the dilated working-resolution layers bound the
        # overlaps at plate resolution: one rank-set count for the shot.
        rank_sets = 3
        for frame in self.sequence.frames:
            layers = {n: dilate(m, 1) for n, m in cache.layers(frame).items()}
            rank_sets = max(rank_sets, required_rank_sets(layers))
        _write_json(self.work / "track" / "rank_sets.json", {"rank_sets": rank_sets})
        return rank_sets

    def run_write(self, frames: Iterable[int] | None = None) -> dict[str, Any]:
        """Write the ID mattes of ``frames`` (plate frame numbers; ``None``:
        the whole shot) from the shot cache; needs tracking finished
        (reconciled, when chunked)."""
        from ..idmatte.cryptomatte import rank_sets_warning
        from ..idmatte.exr_header import ImageWindows
        from ..idmatte.output import write_frame_bands

        state_path = self.work / "track" / "state.json"
        if not state_path.is_file() or not _read_json(state_path).get("complete"):
            raise SegmentationError(f"tracking has not finished in {self.work / 'track'}; run --stage track first")
        cache = self.open_cache()
        folder = self.work / "write"
        folder.mkdir(parents=True, exist_ok=True)
        self.output.mkdir(parents=True, exist_ok=True)
        self._check_write_settings(folder)
        rank_file = folder / "rank_sets.json"
        track_rank_file = self.work / "track" / "rank_sets.json"
        if rank_file.is_file():
            rank_sets = int(_read_json(rank_file)["rank_sets"])
        else:
            if self.config.refine_edges:
                rank_sets = self._refined_rank_sets(cache)
            elif track_rank_file.is_file():
                rank_sets = int(_read_json(track_rank_file)["rank_sets"])
            else:
                rank_sets = self._save_rank_sets(cache)
            _write_json(rank_file, {"rank_sets": rank_sets})
        warning = rank_sets_warning(rank_sets, f"shot {self.sequence.pattern}")
        if warning:
            self.log(f"warning: {warning}")
        frames = list(self.sequence.frames) if frames is None else self._batch(frames)
        todo = [f for f in frames if not ((folder / f"{f}.done").is_file() and all(p.is_file() for p in self.output_paths(f)))]
        done = len(frames) - len(todo)
        self.progress("write", done, len(frames), "checking plate frames")
        self.frames.check_pixels(todo)  # a broken frame stops the run before any matte is written
        self.progress("write", done, len(frames), "")
        names = cache.names()
        order = [names[i] for i in sorted(names)]
        summary = self.qc_summary()
        window, display = self.frames.window, self.frames.header.display_window
        windows = ImageWindows(window.x, window.y, display.box, self.frames.pixel_aspect)
        for frame in todo:
            # plate-resolution layers are made and written one band of rows
            # at a time (memory of a band, not of the plate)
            if self.config.refine_edges:
                upsampler = self._edge_refiner(cache, frame)
            else:
                upsampler = plates.MaskUpsampler(cache.layers(frame), self.frames.plate_size)
            layers = upsampler.names
            depth_order = [n for n in order if n in layers]
            write_frame_bands(
                self.output / self.name, frame, layers, upsampler.rows, self.frames.plate_size, rank_sets=rank_sets,
                depth_order=depth_order, formats=self.config.formats, overwrite=True, padding=max(self.sequence.padding, 4),
                windows=windows, metadata={qc.HEADER_ATTRIBUTE: qc.header_summary(summary, frame)},
            )
            _write_json(folder / f"{frame}.done", {"frame": frame, "files": [str(p) for p in self.output_paths(frame)], "layers": sorted(layers)})
            done += 1
            self.progress("write", done, len(frames), f"frame {frame}: {len(layers)} layers")
        result = {"frames": len(frames), "written": len(todo), "rank_sets": rank_sets, "layers": len(names), "refine_edges": self.config.refine_edges}
        if warning:
            result["warnings"] = [warning]
        return result
