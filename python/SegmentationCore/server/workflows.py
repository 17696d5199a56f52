"""What the browser tools do, on top of the engine: stage 1/2 previews,
click masks, tracking, prompt files and ObjectId/Cryptomatte output.

Each function takes a :class:`ShotContext` (shot, frame source, models)
and returns JSON-ready data; masks travel as PNG data URLs (white with the
mask in alpha, tinted by the browser).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shlex
import threading
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import numpy as np

from ..core import maskops
from ..core.errors import OutputError, PromptError
from ..core.prompts import parse_text_prompt
from ..core.types import Detections, Prompt
from ..pipeline import stage2
from . import http, imaging
from .backends import Backends, BackendSet
from .session import CompressedMask, ShotSession
from .shots import ShotInfo

if TYPE_CHECKING:  # pragma: no cover
    from .http import Request
    from .jobs import JobContext
    from .paths import Root
    from .shots import ShotLibrary


class ToolsState(Protocol):
    """What the workflows need of the server's shared state (``app.ToolsApp``
    provides it): the models, the output root, the shot library and the
    detections cache with its lock."""

    backends: Backends
    output: "Root"
    library: "ShotLibrary"
    lock: threading.Lock
    detections_cache: dict[tuple, Any]


@dataclasses.dataclass
class ShotContext:
    app: ToolsState
    shot: ShotInfo
    frames: Any  # FrameSource
    frame: int | None

    @property
    def backends(self) -> BackendSet:
        return self.app.backends.for_shot(self.shot, self.frames)

    def model(self, role: str):
        return Backends.require(self.backends, role, self.shot)


def mask_url(mask: np.ndarray) -> str:
    return imaging.png_data_url(imaging.mask_overlay_png(mask))


# -- settings -----------------------------------------------------------------

_RANGES = {
    "box_threshold": (0.0, 1.0, float),
    "text_threshold": (0.0, 1.0, float),
    "discard_sim": (0.0, 1.0, float),
    "discard_min_others": (1, 100, int),
    "merge_sim": (0.0, 1.0, float),
}


def default_settings(backends: Backends) -> dict[str, Any]:
    params = stage2.Stage2Params()
    return {
        "box_threshold": backends.box_threshold,
        "text_threshold": backends.text_threshold,
        "discard_sim": params.discard_sim,
        "discard_min_others": params.discard_min_others,
        "merge_sim": params.merge_sim,
        "per_class": params.per_class,
    }


def bench_settings(request: "Request", backends: Backends) -> dict[str, Any]:
    """Thresholds from a request, defaults filled in, ranges checked."""
    settings = default_settings(backends)
    for name, (low, high, kind) in _RANGES.items():
        value = request.arg(name, settings[name], kind=kind)
        if not low <= value <= high:
            raise PromptError(f"{name} = {value} is outside {low}..{high}")
        settings[name] = value

    settings["per_class"] = request.arg("per_class", settings["per_class"], kind=http.as_bool)
    return settings


def stage2_params(settings: dict[str, Any]) -> stage2.Stage2Params:
    return stage2.Stage2Params(
        discard_sim=settings["discard_sim"],
        discard_min_others=settings["discard_min_others"],
        merge_sim=settings["merge_sim"],
        per_class=settings["per_class"],
    )


# -- stage 1 and 2 previews ---------------------------------------------------------


def _is_groundingdino(detector) -> bool:
    return all(hasattr(detector, name) for name in ("tokenizer", "graph_for", "session", "thresholds", "mean", "std"))


def _groundingdino_raw(detector, frames, frame: int, phrases: Sequence[str]):
    """The graph's raw outputs for one frame, so that threshold changes only
    re-run the (millisecond) post-processing, not the model. The same steps
    as :meth:`GroundingDinoDetector.detect` (checked by a test)."""
    from ..models.groundingdino.detector import OUTPUTS
    from ..models.groundingdino.geometry import Letterbox, prepare_image

    prompt = detector.tokenizer.encode(list(phrases))
    graph = detector.graph_for(frames.size)
    letterbox = Letterbox.fit(frames.size, graph)
    image = prepare_image(np.asarray(frames.image(frame)), letterbox, detector.mean, detector.std)
    logits, boxes = detector.session(graph).run(OUTPUTS, {"image": image[None], **prompt.feed(1)})
    return logits[0], boxes[0], prompt, letterbox


# Entries kept per kind: raw detector outputs are ~1 MB, box masks
# (N, H, W) float32 can be tens of MB at 1024 pixels.
CACHE_LIMITS = {"gdino-raw": 32, "detect": 256, "boxes": 6}


def _cached(context: ShotContext, key: tuple, compute):
    """``compute()`` once per ``key`` (``key[0]`` is its kind), least recently
    used entries dropped beyond :data:`CACHE_LIMITS`."""
    cache = context.app.detections_cache
    with context.app.lock:
        if key in cache:
            cache[key] = cache.pop(key)  # most recently used last
            return cache[key]
    value = compute()
    with context.app.lock:
        cache[key] = value
        same_kind = [k for k in cache if k[0] == key[0]]
        for old in same_kind[: max(0, len(same_kind) - CACHE_LIMITS[key[0]])]:
            del cache[old]
    return value


def _raw_detections(context: ShotContext, phrases: Sequence[str], settings: dict[str, Any]) -> Detections:
    """Stage-1 detections at the requested thresholds. The model runs once
    per frame and prompt; changing a threshold is instant."""
    detector = context.model("detector")
    base = (context.shot.id, context.frame, tuple(phrases), tuple(context.frames.size), id(detector))
    if _is_groundingdino(detector):
        from ..models.groundingdino.postprocess import detections_from_outputs

        def compute_raw():
            with context.app.backends.use():
                return _groundingdino_raw(detector, context.frames, context.frame, phrases)

        logits, boxes, prompt, letterbox = _cached(context, ("gdino-raw",) + base, compute_raw)
        thresholds = dataclasses.replace(
            detector.thresholds,
            box_threshold=min(settings["box_threshold"], 0.999),
            text_threshold=min(settings["text_threshold"], 0.999),
        )
        return detections_from_outputs(
            logits, boxes, prompt.phrases, prompt.phrase_spans, letterbox.to_frame, letterbox.frame_size, thresholds
        )

    def compute():
        with context.app.backends.use():
            return detector.detect(context.frames, context.frame, list(phrases))

    everything = _cached(context, ("detect",) + base, compute)
    # Detectors without raw outputs: the box threshold filters their scores.
    return everything.select([i for i in range(len(everything)) if everything.scores[i] >= settings["box_threshold"]])


def detect(context: ShotContext, prompt: str, settings: dict[str, Any]) -> dict[str, Any]:
    phrases = parse_text_prompt(prompt)
    detections = _raw_detections(context, phrases, settings)
    return {
        "frame": context.frame,
        "phrases": phrases,
        "size": list(context.frames.size),
        "detections": [
            {
                "index": i,
                "box": [round(float(v), 2) for v in detections.boxes[i]],
                "score": round(float(detections.scores[i]), 4),
                "label": detections.labels[i],
            }
            for i in range(len(detections))
        ],
    }


def _box_masks(context: ShotContext, detections: Detections) -> np.ndarray:
    """One mask per box, one batched segmenter call, cached per box set."""
    segmenter = context.model("segmenter")
    boxes = tuple(tuple(round(float(v), 2) for v in box) for box in detections.boxes)
    key = ("boxes", context.shot.id, context.frame, boxes, tuple(context.frames.size), id(segmenter))

    def compute() -> np.ndarray:
        if not boxes:
            return np.zeros((0,) + tuple(context.frames.size), np.float32)
        with context.app.backends.use():
            result = segmenter.segment(context.frames, context.frame, [Prompt(box=box) for box in detections.boxes])
        return np.asarray(result.probabilities, np.float32)

    return _cached(context, key, compute)


def stage2_preview(context: ShotContext, prompt: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Stage 1 boxes above the threshold, their masks, and the clean-up's
    decision for each (kept / merged into N / discarded, with the reason)."""
    data = detect(context, prompt, settings)
    detections = _raw_detections(context, data["phrases"], settings)
    masks = _box_masks(context, detections)
    result = stage2.cleanup_masks(masks, detections.labels, detections.scores, stage2_params(settings), context.frame)
    inputs = []
    for position, decision in enumerate(result.decisions):
        inputs.append({
            "index": position,
            "box": [round(float(v), 2) for v in detections.boxes[position]],
            "label": decision.label,
            "score": round(decision.score, 4),
            "action": decision.action,
            "reason": decision.reason,
            "into": decision.into,
            "overlaps": decision.overlaps,
            "similarities": decision.similarities,
            "output_index": decision.output_index,
            "area": int(np.count_nonzero(masks[position] >= 0.5)),
            "mask": mask_url(masks[position]),
        })
    outputs = [
        {
            "index": k,
            "label": result.labels[k],
            "score": round(float(result.scores[k]), 4),
            "sources": result.sources[k],
            "area": int(np.count_nonzero(result.masks[k] >= 0.5)),
            "mask": mask_url(result.masks[k]),
        }
        for k in range(len(result))
    ]
    data.update({"inputs": inputs, "outputs": outputs, "summary": result.summary(), "settings": settings})
    return data


