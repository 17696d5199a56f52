"""Reading plate frames from disk (OpenImageIO): headers, strict pixel reads
and a streaming :class:`PlateFrameSource` with a small LRU of working frames.

Colour: with ``colorspace="auto"`` float/half files (EXR plates) are taken
as scene-linear; 8/16-bit integer files as already sRGB-encoded.
``"linear"`` or ``"srgb"`` force either reading; any other name is a colour
space of the active OCIO config (:mod:`SegmentationCore.plates.colour`).

Windows: mattes cover the plate's *data window* (overscan included) unless
``crop_to_display`` (then the display window; pixels outside the data
window are black). The working image is that window, desqueezed to square
pixels for anamorphic plates (``PixelAspectRatio``), at most ``max_size``
on its longest side.

Broken frames are always errors: every read checks OpenImageIO's error
state *after* the pixels are read (a truncated EXR opens fine and only
fails, or reads as zeros with "Some scanline chunks were missing or
corrupted", when its pixels are decoded). Nothing is ever zero-filled.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import threading
from typing import Iterable

import numpy as np

from ..core.errors import PlateError
from . import colour
from .oiio import oiio_module
from .sequence import PlateSequence, check_sequence
from .working import to_working_image, working_size

BROKEN_HINT = "the file is truncated, partly written or corrupt: re-copy or re-render it (is it still being written?)"


@dataclasses.dataclass(frozen=True)
class Window:
    """A pixel rectangle: origin ``x, y`` (top-left, y down) and size."""

    x: int
    y: int
    width: int
    height: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        """Inclusive ``(x_min, y_min, x_max, y_max)``, as EXR stores it."""
        return (self.x, self.y, self.x + self.width - 1, self.y + self.height - 1)

    @property
    def size(self) -> tuple[int, int]:
        return (self.height, self.width)

    def label(self) -> str:
        return f"{self.width}x{self.height}{self.x:+d}{self.y:+d}"


@dataclasses.dataclass
class FrameHeader:
    width: int  # display window
    height: int
    channels: list[str]
    format: str
    is_float: bool
    data_window: Window | None = None
    display_window: Window | None = None
    pixel_aspect: float = 1.0

    def matte_window(self, crop_to_display: bool = False) -> Window:
        """The pixels mattes cover: the data window, or the display window."""
        display = self.display_window or Window(0, 0, self.width, self.height)
        return display if crop_to_display else (self.data_window or display)

    def layout(self, crop_to_display: bool = False) -> tuple:
        """What must stay the same on every frame of a shot."""
        return (self.matte_window(crop_to_display), self.display_window, round(self.pixel_aspect, 6))


def _broken(path: str, detail: str) -> PlateError:
    return PlateError(f"cannot read plate frame {path}: {detail.strip() or 'unknown error'}; {BROKEN_HINT}")


def _open(path: str):
    oiio = oiio_module()
    try:
        size = os.path.getsize(path)
    except OSError as error:
        raise PlateError(f"plate frame {path} is missing or unreadable ({error.strerror})") from None
    if size == 0:
        raise PlateError(f"plate frame {path} is empty (0 bytes); {BROKEN_HINT}")
    image_input = oiio.ImageInput.open(path)
    if image_input is None:
        raise _broken(path, oiio.geterror())
    return image_input


def _header(path: str, spec) -> FrameHeader:
    fmt = str(spec.format)
    formats = [str(f) for f in spec.channelformats] or [fmt]
    is_float = any(f in ("half", "float", "double") for f in formats)
    data = Window(int(spec.x), int(spec.y), int(spec.width), int(spec.height))
    display = Window(int(spec.full_x), int(spec.full_y), int(spec.full_width or spec.width), int(spec.full_height or spec.height))
    aspect = float(spec.get_float_attribute("PixelAspectRatio", 1.0) or 1.0)
    if not np.isfinite(aspect) or aspect <= 0:
        raise PlateError(f"plate frame {path} has an invalid PixelAspectRatio {aspect}")
    if data.width <= 0 or data.height <= 0:
        raise PlateError(f"plate frame {path} has an empty data window")
    return FrameHeader(display.width, display.height, list(spec.channelnames), fmt, is_float, data, display, aspect)


def read_header(path: str) -> FrameHeader:
    """Display and data windows, pixel aspect, channels and pixel type of one frame."""
    image_input = _open(path)
    try:
        return _header(path, image_input.spec())
    finally:
        image_input.close()


def _rgb_channels(names: list[str]) -> tuple[int, int, list[int]]:
    """Channel range to read and the R, G, B indices within it."""
    if all(c in names for c in ("R", "G", "B")):
        wanted = [names.index(c) for c in ("R", "G", "B")]
    elif len(names) >= 3:
        wanted = [0, 1, 2]
    else:
        wanted = [0, 0, 0]
    first, last = min(wanted), max(wanted) + 1
    return first, last, [w - first for w in wanted]


def read_rgb(path: str, crop_to_display: bool = False) -> tuple[FrameHeader, np.ndarray]:
    """One frame's RGB as float32 ``(H, W, 3)`` over its matte window (see
    module docs), checked strictly: any read error is a :class:`PlateError`
    naming the file. Only the R, G, B channel range is decoded."""
    oiio = oiio_module()
    image_input = _open(path)
    try:
        spec = image_input.spec()
        header = _header(path, spec)
        first, last, picks = _rgb_channels(header.channels)
        pixels = image_input.read_image(0, 0, first, last, oiio.FLOAT)
        error = image_input.geterror() if image_input.has_error else ""
        if pixels is None or error:
            raise _broken(path, error or oiio.geterror() or "the pixels cannot be decoded")
    finally:
        image_input.close()
    global_error = oiio.geterror()
    if global_error:
        raise _broken(path, global_error)
    data = header.data_window
    pixels = np.asarray(pixels, np.float32)
    if pixels.size != data.width * data.height * (last - first):
        raise _broken(path, f"read {pixels.size} values for a {data.width}x{data.height} data window")
    pixels = pixels.reshape(data.height, data.width, last - first)
    rgb = pixels if picks == [0, 1, 2] and last - first == 3 else pixels[:, :, picks]
    if not crop_to_display or header.display_window == data:
        return header, np.ascontiguousarray(rgb)
    display = header.display_window
    framed = np.zeros((display.height, display.width, 3), np.float32)
    x0, y0 = max(data.x, display.x), max(data.y, display.y)
    x1 = min(data.x + data.width, display.x + display.width)
    y1 = min(data.y + data.height, display.y + display.height)
    if x1 > x0 and y1 > y0:
        framed[y0 - display.y:y1 - display.y, x0 - display.x:x1 - display.x] = rgb[y0 - data.y:y1 - data.y, x0 - data.x:x1 - data.x]
    return header, framed


class PlateFrameSource:
    """A :class:`~SegmentationCore.core.protocols.FrameSource` streaming a plate from disk.

    ``plate_size`` is ``(height, width)`` of the stored pixels mattes are
    written at (the matte window); ``size`` the square-pixel working size.
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
        crop_to_display: bool = False,
    ):
        self.sequence = sequence
        self.colorspace = colour.resolve(colorspace)
        self.max_size = max_size
        self.crop_to_display = bool(crop_to_display)
        if check:
            check_sequence(sequence)
        first = sequence.path(sequence.frames[0])
        self._header = read_header(first)
        self.header = self._header
        self.window = self._header.matte_window(self.crop_to_display)
        self.pixel_aspect = self._header.pixel_aspect
        self.plate_size = self.window.size
        self._size = working_size(self.plate_size, max_size, self.pixel_aspect)
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

    def reading(self, header: FrameHeader | None = None) -> str:
        """How pixels are read: "linear", "srgb" or an OCIO colour space."""
        if self.colorspace not in colour.READINGS:
            return self.colorspace
        return "linear" if self.linear_input(header) else "srgb"

    def cache_key(self, frame: int) -> str:
        path = self.sequence.path(frame)
        try:
            stat = os.stat(path)
            stamp = f"{stat.st_mtime_ns}:{stat.st_size}"
        except OSError:
            stamp = "missing"
        crop = "|display" if self.crop_to_display else ""
        return f"{os.path.abspath(path)}|{stamp}|{self._size[1]}x{self._size[0]}|{self.colorspace}{crop}"

    def _check_layout(self, path: str, header: FrameHeader) -> None:
        if header.layout(self.crop_to_display) != self._header.layout(self.crop_to_display):
            first = self.sequence.path(self.sequence.frames[0])

            def describe(h: FrameHeader) -> str:
                text = f"{h.width}x{h.height}"
                if h.data_window != h.display_window:
                    text += f" (data window {h.data_window.label()})"
                if abs(h.pixel_aspect - 1.0) > 1e-6:
                    text += f" pixel aspect {h.pixel_aspect:g}"
                return text

            hint = "" if self.crop_to_display else "; if only the data window changes, --crop-to-display may help"
            raise PlateError(
                f"plate frame {path} is {describe(header)} but the shot is {describe(self._header)} (from {first}){hint}"
            )

    def check_headers(self, frames: Iterable[int] | None = None) -> None:
        """Open every frame's header: unreadable files or a resolution,
        window or pixel aspect change are :class:`PlateError`\\ s naming the
        frame file."""
        for frame in frames if frames is not None else self.sequence.frames:
            path = self.sequence.path(frame)
            self._check_layout(path, read_header(path))

    def check_pixels(self, frames: Iterable[int] | None = None) -> None:
        """Decode every frame's pixels once (strict reads, no resize): a
        broken frame is a :class:`PlateError` naming its file. Run before
        anything is written, so a plate damaged or still being copied never
        yields mattes."""
        for frame in frames if frames is not None else self.sequence.frames:
            path = self.sequence.path(frame)
            header, _ = read_rgb(path, self.crop_to_display)
            self._check_layout(path, header)

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
        path = self.sequence.path(frame)
        if not os.path.isfile(path):
            raise PlateError(f"plate frame {path} is missing")
        header, pixels = read_rgb(path, self.crop_to_display)
        self._check_layout(path, header)
        try:
            return to_working_image(pixels, self.max_size, self.reading(header), self.pixel_aspect)
        except PlateError as error:
            raise PlateError(f"plate frame {path}: {error}") from error

