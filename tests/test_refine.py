"""Edge refinement (pipeline.refine): the invariants the writers rely on, and
that it actually moves a blurry edge onto the plate's edge."""

import dataclasses

import numpy as np
import pytest

from SegmentationCore.core import maskops
from SegmentationCore.core.errors import SegmentationError
from SegmentationCore.pipeline import refine
from SegmentationCore.plates import to_working_image, upsample_masks

PLATE = (180, 320)
WORKING = (72, 128)  # plate / 2.5, as 4K plates are to the 1024 working frame (/4)
# the masks here are coarser for the plate than SAM2's 256x256 are for a
# real one: band and radius 10 and 8 plate pixels
PARAMS = refine.RefineParams(band=0.03, radius=0.025)


def _plate_and_alpha(edge_x: float, seed: int = 0):
    """A plate whose left part (x < edge_x, plus a disk) is red on a blue,
    slightly noisy background; its true alpha (hard, antialiased edge)."""
    height, width = PLATE
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    alpha = np.clip(edge_x - xx + 0.5, 0, 1)
    disk = np.clip(20.5 - np.hypot(yy - 120, xx - 230), 0, 1)
    alpha = np.maximum(alpha, disk)
    fg, bg = np.array([0.8, 0.2, 0.1], np.float32), np.array([0.1, 0.3, 0.7], np.float32)
    rng = np.random.default_rng(seed)
    pixels = alpha[..., None] * fg + (1 - alpha[..., None]) * bg + rng.normal(0, 0.005, (height, width, 3)).astype(np.float32)
    return np.clip(pixels, 0, 1).astype(np.float32), alpha