def copy_settings(prompt: str, settings: dict[str, Any], shot: ShotInfo | None, app: ToolsState) -> dict[str, Any]:
    """The bench's settings as ``autoseg run`` arguments and Gaffer plug values."""
    phrases = parse_text_prompt(prompt)
    text = ", ".join(phrases)
    defaults = stage2.Stage2Params()
    if shot is not None:
        plate = str(shot.folder / f"{shot.prefix}{'#' * (shot.padding or 1)}{shot.suffix}")
        output = app.output.real / output_folder_name(shot)
    else:
        plate, output = "PLATE.####.exr", pathlib.Path("OUTPUT")
    arguments = ["autoseg", "run", plate, "--prompt", text]
    if app.backends.gdino_dir:
        arguments += ["--detector", str(app.backends.gdino_dir)]
    if app.backends.sam2_dir:
        arguments += ["--sam2", str(app.backends.sam2_dir)]
    if not (app.backends.gdino_dir and app.backends.sam2_dir):
        arguments += ["--models", "MODELS"]
    arguments += [
        "--box-threshold", f"{settings['box_threshold']:g}",
        "--text-threshold", f"{settings['text_threshold']:g}",
    ]
    if settings["discard_sim"] != defaults.discard_sim:
        arguments += ["--discard-sim", f"{settings['discard_sim']:g}"]
    if settings["discard_min_others"] != defaults.discard_min_others:
        arguments += ["--discard-min-others", str(settings["discard_min_others"])]
    if settings["merge_sim"] != defaults.merge_sim:
        arguments += ["--merge-sim", f"{settings['merge_sim']:g}"]
    if app.library.max_size != 1024:
        arguments += ["--max-size", str(app.library.max_size)]
    if (output / PROMPT_FILE).is_file():
        arguments += ["--prompts", str(output / PROMPT_FILE)]
    arguments += ["--output", str(output)]
    # Plug values of the Gaffer nodes (python/GafferSegmentation).
    gaffer: dict[str, dict[str, Any]] = {
        "Detect": {
            "prompt": text,
            "boxThreshold": settings["box_threshold"],
            "textThreshold": settings["text_threshold"],
            "workingResolution": app.library.max_size,
        },
        "Segment": {
            "discardSimilarity": settings["discard_sim"],
            "discardOverlaps": settings["discard_min_others"],
            "mergeSimilarity": settings["merge_sim"],
            "perClass": settings["per_class"],
        },
    }
    if (output / PROMPT_FILE).is_file():
        gaffer["Track"] = {"promptFile": str(output / PROMPT_FILE)}
    return {"autoseg": " ".join(shlex.quote(a) for a in arguments), "arguments": arguments, "gaffer": gaffer}


