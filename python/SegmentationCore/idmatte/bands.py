"""Writing ID-matte files band by band of scan lines, in bounded memory.

A frame's layers reach the writers as a :class:`FrameBands`: the layer
names (front to back), the frame size and a way to get the samples
(:class:`~SegmentationCore.idmatte.idsamples.LayerSamples`) of any band of
rows. Three sources make one:

* :func:`from_coverages`: a callable ``coverages(y0, y1)`` returning
  ``{name: (y1 - y0, W) alpha}`` for rows ``y0`` to ``y1`` (exclusive), so
  the plate-resolution layers are only ever made one band at a time
  (``autoseg``'s write stage upsamples the working-resolution masks per
  band, :class:`SegmentationCore.plates.MaskUpsampler`; a per-band edge
  refinement can be chained in the same way, asking its source for a few
  rows of halo);
* :func:`from_layers`: whole-frame ``{name: (H, W) alpha}`` arrays (the
  whole-frame API: ``write_objectid``, ``write_cryptomatte``,
  ``write_frame``), sliced per band;
* :func:`from_samples`: samples collected for the whole frame.

:func:`write_files` streams the bands to the writers of each format
(:class:`~SegmentationCore.idmatte.objectid.ObjectIdBandWriter`,
:class:`~SegmentationCore.idmatte.cryptomatte.CryptomatteBandWriter`),
each writing a temporary file renamed into place when complete. Bands are
a multiple of 16 rows (the ZIP chunk of the Cryptomatte file), so the
files are byte for byte those of a whole-frame encode.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import os
from typing import Callable, Mapping, Sequence

import numpy as np

from ..core import atomic_output, errors
from .idsamples import DEFAULT_MIN_ALPHA, LayerSamples, band_samples, check_layer_name, check_layers, samples_band

#: ``coverages(y0, y1) -> {name: (y1 - y0, W) alpha}`` for a band of rows.
Coverages = Callable[[int, int], Mapping[str, np.ndarray]]

#: Pixels per band by default: about 2 MiB per float32 layer, 24 MiB for a
#: 3-rank-set Cryptomatte band, whatever the plate size.
BAND_PIXELS = 1 << 19
#: Bands are whole ZIP chunks (16 scan lines).
ROW_MULTIPLE = 16


def band_rows(width: int, band_pixels: int = BAND_PIXELS) -> int:
    """Rows per band for frames ``width`` wide: about ``band_pixels``
    pixels, a multiple of 16 rows, at least 16."""
    rows = max(1, int(band_pixels) // max(1, int(width)))
    return max(ROW_MULTIPLE, rows - rows % ROW_MULTIPLE)


@dataclasses.dataclass
class FrameBands:
    """A frame's layers, available band by band (see module docstring)."""

    names: list[str]  # front to back
    height: int
    width: int
    samples: Callable[[int, int], LayerSamples]  # rows y0..y1 -> that band's samples


def from_coverages(
    path: str | os.PathLike,
    names: Sequence[str],
    coverages: Coverages,
    shape: tuple[int, int],
    depth_order: Sequence[str] | None = None,
    min_alpha: float = DEFAULT_MIN_ALPHA,
) -> FrameBands:
    """Layers ``names`` of a ``shape`` (H, W) frame whose alphas
    ``coverages(y0, y1)`` gives per band. ``path`` names the output in
    error messages; names and ids are checked before any band is made."""
    ordered, height, width = check_layers(path, list(names), depth_order, tuple(shape), None)

    def samples(y0: int, y1: int) -> LayerSamples:
        band = coverages(y0, y1)
        unknown = [name for name in band if name not in set(ordered)]
        if unknown:
            raise errors.OutputError(f"{os.fspath(path)}: rows {y0}-{y1 - 1} have layers {unknown} that are not in the frame's names")
        return band_samples(path, ordered, band, y1 - y0, width, min_alpha)

    return FrameBands(ordered, height, width, samples)


def from_layers(
    path: str | os.PathLike,
    layers: Mapping[str, np.ndarray],
    depth_order: Sequence[str] | None = None,
    min_alpha: float = DEFAULT_MIN_ALPHA,
    shape: tuple[int, int] | None = None,
) -> FrameBands:
    """Whole-frame ``layers`` (name -> (H, W) alpha), validated as
    :func:`~SegmentationCore.idmatte.idsamples.collect_samples` does.
    ``shape`` gives the frame size when there are no layers."""
    if isinstance(layers, LayerSamples):
        return from_samples(layers)
    names = [check_layer_name(name, path) for name in layers]
    shapes = {np.shape(layers[name]) for name in names}
    if len(shapes) > 1:
        detail = ", ".join(f"{name}: {np.shape(layers[name])}" for name in names)
        raise errors.OutputError(f"{os.fspath(path)}: all layers must have one (H, W) size, got {detail}")
    ordered, height, width = check_layers(path, names, depth_order, next(iter(shapes)) if shapes else None, shape)
    arrays = {name: np.asarray(layers[name]) for name in ordered}

    def samples(y0: int, y1: int) -> LayerSamples:
        return band_samples(path, ordered, {name: alpha[y0:y1] for name, alpha in arrays.items()}, y1 - y0, width, min_alpha)

    return FrameBands(ordered, height, width, samples)


def from_samples(samples: LayerSamples) -> FrameBands:
    """Samples already collected for the whole frame."""
    return FrameBands(list(samples.names), samples.height, samples.width, lambda y0, y1: samples_band(samples, y0, y1))


def run(frame: FrameBands, writers: Sequence, rows: int | None = None) -> None:
    """Feed every band of ``frame``, top to bottom, to each writer's
    ``write(samples)``, then call each writer's ``finish()``."""
    rows = rows or band_rows(frame.width)
    if rows % ROW_MULTIPLE and rows < frame.height:
        raise ValueError(f"bands must be a multiple of {ROW_MULTIPLE} rows, got {rows}")
    starts = list(range(0, frame.height, rows))
    # the next band's samples are made on a helper thread while this one is
    # encoded (numpy and deflate release the GIL): two bands in memory at most
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="idmatte-band") as helper:
        pending = helper.submit(frame.samples, 0, min(frame.height, rows))
        for index, y0 in enumerate(starts):
            samples = pending.result()
            if index + 1 < len(starts):
                y1 = starts[index + 1]
                pending = helper.submit(frame.samples, y1, min(frame.height, y1 + rows))
            for writer in writers:
                writer.write(samples)
            del samples
    for writer in writers:
        writer.finish()


def write_files(
    frame: FrameBands,
    targets: Mapping[str, Callable[[object], object]],
    overwrite: bool = False,
    rows: int | None = None,
) -> None:
    """Write ``frame`` to each ``path`` of ``targets``, whose value makes
    that file's band writer for an open binary file. All files are written
    in one pass over the bands, each to a temporary file renamed into place
    once complete (an error leaves none of them)."""
    with contextlib.ExitStack() as stack:
        writers = []
        for path, make_writer in targets.items():
            temporary = stack.enter_context(atomic_output.atomic_path(path, overwrite))
            try:
                handle = stack.enter_context(open(temporary, "wb"))
            except OSError as error:
                raise errors.OutputError(f"cannot write {path}: {error}") from error
            writers.append(make_writer(handle))
        try:
            run(frame, writers, rows)
        except OSError as error:
            raise errors.OutputError(f"cannot write {', '.join(targets)}: {error}") from error
