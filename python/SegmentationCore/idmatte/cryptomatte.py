"""Cryptomatte files (Psyop's Cryptomatte specification).

One flat scanline EXR per frame, all data in ``float32``:

* ``<layer>00.R G B A``, ``<layer>01.RGBA`` ... (``<layer>`` defaults to
  ``CryptoObject``): rank ``2k`` id in ``<layer>0k.R``, its coverage in
  ``.G``, rank ``2k+1`` id in ``.B``, its coverage in ``.A``. Ranks are
  sorted by coverage (ties: front layer first). Ids are the layer name's
  MurmurHash3_x86_32 with the ``uint32_to_float32`` exponent fix; empty ranks
  are id 0.0, coverage 0.0.
* exactly ``rank_sets`` RGBA sets on every frame (the pipeline passes the
  shot's :func:`required_rank_sets`), at least 3;
* metadata ``cryptomatte/<key>/name``, ``hash`` (``MurmurHash3_32``),
  ``conversion`` (``uint32_to_float32``) and ``manifest`` (JSON
  ``{"<name>": "<8 hex digits of the float id>"}``) where ``<key>`` is the
  first 7 hex digits of the layer name's hash; nothing else under
  ``cryptomatte/``;
* full data window, lossless compression only (ZIP by default; DWA, B44,
  PXR24 and half channels corrupt ids and are refused).

Coverage is each layer's own alpha (its soft mask), exactly as in the
ObjectId file, so a single layer extracts identically from both formats.
Where soft layers overlap, coverages may sum to more than 1 (a renderer's
coverages never do): these are segmentation probabilities, not pixel
fractions, and normalising them would change every layer's matte.

Optional per-layer alpha channels (``extra_alpha_channels=True``) let a
compositor Shuffle a layer without a Cryptomatte node: ``<prefix>.A`` in
half, where :func:`alpha_channel_prefix` turns ``/person/person_0003`` into
``matte_person__person_0003``; the name -> prefix map is stored as JSON in
the ``idmatte/alphaChannels`` attribute.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..core import atomic_output, errors
from . import bands
from . import exr_header as hdr
from . import exr_read
from . import flat_exr
from .idsamples import DEFAULT_MIN_ALPHA, LayerSamples
from .murmur import cryptomatte_hex, hash_to_float_array, murmurhash3_32, name_hash_hex

logger = logging.getLogger(__name__)

MIN_RANK_SETS = 3
#: Nuke's Cryptomatte gizmo reads at most this many rank sets (24 ranks).
NUKE_MAX_RANK_SETS = 12
HASH_NAME = "MurmurHash3_32"
CONVERSION_NAME = "uint32_to_float32"
ALPHA_CHANNELS_ATTRIBUTE = "idmatte/alphaChannels"
LOSSLESS_COMPRESSIONS = ("none", "rle", "zips", "zip", "piz")
REFUSED_COMPRESSIONS = ("pxr24", "b44", "b44a", "dwaa", "dwab", "htj2k256", "htj2k32")
UNKNOWN_ID_PREFIX = "#"
_LAYER_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_CLEAN_NAME_RE = re.compile(r"^(/[A-Za-z0-9]+(_[A-Za-z0-9]+)*)+$")


def metadata_key(layer_name: str) -> str:
    """The 7-hex-digit metadata key of a Cryptomatte layer (stable per name)."""
    return name_hash_hex(layer_name)[:7]


def alpha_channel_prefix(name: str) -> str:
    """The channel layer of a per-layer alpha channel (``<prefix>.A``).

    Nuke layer names allow only letters, digits and ``_``, so ``/`` becomes
    ``__`` and everything else ``_``, behind a ``matte_`` prefix (never a
    leading digit): ``/person/person_0003`` -> ``matte_person__person_0003``.
    That is one-to-one for names made of ``/``-separated words of letters
    and digits joined by single ``_``; any other name gets its 8-hex hash
    appended, so the prefix is still stable and unique per name."""
    body = re.sub(r"[^A-Za-z0-9_]", "_", name.strip("/").replace("/", "__"))
    prefix = f"matte_{body}"
    if not _CLEAN_NAME_RE.match(name):
        prefix = f"{prefix}_{name_hash_hex(name)}"
    return prefix


def required_rank_sets(layers: Mapping[str, np.ndarray] | LayerSamples, min_alpha: float = DEFAULT_MIN_ALPHA) -> int:
    """RGBA rank sets needed to store every layer at the densest pixel of
    this frame (at least 3). Take the maximum over a shot for all frames."""
    if isinstance(layers, LayerSamples):
        densest = layers.max_samples
    else:
        threshold = max(float(min_alpha), 2.0 ** -25)
        shapes = {np.shape(alpha) for alpha in layers.values()}
        if len(shapes) > 1:
            raise errors.OutputError(f"layers must all have one (H, W) size to count rank sets, got {sorted(shapes)}")
        depth = None
        for alpha in layers.values():
            covered = np.asarray(alpha) >= threshold
            depth = covered.astype(np.int32) if depth is None else depth + covered
        densest = int(depth.max()) if depth is not None and depth.size else 0
    return max(MIN_RANK_SETS, (densest + 1) // 2)


def rank_sets_warning(rank_sets: int, where: str = "this shot") -> str | None:
    """A warning when ``rank_sets`` is more than Nuke's Cryptomatte gizmo
    reads (:data:`NUKE_MAX_RANK_SETS`), else ``None``."""
    if rank_sets <= NUKE_MAX_RANK_SETS:
        return None
    return (
        f"{where} needs {rank_sets} Cryptomatte rank sets ({2 * rank_sets} overlapping layers at its densest pixel); "
        f"Nuke's Cryptomatte gizmo reads at most {NUKE_MAX_RANK_SETS}, so in Nuke the weakest layers of the densest "
        f"pixels are missing. The files hold them all (and the ObjectId files always do): use the ObjectId "
        f"files, or Gaffer, where every layer counts"
    )


def _check_options(path: str, rank_sets: int, layer_name: str, compression: str) -> str:
    compression = str(compression).lower()
    if compression in REFUSED_COMPRESSIONS:
        raise errors.OutputError(
            f"{path}: {compression!r} compression is lossy for float data and corrupts Cryptomatte ids; "
            f"use one of {', '.join(LOSSLESS_COMPRESSIONS)} (zip is the default)"
        )
    if compression not in LOSSLESS_COMPRESSIONS:
        raise errors.OutputError(f"{path}: unknown compression {compression!r}; use one of {', '.join(LOSSLESS_COMPRESSIONS)}")
    if not isinstance(rank_sets, (int, np.integer)) or rank_sets < MIN_RANK_SETS:
        raise errors.OutputError(f"{path}: rank_sets must be an integer of at least {MIN_RANK_SETS}, got {rank_sets!r}")
    if not _LAYER_NAME_RE.match(layer_name):
        raise errors.OutputError(
            f"{path}: Cryptomatte layer name {layer_name!r} must start with a letter and hold only letters, digits and '_'"
        )
    return compression


def _rank_table(table: np.ndarray) -> np.ndarray:
    """Rank of every cell of ``table`` (positions, pixels) within its
    column, by descending value, ties in position order (where a stable
    descending sort puts it)."""
    width = table.shape[0]
    if width <= 16:
        # rank at position j = positions with a larger value + earlier positions with an equal one
        ranks = np.zeros(table.shape, dtype=np.int8)
        for j in range(width):
            for k in range(width):
                if k < j:
                    ranks[j] += table[k] >= table[j]
                elif k > j:
                    ranks[j] += table[k] > table[j]
        return ranks
    order = np.argsort(-table, axis=0, kind="stable")
    inverse = np.empty_like(order)
    np.put_along_axis(inverse, order, np.broadcast_to(np.arange(width)[:, None], order.shape), axis=0)
    return inverse


def _ranks(samples: LayerSamples) -> np.ndarray:
    """(N,) rank of every sample within its pixel, by descending alpha
    (ties keep depth order). Pixels are ranked in groups of equal sample
    count ``c``: their samples form a (c, pixels) table gathered straight
    from the sorted sample list."""
    total = len(samples)
    rank = np.zeros(total, dtype=np.int32)
    if total == 0 or samples.max_samples < 2:
        return rank
    counts = samples.counts
    starts = np.zeros(counts.size, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    histogram = np.bincount(counts)
    for count in np.flatnonzero(histogram[2:]) + 2:
        first = starts[counts == count]
        cells = np.arange(count, dtype=np.int64)[:, None] + first[None, :]
        rank[cells] = _rank_table(samples.alpha[cells])
    return rank


class CryptomatteBandWriter:
    """Writes a Cryptomatte file to an open binary ``stream`` band by band:
    :meth:`write` takes the samples of the next band of rows (a multiple of
    16 rows but for the last, :mod:`.bands`), :meth:`finish` completes the
    file and logs a warning if some pixels held more layers than
    ``rank_sets`` store. Options as for :func:`write_cryptomatte`. The
    native compressions (none, zips, zip) are encoded per band; the others
    (rle, piz) go through the ``OpenEXR`` binding on the whole frame."""

    def __init__(
        self,
        stream,
        names: Sequence[str],
        width: int,
        height: int,
        *,
        rank_sets: int = MIN_RANK_SETS,
        layer_name: str = "CryptoObject",
        extra_alpha_channels: bool = False,
        compression: str = "zip",
        windows: hdr.ImageWindows | None = None,
        path: str | os.PathLike = "<memory>",
        metadata: Mapping[str, str] | None = None,
    ):
        self.path = os.fspath(path)
        reserved = [name for name in (metadata or {}) if name.startswith("cryptomatte/")]
        if reserved:
            raise errors.OutputError(f"{self.path}: extra metadata {reserved} may not use the cryptomatte/ prefix (Cryptomatte readers own it)")
        self.compression = _check_options(self.path, rank_sets, layer_name, compression)
        self.names, self.width, self.height, self.windows = list(names), int(width), int(height), windows
        self.stream = stream
        hashes = np.array([murmurhash3_32(name) for name in self.names], dtype=np.uint32)
        self.float_ids = hash_to_float_array(hashes)
        if len(set(self.float_ids.view(np.uint32).tolist())) != len(self.names):
            raise errors.OutputError(f"{self.path}: two layer names map to the same Cryptomatte id; rename one of them")
        self.ranks_total = 2 * int(rank_sets)
        # channel names: rank 2k -> <layer>0k.R (id) / .G (coverage), 2k+1 -> .B / .A
        self.rank_channels = []
        for rank_index in range(self.ranks_total):
            set_index, second = divmod(rank_index, 2)
            id_channel, coverage_channel = ("B", "A") if second else ("R", "G")
            self.rank_channels.append((f"{layer_name}{set_index:02d}.{id_channel}", f"{layer_name}{set_index:02d}.{coverage_channel}"))
        self.prefixes: dict[str, str] = {}
        if extra_alpha_channels:
            self.prefixes = {name: alpha_channel_prefix(name) for name in self.names}
            if len(set(self.prefixes.values())) != len(self.prefixes):
                raise errors.OutputError(f"{self.path}: two layer names give the same alpha channel name; rename one of them")
        float_names = [name for pair in self.rank_channels for name in pair]
        half_names = [f"{prefix}.A" for prefix in self.prefixes.values()]
        clash = set(half_names) & set(float_names)
        if clash:
            raise errors.OutputError(f"{self.path}: alpha channel names {sorted(clash)} clash with Cryptomatte channels")
        self.channels = [(n, hdr.PIXEL_FLOAT) for n in float_names] + [(n, hdr.PIXEL_HALF) for n in half_names]

        key = metadata_key(layer_name)
        manifest = {name: cryptomatte_hex(name) for name in self.names}
        self.strings = {
            f"cryptomatte/{key}/name": layer_name,
            f"cryptomatte/{key}/hash": HASH_NAME,
            f"cryptomatte/{key}/conversion": CONVERSION_NAME,
            f"cryptomatte/{key}/manifest": json.dumps(manifest, ensure_ascii=False),
        }
        if self.prefixes:
            self.strings[ALPHA_CHANNELS_ATTRIBUTE] = json.dumps(self.prefixes, ensure_ascii=False)
        self.strings.update({str(k): str(v) for k, v in (metadata or {}).items()})
        self._writer = None
        self._bands: list[flat_exr.FlatLayout] = []
        if self.compression in flat_exr.NATIVE_COMPRESSIONS:
            attributes = {name: hdr.attr_string(value) for name, value in self.strings.items()}
            self._writer = flat_exr.FlatScanlineWriter(stream, width, height, self.channels, attributes, self.compression, windows=windows)
        self.lost_pixels = 0
        self.densest = 0

    def write(self, samples: LayerSamples) -> None:
        layout = flat_exr.FlatLayout(samples.height, self.width, self.channels)
        self._fill(layout, samples)
        if self._writer is not None:
            self._writer.write_rows(layout)
        else:
            self._bands.append(layout)

    def _fill(self, layout: flat_exr.FlatLayout, samples: LayerSamples) -> None:
        """Scatter every kept sample of a band straight into its rank's channels."""
        width, ranks_total = self.width, self.ranks_total
        rank = _ranks(samples)
        self.densest = max(self.densest, samples.max_samples)
        dropped = rank >= ranks_total
        if dropped.any():
            self.lost_pixels += np.unique(samples.pixel[dropped]).size
        rows_of = (samples.pixel // width).astype(np.int32)
        columns_of = (samples.pixel - rows_of.astype(samples.pixel.dtype) * width).astype(np.int32)
        rank_key = np.minimum(rank, ranks_total).astype(np.uint8 if ranks_total < 255 else np.int32)
        by_rank = np.argsort(rank_key, kind="stable")
        bounds = np.searchsorted(rank_key[by_rank], np.arange(ranks_total + 1))
        sample_ids = self.float_ids[samples.layer]
        for rank_index, (id_name, coverage_name) in enumerate(self.rank_channels):
            chosen = by_rank[bounds[rank_index]:bounds[rank_index + 1]]
            ys, xs = rows_of[chosen], columns_of[chosen]
            layout.plane(id_name)[ys, xs] = sample_ids[chosen]
            layout.plane(coverage_name)[ys, xs] = samples.alpha[chosen]
        if self.prefixes:
            by_layer = np.argsort(samples.layer.astype(np.uint16 if len(self.names) < 65536 else np.int64), kind="stable")
            layer_bounds = np.searchsorted(samples.layer[by_layer], np.arange(len(self.names) + 1))
            for layer_index, name in enumerate(self.names):
                chosen = by_layer[layer_bounds[layer_index]:layer_bounds[layer_index + 1]]
                layout.plane(f"{self.prefixes[name]}.A")[rows_of[chosen], columns_of[chosen]] = samples.alpha[chosen]

    def finish(self) -> None:
        if self.lost_pixels:
            logger.warning(
                "%s: %d pixel(s) hold more than %d layers; the weakest are not stored. "
                "Pass rank_sets=%d (required_rank_sets over the shot) to keep them all.",
                self.path, self.lost_pixels, self.ranks_total, max(MIN_RANK_SETS, (self.densest + 1) // 2),
            )
        if self._writer is not None:
            self._writer.finish()
        else:
            self.stream.write(self._encode_with_openexr())

    def _encode_with_openexr(self) -> bytes:
        import OpenEXR

        header = {"type": OpenEXR.scanlineimage, "compression": _openexr_compression(self.compression), **self.strings}
        if self.windows is not None:
            box = self.windows.data_box(self.width, self.height)
            display = self.windows.display or box
            header["dataWindow"] = (np.array(box[:2], np.int32), np.array(box[2:], np.int32))
            header["displayWindow"] = (np.array(display[:2], np.int32), np.array(display[2:], np.int32))
            header["pixelAspectRatio"] = float(self.windows.pixel_aspect)
        planes = {
            name: np.concatenate([layout.plane(name) for layout in self._bands]) for name, _ in self.channels
        }
        stream = io.BytesIO()
        with OpenEXR.File(header, planes) as exr_file:
            exr_file.write(stream)
        return stream.getvalue()


def band_writer(frame: bands.FrameBands, *, path: str | os.PathLike = "<memory>", windows: hdr.ImageWindows | None = None, **options):
    """The :func:`.bands.write_files` writer factory of a Cryptomatte file
    of ``frame`` (``options``: those of :class:`CryptomatteBandWriter`)."""
    return lambda stream: CryptomatteBandWriter(
        stream, frame.names, frame.width, frame.height, windows=windows, path=path, **options
    )


def encode_cryptomatte(
    layers: Mapping[str, np.ndarray],
    *,
    rank_sets: int = MIN_RANK_SETS,
    layer_name: str = "CryptoObject",
    extra_alpha_channels: bool = False,
    compression: str = "zip",
    depth_order: Sequence[str] | None = None,
    min_alpha: float = DEFAULT_MIN_ALPHA,
    shape: tuple[int, int] | None = None,
    path: str | os.PathLike = "<memory>",
    windows: hdr.ImageWindows | None = None,
) -> bytes:
    """The bytes of a Cryptomatte file for ``layers`` (see :func:`write_cryptomatte`)."""
    path = os.fspath(path)
    _check_options(path, rank_sets, layer_name, compression)
    frame = bands.from_layers(path, layers, depth_order, min_alpha, shape)
    stream = io.BytesIO()
    writer = band_writer(
        frame, path=path, windows=windows, rank_sets=rank_sets, layer_name=layer_name,
        extra_alpha_channels=extra_alpha_channels, compression=compression,
    )(stream)
    bands.run(frame, [writer])
    return stream.getvalue()


def _openexr_compression(name: str):
    import OpenEXR

    return {
        "none": OpenEXR.NO_COMPRESSION,
        "rle": OpenEXR.RLE_COMPRESSION,
        "zips": OpenEXR.ZIPS_COMPRESSION,
        "zip": OpenEXR.ZIP_COMPRESSION,
        "piz": OpenEXR.PIZ_COMPRESSION,
    }[name]


def write_cryptomatte(
    path: str | os.PathLike,
    layers: Mapping[str, np.ndarray],
    *,
    rank_sets: int = MIN_RANK_SETS,
    layer_name: str = "CryptoObject",
    extra_alpha_channels: bool = False,
    overwrite: bool = False,
    compression: str = "zip",
    depth_order: Sequence[str] | None = None,
    min_alpha: float = DEFAULT_MIN_ALPHA,
    shape: tuple[int, int] | None = None,
    windows: hdr.ImageWindows | None = None,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write one frame's layers as a Cryptomatte EXR, atomically.

    ``layers`` maps layer names to (H, W) alpha in [0, 1]; ``rank_sets``
    must be the same on every frame of a shot (use the maximum of
    :func:`required_rank_sets`); pixels holding more than ``2 * rank_sets``
    layers keep the strongest and log a warning. ``depth_order`` only breaks
    coverage ties. ``layers`` may also be a precomputed
    :class:`~SegmentationCore.idmatte.idsamples.LayerSamples` (see
    :func:`~SegmentationCore.idmatte.objectid.write_objectid`). An existing file is an
    :class:`errors.OutputError` unless ``overwrite``. ``windows``: as for
    :func:`~SegmentationCore.idmatte.objectid.write_objectid`."""
    path = atomic_output.check_writable(path, overwrite)
    _check_options(path, rank_sets, layer_name, compression)
    frame = bands.from_layers(path, layers, depth_order, min_alpha, shape)
    writer = band_writer(
        frame, path=path, windows=windows, rank_sets=rank_sets, layer_name=layer_name, metadata=metadata,
        extra_alpha_channels=extra_alpha_channels, compression=compression,
    )
    bands.write_files(frame, {path: writer}, overwrite)


# -- reading ----------------------------------------------------------------


def cryptomatte_metadata(header: hdr.ExrHeader) -> dict[str, dict[str, str]]:
    """``{key: {"name": ..., "hash": ..., "manifest": ...}}`` from a header."""
    result: dict[str, dict[str, str]] = {}
    for attribute, value in header.strings("cryptomatte/").items():
        parts = attribute.split("/")
        if len(parts) == 3:
            result.setdefault(parts[1], {})[parts[2]] = value
    return result


def _select_layer(path: str, header: hdr.ExrHeader, layer_name: str | None) -> dict[str, str]:
    metadata = cryptomatte_metadata(header)
    layers = {entry.get("name"): entry for entry in metadata.values() if entry.get("name")}
    if not layers:
        raise errors.OutputError(f"{path}: no Cryptomatte metadata (cryptomatte/<key>/name) in the header")
    if layer_name is not None:
        if layer_name not in layers:
            raise errors.OutputError(f"{path}: no Cryptomatte layer {layer_name!r}; the file has {sorted(layers)}")
        return layers[layer_name]
    if len(layers) == 1:
        return next(iter(layers.values()))
    if "CryptoObject" in layers:
        return layers["CryptoObject"]
    raise errors.OutputError(f"{path}: several Cryptomatte layers {sorted(layers)}; say which one to read")


def _manifest(path: str, entry: Mapping[str, str]) -> dict[int, str]:
    """float id bits -> name."""
    text = entry.get("manifest")
    if text is None and entry.get("manif_file"):
        sidecar = os.path.join(os.path.dirname(path), entry["manif_file"])
        try:
            with open(sidecar, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as error:
            raise errors.OutputError(f"{path}: cannot read its Cryptomatte manifest {sidecar} ({error})") from error
    if not text:
        return {}
    try:
        data = json.loads(text)
        return {int(value, 16): name for name, value in data.items()}
    except (ValueError, AttributeError, TypeError) as error:
        raise errors.OutputError(f"{path}: unreadable Cryptomatte manifest ({error})") from error


def _rank_channels(layer_name: str, channel_names: Iterable[str]) -> list[tuple[str, str]]:
    """(id channel, coverage channel) per rank, in rank order."""
    available = set(channel_names)
    pairs = []
    index = 0
    while True:
        base = f"{layer_name}{index:02d}"
        found = None
        for names in (("R", "G", "B", "A"), ("r", "g", "b", "a"), ("red", "green", "blue", "alpha")):
            if f"{base}.{names[0]}" in available:
                found = [f"{base}.{n}" for n in names]
                break
        if found is None:
            break
        pairs.append((found[0], found[1]))
        if found[2] in available and found[3] in available:
            pairs.append((found[2], found[3]))
        index += 1
    return pairs


def cryptomatte_layer_names(path: str | os.PathLike, layer_name: str | None = None) -> list[str]:
    """Names in a Cryptomatte file's manifest (header only)."""
    path = os.fspath(path)
    try:
        header, _ = hdr.read_header(path)
    except (ValueError, OSError) as error:
        raise errors.OutputError(f"{path}: not a readable EXR file ({error})") from error
    return list(_manifest(path, _select_layer(path, header, layer_name)).values())


def read_cryptomatte(
    path: str | os.PathLike, layer_name: str | None = None, names: Iterable[str] | None = None
) -> dict[str, np.ndarray]:
    """Read a Cryptomatte file: name -> (H, W) float32 matte (sum of its
    coverage over all ranks). Every manifest name is returned, plus
    ``"#<8 hex float bits>"`` for ids missing from the manifest; with
    ``names`` only those are built.

    Pixels are decoded by :mod:`.exr_read` (no EXR library for the files
    this package writes), so this is safe inside Gaffer's process."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise errors.OutputError(f"{path}: no such Cryptomatte file")
    try:
        header, _ = hdr.read_header(path)
    except (ValueError, OSError) as error:
        raise errors.OutputError(f"{path}: not a readable EXR file ({error})") from error
    entry = _select_layer(path, header, layer_name)
    type_name = entry["name"]
    manifest = _manifest(path, entry)
    pairs = _rank_channels(type_name, (c.name for c in header.channels))
    if not pairs:
        raise errors.OutputError(f"{path}: Cryptomatte layer {type_name!r} has no {type_name}00 channels")
    try:
        part_channels = exr_read.read_flat_channels(path, [name for pair in pairs for name in pair])
        planes = [(part_channels[i], part_channels[c]) for i, c in pairs]
    except Exception as error:  # truncated or corrupt pixel data
        raise errors.OutputError(f"{path}: cannot read its Cryptomatte pixels ({error})") from error
    height, width = planes[0][0].shape
    npix = height * width
    id_bits = [ids.reshape(-1).view(np.uint32) for ids, _ in planes]
    coverages = [coverage.reshape(-1) for _, coverage in planes]

    table = dict(manifest)
    known = np.array(sorted(table), dtype=np.uint32)
    for bits, coverage in zip(id_bits, coverages):
        values = bits[coverage != 0]
        if known.size:
            where = np.minimum(np.searchsorted(known, values), known.size - 1)
            values = values[known[where] != values]
        for value in np.unique(values).tolist():  # ids the manifest does not name (rare)
            if value != 0:
                table.setdefault(value, f"{UNKNOWN_ID_PREFIX}{value:08x}")
    wanted = set(table.values()) if names is None else set(names)
    selected = [(value, name) for value, name in table.items() if name in wanted]
    out = np.zeros((len(selected), npix), np.float32)
    if selected:
        keys = np.array([value for value, _ in selected], dtype=np.uint32)
        order = np.argsort(keys)
        sorted_keys = keys[order]
        flat_out = out.reshape(-1)
        for bits, coverage in zip(id_bits, coverages):
            pixels = np.flatnonzero(coverage)
            values = bits[pixels]
            where = np.minimum(np.searchsorted(sorted_keys, values), sorted_keys.size - 1)
            hit = sorted_keys[where] == values
            # one sample per pixel in a rank: a plain scatter-add is safe
            flat_out[order[where[hit]] * npix + pixels[hit]] += coverage[pixels[hit]]
    return {name: out[row].reshape(height, width) for row, (_, name) in enumerate(selected)}