# -- interactive clicks -----------------------------------------------------------


def click_prompt(clicks: list[list[float]]) -> Prompt:
    points = np.asarray([[c[0], c[1]] for c in clicks], np.float32)
    labels = np.asarray([int(c[2]) for c in clicks], np.int32)
    return Prompt(points=points, point_labels=labels)


def click_masks(context: ShotContext, session: ShotSession, frame: int, object_ids: Sequence[int]) -> dict[int, CompressedMask]:
    """Click masks of several objects on one frame; the ones not cached yet
    are computed in one batched segmenter call."""
    found: dict[int, CompressedMask] = {}
    missing: list[tuple[int, tuple, list]] = []
    with session.lock:
        for object_id in object_ids:
            clicks = session.clicks(object_id, frame)
            if not clicks:
                continue
            key = session.click_key(frame, clicks)
            cached = session.cached_click_mask(key)
            if cached is not None:
                found[object_id] = cached
            else:
                missing.append((object_id, key, clicks))
    if missing:
        segmenter = context.model("segmenter")
        with context.app.backends.use():
            result = segmenter.segment(context.frames, frame, [click_prompt(clicks) for _, _, clicks in missing])
        with session.lock:
            for (object_id, key, _), probabilities in zip(missing, result.probabilities):
                found[object_id] = session.store_click_mask(key, probabilities)
    return found


