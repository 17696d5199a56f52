"""Band-by-band writing of the ID-matte files (idmatte.bands): the files are
byte for byte those of a whole-frame encode, they decode to exactly the
whole-frame samples, the plate-resolution layers are only ever made one
band at a time, and a failure leaves no file."""

import logging
import tracemalloc

import numpy as np
import pytest

from idmatte_layers import crowd_layers, overlapping_layers
from SegmentationCore import plates
from SegmentationCore.core import errors, maskops
from SegmentationCore.idmatte import bands, cryptomatte, deep_exr, exr_header, flat_exr, objectid, output
from SegmentationCore.idmatte.idsamples import collect_samples

WINDOWS = exr_header.ImageWindows(-7, -5, (0, 0, 50, 40), 2.0)


def crowd():
    return crowd_layers(133, 117, count=16, pile=9)  # 9 layers on one pixel: more than 3 rank sets hold


def whole_frame_bytes(kind, layers, **options):
    """One band covering the frame (what the writers did before banding)."""
    frame = bands.from_layers("<test>", layers, options.pop("depth_order", None), shape=options.pop("shape", None))
    stream = __import__("io").BytesIO()
    if kind == "objectid":
        writer = objectid.ObjectIdBandWriter(stream, frame.names, frame.width, frame.height, options.get("windows"))
    else:
        writer = cryptomatte.CryptomatteBandWriter(stream, frame.names, frame.width, frame.height, **options)
    bands.run(frame, [writer], rows=frame.height)
    return stream.getvalue()


@pytest.mark.parametrize("rows", [16, 32, 48, 80])
@pytest.mark.parametrize(
    "case",
    ["crowd", "crowd_windows", "crowd_alpha_channels", "crowd_zips", "crowd_none", "crowd_rle", "overlapping", "empty"],
)
def test_bands_give_the_whole_frame_bytes(case, rows):
    layers = overlapping_layers(70, 45, 4) if case == "overlapping" else {} if case == "empty" else crowd()
    shape = (37, 29) if case == "empty" else None
    depth_order = sorted(layers)[::-1]
    crypto = {"rank_sets": 3}
    if case == "crowd_windows":
        crypto["windows"] = WINDOWS
    if case == "crowd_alpha_channels":
        crypto["extra_alpha_channels"] = True
    if case in ("crowd_zips", "crowd_none", "crowd_rle"):
        crypto["compression"] = case.split("_")[1]
    windows = crypto.get("windows")
    oid_whole = whole_frame_bytes("objectid", layers, depth_order=depth_order, shape=shape, windows=windows)
    crypto_whole = whole_frame_bytes("crypto", layers, depth_order=depth_order, shape=shape, **crypto)
    frame = bands.from_layers("<test>", layers, depth_order, shape=shape)
    streams = [__import__("io").BytesIO(), __import__("io").BytesIO()]
    writers = [
        objectid.ObjectIdBandWriter(streams[0], frame.names, frame.width, frame.height, windows),
        cryptomatte.CryptomatteBandWriter(streams[1], frame.names, frame.width, frame.height, **crypto),
    ]
    bands.run(frame, writers, rows=rows)
    assert streams[0].getvalue() == oid_whole
    assert streams[1].getvalue() == crypto_whole


