"""ObjectId files: deep scanline EXRs following OpenEXR's Deep IDs spec.

One file per frame. Every pixel holds one deep sample per layer that covers
it (alpha at least ``min_alpha``), front to back:

========  ======  =====================================================
channel   type    content
========  ======  =====================================================
``A``     half    the layer's own alpha at this pixel (its soft mask)
``Z``     float   depth order: 1 for the front layer of the frame, 2 ...
``id``    uint    MurmurHash3_x86_32 (seed 0) of the UTF-8 layer name
========  ======  =====================================================

Header: ZIPS compression (one scan line per chunk), the standard
``idManifest`` attribute (channel ``id``, component ``name``, hash scheme
``MurmurHash3_32``, encoding ``id``, lifetime stable) and a JSON copy of the
manifest, ``{"<name>": "<8 hex digits of id>"}``, in ``objectid/manifest``.

Flattening a file (alpha over, e.g. OpenImageIO's ``flatten`` or Nuke's
``DeepToImage``) gives the union of all layers, ``1 - prod(1 - A)``.
Reading returns every layer's own alpha (half precision).
"""

from __future__ import annotations

import functools
import io
import json
import os
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..core import atomic_output, errors
from . import bands, deep_exr
from . import exr_header as hdr
from . import idmanifest
from .idsamples import DEFAULT_MIN_ALPHA, LayerSamples
from .murmur import murmurhash3_32

ID_CHANNEL = "id"
ALPHA_CHANNEL = "A"
DEPTH_CHANNEL = "Z"
MANIFEST_ATTRIBUTE = "objectid/manifest"
UNKNOWN_ID_PREFIX = "#"  # ids missing from a file's manifest are named "#<8 hex>"


@functools.lru_cache(maxsize=64)
def _id_manifest_attribute(names: tuple[str, ...]) -> tuple[str, bytes]:
    """The standard ``idManifest`` attribute for ``names``: channel ``id``,
    component ``name``, MurmurHash3_32, encoding ``id``, lifetime stable.
    Encoded by :mod:`.idmanifest` (no OpenEXR library, so this is safe
    inside Gaffer's process)."""
    return idmanifest.name_manifest_attribute(ID_CHANNEL, names, [murmurhash3_32(name) for name in names])


def manifest_json(names: Iterable[str]) -> str:
    return json.dumps({name: f"{murmurhash3_32(name):08x}" for name in names}, ensure_ascii=False)


class ObjectIdBandWriter:
    """Writes an ObjectId file to an open binary ``stream`` band by band:
    :meth:`write` takes the samples of the next band of rows
    (:mod:`.bands`), :meth:`finish` completes the file."""

    def __init__(
        self, stream, names: Sequence[str], width: int, height: int, windows: hdr.ImageWindows | None = None,
        metadata: Mapping[str, str] | None = None,
    ):
        self.names = list(names)
        self.hashes = np.array([murmurhash3_32(name) for name in self.names], dtype=np.uint32)
        attributes = {name: hdr.attr_string(value) for name, value in (metadata or {}).items()}  # extra string attributes
        attributes.update({
            "idManifest": _id_manifest_attribute(tuple(self.names)),
            MANIFEST_ATTRIBUTE: hdr.attr_string(manifest_json(self.names)),
        })
        channels = [(ALPHA_CHANNEL, hdr.PIXEL_HALF), (DEPTH_CHANNEL, hdr.PIXEL_FLOAT), (ID_CHANNEL, hdr.PIXEL_UINT)]
        self.width = int(width)
        self._writer = deep_exr.DeepScanlineWriter(stream, width, height, channels, attributes, "zips", windows=windows)

    def write(self, samples: LayerSamples) -> None:
        channels = [
            deep_exr.DeepChannel(ALPHA_CHANNEL, hdr.PIXEL_HALF, samples.alpha.astype(np.float16)),
            deep_exr.DeepChannel(DEPTH_CHANNEL, hdr.PIXEL_FLOAT, (samples.layer + 1).astype(np.float32)),
            deep_exr.DeepChannel(ID_CHANNEL, hdr.PIXEL_UINT, self.hashes[samples.layer]),
        ]
        self._writer.write_lines(samples.counts.reshape(samples.height, self.width), channels)

    def finish(self) -> None:
        self._writer.finish()


