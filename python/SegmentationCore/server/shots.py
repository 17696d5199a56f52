"""Shots under the plate root: discovery of image sequences and their frame sources.

A *shot* is one numbered image sequence (``plate.1001.exr``,
``plate.1002.exr``, ...) somewhere below the plate root (at most
:data:`MAX_DEPTH` folders deep). Its id is the root-relative path of the
sequence with the frame number written as ``#`` characters, e.g.
``shot010/plate.####.exr``; ids are re-validated against the root on every
request. Frames are read through the pipeline's plate reader
(:mod:`SegmentationCore.plates`), which converts linear EXR plates to the
models' sRGB input and resizes them to working resolution.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import threading
from typing import Callable

from ..core.errors import PlateError
from ..core.protocols import FrameSource
from .paths import PathOutsideRootError, Root

MAX_DEPTH = 4
IMAGE_EXTENSIONS = {".exr", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dpx", ".cin", ".hdr", ".tga", ".bmp"}
_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<frame>\d+)(?P<suffix>\.[A-Za-z0-9]+)$")


@dataclasses.dataclass
class ShotInfo:
    """A sequence found on disk."""

    id: str  # root-relative, frame digits as '#': "shot010/plate.####.exr"
    folder: pathlib.Path  # real folder holding the frames
    prefix: str
    padding: int  # digits of the frame number (0 when unpadded)
    suffix: str
    frame_files: dict[int, str]  # frame number -> file name

    @property
    def frame_numbers(self) -> list[int]:
        return sorted(self.frame_files)

    @property
    def name(self) -> str:
        return self.id

    @property
    def pattern(self) -> str:
        """The sequence as a printf-style path: ``/x/plate.%04d.exr``."""
        digits = f"%0{self.padding}d" if self.padding else "%d"
        return str(self.folder / f"{self.prefix}{digits}{self.suffix}")

    def path(self, frame: int) -> pathlib.Path:
        return self.folder / self.frame_files[frame]


def _scan_folder(root: Root, folder: pathlib.Path, names: list[str]) -> list[ShotInfo]:
    groups: dict[tuple[str, str], dict[int, str]] = {}
    for name in names:
        if name.startswith("."):
            continue
        match = _NUMBERED.match(name)
        if not match or match["suffix"].lower() not in IMAGE_EXTENSIONS:
            continue
        path = folder / name
        # A frame that is a link to somewhere outside the root is not served.
        real = pathlib.Path(os.path.realpath(path))
        try:
            real.relative_to(root.real)
        except ValueError:
            continue
        if not real.is_file():
            continue
        key = (match["prefix"], match["suffix"])
        groups.setdefault(key, {})[int(match["frame"])] = name
    shots = []
    relative_folder = root.relative(folder)
    for (prefix, suffix), files in groups.items():
        lengths = {len(_NUMBERED.match(name)["frame"]) for name in files.values()}
        # One digit count for every frame: padded ("%04d"); otherwise unpadded ("%d").
        padding = lengths.pop() if len(lengths) == 1 else 0
        hashes = "#" * padding if padding else "#"
        name = f"{prefix}{hashes}{suffix}"
        shot_id = f"{relative_folder}/{name}" if relative_folder not in ("", ".") else name
        shots.append(ShotInfo(shot_id, folder, prefix, padding, suffix, files))
    return shots


def discover_shots(root: Root) -> list[ShotInfo]:
    """Every image sequence under the root, sorted by id. Folders that are
    links are not followed (their content may live outside the root)."""
    shots: list[ShotInfo] = []
    base_depth = len(root.real.parts)
    for folder, dirs, files in os.walk(root.real, followlinks=False):
        folder_path = pathlib.Path(folder)
        depth = len(folder_path.parts) - base_depth
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and depth < MAX_DEPTH)
        shots.extend(_scan_folder(root, folder_path, sorted(files)))
    return sorted(shots, key=lambda shot: shot.id)


def default_frame_source_factory(shot: ShotInfo, max_size: int) -> FrameSource:
    """A streaming frame source over a sequence via :mod:`SegmentationCore.plates`."""
    from .. import plates

    sequence = plates.PlateSequence(str(shot.folder / shot.prefix), shot.suffix, shot.padding, shot.frame_numbers)
    return plates.PlateFrameSource(sequence, max_size=max_size)


class ShotLibrary:
    """The shots of the plate root, with one cached frame source per shot."""

    def __init__(
        self,
        root: Root,
        max_size: int = 1024,
        frame_source_factory: Callable[[ShotInfo, int], FrameSource] | None = None,
    ):
        self.root = root
        self.max_size = max_size
        self._factory = frame_source_factory or default_frame_source_factory
        self._lock = threading.Lock()
        self._shots: dict[str, ShotInfo] = {}
        self._sources: dict[str, FrameSource] = {}

    def refresh(self) -> list[ShotInfo]:
        shots = discover_shots(self.root)
        with self._lock:
            self._shots = {shot.id: shot for shot in shots}
            for shot_id in list(self._sources):
                if shot_id not in self._shots:
                    del self._sources[shot_id]
        return shots

    def shot(self, shot_id: str) -> ShotInfo:
        """The shot with this id; the id is checked against the root first."""
        if not isinstance(shot_id, str) or not shot_id:
            raise PlateError("No shot given: pass the shot id listed by /api/shots")
        # Validates the id as a root-relative path (refuses ../, absolute, ...).
        folder_part = shot_id.rsplit("/", 1)[0] if "/" in shot_id else ""
        self.root.components(shot_id)
        if folder_part:
            self.root.resolve(folder_part)
        with self._lock:
            known = self._shots.get(shot_id)
        if known is None:
            self.refresh()
            with self._lock:
                known = self._shots.get(shot_id)
        if known is None:
            raise PlateError(f"No shot {shot_id!r} under the plate root {self.root.real}")
        return known

    def frames(self, shot_id: str) -> FrameSource:
        shot = self.shot(shot_id)
        with self._lock:
            source = self._sources.get(shot_id)
        if source is None:
            source = self._factory(shot, self.max_size)
            with self._lock:
                source = self._sources.setdefault(shot_id, source)
        return source

    def check_frame(self, shot_id: str, frame: int) -> int:
        shot = self.shot(shot_id)
        try:
            frame = int(frame)
        except (TypeError, ValueError):
            raise PlateError(f"Frame {frame!r} of shot {shot_id} is not a whole number") from None
        if frame not in shot.frame_files:
            raise PlateError(
                f"Shot {shot_id} has no frame {frame} (frames {shot.frame_numbers[0]}-{shot.frame_numbers[-1]})"
            )
        return frame


__all__ = ["ShotInfo", "ShotLibrary", "discover_shots", "PathOutsideRootError"]
