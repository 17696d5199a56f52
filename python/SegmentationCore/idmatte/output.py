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

from ..core import errors
from . import cryptomatte, objectid
from .exr_header import ImageWindows
from .idsamples import DEFAULT_MIN_ALPHA, LayerSamples, collect_samples

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
    pixel aspect (the layers cover the data window)."""
    unknown = [kind for kind in formats if kind not in FORMATS]
    if unknown or not formats:
        raise errors.OutputError(f"unknown ID-matte format(s) {unknown or list(formats)}; use {list(FORMATS)}")
    paths = {kind: frame_path(prefix, kind, frame, padding) for kind in formats}
    for path in paths.values():
        if os.path.lexists(path) and not overwrite:
            raise errors.OutputError(f"{path} already exists; refusing to overwrite it (pass overwrite=True / --overwrite)")
    samples = layers if isinstance(layers, LayerSamples) else collect_samples(
        paths[formats[0]], layers, depth_order, min_alpha, shape
    )
    if OBJECTID in paths:
        objectid.write_objectid(paths[OBJECTID], samples, overwrite=overwrite, windows=windows)
    if CRYPTOMATTE in paths:
        cryptomatte.write_cryptomatte(
            paths[CRYPTOMATTE], samples, rank_sets=rank_sets, overwrite=overwrite, extra_alpha_channels=extra_alpha_channels,
            windows=windows,
        )
    return paths