def frame_masks(context: ShotContext, session: ShotSession, frame: int, refine_edges: bool = False) -> list[dict[str, Any]]:
    """Every object's mask on a frame: from its clicks where it has some,
    otherwise from the latest tracking run. With ``refine_edges`` the
    tracked masks are previewed as the outputs write them: refined at plate
    resolution, guided by the plate (:func:`refined_masks`); the browser
    scales them onto the working-resolution frame."""
    with session.lock:
        objects = [dict(obj) for obj in session.state["objects"]]
        tracked = session.tracked_masks(frame)
    clicked = click_masks(context, session, frame, [obj["id"] for obj in objects])
    if refine_edges and tracked:
        shown = {obj["id"] for obj in objects if obj["id"] not in clicked}
        refined = refined_masks(context, frame, {str(i): m for i, m in tracked.items()})
        tracked = {i: refined[str(i)] if i in shown else m for i, m in tracked.items()}
    masks = []
    for obj in objects:
        if obj["id"] in clicked:
            source, array = "clicks", clicked[obj["id"]].array()
        elif obj["id"] in tracked:
            source, array = "tracked", tracked[obj["id"]]
        else:
            continue
        masks.append({
            "object": obj["id"],
            "name": obj["name"],
            "colour": obj["colour"],
            "source": source,
            "refined": bool(refine_edges and source == "tracked"),
            "area": int(np.count_nonzero(array >= 0.5)),
            "mask": mask_url(array),
        })
    return masks


# -- tracking ------------------------------------------------------------------------


def tracking_settings(request: "Request") -> "TrackingParams":
    """Tracking parameters from a request (the paper's defaults otherwise)."""
    from ..pipeline.tracking import TrackingParams

    defaults = TrackingParams()
    params = TrackingParams(
        window=request.arg("window", defaults.window, kind=int),
        reprompt_every=request.arg("reprompt_every", defaults.reprompt_every, kind=int),
        epsilon=request.arg("epsilon", defaults.epsilon, kind=float),
        backward=request.arg("backward", defaults.backward, kind=http.as_bool),
        cache_rule=request.arg("cache_rule", defaults.cache_rule, kind=str),
    )
    try:
        params.validate()
    except ValueError as error:
        raise PromptError(f"Tracking settings: {error}") from None
    return params


