"""Image-sequence names and frame ranges.

Sequence names (:func:`parse_sequence`)::

    plate.####.exr        # one '#' per digit (padding 4)
    plate.#.exr           # a single '#' means 4 digits (OpenImageIO convention)
    plate.@@@.exr         # one '@' per digit
    plate.%04d.exr        # printf style
    plate.1001-1100#.exr  # frame range in the name (oiiotool style)
    plate.1001.exr        # one existing frame: its siblings are found on disk

The frame range comes from the name, from ``frames="1001-1100"``
(``"1001-1010,1020"`` lists work too), or from the files on disk.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
from typing import Iterable, Sequence

from ..core.errors import PlateError

_PRINTF = re.compile(r"%(0?)(\d*)d")
_RANGE_HASH = re.compile(r"(-?\d+)-(-?\d+)(#+|@+)")
_HASHES = re.compile(r"#+|@+")
_FRAME_DIGITS = re.compile(r"^(.*?[._-]?)(\d+)(\.[A-Za-z0-9]+)$")


@dataclasses.dataclass
class PlateSequence:
    """``prefix + zero-padded frame + suffix`` for each frame in ``frames``."""

    prefix: str
    suffix: str
    padding: int
    frames: list[int]

    def path(self, frame: int) -> str:
        number = f"{int(frame):0{self.padding}d}" if frame >= 0 else f"-{-int(frame):0{self.padding}d}"
        return f"{self.prefix}{number}{self.suffix}"

    @property
    def pattern(self) -> str:
        """The name with ``#`` for the frame digits."""
        return f"{self.prefix}{'#' * self.padding}{self.suffix}"

    @property
    def name(self) -> str:
        """A short name for outputs: the file name before the frame number."""
        base = os.path.basename(self.prefix).rstrip("._-")
        return base or "plate"

    @property
    def directory(self) -> str:
        return os.path.dirname(os.path.abspath(self.prefix + "x"))

    def paths(self) -> list[str]:
        return [self.path(f) for f in self.frames]


def parse_frames(text: str) -> list[int]:
    """``"1001-1100"``, ``"1001-1010,1020,1030-1032"`` -> sorted unique frames."""
    frames: set[int] = set()
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        match = re.fullmatch(r"(-?\d+)(?:-(-?\d+))?", part)
        if not match:
            raise PlateError(f"cannot read the frame range {text!r}; write it like 1001-1100 or 1001-1010,1020")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise PlateError(f"frame range {part!r} runs backwards; write it as {last}-{first}")
        frames.update(range(first, last + 1))
    if not frames:
        raise PlateError(f"the frame range {text!r} holds no frames")
    return sorted(frames)


def _discover(prefix: str, suffix: str, padding: int | None) -> list[int]:
    pattern = glob.escape(prefix) + "*" + glob.escape(suffix)
    digits = re.compile(re.escape(os.path.basename(prefix)) + r"(-?\d+)" + re.escape(suffix) + "$")
    frames = []
    for path in glob.glob(pattern):
        match = digits.match(os.path.basename(path))
        if not match:
            continue
        text = match.group(1).lstrip("-")
        if padding is not None and len(text) < padding:
            continue
        if padding is not None and len(text) > padding and text.startswith("0"):
            continue
        frames.append(int(match.group(1)))
    return sorted(set(frames))


def parse_sequence(spec: str | os.PathLike, frames: str | Sequence[int] | None = None) -> PlateSequence:
    """Turn a sequence name (see module docs) and an optional frame range into
    a :class:`PlateSequence`. Raises :class:`PlateError` when no frame can be
    found; missing frames inside the range are reported by :func:`check_sequence`."""
    spec = os.fspath(spec)
    explicit = parse_frames(frames) if isinstance(frames, str) else (sorted(set(int(f) for f in frames)) if frames else None)
    directory, base = os.path.split(spec)
    range_match = _RANGE_HASH.search(base)
    printf = _PRINTF.search(base)
    hashes = _HASHES.search(base)
    padding: int | None
    if range_match:
        first, last, marks = int(range_match.group(1)), int(range_match.group(2)), range_match.group(3)
        padding = _padding_of(marks)
        prefix = os.path.join(directory, base[:range_match.start()])
        suffix = base[range_match.end():]
        if explicit is None:
            if last < first:
                raise PlateError(f"{spec}: the frame range {first}-{last} runs backwards")
            explicit = list(range(first, last + 1))
    elif printf:
        padding = int(printf.group(2) or 1) if printf.group(1) == "0" or printf.group(2) else 1
        prefix = os.path.join(directory, base[:printf.start()])
        suffix = base[printf.end():]
    elif hashes:
        padding = _padding_of(hashes.group(0))
        prefix = os.path.join(directory, base[:hashes.start()])
        suffix = base[hashes.end():]
    else:
        match = _FRAME_DIGITS.match(base)
        if not match or not os.path.isfile(spec):
            raise PlateError(
                f"{spec} is not an image sequence name: use plate.####.exr, plate.%04d.exr, "
                "plate.1001-1100#.exr, or the name of one existing frame like plate.1001.exr"
            )
        prefix = os.path.join(directory, match.group(1))
        padding = len(match.group(2))
        suffix = match.group(3)
    if explicit is None:
        found = _discover(prefix, suffix, padding)
        if not found:
            raise PlateError(f"no frames of {prefix}{'#' * (padding or 4)}{suffix} found in {directory or '.'}")
        explicit = found
    return PlateSequence(prefix, suffix, padding or 1, explicit)


def _padding_of(marks: str) -> int:
    if marks == "#":
        return 4
    return len(marks)


def check_sequence(sequence: PlateSequence) -> None:
    """Every frame file must exist: raise :class:`PlateError` listing the missing ones."""
    missing = [sequence.path(f) for f in sequence.frames if not os.path.isfile(sequence.path(f))]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise PlateError(f"{len(missing)} frame(s) of {sequence.pattern} are missing: {shown}")


def output_would_clobber_plate(sequence: PlateSequence, output_paths: Iterable[str]) -> str | None:
    """The first output path that is also a plate frame, or None."""
    plate = {os.path.realpath(p) for p in sequence.paths()}
    for path in output_paths:
        if os.path.realpath(path) in plate:
            return path
    return None