def _blurry(alpha: np.ndarray, shift: int = 0) -> np.ndarray:
    """SAM2-like: the alpha at 1/8 resolution, shifted, back up to the working size."""
    low = maskops.resize_area(np.roll(alpha, shift, axis=1), (PLATE[0] // 8, PLATE[1] // 8))
    return maskops.resize_bilinear(low, WORKING)


@pytest.fixture
def scene():
    pixels, alpha = _plate_and_alpha(150.0)
    guide = refine.guide_from_plate(pixels, "srgb")
    return guide, alpha


def test_refinement_moves_a_blurry_edge_onto_the_plate_edge(scene):
    guide, alpha = scene
    layers = {"/a/a_0001": _blurry(alpha, shift=4)}
    bilinear = upsample_masks(layers, PLATE)["/a/a_0001"]
    refined = refine.refine_layers(layers, PLATE, guide, PARAMS)["/a/a_0001"]
    band = maskops.dilate((alpha > 0) & (alpha < 1) | maskops.boundary(alpha), 6)
    sad_bilinear = np.abs(bilinear - alpha)[band].sum()
    sad_refined = np.abs(refined - alpha)[band].sum()
    assert sad_refined < 0.8 * sad_bilinear, (sad_refined, sad_bilinear)


def test_pixels_far_from_every_edge_are_exactly_the_bilinear_matte(scene):
    guide, alpha = scene
    layers = {"/a/a_0001": _blurry(alpha, shift=3), "/b/b_0001": np.clip(1 - _blurry(alpha, shift=3) - 0.2, 0, 1)}
    params = PARAMS
    bilinear = upsample_masks(layers, PLATE)
    refined = refine.refine_layers(layers, PLATE, guide, params)
    band_px, _ = params.pixels(PLATE)
    near = np.zeros(PLATE, bool)
    for matte in bilinear.values():
        near |= refine.edge_band(matte, band_px)
    for name in layers:
        assert np.array_equal(refined[name][~near], bilinear[name][~near])
        assert not np.array_equal(refined[name][near], bilinear[name][near])  # the band did change


def test_coverages_of_all_layers_sum_to_at_most_one(scene):
    guide, alpha = scene
    # disjoint cache layers (one layer per pixel) meeting near the plate's edge
    left = (np.arange(WORKING[1]) < 144 / 2.5)[None, :].repeat(WORKING[0], 0).astype(np.float32)
    layers = {"/left/left_0001": left, "/right/right_0001": 1.0 - left}
    refined = refine.refine_layers(layers, PLATE, guide, PARAMS)
    total = refined["/left/left_0001"].astype(np.float64) + refined["/right/right_0001"]
    assert total.max() <= 1.0
    # two layers holding the same object: each one refined alone claims the
    # edge, so together they would exceed 1 there; refined together they do not
    blob = _blurry(alpha, shift=3)
    twins = {"/a/a_0001": blob, "/b/b_0001": blob.copy()}
    alone = refine.refine_layers({"/a/a_0001": blob}, PLATE, guide, PARAMS)["/a/a_0001"]
    together = refine.refine_layers(twins, PLATE, guide, PARAMS)
    bilinear = upsample_masks({"/a/a_0001": blob}, PLATE)["/a/a_0001"]
    near = refine.edge_band(bilinear, PARAMS.pixels(PLATE)[0])
    assert (2.0 * alone[near]).max() > 1.05  # the constraint has work to do
    total = together["/a/a_0001"].astype(np.float64) + together["/b/b_0001"]
    assert total[near].max() <= 1.0
    assert (together["/a/a_0001"] >= 0).all() and (together["/b/b_0001"] >= 0).all()
    # far from the edges nothing changes, even where the input itself exceeds 1
    assert np.array_equal(together["/a/a_0001"][~near], bilinear[~near])
    assert total[~near].max() == 2.0


def test_layers_and_their_depth_order_are_unchanged(scene):
    guide, alpha = scene
    names = ["/z/z_0001", "/a/a_0001", "/m/m_0001"]
    empty = np.zeros(WORKING, np.float32)
    layers = {names[0]: _blurry(alpha), names[1]: empty, names[2]: np.clip(1 - _blurry(alpha), 0, 1)}
    order = list(names)
    refined = refine.refine_layers(layers, PLATE, guide, depth_order=order)
    assert list(refined) == names  # same layers, same order; an empty layer is kept
    assert order == names  # the depth order given is not touched
    assert not refined["/a/a_0001"].any()
    with pytest.raises(SegmentationError, match="depth order"):
        refine.refine_layers(layers, PLATE, guide, depth_order=["/nobody/nobody_0001"])


def test_deterministic_and_independent_of_the_tile_size(scene):
    guide, alpha = scene
    layers = {"/a/a_0001": _blurry(alpha, shift=2), "/b/b_0001": np.clip(1 - _blurry(alpha, shift=2), 0, 1)}
    first = refine.refine_layers(layers, PLATE, guide, PARAMS)
    again = refine.refine_layers(layers, PLATE, guide, PARAMS)
    for name in layers:
        assert np.array_equal(first[name], again[name])
    for tile in (32, 100, 1024):
        other = refine.refine_layers(layers, PLATE, guide, dataclasses.replace(PARAMS, tile=tile))
        for name in layers:
            np.testing.assert_allclose(other[name], first[name], atol=1e-5)


def test_odd_plate_sizes_and_subsample_steps(scene):
    guide, alpha = scene
    size = (177, 311)
    layers = {"/a/a_0001": _blurry(alpha, shift=2)}
    for step in (1, 2, 3):
        params = dataclasses.replace(PARAMS, subsample=step, tile=64)
        out = refine.refine_layers(layers, size, guide[:177, :311], params)["/a/a_0001"]
        whole = refine.refine_layers(layers, size, guide[:177, :311], dataclasses.replace(params, tile=2048))["/a/a_0001"]
        assert out.shape == size and out.dtype == np.float32
        assert 0.0 <= out.min() and out.max() <= 1.0
        np.testing.assert_allclose(out, whole, atol=1e-5)


def test_a_guide_callable_gives_the_same_mattes_as_an_array(scene):
    guide, alpha = scene
    layers = {"/a/a_0001": _blurry(alpha, shift=2)}
    calls = []

    def tiles(y0, y1, x0, x1):
        calls.append((y0, y1, x0, x1))
        return guide[y0:y1, x0:x1]

    params = dataclasses.replace(PARAMS, tile=64)
    from_array = refine.refine_layers(layers, PLATE, guide, params)["/a/a_0001"]
    from_callable = refine.refine_layers(layers, PLATE, tiles, params)["/a/a_0001"]
    assert np.array_equal(from_array, from_callable)
    assert calls and all((y1 - y0) < PLATE[0] or (x1 - x0) < PLATE[1] for y0, y1, x0, x1 in calls)  # tiles, not the frame


def test_guide_is_the_models_colour_handling_at_plate_resolution_in_8_bits():
    rng = np.random.default_rng(3)
    pixels = rng.uniform(0, 1.5, (150, 90, 3)).astype(np.float32)
    guide = refine.guide_from_plate(pixels, "linear")
    expected = to_working_image(pixels, None, "linear")
    assert guide.dtype == np.uint8 and guide.shape == pixels.shape
    assert np.abs(guide / 255.0 - expected).max() <= 0.5 / 255 + 1e-6


def test_guided_filter_keeps_a_constant_and_follows_a_clean_edge():
    height, width = 40, 60
    guide = np.zeros((height, width, 3))
    guide[:, 30:] = 1.0
    constant = refine.guided_filter(guide, np.full((height, width), 0.25), 4, 1e-3)
    np.testing.assert_allclose(constant, 0.25, atol=1e-9)
    ramp = np.clip((np.arange(width) - 24) / 12.0, 0, 1)[None, :].repeat(height, 0)
    out = refine.guided_filter(guide, ramp, 8, 1e-4, subsample=2)
    assert out[:, 22].max() < 0.2 and out[:, 37].min() > 0.8  # a 12 px ramp becomes a step at the guide's edge


def test_bad_settings_are_refused_naming_the_setting():
    for field, value in (("band", 0.0), ("radius", 1.0), ("eps", 0.0), ("subsample", 0), ("tile", 4), ("sharpen", 0.5)):
        with pytest.raises(SegmentationError, match=field):
            dataclasses.replace(refine.RefineParams(), **{field: value}).validate()
    assert "tile" not in refine.RefineParams().to_dict()  # tiles do not change results
    with pytest.raises(SegmentationError, match="guide"):
        refine.refine_layers({"/a/a_0001": np.zeros(WORKING, np.float32)}, PLATE, np.zeros((10, 10, 3), np.uint8))


def test_bands_of_rows_are_the_whole_frame_rows(scene):
    guide, alpha = scene
    layers = {"/a/a_0001": _blurry(alpha, shift=2), "/b/b_0001": np.clip(1 - _blurry(alpha, shift=2), 0, 1)}
    params = dataclasses.replace(PARAMS, tile=48)
    whole = refine.refine_layers(layers, PLATE, guide, params)
    refiner = refine.EdgeRefiner(layers, PLATE, guide, params)
    assert refiner.names == list(layers)
    for rows in (16, 7, 100):
        for y0 in range(0, PLATE[0], rows):
            band = refiner.rows(y0, y0 + rows)
            for name in layers:
                assert np.array_equal(band[name], whole[name][y0:y0 + rows])
            assert len(refiner._strips) <= 2  # memory of two strips, not of the frame
    assert refiner.reach() >= 1
