"""Edge refinement: each layer's soft edge at plate resolution, guided by the plate.

The tracked probabilities live at the working resolution (longest side
1024; SAM2 itself predicts 256x256 logits), so bilinear upsampling gives
blobby edges at 2K-6K: fingers, hair and motion-blurred limbs are lost.
This step replaces the bilinear matte, per layer and frame, inside a band
around the layer's 0.5 contour (the trimap's unknown region) with the
output of a **fast colour guided filter** (He, Sun & Tang 2013; He & Sun
2015) whose guide is the plate's own pixels, so the alpha follows the
plate's edges. Outside the band the matte is exactly the bilinear one.

Why this method (figures in docs/pipeline.md, from
``benchmarks/bench_refine.py``): the guided filter is a local linear
model ``alpha = a . I + b``, the same model the closed-form matting solver
is built on, computed with box filters in O(pixels) with no solver, so
it recovers fractional alpha of hair and motion blur that a
joint-bilateral upsampling cannot (it only averages mask values), at a
fraction of a matting solver's cost. The coefficients are computed on a
grid subsampled by ``subsample`` (the "fast" variant), which costs a
quarter of the work at ``subsample=2`` for the same accuracy. Pure numpy:
box filters are cumulative sums, the 3x3 systems are solved in closed form,
so no new dependency.

Invariants (tested in ``tests/test_refine.py``):

* the coverages of all layers in a pixel sum to at most 1 (where the
  refined layers exceed 1 together they are scaled down proportionally,
  which does not depend on the layers' order);
* the layers, their names and their order (the depth order given to the
  writers) are unchanged; no layer is added or dropped;
* deterministic (no threads, no randomness), and the same for any tile
  size;
* pixels farther than ``band`` from every layer's 0.5 contour are exactly
  the bilinear upsampling (:func:`SegmentationCore.plates.upsample_masks`).

Memory is bounded: the frame is processed in square tiles (``tile``
plate pixels plus a halo), only tiles a band touches are filtered, and the
working memory is a few float64 planes of one tile, whatever the plate
size. The guide is kept as 8-bit sRGB (:func:`guide_from_plate`, built in
row bands), a quarter of the float plate.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping, Sequence, Union

import numpy as np

from ..core import maskops
from ..core.errors import SegmentationError
from ..plates.working import to_working_image

#: ``guide(y0, y1, x0, x1) -> (y1 - y0, x1 - x0, 3)`` sRGB-encoded pixels in
#: [0, 1] (float) or 0-255 (uint8), or a whole ``(H, W, 3)`` array.
Guide = Union[np.ndarray, Callable[[int, int, int, int], np.ndarray]]

GUIDE_ROWS = 64  # rows converted at a time by guide_from_plate


@dataclasses.dataclass(frozen=True)
class RefineParams:
    """Settings of the refinement. Lengths are fractions of the plate's
    longest side, so one setting means the same at 1080p and 6K; at the
    default working size (1024) and SAM2's 256x256 logits, one low-resolution
    SAM2 pixel is 1/256 = 0.0039 of the longest side.

    - ``band``: half-width of the band around each layer's 0.5 contour that
      is refined (0.008: two SAM2 pixels; 31 px at 4K, 15 px at 1080p);
    - ``radius``: the guided filter's window radius (0.008: two SAM2 pixels);
    - ``eps``: its regularisation on sRGB values in [0, 1]; larger is
      smoother, closer to the bilinear matte, less sensitive to grain;
    - ``subsample``: the fast guided filter's grid step (1 = the full guided
      filter);
    - ``sharpen``: the filter's input is the bilinear probability with its
      contrast around 0.5 multiplied by this (4; 1 = as is); a steeper input
      lets the filter snap a blurry SAM2 ramp onto the plate's edge;
    - ``feather``: pixels over which the refined matte blends into the
      bilinear one at the band's edge (no seam);
    - ``tile``: tile side in plate pixels (memory, not results).
    """

    band: float = 0.008
    radius: float = 0.008
    eps: float = 3e-4
    subsample: int = 2
    sharpen: float = 4.0
    feather: int = 4
    tile: int = 256

    def validate(self) -> None:
        if not (0 < self.band <= 0.25):
            raise SegmentationError(f"refine band {self.band} must be in (0, 0.25] (a fraction of the plate's longest side)")
        if not (0 < self.radius <= 0.25):
            raise SegmentationError(f"refine radius {self.radius} must be in (0, 0.25] (a fraction of the plate's longest side)")
        if not (self.sharpen >= 1.0 and math.isfinite(self.sharpen)):
            raise SegmentationError(f"refine sharpen {self.sharpen} must be a number >= 1")
        if not (self.eps > 0 and math.isfinite(self.eps)):
            raise SegmentationError(f"refine eps {self.eps} must be a positive number")
        if int(self.subsample) < 1 or int(self.feather) < 0 or int(self.tile) < 16:
            raise SegmentationError(
                f"refine subsample {self.subsample} (>= 1), feather {self.feather} (>= 0) and tile {self.tile} (>= 16) are out of range"
            )

    def pixels(self, plate_size: tuple[int, int]) -> tuple[int, int]:
        """``(band, radius)`` in plate pixels for a plate of ``(H, W)``."""
        longest = max(int(plate_size[0]), int(plate_size[1]))
        return max(2, int(round(self.band * longest))), max(1, int(round(self.radius * longest)))

    def reach(self, plate_size: tuple[int, int], working_size: tuple[int, int]) -> int:
        """How far (working pixels) refinement can spread a layer beyond its
        bilinear support; bounds Cryptomatte overlaps (rank sets)."""
        band, _ = self.pixels(plate_size)
        scale = max(working_size[0] / plate_size[0], working_size[1] / plate_size[1])
        return int(math.ceil((band + 1) * scale)) + 1

    def to_dict(self) -> dict[str, Any]:
        """What the refined mattes depend on (``tile`` does not change them)."""
        data = dataclasses.asdict(self)
        data.pop("tile")
        data["method"] = "fast-guided-filter"
        return data


# ---------------------------------------------------------------------------- guide


def guide_from_plate(pixels: np.ndarray, reading: str) -> np.ndarray:
    """The refinement's guide from plate pixels ``(H, W, 3)`` at plate
    resolution: the models' colour handling (``reading``: ``"linear"``,
    ``"srgb"`` or an OCIO colour space, see
    :func:`SegmentationCore.plates.to_working_image`) without the resize,
    stored as 8-bit sRGB. Converted in bands of rows, so the temporaries
    stay small."""
    pixels = np.asarray(pixels)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise SegmentationError(f"the refinement guide must be (height, width, 3) RGB plate pixels, not {pixels.shape}")
    height = pixels.shape[0]
    guide = np.empty(pixels.shape, np.uint8)
    for y0 in range(0, height, GUIDE_ROWS):
        y1 = min(height, y0 + GUIDE_ROWS)
        encoded = to_working_image(pixels[y0:y1], None, reading, 1.0)
        guide[y0:y1] = np.rint(encoded * 255.0).astype(np.uint8)
    return guide


def _guide_tile(guide: Guide, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    tile = guide[y0:y1, x0:x1] if isinstance(guide, np.ndarray) else guide(y0, y1, x0, x1)
    tile = np.asarray(tile)
    if tile.shape != (y1 - y0, x1 - x0, 3):
        raise SegmentationError(f"the refinement guide gave {tile.shape} for rows {y0}-{y1}, columns {x0}-{x1}; expected RGB of that size")
    if tile.dtype == np.uint8:
        return tile.astype(np.float64) * (1.0 / 255.0)
    return np.clip(np.nan_to_num(tile.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


# ---------------------------------------------------------------------------- filters


def _box_mean(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean over the ``(2r+1)^2`` window clipped to the array (edges use the
    pixels that exist), for ``(H, W)`` or ``(H, W, C)``; float64 cumulative
    sums."""
    out = np.asarray(values, np.float64)
    for axis in (0, 1):
        length = out.shape[axis]
        index = np.arange(length)
        low = np.clip(index - radius, 0, length)
        high = np.clip(index + radius + 1, 0, length)
        pad = [(0, 0)] * out.ndim
        pad[axis] = (1, 0)
        cumulative = np.cumsum(np.pad(out, pad), axis=axis)
        out = (np.take(cumulative, high, axis=axis) - np.take(cumulative, low, axis=axis))
        shape = [1] * out.ndim
        shape[axis] = length
        out /= (high - low).reshape(shape)
    return out