def test_banded_files_decode_to_the_whole_frame_samples(tmp_path):
    """Independent of the encoder: every sample of the whole-frame
    collect_samples is in the banded ObjectId file, and both formats read
    back the same mattes as the whole-frame writer's files."""
    layers = crowd()
    rank_sets = cryptomatte.required_rank_sets(layers)
    names = list(layers)
    up = {name: layers[name] for name in names}
    banded = output.write_frame_bands(
        tmp_path / "banded", 1001, names, lambda y0, y1: {n: a[y0:y1] for n, a in up.items()}, (133, 117),
        rank_sets=rank_sets, band_rows=16, extra_alpha_channels=True, windows=WINDOWS,
    )
    whole = output.write_frame(tmp_path / "whole", 1001, layers, rank_sets=rank_sets, extra_alpha_channels=True, windows=WINDOWS)
    samples = collect_samples("<test>", layers)
    image = deep_exr.read_deep(banded["objectid"])
    np.testing.assert_array_equal(image.counts, samples.counts)
    np.testing.assert_array_equal(image.channels["id"], samples.hashes[samples.layer])
    np.testing.assert_array_equal(image.channels["A"], samples.alpha.astype(np.float16))
    np.testing.assert_array_equal(image.channels["Z"], (samples.layer + 1).astype(np.float32))
    assert exr_header.read_header(banded["objectid"])[0].value("maxSamplesPerPixel") == samples.max_samples
    for kind, read in (("objectid", objectid.read_objectid), ("crypto", cryptomatte.read_cryptomatte)):
        a, b = read(banded[kind]), read(whole[kind])
        assert sorted(a) == sorted(b) == sorted(layers)
        for name in layers:
            np.testing.assert_array_equal(a[name], b[name])
        header_a, header_b = exr_header.read_header(banded[kind])[0], exr_header.read_header(whole[kind])[0]
        assert header_a.attributes == header_b.attributes
    assert open(banded["crypto"], "rb").read() == open(whole["crypto"], "rb").read()
    assert open(banded["objectid"], "rb").read() == open(whole["objectid"], "rb").read()


def test_write_frame_bands_from_working_masks_is_write_frame_of_upsample_masks(tmp_path):
    """The write stage's path (MaskUpsampler bands) gives the files of the
    whole-frame path (upsample_masks, then write_frame)."""
    working = overlapping_layers(36, 64, 5)
    plate = (203, 357)
    rank_sets = max(3, cryptomatte.required_rank_sets({n: maskops.dilate(m, 1) for n, m in working.items()}))
    order = sorted(working)[::-1]
    upsampler = plates.MaskUpsampler(working, plate)
    banded = output.write_frame_bands(
        tmp_path / "banded", 7, upsampler.names, upsampler.rows, plate, rank_sets=rank_sets, depth_order=order, band_rows=32,
    )
    whole = output.write_frame(tmp_path / "whole", 7, plates.upsample_masks(working, plate), rank_sets=rank_sets, depth_order=order)
    for kind in output.FORMATS:
        assert open(banded[kind], "rb").read() == open(whole[kind], "rb").read(), kind


@pytest.mark.parametrize(
    "working, plate", [((60, 100), (300, 500)), ((576, 1024), (1100, 1956)), ((40, 70), (33, 61)), ((50, 50), (50, 50)), ((1, 5), (7, 9))]
)
def test_mask_upsampler_bands_are_upsample_masks_bit_for_bit(working, plate):
    rng = np.random.default_rng(3)
    layers = {f"/a/a_{i}": rng.random(working, dtype=np.float32) * 1.4 - 0.2 for i in range(2)}
    full = plates.upsample_masks(layers, plate)
    upsampler = plates.MaskUpsampler(layers, plate)
    for rows in (1, 16, 17):
        for y0 in range(0, plate[0], rows):
            y1 = min(plate[0], y0 + rows)
            band = upsampler.rows(y0, y1)
            # only the band's working rows (one row of halo) are read
            r0, r1 = upsampler.working_rows(y0, y1)
            hidden = {n: np.full_like(m, np.nan) for n, m in layers.items()}
            for name in layers:
                hidden[name][r0:r1] = layers[name][r0:r1]
            alone = plates.MaskUpsampler(hidden, plate).rows(y0, y1)
            for name in layers:
                assert band[name].dtype == np.float32
                np.testing.assert_array_equal(band[name], full[name][y0:y1])
                np.testing.assert_array_equal(alone[name], full[name][y0:y1])


def test_layers_are_made_one_band_at_a_time(tmp_path):
    calls = []
    height, width = 150, 40

    def coverages(y0, y1):
        calls.append((y0, y1))
        alpha = np.zeros((y1 - y0, width), np.float32)
        alpha[:, 5:30] = 0.5
        return {"/a/a_0001": alpha}

    output.write_frame_bands(tmp_path / "x", 1, ["/a/a_0001"], coverages, (height, width), band_rows=32)
    assert calls == [(0, 32), (32, 64), (64, 96), (96, 128), (128, 150)]
    assert bands.band_rows(6144) % 16 == 0 and bands.band_rows(6144) * 6144 <= bands.BAND_PIXELS
    assert bands.band_rows(100000) == 16


