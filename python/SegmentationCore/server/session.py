"""Interactive segmentation state of one shot: objects, their clicks per
keyframe, undo/redo, click masks and tracked masks.

The state is a small JSON-like document::

    {"objects": [{"id": 1, "name": "/person/person_0001", "class": "person",
                  "colour": "#e6194b",
                  "keyframes": {"1001": [[x, y, 1], [x, y, 0]]}}],
     "next_id": 2}

Every edit (add/rename/delete an object, add/remove a click, clear a
keyframe) pushes the previous document on the undo stack; undo/redo swap
documents. Masks are a pure function of an object's clicks on a frame, so
they are cached by ``(frame, clicks)`` and undo never recomputes one.
Coordinates are working-resolution pixels, like everywhere in the engine.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import threading
import zlib
from collections import OrderedDict
from typing import Any, Iterable

import numpy as np

from ..core.errors import PromptError
from ..core.prompts import class_name, layer_name

PALETTE = [
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
    "#bfef45", "#fabed4", "#469990", "#dcbeff", "#9a6324", "#fffac8", "#800000",
    "#aaffc3", "#808000", "#ffd8b1", "#000075",
]
MAX_HISTORY = 500
_COLOUR_CHARS = set("0123456789abcdef")


def _check_colour(colour: str) -> str:
    colour = str(colour).lower()
    if len(colour) != 7 or colour[0] != "#" or not set(colour[1:]) <= _COLOUR_CHARS:
        raise PromptError(f"Colour {colour!r} must look like #rrggbb")
    return colour


class CompressedMask:
    """A probability mask kept as zlib-compressed 8 bits (mattes compress
    ~50x, so a reviewed shot stays small in memory)."""

    __slots__ = ("shape", "_data")

    def __init__(self, probabilities: np.ndarray):
        probabilities = np.asarray(probabilities, np.float32)
        self.shape = probabilities.shape
        quantised = (np.clip(np.nan_to_num(probabilities), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        self._data = zlib.compress(quantised.tobytes(), 1)

    def array(self) -> np.ndarray:
        return np.frombuffer(zlib.decompress(self._data), np.uint8).reshape(self.shape).astype(np.float32) / 255.0

    @property
    def nbytes(self) -> int:
        return len(self._data)


class ShotSession:
    """Objects and clicks for one shot, plus the latest tracking result."""

    def __init__(self, shot_id: str, frame_numbers: Iterable[int]):
        self.shot_id = shot_id
        self.frame_numbers = list(frame_numbers)
        self.lock = threading.RLock()
        self.state: dict[str, Any] = {"objects": [], "next_id": 1}
        self.undo_stack: list[dict[str, Any]] = []
        self.redo_stack: list[dict[str, Any]] = []
        self.revision = 0
        self._click_masks: OrderedDict[tuple, CompressedMask] = OrderedDict()
        self._click_mask_limit = 256
        # The latest tracking result (a disk-backed MaskCache), which cache
        # layer each object became, and the fingerprint it was made from.
        self.tracked = None
        self.tracked_revision: str | None = None
        self.tracked_layers: dict[int, int] = {}

    # -- documents -------------------------------------------------------------

    def _edit(self) -> dict[str, Any]:
        """Snapshot for undo and return the state to modify in place."""
        self.undo_stack.append(copy.deepcopy(self.state))
        del self.undo_stack[:-MAX_HISTORY]
        self.redo_stack.clear()
        self.revision += 1
        return self.state

    def undo(self) -> bool:
        if not self.undo_stack:
            return False
        self.redo_stack.append(self.state)
        self.state = self.undo_stack.pop()
        self.revision += 1
        return True

    def redo(self) -> bool:
        if not self.redo_stack:
            return False
        self.undo_stack.append(self.state)
        self.state = self.redo_stack.pop()
        self.revision += 1
        return True

    def object(self, object_id: int) -> dict[str, Any]:
        for obj in self.state["objects"]:
            if obj["id"] == int(object_id):
                return obj
        raise PromptError(f"Shot {self.shot_id} has no object {object_id}")

    def _next_index(self, cls: str, exclude: int | None = None) -> int:
        used = set()
        for obj in self.state["objects"]:
            if obj["class"] == cls and obj["id"] != exclude:
                try:
                    used.add(int(obj["name"].rsplit("_", 1)[1]))
                except (IndexError, ValueError):
                    pass
        index = 1
        while index in used:
            index += 1
        return index

    def add_object(self, phrase: str = "object", colour: str | None = None) -> dict[str, Any]:
        cls = class_name(phrase or "object")
        state = self._edit()
        object_id = state["next_id"]
        state["next_id"] += 1
        obj = {
            "id": object_id,
            "class": cls,
            "name": layer_name(cls, self._next_index(cls)),
            "colour": _check_colour(colour) if colour else PALETTE[(object_id - 1) % len(PALETTE)],
            "keyframes": {},
        }
        state["objects"].append(obj)
        return obj

    def update_object(self, object_id: int, phrase: str | None = None, colour: str | None = None) -> dict[str, Any]:
        self.object(object_id)  # raises before an undo step is recorded
        new_colour = _check_colour(colour) if colour else None
        new_class = class_name(phrase) if phrase else None
        self._edit()
        obj = self.object(object_id)
        if new_class and new_class != obj["class"]:
            obj["class"] = new_class
            obj["name"] = layer_name(new_class, self._next_index(new_class, exclude=obj["id"]))
        if new_colour:
            obj["colour"] = new_colour
        return obj

    def delete_object(self, object_id: int) -> None:
        self.object(object_id)
        state = self._edit()
        state["objects"] = [obj for obj in state["objects"] if obj["id"] != int(object_id)]

    def add_click(self, object_id: int, frame: int, x: float, y: float, positive: bool, size: tuple[int, int]) -> None:
        height, width = size
        if not (0 <= x < width and 0 <= y < height):
            raise PromptError(f"Click ({x:.1f}, {y:.1f}) is outside the {width}x{height} frame {frame}")
        self.object(object_id)
        self._edit()
        obj = self.object(object_id)
        obj["keyframes"].setdefault(str(int(frame)), []).append([round(float(x), 2), round(float(y), 2), 1 if positive else 0])

    def clear_keyframe(self, object_id: int, frame: int) -> None:
        obj = self.object(object_id)
        if str(int(frame)) not in obj["keyframes"]:
            return
        self._edit()
        del self.object(object_id)["keyframes"][str(int(frame))]

    def clicks(self, object_id: int, frame: int) -> list[list[float]]:
        return list(self.object(object_id)["keyframes"].get(str(int(frame)), []))

    def keyframes(self) -> list[int]:
        frames = set()
        for obj in self.state["objects"]:
            frames.update(int(f) for f, points in obj["keyframes"].items() if points)
        return sorted(frames)

    # -- masks -----------------------------------------------------------------

    @staticmethod
    def click_key(frame: int, clicks: list[list[float]]) -> tuple:
        return (int(frame), tuple(tuple(point) for point in clicks))

    def cached_click_mask(self, key: tuple) -> CompressedMask | None:
        mask = self._click_masks.get(key)
        if mask is not None:
            self._click_masks.move_to_end(key)
        return mask

    def store_click_mask(self, key: tuple, probabilities: np.ndarray) -> CompressedMask:
        mask = CompressedMask(probabilities)
        self._click_masks[key] = mask
        while len(self._click_masks) > self._click_mask_limit:
            self._click_masks.popitem(last=False)
        return mask

    def set_tracked(self, cache, layers: dict[int, int], fingerprint: str | None) -> None:
        """Keep a finished tracking result (``layers``: object id -> cache
        layer id); the previous result's folder is removed."""
        with self.lock:
            previous = self.tracked
            self.tracked = cache
            self.tracked_layers = dict(layers)
            self.tracked_revision = fingerprint
        if previous is not None and previous is not cache and previous.directory is not None:
            shutil.rmtree(previous.directory, ignore_errors=True)

    def tracked_masks(self, frame: int) -> dict[int, np.ndarray]:
        """``{object id: probability}`` of the latest tracking on ``frame``."""
        with self.lock:
            if self.tracked is None or not self.tracked.has_frame(int(frame)):
                return {}
            by_layer = self.tracked.layer_masks(int(frame), self.tracked_layers.values())
            return {obj: by_layer[layer] for obj, layer in self.tracked_layers.items() if layer in by_layer}

    def tracked_frames(self) -> list[int]:
        with self.lock:
            return [] if self.tracked is None else self.tracked.frames

    def close(self) -> None:
        self.set_tracked(None, {}, None)

    def fingerprint(self) -> str:
        """Identifies the objects and clicks (not colours): tracking made from
        an equal fingerprint is up to date, even across undo/redo."""
        content = [(obj["id"], obj["name"], obj["keyframes"]) for obj in self.state["objects"]]
        return hashlib.sha1(json.dumps(content, sort_keys=True).encode()).hexdigest()

    @property
    def tracking_stale(self) -> bool:
        return self.tracked_revision is not None and self.tracked_revision != self.fingerprint()

    def summary(self) -> dict[str, Any]:
        return {
            "shot": self.shot_id,
            "objects": copy.deepcopy(self.state["objects"]),
            "keyframes": self.keyframes(),
            "can_undo": bool(self.undo_stack),
            "can_redo": bool(self.redo_stack),
            "revision": self.revision,
            "tracked_frames": self.tracked_frames(),
            "tracking_stale": self.tracking_stale,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Replace the document (e.g. with prompts loaded from disk), undoable."""
        self._edit()
        self.state = state