def _block_mean(values: np.ndarray, step: int) -> np.ndarray:
    """Average ``step x step`` blocks (the shape must divide)."""
    if step == 1:
        return values
    height, width = values.shape[:2]
    shaped = values.reshape(height // step, step, width // step, step, *values.shape[2:])
    return shaped.mean(axis=(1, 3))


def _upsample(values: np.ndarray, step: int) -> np.ndarray:
    """Pixel-centre bilinear enlargement by ``step`` of ``(h, w)`` / ``(h, w, C)``."""
    if step == 1:
        return values
    height, width = values.shape[:2]
    ys = np.clip((np.arange(height * step) + 0.5) / step - 0.5, 0, height - 1)
    xs = np.clip((np.arange(width * step) + 0.5) / step - 0.5, 0, width - 1)
    y0 = np.floor(ys).astype(np.int64)
    x0 = np.floor(xs).astype(np.int64)
    y1 = np.minimum(y0 + 1, height - 1)
    x1 = np.minimum(x0 + 1, width - 1)
    wy = (ys - y0).reshape((-1, 1) + (1,) * (values.ndim - 2))
    wx = (xs - x0).reshape((1, -1) + (1,) * (values.ndim - 2))
    rows = values[y0] * (1 - wy) + values[y1] * wy
    return rows[:, x0] * (1 - wx) + rows[:, x1] * wx


class GuidedFilter:
    """The colour guided filter with guide ``(H, W, 3)`` (floats in [0, 1]):
    per window, the least-squares fit ``source ~ a . I + b`` with ridge
    ``eps``; the output averages the windows' fits. With ``subsample > 1``
    the fits are computed on a grid ``subsample`` times coarser (radius
    scaled) and enlarged bilinearly (the fast guided filter); ``H`` and
    ``W`` must then be multiples of ``subsample``. The guide's statistics
    are computed once and shared by every layer filtered with it."""

    def __init__(self, guide: np.ndarray, radius: int, eps: float, subsample: int = 1):
        self.guide = np.asarray(guide, np.float64)
        self.step = int(subsample)
        self.small = _block_mean(self.guide, self.step)
        self.radius = max(1, int(round(radius / self.step)))
        r = self.radius
        self.mean_i = _box_mean(self.small, r)
        m = self.mean_i
        products = np.stack(
            [self.small[..., i] * self.small[..., j] for i, j in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))], axis=-1
        )
        var = _box_mean(products, r)
        rr = var[..., 0] - m[..., 0] * m[..., 0] + eps
        rg = var[..., 1] - m[..., 0] * m[..., 1]
        rb = var[..., 2] - m[..., 0] * m[..., 2]
        gg = var[..., 3] - m[..., 1] * m[..., 1] + eps
        gb = var[..., 4] - m[..., 1] * m[..., 2]
        bb = var[..., 5] - m[..., 2] * m[..., 2] + eps
        # inverse of the symmetric 3x3 covariance (+ eps I) by cofactors
        inverse = np.stack([gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb, rr * bb - rb * rb, rb * rg - rr * gb, rr * gg - rg * rg], axis=-1)
        det = rr * inverse[..., 0] + rg * inverse[..., 1] + rb * inverse[..., 2]
        self.inverse = inverse / det[..., None]

    def __call__(self, source: np.ndarray) -> np.ndarray:
        """The filtered ``source (H, W)``, float64."""
        small = _block_mean(np.asarray(source, np.float64), self.step)
        r = self.radius
        mean_p = _box_mean(small, r)
        cov = _box_mean(self.small * small[..., None], r) - self.mean_i * mean_p[..., None]
        inv = self.inverse
        a = np.empty_like(cov)
        a[..., 0] = inv[..., 0] * cov[..., 0] + inv[..., 1] * cov[..., 1] + inv[..., 2] * cov[..., 2]
        a[..., 1] = inv[..., 1] * cov[..., 0] + inv[..., 3] * cov[..., 1] + inv[..., 4] * cov[..., 2]
        a[..., 2] = inv[..., 2] * cov[..., 0] + inv[..., 4] * cov[..., 1] + inv[..., 5] * cov[..., 2]
        b = mean_p - np.einsum("...c,...c->...", a, self.mean_i)
        mean_a = _upsample(_box_mean(a, r), self.step)
        mean_b = _upsample(_box_mean(b, r), self.step)
        return np.einsum("...c,...c->...", mean_a, self.guide) + mean_b


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float, subsample: int = 1) -> np.ndarray:
    """:class:`GuidedFilter` of ``source (H, W)`` with ``guide (H, W, 3)``; float64."""
    return GuidedFilter(guide, radius, eps, subsample)(source)


