"""8-bit previews for the browser: frames as PNG/JPEG, masks as overlay PNGs.

Frames arrive from a :class:`~SegmentationCore.core.protocols.FrameSource` as
float sRGB (linear plates are already converted by the frame source), so a
preview is a clip, a scale to 8 bits and an encode. PNG is written here
with :mod:`zlib` (no image library needed); JPEG goes through OpenImageIO.
"""

from __future__ import annotations

import base64
import os
import struct
import tempfile
import zlib

import numpy as np


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float ``[0, 1]`` (any shape) to rounded ``uint8``; NaN becomes 0."""
    image = np.nan_to_num(np.asarray(image, np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(pixels: np.ndarray, level: int = 3) -> bytes:
    """PNG bytes of a ``uint8`` image: ``(H, W)`` grey, ``(H, W, 2)`` grey +
    alpha, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA."""
    pixels = np.ascontiguousarray(pixels)
    if pixels.dtype != np.uint8:
        raise ValueError(f"encode_png needs uint8 pixels, got {pixels.dtype}")
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    height, width, channels = pixels.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}.get(channels)
    if colour_type is None:
        raise ValueError(f"encode_png: cannot store {channels} channels")
    rows = pixels.reshape(height, width * channels)
    # "Up" filter (type 2) on every row: cheap in numpy, compresses mattes well.
    filtered = np.empty((height, width * channels + 1), np.uint8)
    filtered[:, 0] = 2
    filtered[:, 1:] = rows
    filtered[1:, 1:] -= rows[:-1]
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(filtered.tobytes(), level))
        + _chunk(b"IEND", b"")
    )


def encode_jpeg(pixels: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of an 8-bit RGB image, through OpenImageIO."""
    import OpenImageIO as oiio

    pixels = np.ascontiguousarray(pixels, np.uint8)
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    handle, path = tempfile.mkstemp(suffix=".jpg", prefix="segmentation-preview-")
    os.close(handle)
    try:
        spec = oiio.ImageSpec(width, height, channels, oiio.UINT8)
        spec.attribute("Compression", f"jpeg:{int(quality)}")
        output = oiio.ImageOutput.create(path)
        if output is None or not output.open(path, spec):
            raise OSError(f"OpenImageIO cannot write a JPEG preview: {oiio.geterror()}")
        ok = output.write_image(pixels)
        output.close()
        if not ok:
            raise OSError(f"OpenImageIO cannot write a JPEG preview: {output.geterror()}")
        with open(path, "rb") as handle_in:
            return handle_in.read()
    finally:
        os.unlink(path)


def frame_preview(image: np.ndarray, image_format: str = "png") -> tuple[bytes, str]:
    """``(bytes, content type)`` of a float sRGB frame as an 8-bit preview."""
    pixels = to_uint8(image)
    if image_format in ("jpg", "jpeg"):
        return encode_jpeg(pixels), "image/jpeg"
    if image_format == "png":
        return encode_png(pixels), "image/png"
    raise ValueError(f"unknown preview format {image_format!r}: use png or jpeg")


def mask_edges(binary: np.ndarray) -> np.ndarray:
    """Pixels of a boolean mask that touch a pixel outside it (4-neighbourhood)."""
    interior = binary.copy()
    interior[1:, :] &= binary[:-1, :]
    interior[:-1, :] &= binary[1:, :]
    interior[:, 1:] &= binary[:, :-1]
    interior[:, :-1] &= binary[:, 1:]
    return binary & ~interior


def mask_overlay_png(mask: np.ndarray, fill_alpha: float = 0.45, threshold: float = 0.5) -> bytes:
    """A white grey+alpha PNG of a probability mask for the browser to tint:
    soft fill (alpha ``fill_alpha * p``) plus an opaque one-pixel outline of
    the ``p >= threshold`` region."""
    mask = np.nan_to_num(np.asarray(mask, np.float32))
    alpha = np.clip(mask, 0.0, 1.0) * fill_alpha
    alpha[mask_edges(mask >= threshold)] = 1.0
    pixels = np.empty(mask.shape + (2,), np.uint8)
    pixels[..., 0] = 255
    pixels[..., 1] = to_uint8(alpha)
    return encode_png(pixels)


def decode_png_for_tests(data: bytes) -> np.ndarray:
    """Read a PNG produced by :func:`encode_png` back (``uint8``, ``(H, W, C)``)."""
    import OpenImageIO as oiio

    handle, path = tempfile.mkstemp(suffix=".png", prefix="segmentation-check-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        config = oiio.ImageSpec()
        config.attribute("oiio:UnassociatedAlpha", 1)
        buf = oiio.ImageBuf(path, 0, 0, config)
        pixels = buf.get_pixels(oiio.UINT8)
        if pixels is None or buf.has_error:
            raise OSError(f"cannot read PNG: {buf.geterror()}")
        return np.array(pixels)
    finally:
        os.unlink(path)


def png_data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")
