"""Reading plate frames from disk (OpenImageIO): headers and a streaming
:class:`PlateFrameSource` with a small LRU of working-resolution frames.

Colour: with ``colorspace="auto"`` float/half files (EXR plates) are taken
as scene-linear; 8/16-bit integer files as already sRGB-encoded.
``"linear"`` or ``"srgb"`` force either reading.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import threading
from typing import Iterable

import numpy as np

from ..core.errors import PlateError
from .oiio import oiio_module
from .sequence import PlateSequence, check_sequence
from .working import COLORSPACES, to_working_image, working_size


@dataclasses.dataclass
class FrameHeader:
    width: int
    height: int
    channels: list[str]
    format: str
    is_float: bool


def read_header(path: str) -> FrameHeader:
    """Resolution (display window), channels and pixel type of one frame."""
    oiio = oiio_module()
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


class PlateFrameSource:
    """A :class:`~SegmentationCore.core.protocols.FrameSource` streaming a plate from disk.

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
        oiio = oiio_module()
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