def band_writer(frame: bands.FrameBands, windows: hdr.ImageWindows | None = None, metadata: Mapping[str, str] | None = None):
    """The :func:`.bands.write_files` writer factory of an ObjectId file of
    ``frame`` (``metadata``: extra string attributes, e.g. the QC digest)."""
    return lambda stream: ObjectIdBandWriter(stream, frame.names, frame.width, frame.height, windows, metadata)


def encode_objectid(
    layers: Mapping[str, np.ndarray],
    *,
    depth_order: Sequence[str] | None = None,
    min_alpha: float = DEFAULT_MIN_ALPHA,
    shape: tuple[int, int] | None = None,
    path: str | os.PathLike = "<memory>",
    windows: hdr.ImageWindows | None = None,
) -> bytes:
    """The bytes of an ObjectId file for ``layers`` (see :func:`write_objectid`)."""
    frame = bands.from_layers(path, layers, depth_order, min_alpha, shape)
    stream = io.BytesIO()
    bands.run(frame, [band_writer(frame, windows)(stream)])
    return stream.getvalue()


def write_objectid(
    path: str | os.PathLike,
    layers: Mapping[str, np.ndarray],
    *,
    depth_order: Sequence[str] | None = None,
    overwrite: bool = False,
    min_alpha: float = DEFAULT_MIN_ALPHA,
    shape: tuple[int, int] | None = None,
    windows: hdr.ImageWindows | None = None,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write one frame's layers as an ObjectId deep EXR, atomically.

    ``layers`` maps a layer name (``/person/person_0003``) to its (H, W)
    alpha in [0, 1]. ``depth_order`` lists names front to back (names not
    listed follow in ``layers`` order; unknown names are ignored). Alpha below
    ``min_alpha`` is not stored. ``shape`` sets the frame size when
    ``layers`` is empty. ``layers`` may also be a
    :class:`~SegmentationCore.idmatte.idsamples.LayerSamples` from
    :func:`~SegmentationCore.idmatte.idsamples.collect_samples` (then ``depth_order``,
    ``min_alpha`` and ``shape`` were applied there), to share that work with
    :func:`~SegmentationCore.idmatte.cryptomatte.write_cryptomatte`. An existing file
    is an :class:`errors.OutputError` unless ``overwrite``. ``windows`` places
    the layers (a plate's data window origin, display window and pixel
    aspect; default: both windows at the origin, square pixels). The file
    is encoded and written band by band of scan lines (:mod:`.bands`).
    ``metadata``: extra string header attributes (e.g. ``autoseg/qc``)."""
    path = atomic_output.check_writable(path, overwrite)
    frame = bands.from_layers(path, layers, depth_order, min_alpha, shape)
    bands.write_files(frame, {path: band_writer(frame, windows, metadata)}, overwrite)


# -- reading ----------------------------------------------------------------


def _manifest_from_header(path: str, header: hdr.ExrHeader) -> dict[int, str]:
    """id -> name, from our JSON copy or else the standard ``idManifest``."""
    if header.has(MANIFEST_ATTRIBUTE):
        try:
            data = json.loads(header.value(MANIFEST_ATTRIBUTE))
            return {int(value, 16): name for name, value in data.items()}
        except (ValueError, AttributeError, TypeError) as error:
            raise errors.OutputError(f"{path}: unreadable {MANIFEST_ATTRIBUTE} attribute ({error})") from error
    if header.has("idManifest"):
        # decoded here, not by the PyPI OpenEXR module: the same table (see
        # tests/test_idmatte_manifest.py), and safe inside Gaffer's process
        type_name, raw = header.attributes["idManifest"]
        if type_name != idmanifest.ATTRIBUTE_TYPE:
            raise errors.OutputError(f"{path}: its idManifest attribute has type {type_name!r}, not {idmanifest.ATTRIBUTE_TYPE!r}")
        try:
            groups = idmanifest.decode(raw, path)
        except idmanifest.IdManifestError as error:
            raise errors.OutputError(f"{error}; the file's ids cannot be named (rewrite it, or its manifest)") from error
        table: dict[int, str] = {}
        for group in groups:
            if ID_CHANNEL not in group.channels:
                continue
            for value, text in group.table.items():
                table[value] = text[0] if len(text) == 1 else ";".join(text)
        return table
    return {}


def _open(path: str | os.PathLike) -> tuple[str, deep_exr.DeepImage, dict[int, str]]:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise errors.OutputError(f"{path}: no such ObjectId file")
    try:
        image = deep_exr.read_deep(path)
    except Exception as error:  # any decoding failure: truncated, corrupt, not EXR
        raise errors.OutputError(f"{path}: cannot read as an ObjectId deep EXR ({error})") from error
    for channel in (ID_CHANNEL, ALPHA_CHANNEL):
        if channel not in image.channels:
            raise errors.OutputError(f"{path}: deep file has no {channel!r} channel, so it is not an ObjectId file")
    return path, image, _manifest_from_header(path, image.header)


def objectid_layer_names(path: str | os.PathLike) -> list[str]:
    """Layer names listed in an ObjectId file's manifest (header only)."""
    path = os.fspath(path)
    try:
        header, _ = hdr.read_header(path)
    except (ValueError, OSError) as error:
        raise errors.OutputError(f"{path}: not a readable EXR file ({error})") from error
    return list(_manifest_from_header(path, header).values())


def read_objectid(path: str | os.PathLike, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Read an ObjectId file: layer name -> (H, W) float32 alpha.

    Every manifest name is returned (all-zero if it has no samples), plus
    ``"#<8 hex>"`` for any id missing from the manifest. With ``names`` only
    those layers are built. Several samples of one id in a pixel (not
    written by us, but legal) are combined with "over"."""
    path, image, manifest = _open(path)
    ids = np.asarray(image.channels[ID_CHANNEL], dtype=np.uint32)
    alpha = np.asarray(image.channels[ALPHA_CHANNEL], dtype=np.float32)
    npix = image.width * image.height
    table = dict(manifest)
    known = np.array(sorted(table), dtype=np.uint32)
    group_of = np.minimum(np.searchsorted(known, ids), max(known.size - 1, 0))
    unknown = known[group_of] != ids if known.size else np.ones(ids.size, bool)
    if unknown.any():  # ids the manifest does not name (rare): few distinct values
        for value in np.unique(ids[unknown]).tolist():
            table[value] = f"{UNKNOWN_ID_PREFIX}{value:08x}"
        known = np.array(sorted(table), dtype=np.uint32)
        group_of = np.searchsorted(known, ids)
    wanted = set(table.values()) if names is None else set(names)
    result: dict[str, np.ndarray] = {}
    for value, name in table.items():
        if name in wanted:
            result[name] = np.zeros(npix, np.float32)
    if ids.size and result:
        # group samples by id; a stable sort keeps each group in pixel order
        # (radix sort for small integer types)
        group_type = np.uint8 if known.size <= 256 else np.uint16 if known.size <= 65536 else np.int64
        order = np.argsort(group_of.astype(group_type), kind="stable")
        bounds = np.searchsorted(group_of[order], np.arange(known.size + 1))
        pixel = image.pixel_index
        for index, value in enumerate(known.tolist()):
            name = table[value]
            if name not in result or bounds[index] == bounds[index + 1]:
                continue
            selected = order[bounds[index]:bounds[index + 1]]
            pixels, values = pixel[selected], alpha[selected]
            out = result[name]
            if pixels.size < 2 or bool(np.all(pixels[1:] > pixels[:-1])):
                out[pixels] = values
            else:  # several samples of one id in a pixel: combine with "over"
                transmission = np.ones(npix, np.float32)
                np.multiply.at(transmission, pixels, 1.0 - values)
                np.subtract(1.0, transmission, out=out)
    return {name: mask.reshape(image.height, image.width) for name, mask in result.items()}
