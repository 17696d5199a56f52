"""Plates on disk: image-sequence names, streaming frames, colour, resizing.

Sequence names (:func:`parse_sequence`)::

    plate.####.exr        # one '#' per digit (padding 4)
    plate.#.exr           # a single '#' means 4 digits (OpenImageIO convention)
    plate.@@@.exr         # one '@' per digit
    plate.%04d.exr        # printf style
    plate.1001-1100#.exr  # frame range in the name (oiiotool style)
    plate.1001.exr        # one existing frame: its siblings are found on disk

The frame range comes from the name, from ``frames="1001-1100"``
(``"1001-1010,1020"`` lists work too), or from the files on disk.

Colour (:class:`PlateFrameSource`): models take sRGB-encoded RGB in [0, 1].
With ``colorspace="auto"`` float/half files (EXR plates) are taken as
scene-linear with Rec.709/sRGB primaries: values are clipped to [0, 1] and
encoded with the sRGB transfer function; 8/16-bit integer files are taken
as already sRGB-encoded. ``"linear"`` or ``"srgb"`` force either reading.
Highlights above 1.0 clip; plates in other gamuts (ACEScg, ...) should be
converted to linear Rec.709 first.

Frames are resized (OpenImageIO's filtered resize, in float, in the file's
own encoding, i.e. in linear light for EXR) so the longest side is at most
``max_size`` (1024 by default), and cached in a small LRU. Masks go back to
plate resolution with :func:`upsample_masks`. :func:`to_working_image` is
that resize and colour conversion on its own, for pixels read by something
else (the Gaffer nodes): the same pixels give the same model input.
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import os
import re
import threading
from typing import Iterable, Mapping, Sequence

import numpy as np

from . import maskops
from .errors import PlateError

COLORSPACES = ("auto", "linear", "srgb")

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


def _oiio():
    import OpenImageIO as oiio

    return oiio


@dataclasses.dataclass
class FrameHeader:
    width: int
    height: int
    channels: list[str]
    format: str
    is_float: bool


def read_header(path: str) -> FrameHeader:
    """Resolution (display window), channels and pixel type of one frame."""
    oiio = _oiio()
    image_input = oiio.ImageInput.open(path)
    if image_input is None:
        raise PlateError(f"cannot read plate frame {path}: {oiio.geterror() or 'unknown error'}")
    try:
        spec = image_input.spec()
        fmt = str(spec.format)
        formats = [str(f) for f in spec.channelformats] or [fmt]
        is_float = any(f in ("half", "float", "double") for f in formats)
        return FrameHeader(spec.full_width or spec.width, spec.full_height or spec.height, list(spec.channelnames), fmt, is_float)
    finally:
        image_input.close()


def working_size(plate_size: tuple[int, int], max_size: int | None) -> tuple[int, int]:
    """``(height, width)`` scaled so the longest side is at most ``max_size``."""
    height, width = plate_size
    if not max_size or max(height, width) <= max_size:
        return (int(height), int(width))
    scale = max_size / max(height, width)
    return (max(1, int(round(height * scale))), max(1, int(round(width * scale))))


def linear_to_srgb(values: np.ndarray) -> np.ndarray:
    """sRGB transfer function (IEC 61966-2-1) on values clipped to [0, 1]."""
    values = np.clip(np.asarray(values, np.float32), 0.0, 1.0)
    encoded = np.where(values <= 0.0031308, values * 12.92, 1.055 * np.power(values, 1 / 2.4) - 0.055)
    return np.clip(encoded, 0.0, 1.0).astype(np.float32)


def to_working_image(pixels: np.ndarray, max_size: int | None, colorspace: str) -> np.ndarray:
    """The model input made from plate pixels: ``(H, W, 3)`` RGB at plate
    resolution (display window, rows from the top) to a float32
    ``(h, w, 3)`` sRGB-encoded image in [0, 1] at :func:`working_size`.

    The resize is OpenImageIO's filtered resize, done in float in the
    pixels' own encoding; non-finite values are then replaced (NaN -> 0,
    +inf -> 1, -inf -> 0). ``colorspace`` says what the pixels are:
    ``"linear"`` (scene-linear, encoded with the sRGB transfer function) or
    ``"srgb"`` (already encoded, only clipped); any case.
    """
    pixels = np.asarray(pixels)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise PlateError(f"plate pixels must be (height, width, 3) RGB, not {pixels.shape}")
    reading = str(colorspace).lower()
    if reading not in ("linear", "srgb"):
        raise PlateError(f"unknown colour space {colorspace!r} for plate pixels; use 'linear' or 'srgb'")
    height, width = working_size(pixels.shape[:2], max_size)
    if (height, width) != pixels.shape[:2]:
        oiio = _oiio()
        source = oiio.ImageBuf(oiio.ImageSpec(pixels.shape[1], pixels.shape[0], 3, oiio.FLOAT))
        if not source.set_pixels(oiio.ROI(0, pixels.shape[1], 0, pixels.shape[0], 0, 1, 0, 3), np.ascontiguousarray(pixels, np.float32)):
            raise PlateError(f"cannot resize plate pixels: {source.geterror()}")
        resized = oiio.ImageBufAlgo.resize(source, roi=oiio.ROI(0, width, 0, height, 0, 1, 0, 3))
        if resized.has_error:
            raise PlateError(f"cannot resize plate pixels: {resized.geterror()}")
        pixels = resized.get_pixels(oiio.FLOAT)
    pixels = np.asarray(pixels, np.float32).reshape(height, width, 3)
    if not np.isfinite(pixels).all():
        pixels = np.nan_to_num(pixels, nan=0.0, posinf=1.0, neginf=0.0)
    if reading == "linear":
        return linear_to_srgb(pixels)
    return np.clip(pixels, 0.0, 1.0).astype(np.float32)


class PlateFrameSource:
    """A :class:`~SegmentationCore.protocols.FrameSource` streaming a plate from disk.

    At most ``cache_frames`` working-resolution frames are held (LRU). The
    cache key of a frame names its file, modification time, size, the working
    size and colour reading, so feature caches never mix up re-rendered plates.
    """

    def __init__(
        self,
        sequence: PlateSequence,
        max_size: int | None = 1024,
        colorspace: str = "auto",
        cache_frames: int = 4,
        check: bool = True,
    ):
        if colorspace not in COLORSPACES:
            raise PlateError(f"unknown colour space {colorspace!r}; choose one of {', '.join(COLORSPACES)}")
        self.sequence = sequence
        self.colorspace = colorspace
        self.max_size = max_size
        if check:
            check_sequence(sequence)
        first = sequence.path(sequence.frames[0])
        self._header = read_header(first)
        self.plate_size = (self._header.height, self._header.width)
        self._size = working_size(self.plate_size, max_size)
        self._cache: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()
        self._cache_frames = max(1, int(cache_frames))
        self._lock = threading.Lock()

    @property
    def frame_numbers(self) -> list[int]:
        return list(self.sequence.frames)

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def linear_input(self, header: FrameHeader | None = None) -> bool:
        header = header or self._header
        if self.colorspace == "linear":
            return True
        if self.colorspace == "srgb":
            return False
        return header.is_float

    def cache_key(self, frame: int) -> str:
        path = self.sequence.path(frame)
        try:
            stat = os.stat(path)
            stamp = f"{stat.st_mtime_ns}:{stat.st_size}"
        except OSError:
            stamp = "missing"
        return f"{os.path.abspath(path)}|{stamp}|{self._size[1]}x{self._size[0]}|{self.colorspace}"

    def check_headers(self, frames: Iterable[int] | None = None) -> None:
        """Open every frame's header: unreadable files or a resolution change
        are :class:`PlateError`\\ s naming the frame file."""
        for frame in frames if frames is not None else self.sequence.frames:
            path = self.sequence.path(frame)
            header = read_header(path)
            if (header.height, header.width) != self.plate_size:
                raise PlateError(
                    f"plate frame {path} is {header.width}x{header.height} but the shot is "
                    f"{self.plate_size[1]}x{self.plate_size[0]} (from {self.sequence.path(self.sequence.frames[0])})"
                )

    def image(self, frame: int) -> np.ndarray:
        frame = int(frame)
        with self._lock:
            cached = self._cache.get(frame)
            if cached is not None:
                self._cache.move_to_end(frame)
                return cached
        if frame not in set(self.sequence.frames):
            raise PlateError(f"frame {frame} is not part of {self.sequence.pattern} ({self.sequence.frames[0]}-{self.sequence.frames[-1]})")
        image = self._read(frame)
        image.setflags(write=False)
        with self._lock:
            self._cache[frame] = image
            while len(self._cache) > self._cache_frames:
                self._cache.popitem(last=False)
        return image

    def _read(self, frame: int) -> np.ndarray:
        oiio = _oiio()
        path = self.sequence.path(frame)
        if not os.path.isfile(path):
            raise PlateError(f"plate frame {path} is missing")
        buf = oiio.ImageBuf(path)
        spec = buf.spec()
        if buf.has_error or spec.width == 0:
            raise PlateError(f"cannot read plate frame {path}: {buf.geterror() or oiio.geterror()}")
        full = (spec.full_height or spec.height, spec.full_width or spec.width)
        if full != self.plate_size:
            raise PlateError(f"plate frame {path} is {full[1]}x{full[0]} but the shot is {self.plate_size[1]}x{self.plate_size[0]}")
        names = list(spec.channelnames)
        if all(c in names for c in ("R", "G", "B")):
            buf = oiio.ImageBufAlgo.channels(buf, ("R", "G", "B"))
        elif len(names) >= 3:
            buf = oiio.ImageBufAlgo.channels(buf, (0, 1, 2))
        else:
            buf = oiio.ImageBufAlgo.channels(buf, (0, 0, 0))
        if buf.spec().roi != buf.spec().roi_full:
            buf = oiio.ImageBufAlgo.crop(buf, buf.spec().roi_full)
        pixels = buf.get_pixels(oiio.FLOAT)
        if buf.has_error or pixels is None or np.asarray(pixels).size != full[0] * full[1] * 3:
            raise PlateError(f"cannot read plate frame {path}: {buf.geterror() or oiio.geterror() or 'truncated or corrupt file'}")
        header = FrameHeader(full[1], full[0], names, str(spec.format), str(spec.format) in ("half", "float", "double"))
        reading = "linear" if self.linear_input(header) else "srgb"
        return to_working_image(np.asarray(pixels, np.float32).reshape(full[0], full[1], 3), self.max_size, reading)


def upsample_masks(layers: Mapping[str, np.ndarray], plate_size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Working-resolution probabilities to plate resolution (bilinear)."""
    return {name: np.clip(maskops.resize_bilinear(mask, plate_size), 0.0, 1.0) for name, mask in layers.items()}


def output_would_clobber_plate(sequence: PlateSequence, output_paths: Iterable[str]) -> str | None:
    """The first output path that is also a plate frame, or None."""
    plate = {os.path.realpath(p) for p in sequence.paths()}
    for path in output_paths:
        if os.path.realpath(path) in plate:
            return path
    return None

