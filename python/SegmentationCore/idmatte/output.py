"""One frame's ID mattes in both formats, under the recommended file names.

Each frame is written as two files side by side::

    <prefix>.objectid.<frame>.exr   ObjectId: deep EXR (OpenEXR Deep IDs)
    <prefix>.crypto.<frame>.exr     Cryptomatte: flat EXR

e.g. ``/shots/sh010/mattes/sh010.objectid.1001.exr`` and
``/shots/sh010/mattes/sh010.crypto.1001.exr``; the frame number is padded to
``padding`` digits (4 by default, as ``####`` in Nuke and Gaffer). Two files
rather than one two-part file, because deep and flat parts in one file are
not read by every compositor's Read/DeepRead nodes.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

from ..core import atomic_output, errors
from . import bands, cryptomatte, objectid
from .exr_header import ImageWindows
from .idsamples import DEFAULT_MIN_ALPHA, LayerSamples

OBJECTID = "objectid"
CRYPTOMATTE = "crypto"
FORMATS = (OBJECTID, CRYPTOMATTE)


def frame_path(prefix: str | os.PathLike, kind: str, frame: int, padding: int = 4) -> str:
    """``<prefix>.<kind>.<frame padded>.exr`` (``kind``: "objectid" or "crypto")."""
    if kind not in FORMATS:
        raise ValueError(f"kind must be one of {FORMATS}, got {kind!r}")
    sign = "-" if frame < 0 else ""
    return f"{os.fspath(prefix)}.{kind}.{sign}{abs(int(frame)):0{padding}d}.exr"


def sequence_pattern(prefix: str | os.PathLike, kind: str, padding: int = 4) -> str:
    """The sequence as Nuke and Gaffer write it: ``<prefix>.<kind>.####.exr``."""
    return f"{os.fspath(prefix)}.{kind}.{'#' * padding}.exr"


def write_frame(
    prefix: str | os.PathLike,
    frame: int,
    layers: Mapping[str, np.ndarray] | LayerSamples,
    *,
    rank_sets: int = cryptomatte.MIN_RANK_SETS,
    depth_order: Sequence[str] | None = None,
    formats: Sequence[str] = FORMATS,
    overwrite: bool = False,
    shape: tuple[int, int] | None = None,
    min_alpha: float = DEFAULT_MIN_ALPHA,
    padding: int = 4,
    extra_alpha_channels: bool = False,
    windows: ImageWindows | None = None,
) -> dict[str, str]:
    """Write ``layers`` for ``frame`` in each of ``formats``; returns
    ``{kind: path}``. The layers are turned into samples once for both
    files. ``rank_sets`` must be the same for the whole shot (the maximum of
    :func:`~SegmentationCore.idmatte.cryptomatte.required_rank_sets` over it). Every
    target is checked before anything is written, so an existing file
    (without ``overwrite``) leaves the other untouched too. ``windows``
    gives both files the plate's data window origin, display window and
    pixel aspect (the layers cover the data window). Both files are
    written in one pass, band by band of scan lines
    (:func:`write_frame_bands`)."""
    paths = _paths(prefix, frame, formats, overwrite, padding)
    source = bands.from_layers(paths[formats[0]], layers, depth_order, min_alpha, shape)
    _write(source, paths, rank_sets, overwrite, extra_alpha_channels, windows)
    return paths


def write_frame_bands(
    prefix: str | os.PathLike,
    frame: int,
    names: Sequence[str],
    coverages: bands.Coverages,
    shape: tuple[int, int],
    *,
    rank_sets: int = cryptomatte.MIN_RANK_SETS,
    depth_order: Sequence[str] | None = None,
    formats: Sequence[str] = FORMATS,
    overwrite: bool = False,
    min_alpha: float = DEFAULT_MIN_ALPHA,
    padding: int = 4,
    extra_alpha_channels: bool = False,
    windows: ImageWindows | None = None,
    band_rows: int | None = None,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """:func:`write_frame` for a frame whose layers are made band by band:
    ``coverages(y0, y1)`` returns ``{name: (y1 - y0, W) alpha}`` for rows
    ``y0`` to ``y1`` (exclusive) of the ``shape`` (H, W) frame; ``names``
    lists every layer of the frame (a band may leave out layers it does not
    cover). Memory stays that of one band (:data:`.bands.BAND_PIXELS`
    pixels, or ``band_rows`` rows, a multiple of 16) whatever the frame
    size, and the files are byte for byte those :func:`write_frame` writes
    from the whole-frame layers. ``metadata``: extra string header
    attributes for both files (never under ``cryptomatte/``)."""
    paths = _paths(prefix, frame, formats, overwrite, padding)
    source = bands.from_coverages(paths[formats[0]], names, coverages, shape, depth_order, min_alpha)
    _write(source, paths, rank_sets, overwrite, extra_alpha_channels, windows, band_rows, metadata)
    return paths


def _paths(prefix: str | os.PathLike, frame: int, formats: Sequence[str], overwrite: bool, padding: int) -> dict[str, str]:
    unknown = [kind for kind in formats if kind not in FORMATS]
    if unknown or not formats:
        raise errors.OutputError(f"unknown ID-matte format(s) {unknown or list(formats)}; use {list(FORMATS)}")
    paths = {kind: frame_path(prefix, kind, frame, padding) for kind in formats}
    for path in paths.values():
        if os.path.lexists(path) and not overwrite:
            raise errors.OutputError(f"{path} already exists; refusing to overwrite it (pass overwrite=True / --overwrite)")
        atomic_output.check_writable(path, overwrite)
    return paths


def _write(
    source: bands.FrameBands,
    paths: Mapping[str, str],
    rank_sets: int,
    overwrite: bool,
    extra_alpha_channels: bool,
    windows: ImageWindows | None,
    band_rows: int | None = None,
    metadata: Mapping[str, str] | None = None,
) -> None:
    targets = {}
    if OBJECTID in paths:
        targets[paths[OBJECTID]] = objectid.band_writer(source, windows, metadata)
    if CRYPTOMATTE in paths:
        targets[paths[CRYPTOMATTE]] = cryptomatte.band_writer(
            source, path=paths[CRYPTOMATTE], windows=windows, rank_sets=rank_sets, extra_alpha_channels=extra_alpha_channels,
            metadata=metadata,
        )
    bands.write_files(source, targets, overwrite, band_rows)