def session_prompt_set(context: ShotContext, session: ShotSession, plate_coordinates: bool, mode: str = "only"):
    """The session's clicks as the shared prompt file's :class:`PromptSet`:
    one object per clicked object (fixed layer name), its points and its
    click mask on every keyframe. With ``plate_coordinates`` the points are
    scaled to the plate (what the file stores); masks stay at working
    resolution (the file allows any and the readers resample)."""
    from ..pipeline.interactive import InteractiveObject, Keyframe, PromptSet

    height, width = context.frames.size
    if plate_coordinates:
        plate_height, plate_width = plate_size(context)
    else:
        plate_height, plate_width = height, width
    scale = np.array([plate_width / width, plate_height / height], np.float32)
    with session.lock:
        objects = [dict(obj, keyframes=dict(obj["keyframes"])) for obj in session.state["objects"]]
    prompt_objects, object_ids = [], []
    for obj in objects:
        frames = sorted(int(f) for f, clicks in obj["keyframes"].items() if clicks)
        if not frames:
            continue
        keyframes = {}
        for frame in frames:
            clicks = obj["keyframes"][str(frame)]
            mask = click_masks(context, session, frame, [obj["id"]])[obj["id"]].array()
            points = np.asarray([[c[0], c[1]] for c in clicks], np.float32) * scale
            labels = np.asarray([int(c[2]) for c in clicks], np.int32)
            keyframes[frame] = Keyframe(points, labels, None, mask)
        prompt_objects.append(InteractiveObject(obj["class"], obj["name"], keyframes))
        object_ids.append(obj["id"])
    if not prompt_objects:
        raise PromptError(f"Shot {context.shot.id} has no clicks yet: add an object and click on it first")
    prompt_set = PromptSet((int(plate_width), int(plate_height)), prompt_objects, mode)
    prompt_set.validate(f"shot {context.shot.id}")
    return prompt_set, object_ids


def track(context: ShotContext, session: ShotSession, params, job: "JobContext") -> dict[str, Any]:
    """Track every clicked object over the shot exactly as ``autoseg`` does
    with the saved prompt file in ``only`` mode: keyframe prompts from
    :func:`SegmentationCore.pipeline.interactive.keyframe_prompts`, then the mask-cache
    loop (:func:`SegmentationCore.pipeline.tracking.track_shot`) forward and, if
    asked, backward. The result replaces the session's tracked masks when
    complete; a cancelled or failed run leaves the previous one."""
    import shutil
    import tempfile

    from ..pipeline import interactive
    from ..pipeline.mask_cache import MaskCache
    from ..pipeline.tracking import BACKWARD, FORWARD, reprompt_frames, track_shot

    fingerprint = session.fingerprint()
    prompt_set, object_ids = session_prompt_set(context, session, plate_coordinates=False)
    segmenter = context.model("segmenter")
    tracker = context.model("tracker")
    frame_numbers = list(context.frames.frame_numbers)
    directions = [FORWARD] + ([BACKWARD] if params.backward else [])
    total = sum(len(reprompt_frames(frame_numbers, params, d, prompt_set.keyframes)) for d in directions)
    job.progress(0, total, "preparing keyframe prompts")
    folder = tempfile.mkdtemp(prefix="autoseg-serve-track-")
    done = [0]

    def on_window(direction: str, index: int, count: int, matches, window) -> None:
        done[0] += 1
        frames = window.frames
        where = f", frames {frames[0]}-{frames[-1]}" if frames else ""
        job.progress(done[0], total, f"tracking {direction}: window {index + 1}/{count}{where}")

    try:
        cache = MaskCache(tuple(context.frames.size), directory=folder)
        layer_ids = interactive.register_layers(cache, prompt_set)
        with context.app.backends.use(job=f"tracking shot {context.shot.id}"):
            keyframes = interactive.keyframe_prompts(prompt_set, layer_ids, context.frames, segmenter)
            job.progress(0, total, "tracking forward")
            track_shot(tracker, context.frames, cache, None, params, keyframes=keyframes, on_window=on_window)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    with session.lock:
        session.set_tracked(cache, dict(zip(object_ids, layer_ids)), fingerprint)
    return {"frames": len(cache.frames), "objects": len(layer_ids), "keyframes": prompt_set.keyframes, "windows": total}


