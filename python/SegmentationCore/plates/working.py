"""The model's working image: colour conversion and resizing of plate pixels,
and masks back to plate resolution.

Colour: models take sRGB-encoded RGB in [0, 1]. ``"linear"`` pixels
(scene-linear, Rec.709/sRGB primaries) are clipped to [0, 1] and encoded
with the sRGB transfer function; ``"srgb"`` pixels are only clipped; any
other name is a colour space of the active OCIO config, converted to
scene-linear Rec.709 first (:mod:`SegmentationCore.plates.colour`).
Highlights above 1.0 clip.

Anamorphic plates (``pixel_aspect`` != 1) are desqueezed: the working
image has square pixels, ``width * pixel_aspect`` wide before scaling.

Frames are resized (OpenImageIO's filtered resize, in float, in the pixels'
own encoding, i.e. in linear light for EXR) so the longest side is at most
``max_size`` (1024 by default). :func:`to_working_image` is used by every
reader (``autoseg``, the Gaffer nodes, the browser tools): the same pixels
give the same model input. Masks go back to plate resolution with
:func:`upsample_masks`, or one band of rows at a time, bit for bit the
same, with :class:`MaskUpsampler` (the write stage: memory of a band, not
of the plate).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..core import maskops
from ..core.errors import PlateError
from . import colour
from .oiio import oiio_module

#: The engine's own readings; any OCIO colour space name is accepted too.
COLORSPACES = colour.READINGS


def working_size(plate_size: tuple[int, int], max_size: int | None, pixel_aspect: float = 1.0) -> tuple[int, int]:
    """``(height, width)`` of the square-pixel working image: the plate
    desqueezed by ``pixel_aspect``, scaled so the longest side is at most
    ``max_size``."""
    height, width = plate_size
    if pixel_aspect <= 0 or not np.isfinite(pixel_aspect):
        raise PlateError(f"pixel aspect ratio {pixel_aspect} is not a positive number")
    if abs(pixel_aspect - 1.0) > 1e-6:
        width = max(1, int(round(width * pixel_aspect)))
    if not max_size or max(height, width) <= max_size:
        return (int(height), int(width))
    scale = max_size / max(height, width)
    return (max(1, int(round(height * scale))), max(1, int(round(width * scale))))


def linear_to_srgb(values: np.ndarray) -> np.ndarray:
    """sRGB transfer function (IEC 61966-2-1) on values clipped to [0, 1]."""
    values = np.clip(np.asarray(values, np.float32), 0.0, 1.0)
    encoded = np.where(values <= 0.0031308, values * 12.92, 1.055 * np.power(values, 1 / 2.4) - 0.055)
    return np.clip(encoded, 0.0, 1.0).astype(np.float32)


def to_working_image(pixels: np.ndarray, max_size: int | None, colorspace: str, pixel_aspect: float = 1.0) -> np.ndarray:
    """The model input made from plate pixels: ``(H, W, 3)`` RGB at plate
    resolution (display window, rows from the top) to a float32
    ``(h, w, 3)`` sRGB-encoded image in [0, 1] at :func:`working_size`.

    The resize is OpenImageIO's filtered resize, done in float in the
    pixels' own encoding; non-finite values are then replaced (NaN -> 0,
    +inf -> 1, -inf -> 0). ``colorspace`` says what the pixels are:
    ``"linear"`` (scene-linear, encoded with the sRGB transfer function),
    ``"srgb"`` (already encoded, only clipped), any case, or a colour space
    of the active OCIO config (converted to scene-linear Rec.709 at plate
    resolution, then as ``"linear"``). ``pixel_aspect`` desqueezes
    anamorphic pixels (see :func:`working_size`).
    """
    pixels = np.asarray(pixels)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise PlateError(f"plate pixels must be (height, width, 3) RGB, not {pixels.shape}")
    reading = colour.resolve(colorspace)
    if reading == "auto":
        raise PlateError("colour space 'auto' needs the file: give the pixels' colour space (linear, srgb or an OCIO name)")
    if reading not in COLORSPACES:
        pixels = colour.to_linear_rec709(pixels, reading)
        reading = "linear"
    height, width = working_size(pixels.shape[:2], max_size, pixel_aspect)
    if (height, width) != pixels.shape[:2]:
        oiio = oiio_module()
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


def upsample_masks(layers: Mapping[str, np.ndarray], plate_size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Working-resolution probabilities to plate resolution (bilinear; the
    plate's stored pixels, so anamorphic mattes are squeezed back)."""
    return {name: np.clip(maskops.resize_bilinear(mask, plate_size), 0.0, 1.0) for name, mask in layers.items()}


class MaskUpsampler:
    """:func:`upsample_masks` one band of plate rows at a time, bit for bit.

    ``rows(y0, y1)`` returns ``{name: (y1 - y0, W) float32}``: rows ``y0``
    to ``y1`` (exclusive) of ``upsample_masks(layers, plate_size)``, made
    from the working rows :meth:`working_rows` names (the band's own plus
    one row of halo each side, as bilinear interpolation reads them), so
    a band costs a band's memory whatever the plate size. It is the
    ``coverages`` callable of
    :func:`SegmentationCore.idmatte.output.write_frame_bands`."""

    def __init__(self, layers: Mapping[str, np.ndarray], plate_size: tuple[int, int]):
        self.layers = {name: np.asarray(mask, np.float32) for name, mask in layers.items()}
        self.plate_size = (int(plate_size[0]), int(plate_size[1]))
        shapes = {mask.shape for mask in self.layers.values()}
        if len(shapes) > 1:
            raise PlateError(f"working masks must all have one size to upsample, got {sorted(shapes)}")
        self.working_size = next(iter(shapes)) if shapes else self.plate_size
        self._same = tuple(self.working_size) == self.plate_size
        if not self._same:
            # the weights resize_bilinear uses, so the bands are its rows exactly
            self._y = maskops._axis_weights(self.working_size[0], self.plate_size[0])
            self._x = maskops._axis_weights(self.working_size[1], self.plate_size[1])

    @property
    def names(self) -> list[str]:
        return list(self.layers)

    def working_rows(self, y0: int, y1: int) -> tuple[int, int]:
        """The working-resolution rows ``r0`` to ``r1`` (exclusive) that plate
        rows ``y0`` to ``y1`` are interpolated from."""
        if self._same:
            return y0, y1
        low, high, _ = self._y
        return int(low[y0]), int(high[y1 - 1]) + 1

    def rows(self, y0: int, y1: int) -> dict[str, np.ndarray]:
        y0, y1 = max(0, int(y0)), min(self.plate_size[0], int(y1))
        if self._same:
            return {name: np.clip(mask[y0:y1], 0.0, 1.0) for name, mask in self.layers.items()}
        low, high, weight = (values[y0:y1] for values in self._y)
        x_low, x_high, x_weight = self._x
        r0 = int(low[0]) if y1 > y0 else 0
        low, high = low - r0, high - r0
        band = {}
        for name, mask in self.layers.items():
            window = mask[r0:int(high[-1]) + r0 + 1] if y1 > y0 else mask[:0]
            rows = window[low, :] * (1 - weight)[:, None] + window[high, :] * weight[:, None]
            result = rows[:, x_low] * (1 - x_weight)[None, :] + rows[:, x_high] * x_weight[None, :]
            band[name] = np.clip(result.astype(np.float32, copy=False), 0.0, 1.0)
        return band
