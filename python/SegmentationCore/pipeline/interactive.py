"""Interactive prompts: clicks and masks on keyframes that seed tracking.

Positive/negative clicks (and/or a box) on one or more keyframes go through
the image segmenter (one batched call per keyframe) and become mask
prompts; masks made with any other tool are used as they are (clicks given
with a mask refine it). The resulting masks start tracking windows on their
keyframes and win over everything else there. They are used alone
(``mode = "only"``) or on top of the automatic layers (``"combine"``).

The prompt file (JSON, shared by the browser tool, ``autoseg --prompts``
and the Gaffer Track node) is described in docs/pipeline.md::

    {
      "format": "autoseg-prompts", "version": 1,
      "mode": "combine",                 # or "only"
      "image_size": [1920, 1080],        # width, height the coordinates refer to
      "objects": [
        {"class": "person",              # class phrase -> /person/person_NNNN
         "name": "/person/person_0001",  # optional fixed layer name
         "keyframes": {
           "1001": {"points": [[812, 400], [790, 610]], "labels": [1, 0],
                    "box": [700, 300, 900, 900],            # optional
                    "mask": "shot.prompts/person_0001.1001.png"}  # optional, relative to the JSON
         }}
      ]
    }

Coordinates are pixels of ``image_size`` (normally the plate), ``x`` right,
``y`` down; masks may have any resolution and are resampled. PNG masks are
8- or 16-bit grey (alpha used if present), EXR masks use ``A`` or the first
channel.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
from typing import Any, Mapping, Sequence

import numpy as np

from ..core import maskops
from ..core.errors import PromptError
from ..core.prompts import class_name
from ..core.types import Prompt
from .mask_cache import MaskCache

FORMAT = "autoseg-prompts"
VERSION = 1
MODES = ("combine", "only")
_NAME = re.compile(r"^/[0-9a-z_-]+/[0-9a-z_-]+$")


@dataclasses.dataclass
class Keyframe:
    """Clicks, box and/or mask for one object on one frame (``image_size`` pixels)."""

    points: np.ndarray | None = None  # (P, 2) xy
    labels: np.ndarray | None = None  # (P,) 1 positive, 0 negative
    box: np.ndarray | None = None  # (4,) xyxy
    mask: np.ndarray | None = None  # (h, w) float32 in [0, 1], any resolution

    def __post_init__(self) -> None:
        if self.points is not None:
            self.points = np.asarray(self.points, np.float32).reshape(-1, 2)
            if self.labels is None:
                self.labels = np.ones(len(self.points), np.int32)
            self.labels = np.asarray(self.labels, np.int32).reshape(-1)
            if len(self.labels) != len(self.points):
                raise PromptError(f"{len(self.points)} clicks but {len(self.labels)} labels")
            if len(self.points) == 0:
                self.points = self.labels = None
        if self.box is not None:
            self.box = np.asarray(self.box, np.float32).reshape(4)
        if self.mask is not None:
            self.mask = np.asarray(self.mask, np.float32)
            if self.mask.ndim != 2:
                raise PromptError(f"a prompt mask must be 2-D, got shape {self.mask.shape}")

    @property
    def empty(self) -> bool:
        return self.points is None and self.box is None and self.mask is None

    @property
    def needs_segmenter(self) -> bool:
        return self.points is not None or self.box is not None


@dataclasses.dataclass
class InteractiveObject:
    phrase: str = "object"
    name: str | None = None
    keyframes: dict[int, Keyframe] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class PromptSet:
    """Everything in one prompt file."""

    image_size: tuple[int, int]  # (width, height) of the coordinates
    objects: list[InteractiveObject] = dataclasses.field(default_factory=list)
    mode: str = "combine"

    @property
    def keyframes(self) -> list[int]:
        return sorted({f for obj in self.objects for f in obj.keyframes})

    def validate(self, where: str = "prompts") -> None:
        if self.mode not in MODES:
            raise PromptError(f"{where}: mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        width, height = self.image_size
        if width <= 0 or height <= 0:
            raise PromptError(f"{where}: image_size must be two positive numbers, got {self.image_size}")
        names = set()
        for number, obj in enumerate(self.objects):
            label = f"{where}: object {number}"
            class_name(obj.phrase)  # raises PromptError for unusable phrases
            if obj.name is not None:
                if not _NAME.match(obj.name):
                    raise PromptError(f"{label}: layer name {obj.name!r} must look like /class/class_0001 (lower case, digits, _ and -)")
                if obj.name in names:
                    raise PromptError(f"{label}: layer name {obj.name} is used twice")
                names.add(obj.name)
            if not obj.keyframes or all(k.empty for k in obj.keyframes.values()):
                raise PromptError(f"{label} ({obj.name or obj.phrase}) has no clicks, box or mask on any keyframe")


# ---------------------------------------------------------------------------- file format


def _read_mask(path: pathlib.Path, where: str) -> np.ndarray:
    import OpenImageIO as oiio

    if not path.is_file():
        raise PromptError(f"{where}: mask file {path} does not exist")
    buf = oiio.ImageBuf(str(path))
    if buf.has_error:
        raise PromptError(f"{where}: cannot read mask {path}: {buf.geterror()}")
    names = list(buf.spec().channelnames)
    pixels = buf.get_pixels(oiio.FLOAT)
    if pixels is None or pixels.size == 0:
        raise PromptError(f"{where}: cannot read mask {path}: {oiio.geterror() or 'no pixels'}")
    pixels = np.asarray(pixels, np.float32).reshape(buf.spec().height, buf.spec().width, -1)
    channel = names.index("A") if "A" in names else 0
    return np.clip(pixels[..., channel], 0, 1)


def _write_mask(path: pathlib.Path, mask: np.ndarray) -> None:
    import OpenImageIO as oiio

    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.clip(np.rint(np.asarray(mask, np.float32) * 65535), 0, 65535).astype(np.uint16)
    temporary = path.with_name(f".{path.stem}.tmp{path.suffix}")
    spec = oiio.ImageSpec(data.shape[1], data.shape[0], 1, "uint16")
    output = oiio.ImageOutput.create(str(temporary))
    if output is None or not output.open(str(temporary), spec):
        raise OSError(f"cannot write {temporary}: {oiio.geterror()}")
    output.write_image(data[..., None])  # OIIO misreads 2-D arrays
    output.close()
    os.replace(temporary, path)


def load_prompts(path: str | os.PathLike) -> PromptSet:
    """Read a prompt file (and the masks it names). Errors are PromptErrors
    naming the file and the object / keyframe at fault."""
    path = pathlib.Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as error:
        raise PromptError(f"cannot read the prompt file {path}: {error}") from error
    except ValueError as error:
        raise PromptError(f"the prompt file {path} is not valid JSON: {error}") from error
    return prompts_from_dict(data, base=path.parent, where=str(path))


def prompts_from_dict(data: Mapping[str, Any], base: str | os.PathLike = ".", where: str = "prompts") -> PromptSet:
    """Build a :class:`PromptSet` from the JSON structure (masks relative to ``base``)."""
    base = pathlib.Path(base)
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise PromptError(f"{where} is not an autoseg prompt file (it needs \"format\": \"{FORMAT}\")")
    if int(data.get("version", 0)) > VERSION:
        raise PromptError(f"{where} has version {data.get('version')}; this engine reads version {VERSION}")
    try:
        width, height = [int(v) for v in data["image_size"]]
    except (KeyError, TypeError, ValueError):
        raise PromptError(f"{where}: \"image_size\": [width, height] is required") from None
    objects = []
    for number, item in enumerate(data.get("objects") or []):
        label = f"{where}: object {number}"
        if not isinstance(item, Mapping):
            raise PromptError(f"{label} is not a JSON object")
        keyframes = {}
        for frame_text, entry in (item.get("keyframes") or {}).items():
            try:
                frame = int(frame_text)
            except ValueError:
                raise PromptError(f"{label}: keyframe {frame_text!r} is not a frame number") from None
            where_key = f"{label}, frame {frame}"
            try:
                mask = None
                if entry.get("mask"):
                    mask = _read_mask(base / entry["mask"], where_key)
                keyframes[frame] = Keyframe(entry.get("points"), entry.get("labels"), entry.get("box"), mask)
            except PromptError:
                raise
            except (TypeError, ValueError, AttributeError) as error:
                raise PromptError(f"{where_key}: {error}") from error
            if keyframes[frame].points is not None:
                outside = (keyframes[frame].points < 0).any(axis=1) | (keyframes[frame].points[:, 0] >= width) | (keyframes[frame].points[:, 1] >= height)
                if outside.any():
                    raise PromptError(f"{where_key}: click {keyframes[frame].points[outside][0].tolist()} lies outside the {width}x{height} image")
        objects.append(InteractiveObject(str(item.get("class") or "object"), item.get("name"), keyframes))
    prompt_set = PromptSet((width, height), objects, str(data.get("mode", "combine")))
    if not objects:
        raise PromptError(f"{where} holds no objects")
    prompt_set.validate(where)
    return prompt_set


def save_prompts(path: str | os.PathLike, prompt_set: PromptSet) -> None:
    """Write a prompt file; masks go to ``<stem>.masks/`` next to it as 16-bit PNGs."""
    path = pathlib.Path(path)
    prompt_set.validate(str(path))
    mask_folder = path.with_name(f"{path.stem}.masks")
    objects = []
    for number, obj in enumerate(prompt_set.objects):
        keyframes = {}
        for frame, keyframe in sorted(obj.keyframes.items()):
            entry: dict[str, Any] = {}
            if keyframe.points is not None:
                entry["points"] = keyframe.points.round(2).tolist()
                entry["labels"] = keyframe.labels.tolist()
            if keyframe.box is not None:
                entry["box"] = keyframe.box.round(2).tolist()
            if keyframe.mask is not None:
                stem = (obj.name or f"object_{number:03d}").strip("/").replace("/", "_")
                mask_path = mask_folder / f"{stem}.{frame}.png"
                _write_mask(mask_path, keyframe.mask)
                entry["mask"] = str(mask_path.relative_to(path.parent))
            keyframes[str(frame)] = entry
        item: dict[str, Any] = {"class": obj.phrase, "keyframes": keyframes}
        if obj.name:
            item["name"] = obj.name
        objects.append(item)
    data = {"format": FORMAT, "version": VERSION, "mode": prompt_set.mode, "image_size": list(prompt_set.image_size), "objects": objects}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=1))
    os.replace(temporary, path)


# ---------------------------------------------------------------------------- to tracking prompts


def register_layers(cache: MaskCache, prompt_set: PromptSet, frame: int | None = None) -> list[int]:
    """Register one layer per interactive object and return their ids in
    ``prompt_set.objects`` order. Call it before any automatic layer exists,
    so interactive layers get the first numbers. A cache that already holds
    the interactive layers (a resumed run) is reused as it is."""
    existing = sorted(i for i, info in cache.layer_infos.items() if info.source == "interactive")
    if existing:
        if len(existing) != len(prompt_set.objects):
            raise PromptError(
                f"the mask cache holds {len(existing)} interactive layers but the prompt file has "
                f"{len(prompt_set.objects)} objects; rerun tracking with --force"
            )
        return existing
    ids = []
    for obj in prompt_set.objects:
        first = min(obj.keyframes) if obj.keyframes else frame
        info = cache.propose_layers([obj.phrase], first, source="interactive")[0]
        if obj.name:
            info = dataclasses.replace(info, name=obj.name)
        cache.add_layers([info])
        ids.append(info.id)
    return ids


def _scale_to(keyframe: Keyframe, image_size: tuple[int, int], size: tuple[int, int]) -> Keyframe:
    width, height = image_size
    sx, sy = size[1] / width, size[0] / height
    scale = np.array([sx, sy], np.float32)
    points = None if keyframe.points is None else keyframe.points * scale
    box = None if keyframe.box is None else keyframe.box * np.concatenate([scale, scale])
    mask = None
    if keyframe.mask is not None:
        mask = keyframe.mask
        if mask.shape != tuple(size):
            mask = maskops.resize_bilinear(mask, size) if mask.shape[0] < size[0] else maskops.resize_area(mask, size)
        mask = np.clip(mask, 0, 1).astype(np.float32)
    return Keyframe(points, None if points is None else keyframe.labels.copy(), box, mask)


def keyframe_prompts(
    prompt_set: PromptSet,
    layer_ids: Sequence[int],
    frames,
    segmenter=None,
) -> dict[int, dict[int, Prompt]]:
    """``{frame: {layer id: Prompt(mask=...)}}`` for tracking.

    Clicks/boxes are turned into masks by ``segmenter`` in one batched call
    per keyframe (a given mask goes along as the segmenter's mask prompt);
    masks alone are used directly. Keyframes outside the shot are errors.
    """
    size = tuple(frames.size)
    shot_frames = set(frames.frame_numbers)
    result: dict[int, dict[int, Prompt]] = {}
    for frame in prompt_set.keyframes:
        if frame not in shot_frames:
            raise PromptError(f"keyframe {frame} is outside the shot's frames {min(shot_frames)}-{max(shot_frames)}")
        to_segment: list[tuple[int, Prompt]] = []
        for layer_id, obj in zip(layer_ids, prompt_set.objects):
            keyframe = obj.keyframes.get(frame)
            if keyframe is None or keyframe.empty:
                continue
            scaled = _scale_to(keyframe, prompt_set.image_size, size)
            if scaled.needs_segmenter:
                to_segment.append((layer_id, Prompt(box=scaled.box, points=scaled.points, point_labels=scaled.labels, mask=scaled.mask)))
            else:
                result.setdefault(frame, {})[layer_id] = Prompt(mask=scaled.mask)
        if to_segment:
            if segmenter is None:
                raise PromptError(f"keyframe {frame} has clicks; turning them into masks needs the SAM2 model")
            segmented = segmenter.segment(frames, frame, [p for _, p in to_segment])
            for (layer_id, _), mask in zip(to_segment, segmented.probabilities):
                result.setdefault(frame, {})[layer_id] = Prompt(mask=np.asarray(mask, np.float32))
    return result


def clicks_to_mask(segmenter, frames, frame: int, points, labels, box=None) -> np.ndarray:
    """One object's mask from clicks in working-resolution pixels (browser preview)."""
    prompt = Prompt(box=box, points=points, point_labels=labels)
    return np.asarray(segmenter.segment(frames, frame, [prompt]).probabilities[0], np.float32)