# -- prompt files --------------------------------------------------------------------


def output_folder_name(shot: ShotInfo) -> str:
    """``shot010/plate.####.exr`` -> ``shot010/plate`` (the shot's folder under the output root)."""
    folder, _, name = shot.id.rpartition("/")
    stem = shot.prefix.rstrip("._-") or "shot"
    return f"{folder}/{stem}" if folder else stem


def output_dir(context: ShotContext, *parts: str) -> pathlib.Path:
    relative = "/".join((output_folder_name(context.shot),) + parts)
    return context.app.output.resolve(relative, must_exist=False)


PROMPT_FILE = "prompts.json"


def save_prompts(context: ShotContext, session: ShotSession, overwrite: bool = False, mode: str = "only") -> dict[str, Any]:
    """Write the clicks as the shared prompt file (``prompts.json`` + a
    ``prompts.masks/`` folder of 16-bit PNG keyframe masks) in the shot's
    output folder, for ``autoseg run --prompts`` and the Gaffer Track node."""
    from ..pipeline import interactive

    path = output_dir(context, PROMPT_FILE)
    if path.exists() and not overwrite:
        raise OutputError(f"{path} already exists; tick 'overwrite' to replace it")
    prompt_set, _ = session_prompt_set(context, session, plate_coordinates=True, mode=mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    mask_folder = path.with_name(f"{path.stem}.masks")
    before = set(mask_folder.glob("*.png")) if mask_folder.is_dir() else set()
    interactive.save_prompts(path, prompt_set)
    written = sorted(set(mask_folder.glob("*.png")))
    referenced = {
        (path.parent / entry["mask"]).resolve()
        for obj in json.loads(path.read_text())["objects"]
        for entry in obj["keyframes"].values() if entry.get("mask")
    }
    for stale in before:  # masks of an overwritten save that the new file no longer names
        if stale.resolve() not in referenced:
            stale.unlink(missing_ok=True)
    files = [context.app.output.relative(path)] + [context.app.output.relative(p) for p in written if p.resolve() in referenced]
    return {"files": files, "path": str(path), "objects": len(prompt_set.objects), "keyframes": prompt_set.keyframes}


def load_prompts(context: ShotContext, session: ShotSession) -> dict[str, Any]:
    """Replace the session's objects with the shot's saved prompt file
    (undoable). Points are scaled back to working resolution; keyframes that
    hold only a mask or a box (made by another tool) cannot be edited here
    and are reported as skipped."""
    from ..core.prompts import class_name, layer_name
    from ..pipeline import interactive

    path = output_dir(context, PROMPT_FILE)
    if not path.is_file():
        raise PromptError(f"No saved prompts for shot {context.shot.id}: {path} does not exist")
    prompt_set = interactive.load_prompts(path)
    height, width = context.frames.size
    file_width, file_height = prompt_set.image_size
    scale = np.array([width / file_width, height / file_height], np.float32)
    shot_frames = set(context.frames.frame_numbers)
    objects, skipped = [], []
    for number, obj in enumerate(prompt_set.objects, start=1):
        cls = class_name(obj.phrase)
        keyframes = {}
        for frame, keyframe in sorted(obj.keyframes.items()):
            if frame not in shot_frames or keyframe.points is None:
                skipped.append(f"{obj.name or obj.phrase} @ {frame}")
                continue
            points = keyframe.points * scale
            keyframes[str(frame)] = [
                [round(float(x), 2), round(float(y), 2), int(label)] for (x, y), label in zip(points, keyframe.labels)
            ]
        from .session import PALETTE

        objects.append({
            "id": number,
            "class": cls,
            "name": obj.name or layer_name(cls, number),
            "colour": PALETTE[(number - 1) % len(PALETTE)],
            "keyframes": keyframes,
        })
    with session.lock:
        session.load_state({"objects": objects, "next_id": len(objects) + 1})
    return {"objects": len(objects), "skipped": skipped}


# -- outputs -------------------------------------------------------------------------


def plate_size(context: ShotContext) -> tuple[int, int]:
    """``(height, width)`` of the plate files (outputs are written at this size)."""
    size = getattr(context.frames, "plate_size", None)
    if size is not None:
        return tuple(int(v) for v in size)
    import OpenImageIO as oiio

    first = context.shot.path(context.shot.frame_numbers[0])
    image = oiio.ImageInput.open(str(first))
    if image is None:
        from ..core.errors import PlateError

        raise PlateError(f"Cannot read {first}: {oiio.geterror()}")
    spec = image.spec()
    image.close()
    return spec.height, spec.width


def check_outputs_request(context: ShotContext, session: ShotSession, formats: Sequence[str], overwrite: bool) -> None:
    unknown = [f for f in formats if f not in OUTPUT_KINDS]
    if unknown or not formats:
        raise PromptError(f"Unknown output format(s) {unknown or formats}: choose objectid and/or cryptomatte")
    with session.lock:
        if session.tracked is None:
            raise PromptError(f"Shot {context.shot.id} has no tracking result yet: run tracking before writing outputs")
        if session.tracking_stale:
            raise PromptError(
                f"The clicks on shot {context.shot.id} changed since tracking ran: run tracking again before writing outputs"
            )


# API format name -> the file kind ``autoseg run`` uses in its file names.
OUTPUT_KINDS = {"objectid": "objectid", "cryptomatte": "crypto", "crypto": "crypto"}


def output_paths(context: ShotContext, kind: str) -> dict[int, pathlib.Path]:
    """``{frame: path}`` named as ``autoseg run --output <shot folder>`` names
    them: ``<shot folder>/<stem>.objectid.1001.exr`` / ``<stem>.crypto.1001.exr``."""
    from ..pipeline.runner import output_path

    stem = output_folder_name(context.shot).rsplit("/", 1)[-1]
    folder = output_dir(context)
    padding = max(context.shot.padding, 4)
    return {frame: output_path(folder, stem, OUTPUT_KINDS[kind], frame, padding) for frame in context.shot.frame_numbers}


def edge_guide(context: ShotContext, frame: int) -> np.ndarray:
    """The edge refinement's guide for ``frame``: the plate's pixels at
    plate resolution as 8-bit sRGB, read as the models read them (as
    ``autoseg run`` makes it)."""
    from ..pipeline import refine
    from ..plates import read_rgb

    frames = context.frames
    header, pixels = read_rgb(str(context.shot.path(frame)), bool(getattr(frames, "crop_to_display", False)))
    return refine.guide_from_plate(pixels, frames.reading(header))


def edge_refiner(context: ShotContext, frame: int, layers: dict[str, np.ndarray]):
    """:class:`~SegmentationCore.pipeline.refine.EdgeRefiner` of ``layers``
    (working-resolution probabilities) on ``frame``, autoseg's settings."""
    from ..pipeline import refine

    return refine.EdgeRefiner(layers, plate_size(context), edge_guide(context, frame), refine.RefineParams())


def refined_masks(context: ShotContext, frame: int, layers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``layers`` refined at plate resolution on ``frame`` (whole frames)."""
    refiner = edge_refiner(context, frame, layers)
    return refiner.rows(0, refiner.plate_size[0])


def write_outputs(
    context: ShotContext, session: ShotSession, formats: Sequence[str], overwrite: bool, job: "JobContext", refine_edges: bool = True,
) -> dict[str, Any]:
    """Write the tracked layers of every frame at plate resolution as
    ObjectId and/or Cryptomatte EXRs, named and laid out as ``autoseg run``
    does (each file atomic; existing files are refused, before anything is
    written, unless ``overwrite``). With ``refine_edges`` (the default, as
    ``autoseg run``) each layer's edge is refined at plate resolution,
    guided by the plate (``pipeline.refine``); frames are made and written
    band by band (``idmatte.output.write_frame_bands``)."""
    from ..core.maskops import dilate
    from ..idmatte import cryptomatte
    from ..idmatte.output import write_frame_bands
    from ..pipeline import refine
    from ..plates import MaskUpsampler

    check_outputs_request(context, session, formats, overwrite)
    with session.lock:
        cache = session.tracked
        layers = dict(session.tracked_layers)
    names = cache.names()
    wanted = sorted(set(layers.values()))
    order = [names[i] for i in wanted if i in names]
    plate = plate_size(context)
    kinds = sorted({OUTPUT_KINDS[f] for f in formats}, key=["objectid", "crypto"].index)
    paths = {kind: output_paths(context, kind) for kind in kinds}
    if not overwrite:
        for kind, by_frame in paths.items():
            existing = [p for p in by_frame.values() if p.exists()]
            if existing:
                raise OutputError(
                    f"{len(existing)} {kind} file(s) exist already, e.g. {existing[0]}; tick 'overwrite' to replace them"
                )
    output_dir(context).mkdir(parents=True, exist_ok=True)
    frames = list(context.shot.frame_numbers)

    def layer_masks(frame: int) -> dict[str, np.ndarray]:
        with session.lock:
            return {names[i]: m for i, m in cache.layer_masks(frame, wanted).items() if i in names}

    total = len(frames) * (len(kinds) + (1 if "crypto" in kinds else 0))
    done = 0
    rank_sets = cryptomatte.MIN_RANK_SETS
    if "crypto" in kinds:
        # One rank-set count for the sequence. As in `autoseg run`: bilinear
        # upsampling spreads a layer by at most one working pixel, refinement
        # by its band, so the dilated working-resolution layers bound the
        # plate-resolution overlaps.
        reach = 1
        if refine_edges:
            working = tuple(context.frames.size)
            reach = refine.RefineParams().reach(plate, working)
        for frame in frames:
            dilated = {n: dilate(m, reach) for n, m in layer_masks(frame).items()}
            rank_sets = max(rank_sets, cryptomatte.required_rank_sets(dilated))
            done += 1
            job.progress(done, total, f"counting Cryptomatte ranks: frame {frame}")
    stem = output_folder_name(context.shot).rsplit("/", 1)[-1]
    prefix = output_dir(context) / stem
    padding = max(context.shot.padding, 4)
    for frame in frames:
        masks = layer_masks(frame)
        source = edge_refiner(context, frame, masks) if refine_edges and masks else MaskUpsampler(masks, plate)
        depth_order = [n for n in order if n in masks]
        write_frame_bands(
            prefix, frame, source.names, source.rows, plate, rank_sets=rank_sets, depth_order=depth_order,
            formats=kinds, overwrite=overwrite, padding=padding,
        )
        done += len(kinds)
        job.progress(done, total, f"writing {' and '.join(kinds)}: frame {frame}")
    return {
        "frames": len(frames),
        "layers": order,
        "files": {kind: [context.app.output.relative(p) for p in by_frame.values()] for kind, by_frame in paths.items()},
        "rank_sets": rank_sets if "crypto" in kinds else None,
        "refine_edges": bool(refine_edges),
    }


def list_outputs(context: ShotContext) -> dict[str, Any]:
    base = output_dir(context)
    files = []
    if base.is_dir():
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                files.append(context.app.output.relative(path))
    return {"folder": context.app.output.relative(base) if base.exists() else output_folder_name(context.shot), "files": files}


def resize_to(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if tuple(mask.shape) == tuple(size):
        return mask
    return np.clip(maskops.resize_bilinear(mask, size), 0.0, 1.0)