def test_peak_memory_is_a_band_not_the_frame(tmp_path):
    """Writing a 1600x1200 frame of 4 layers from working-resolution masks:
    the whole-frame layers alone are 31 MB and the Cryptomatte layout 92 MB;
    banded, the peak of Python allocations stays a few bands' worth."""
    working = overlapping_layers(400, 300, 4)
    plate = (1600, 1200)
    upsampler = plates.MaskUpsampler(working, plate)
    tracemalloc.start()
    try:
        output.write_frame_bands(tmp_path / "big", 1, upsampler.names, upsampler.rows, plate, rank_sets=3, band_rows=64)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40e6, f"peak {peak / 1e6:.0f} MB"


def test_a_failing_band_leaves_no_file(tmp_path):
    prefix = tmp_path / "sh"
    old = output.write_frame(prefix, 1, {"/a/a_0001": np.ones((64, 20), np.float32)})
    before = {kind: open(path, "rb").read() for kind, path in old.items()}

    def coverages(y0, y1):
        if y0 >= 32:
            raise RuntimeError("plate went away")
        return {"/a/a_0001": np.zeros((y1 - y0, 20), np.float32)}

    with pytest.raises(RuntimeError, match="plate went away"):
        output.write_frame_bands(prefix, 1, ["/a/a_0001"], coverages, (64, 20), overwrite=True, band_rows=16)
    with pytest.raises(errors.OutputError, match="NaN"):
        output.write_frame_bands(
            prefix, 2, ["/a/a_0001"], lambda y0, y1: {"/a/a_0001": np.full((y1 - y0, 20), np.nan, np.float32)}, (64, 20),
        )
    with pytest.raises(errors.OutputError, match="not in the frame's names"):
        output.write_frame_bands(prefix, 3, ["/a/a_0001"], lambda y0, y1: {"/b/b": np.zeros((y1 - y0, 20))}, (64, 20))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.rsplit("/", 1)[1] for p in old.values())
    assert {kind: open(path, "rb").read() for kind, path in old.items()} == before


def test_dropped_ranks_warn_once_for_the_frame(tmp_path, caplog):
    layers = crowd()
    with caplog.at_level(logging.WARNING, logger="SegmentationCore.idmatte.cryptomatte"):
        output.write_frame(tmp_path / "whole", 1, layers, rank_sets=3, formats=["crypto"])
        whole = [r.getMessage().split(": ", 1)[1] for r in caplog.records]
        caplog.clear()
        output.write_frame_bands(
            tmp_path / "banded", 1, list(layers), lambda y0, y1: {n: a[y0:y1] for n, a in layers.items()}, (133, 117),
            rank_sets=3, formats=["crypto"], band_rows=16,
        )
        banded = [r.getMessage().split(": ", 1)[1] for r in caplog.records]
    assert len(whole) == 1 and banded == whole
    assert f"rank_sets={cryptomatte.required_rank_sets(layers)}" in whole[0]


def test_streaming_writers_refuse_bad_bands():
    layout = flat_exr.FlatLayout(20, 4, [("R", exr_header.PIXEL_FLOAT)])
    writer = flat_exr.FlatScanlineWriter(__import__("io").BytesIO(), 4, 40, layout.channels, compression="zip")
    with pytest.raises(ValueError, match="16-line chunks"):
        writer.write_rows(layout)
    with pytest.raises(ValueError, match="0 of 40"):
        writer.finish()
    deep = deep_exr.DeepScanlineWriter(__import__("io").BytesIO(), 4, 3, [("A", exr_header.PIXEL_HALF)])
    with pytest.raises(ValueError, match="past the image"):
        deep.write_lines(np.zeros((4, 4), np.int32), [deep_exr.DeepChannel("A", exr_header.PIXEL_HALF, np.zeros(0))])
    with pytest.raises(ValueError, match="multiple of 16"):
        bands.run(bands.from_layers("<t>", {"/a/a": np.zeros((40, 4))}), [], rows=10)
