"""Plate colour spaces: the engine's own readings and any OCIO colour space.

The models take sRGB-encoded Rec.709 pixels. A plate's colour space is one
of the engine's readings:

* ``"auto"``: float/half files are scene-linear Rec.709, integer files sRGB;
* ``"linear"``: scene-linear Rec.709 (encoded with the sRGB transfer function);
* ``"srgb"``: already sRGB-encoded (only clipped);

or the name (or alias) of any colour space of the active OCIO config:
``$OCIO`` when it is set, else OpenImageIO's built-in config (OpenImageIO
2.5 and later: ``ocio://default``, with ACEScg, ACEScct, ACES2065-1, Linear
Rec.2020, sRGB Encoded Rec.709 ...; camera log spaces such as ARRI LogC
are in ``OCIO=ocio://studio-config-latest`` or a studio's config).
OpenImageIO 2.4 without ``$OCIO`` knows only linear, sRGB and Rec709.

An OCIO colour space is converted to scene-linear Rec.709 at plate
resolution (OpenImageIO's ``colorconvert``); from there the pixels follow
the ``"linear"`` reading, so an ACEScg plate and the same picture stored as
linear Rec.709 give the same model input.
"""

from __future__ import annotations

import difflib
import functools
import os

import numpy as np

from ..core.errors import PlateError
from .oiio import oiio_module

READINGS = ("auto", "linear", "srgb")

#: Names of scene-linear Rec.709 in common configs, tried in order.
LINEAR_REC709_NAMES = (
    "Linear Rec.709 (sRGB)", "lin_rec709", "lin_rec709_srgb", "lin_srgb", "Utility - Linear - sRGB",
    "Utility - Linear - Rec.709", "scene-linear Rec.709-sRGB", "Linear Rec.709", "linear",
)


def config_name() -> str:
    """The active OCIO config: ``$OCIO``, else ``""`` (OpenImageIO's default)."""
    return os.environ.get("OCIO", "")


@functools.lru_cache(maxsize=4)
def _config(name: str):
    oiio = oiio_module()
    config = oiio.ColorConfig(name)
    spaces = list(config.getColorSpaceNames())
    aliases: dict[str, str] = {}
    for space in spaces:
        aliases[space] = space
        try:
            for alias in config.getAliases(space):
                aliases.setdefault(str(alias), space)
        except (AttributeError, TypeError):  # pragma: no cover - very old bindings
            pass
    if not spaces:
        error = config.geterror() if hasattr(config, "geterror") else ""
        raise PlateError(f"the OCIO config {name or '(OpenImageIO built-in)'} has no colour spaces: {error or 'cannot be read'}; check $OCIO")
    return config, spaces, aliases


def colour_spaces() -> list[str]:
    """The colour space names of the active OCIO config."""
    return list(_config(config_name())[1])


def resolve(colorspace: str) -> str:
    """``"auto"``, ``"linear"``, ``"srgb"`` (any case), or the canonical name
    of an OCIO colour space of the active config (names and aliases; exact,
    then case-insensitive). Unknown names are a :class:`PlateError` listing
    close names."""
    text = str(colorspace).strip()
    if text.lower() in READINGS:
        return text.lower()
    _, spaces, aliases = _config(config_name())
    if text in aliases:
        return aliases[text]
    folded = {name.lower(): target for name, target in aliases.items()}
    if text.lower() in folded:
        return folded[text.lower()]
    lowered: dict[str, str] = {}
    for name in list(spaces) + list(aliases):  # canonical names first
        lowered.setdefault(name.lower(), name)
    close = [lowered[n] for n in difflib.get_close_matches(text.lower(), list(lowered), n=5, cutoff=0.6)]
    close += [n for n in spaces if text.lower() in n.lower() and n not in close][: max(0, 5 - len(close))]
    where = f"$OCIO={config_name()}" if config_name() else "OpenImageIO's built-in OCIO config"
    hint = f"; close names: {', '.join(close)}" if close else f"; it has: {', '.join(spaces[:30])}"
    raise PlateError(
        f"unknown colour space {colorspace!r} (not auto, linear or srgb, nor a colour space of {where}){hint}"
    )


def linear_rec709_name() -> str:
    """The active config's scene-linear Rec.709 colour space."""
    _, _, aliases = _config(config_name())
    for name in LINEAR_REC709_NAMES:
        if name in aliases:
            return aliases[name]
    raise PlateError(
        f"the OCIO config {config_name() or '(built-in)'} has no scene-linear Rec.709 colour space "
        f"(looked for {', '.join(LINEAR_REC709_NAMES)}); use --colorspace linear or srgb"
    )


def to_linear_rec709(pixels: np.ndarray, colorspace: str) -> np.ndarray:
    """``(H, W, 3)`` float32 pixels in the OCIO ``colorspace`` -> scene-linear Rec.709."""
    source_name = resolve(colorspace)
    if source_name in READINGS:
        raise ValueError(f"{colorspace!r} is an engine reading, not an OCIO colour space")
    target = linear_rec709_name()
    if source_name == target:
        return np.ascontiguousarray(pixels, np.float32)
    return _convert(pixels, source_name, target)


def convert(pixels: np.ndarray, source: str, target: str) -> np.ndarray:
    """``(H, W, 3)`` pixels from one colour space of the active config to another
    (names or aliases); used to make test plates and the format table."""
    return _convert(pixels, resolve(source), resolve(target))


def _convert(pixels: np.ndarray, source: str, target: str) -> np.ndarray:
    oiio = oiio_module()
    pixels = np.ascontiguousarray(pixels, np.float32)
    height, width = pixels.shape[:2]
    buf = oiio.ImageBuf(oiio.ImageSpec(width, height, 3, oiio.FLOAT))
    if not buf.set_pixels(oiio.ROI(0, width, 0, height, 0, 1, 0, 3), pixels):
        raise PlateError(f"cannot convert plate pixels from {source}: {buf.geterror()}")
    converted = oiio.ImageBufAlgo.colorconvert(buf, source, target, False, "", "", config_name())
    if converted.has_error:
        raise PlateError(f"cannot convert plate pixels from {source} to {target}: {converted.geterror()}")
    return np.asarray(converted.get_pixels(oiio.FLOAT), np.float32).reshape(height, width, 3)