# ---------------------------------------------------------------------------- layers


def edge_band(probability: np.ndarray, band: int) -> np.ndarray:
    """Pixels within ``band`` pixels (square) of the 0.5 contour of a soft
    mask: the trimap's unknown region. Boolean, same shape."""
    inside = np.asarray(probability) >= 0.5
    return maskops.dilate(inside, band) & ~maskops.erode(inside, band)


def _band_weight(band: np.ndarray, feather: int) -> np.ndarray:
    """1 inside the band, ramping to 0 over ``feather`` pixels at its edges;
    exactly 0 outside it."""
    if feather <= 0:
        return band.astype(np.float64)
    weight = np.clip(2.0 * _box_mean(band.astype(np.float64), feather) - 1.0, 0.0, 1.0)
    weight[~band] = 0.0
    return weight


def _bilinear_window(mask: np.ndarray, plate_size: tuple[int, int], y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """Rows ``y0:y1``, columns ``x0:x1`` of ``maskops.resize_bilinear(mask,
    plate_size)``, bit for bit, without enlarging the whole mask."""
    array = np.asarray(mask, np.float32)
    height, width = array.shape
    ly0, ly1, wy = maskops._axis_weights(height, int(plate_size[0]))
    lx0, lx1, wx = maskops._axis_weights(width, int(plate_size[1]))
    ly0, ly1, wy = ly0[y0:y1], ly1[y0:y1], wy[y0:y1]
    lx0, lx1, wx = lx0[x0:x1], lx1[x0:x1], wx[x0:x1]
    rows = array[None, ly0, :] * (1 - wy)[None, :, None] + array[None, ly1, :] * wy[None, :, None]
    result = rows[:, :, lx0] * (1 - wx)[None, None, :] + rows[:, :, lx1] * wx[None, None, :]
    return np.clip(result[0].astype(np.float32, copy=False), 0.0, 1.0)


def _working_span(start: int, stop: int, plate: int, working: int) -> tuple[int, int]:
    """Working-resolution pixels that bilinear upsampling reads for plate pixels ``start:stop``."""
    scale = working / plate
    low = int(math.floor((start + 0.5) * scale - 0.5)) - 1
    high = int(math.floor((stop - 0.5) * scale - 0.5)) + 2
    return max(0, low), min(working, high + 1)


class EdgeRefiner:
    """Refined plate-resolution mattes, one band of rows at a time.

    ``rows(y0, y1)`` returns ``{name: (y1 - y0, W) float32}``, rows ``y0``
    to ``y1`` of the refined frame; it is the ``coverages`` callable of
    :func:`SegmentationCore.idmatte.output.write_frame_bands`, and has the
    ``names`` of :class:`SegmentationCore.plates.MaskUpsampler`. Rows are
    made one strip of ``params.tile`` rows at a time (the last two are
    kept), so memory is that of a strip, whatever the plate's height."""

    def __init__(
        self,
        layers: Mapping[str, np.ndarray],
        plate_size: tuple[int, int],
        guide: Guide,
        params: RefineParams | None = None,
        depth_order: Sequence[str] | None = None,
    ):
        self.params = params or RefineParams()
        self.params.validate()
        self.plate_size = (int(plate_size[0]), int(plate_size[1]))
        plate_h, plate_w = self.plate_size
        if isinstance(guide, np.ndarray) and guide.shape[:2] != (plate_h, plate_w):
            raise SegmentationError(f"the refinement guide is {guide.shape[1]}x{guide.shape[0]} but the plate is {plate_w}x{plate_h}")
        if depth_order is not None:
            unknown = [name for name in depth_order if name not in layers]
            if unknown:
                raise SegmentationError(f"depth order names layers that are not in the frame: {unknown}")
        self.masks = {name: np.asarray(mask, np.float32) for name, mask in layers.items()}
        shapes = {mask.shape for mask in self.masks.values()}
        if len(shapes) > 1:
            raise SegmentationError(f"working masks must all have one size to refine, got {sorted(shapes)}")
        self.working_size = next(iter(shapes)) if shapes else self.plate_size
        self.guide = guide
        self.band_px, self.radius_px = self.params.pixels(self.plate_size)
        step = int(self.params.subsample)
        halo = self.band_px + int(self.params.feather) + 2 * self.radius_px + 2 * step + 2
        self.halo = halo + (-halo) % step
        tile = int(self.params.tile)
        self.tile = tile + (-tile) % step
        self._strips: dict[int, dict[str, np.ndarray]] = {}

    @property
    def names(self) -> list[str]:
        return list(self.masks)

    def reach(self) -> int:
        """:meth:`RefineParams.reach` for this frame."""
        return self.params.reach(self.plate_size, self.working_size)

    def rows(self, y0: int, y1: int) -> dict[str, np.ndarray]:
        y0, y1 = max(0, int(y0)), min(self.plate_size[0], int(y1))
        parts: dict[str, list[np.ndarray]] = {name: [] for name in self.masks}
        start = (y0 // self.tile) * self.tile
        for strip_y in range(start, max(y1, y0 + 1), self.tile):
            if strip_y >= self.plate_size[0] and y1 > y0:
                break
            strip = self._strip(strip_y)
            a, b = max(y0, strip_y) - strip_y, min(y1, strip_y + self.tile) - strip_y
            for name in self.masks:
                parts[name].append(strip[name][max(0, a):max(0, b)])
        width = self.plate_size[1]
        return {name: (np.concatenate(chunks) if chunks else np.zeros((0, width), np.float32)) for name, chunks in parts.items()}

    def _strip(self, strip_y: int) -> dict[str, np.ndarray]:
        cached = self._strips.get(strip_y)
        if cached is not None:
            return cached
        plate_h, plate_w = self.plate_size
        cy0, cy1 = strip_y, min(plate_h, strip_y + self.tile)
        output = {name: _bilinear_window(mask, self.plate_size, cy0, cy1, 0, plate_w) for name, mask in self.masks.items()}
        for tx in range(0, plate_w, self.tile):
            core = (cy0, cy1, tx, min(plate_w, tx + self.tile))
            _refine_tile(self.masks, output, cy0, self.plate_size, self.working_size, self.guide, self.params, core, self.halo, self.band_px, self.radius_px)
        while len(self._strips) >= 2:
            self._strips.pop(next(iter(self._strips)))
        self._strips[strip_y] = output
        return output


def refine_layers(
    layers: Mapping[str, np.ndarray],
    plate_size: tuple[int, int],
    guide: Guide,
    params: RefineParams | None = None,
    depth_order: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Working-resolution probabilities ``{name: (h, w)}`` to refined
    plate-resolution mattes ``{name: (H, W) float32}``, same names in the
    same order (whole frames; :class:`EdgeRefiner` gives bands of rows).
    ``guide`` gives the plate's sRGB pixels (see :data:`Guide`,
    :func:`guide_from_plate`). ``depth_order``, if given, must name layers
    of the frame; it is not changed."""
    refiner = EdgeRefiner(layers, plate_size, guide, params, depth_order)
    output = {name: np.empty(refiner.plate_size, np.float32) for name in refiner.names}
    for y0 in range(0, refiner.plate_size[0], refiner.tile):
        band = refiner.rows(y0, y0 + refiner.tile)
        for name, rows in band.items():
            output[name][y0:y0 + rows.shape[0]] = rows
    return output


def _refine_tile(masks, output, offset, plate_size, working_size, guide, params, core, halo, band_px, radius_px) -> None:
    """Refine the ``core`` (y0, y1, x0, x1) of every layer in ``output``,
    whose arrays start at plate row ``offset``."""
    names = list(masks)
    plate_h, plate_w = plate_size
    cy0, cy1, cx0, cx1 = core
    oy0, oy1 = cy0 - offset, cy1 - offset
    y0, y1 = max(0, cy0 - halo), min(plate_h, cy1 + halo)
    x0, x1 = max(0, cx0 - halo), min(plate_w, cx1 + halo)
    wy0, wy1 = _working_span(y0, y1, plate_h, working_size[0])
    wx0, wx1 = _working_span(x0, x1, plate_w, working_size[1])
    # layers whose 0.5 contour can reach this tile (cheap test at working resolution)
    touched = []
    for name in names:
        region = masks[name][wy0:wy1, wx0:wx1]
        if region.size and region.max() >= 0.5 and region.min() < 0.5:
            touched.append(name)
    if not touched:
        return
    step = int(params.subsample)
    # pad the window to a multiple of the fast filter's grid, replicating edges
    pad_y = (-(y1 - y0)) % step
    pad_x = (-(x1 - x0)) % step
    guide_tile = _guide_tile(guide, y0, y1, x0, x1)
    if pad_y or pad_x:
        guide_tile = np.pad(guide_tile, ((0, pad_y), (0, pad_x), (0, 0)), mode="edge")
    sy0, sy1, sx0, sx1 = cy0 - y0, cy1 - y0, cx0 - x0, cx1 - x0
    refined = {}
    smoother = None
    for name in touched:
        probability = _bilinear_window(masks[name], plate_size, y0, y1, x0, x1)
        band = edge_band(probability, band_px)
        if not band[sy0:sy1, sx0:sx1].any():
            continue
        weight = _band_weight(band, int(params.feather))[sy0:sy1, sx0:sx1]
        source = probability if params.sharpen == 1.0 else np.clip((probability - 0.5) * params.sharpen + 0.5, 0.0, 1.0)
        source = np.pad(source, ((0, pad_y), (0, pad_x)), mode="edge") if (pad_y or pad_x) else source
        if smoother is None:
            smoother = GuidedFilter(guide_tile, radius_px, params.eps, step)
        filtered = smoother(source)[sy0:sy1, sx0:sx1]
        original = probability[sy0:sy1, sx0:sx1].astype(np.float64)
        mixed = np.clip(weight * filtered + (1.0 - weight) * original, 0.0, 1.0)
        inside = weight > 0
        core_out = output[name][oy0:oy1, cx0:cx1]
        core_out[inside] = mixed[inside].astype(np.float32)
        refined[name] = inside
    if not refined:
        return
    # coverages of all layers in a refined pixel sum to at most 1: scale them
    # down proportionally (a hair below 1, so float32 rounding stays <= 1)
    changed = np.zeros((cy1 - cy0, cx1 - cx0), bool)
    for inside in refined.values():
        changed |= inside
    total = np.zeros((cy1 - cy0, cx1 - cx0), np.float64)
    for name in names:
        total += output[name][oy0:oy1, cx0:cx1]
    over = changed & (total > 1.0)
    if over.any():
        scale = (1.0 - 2.0 ** -20) / total[over]
        for name in names:
            core_out = output[name][oy0:oy1, cx0:cx1]
            core_out[over] = (core_out[over].astype(np.float64) * scale).astype(np.float32)
