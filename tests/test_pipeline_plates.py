"""Plates: sequence names, frame ranges, colour transfer, resizing, streaming, errors."""

import os

import numpy as np
import OpenImageIO as oiio
import pytest

from SegmentationCore import plates
from SegmentationCore.core.errors import PlateError


def write(path, pixels, fmt):
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], pixels.shape[2], fmt)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec)
    out.write_image(pixels)
    out.close()


@pytest.fixture
def sequence(tmp_path):
    rng = np.random.default_rng(0)
    for frame in range(1001, 1006):
        write(tmp_path / f"shot_v2.{frame:04d}.exr", rng.random((20, 40, 3)).astype(np.float32), "half")
    return tmp_path


@pytest.mark.parametrize("name", ["shot_v2.####.exr", "shot_v2.#.exr", "shot_v2.@@@@.exr", "shot_v2.%04d.exr", "shot_v2.1003.exr"])
def test_sequence_names_find_the_frames_on_disk(sequence, name):
    parsed = plates.parse_sequence(str(sequence / name))
    assert parsed.frames == [1001, 1002, 1003, 1004, 1005]
    assert parsed.path(1002) == str(sequence / "shot_v2.1002.exr")
    assert parsed.name == "shot_v2"


def test_frame_ranges_from_the_name_or_the_option(sequence):
    assert plates.parse_sequence(str(sequence / "shot_v2.1002-1004#.exr")).frames == [1002, 1003, 1004]
    assert plates.parse_sequence(str(sequence / "shot_v2.####.exr"), "1001-1002,1005").frames == [1001, 1002, 1005]
    assert plates.parse_frames("1001-1003, 1010") == [1001, 1002, 1003, 1010]
    for bad in ("10-1", "a-b", ""):
        with pytest.raises(PlateError):
            plates.parse_frames(bad)


def test_missing_frames_are_named(sequence):
    os.remove(sequence / "shot_v2.1003.exr")
    parsed = plates.parse_sequence(str(sequence / "shot_v2.####.exr"), "1001-1005")
    with pytest.raises(PlateError, match=r"1 frame\(s\).*shot_v2\.1003\.exr"):
        plates.check_sequence(parsed)
    with pytest.raises(PlateError, match="shot_v2.1003.exr"):
        plates.PlateFrameSource(parsed)


def test_no_frames_or_no_sequence_is_a_plate_error(tmp_path):
    with pytest.raises(PlateError, match="no frames"):
        plates.parse_sequence(str(tmp_path / "nothing.####.exr"))
    with pytest.raises(PlateError, match="not an image sequence"):
        plates.parse_sequence(str(tmp_path / "movie.mov"))


def test_linear_exr_becomes_srgb_and_integer_files_stay_as_they_are(tmp_path):
    linear = np.array([[[0.0, 0.0031308, 0.18], [0.5, 1.0, 4.0]]], np.float32)
    write(tmp_path / "lin.0001.exr", linear, "float")
    source = plates.PlateFrameSource(plates.parse_sequence(str(tmp_path / "lin.####.exr")))
    image = source.image(1)
    assert image[0, 0, 2] == pytest.approx(1.055 * 0.18 ** (1 / 2.4) - 0.055, abs=1e-5)
    assert image[0, 0, 1] == pytest.approx(0.0031308 * 12.92, abs=1e-6)
    assert image[0, 1, 2] == image[0, 1, 1] == pytest.approx(1.0, abs=1e-6)  # highlights clip
    srgb = (np.array([[[0, 64, 128], [200, 255, 10]]])).astype(np.uint8)
    write(tmp_path / "int.0001.png", srgb, "uint8")
    source = plates.PlateFrameSource(plates.parse_sequence(str(tmp_path / "int.####.png")))
    np.testing.assert_allclose(source.image(1), srgb / 255.0, atol=1e-6)
    forced = plates.PlateFrameSource(plates.parse_sequence(str(tmp_path / "lin.####.exr")), colorspace="srgb")
    assert forced.image(1)[0, 0, 2] == pytest.approx(0.18, abs=1e-6)
    with pytest.raises(PlateError, match="unknown colour space .acescgg"):
        plates.PlateFrameSource(plates.parse_sequence(str(tmp_path / "lin.####.exr")), colorspace="acescgg")


def test_frames_are_resized_to_the_working_size_and_masks_go_back(tmp_path):
    write(tmp_path / "big.0001.exr", np.full((300, 500, 3), 0.18, np.float32), "half")
    source = plates.PlateFrameSource(plates.parse_sequence(str(tmp_path / "big.####.exr")), max_size=100)
    assert source.plate_size == (300, 500) and source.size == (60, 100)
    assert source.image(1).shape == (60, 100, 3)
    assert plates.working_size((1080, 1920), 1024) == (576, 1024)
    assert plates.working_size((1080, 1920), 4096) == (1080, 1920)
    up = plates.upsample_masks({"/a/a_0001": np.ones((60, 100), np.float32)}, (300, 500))
    assert up["/a/a_0001"].shape == (300, 500)


def test_frames_stream_through_a_bounded_lru(sequence):
    source = plates.PlateFrameSource(plates.parse_sequence(str(sequence / "shot_v2.####.exr")), cache_frames=2)
    for frame in source.frame_numbers:
        source.image(frame)
    assert list(source._cache) == [1004, 1005]
    assert source.image(1005) is source.image(1005)
    assert not source.image(1005).flags.writeable


def test_cache_key_follows_file_content_and_working_size(sequence):
    parsed = plates.parse_sequence(str(sequence / "shot_v2.####.exr"))
    source = plates.PlateFrameSource(parsed)
    key = source.cache_key(1001)
    assert "shot_v2.1001.exr" in key and key != source.cache_key(1002)
    assert plates.PlateFrameSource(parsed, max_size=20).cache_key(1001) != key
    write(sequence / "shot_v2.1001.exr", np.zeros((20, 40, 3), np.float32), "float")
    os.utime(sequence / "shot_v2.1001.exr", ns=(1, 1))
    assert source.cache_key(1001) != key


def test_corrupt_and_mismatched_frames_are_plate_errors_naming_the_file(sequence):
    path = sequence / "shot_v2.1004.exr"
    path.write_bytes(path.read_bytes()[:200])
    source = plates.PlateFrameSource(plates.parse_sequence(str(sequence / "shot_v2.####.exr")))
    with pytest.raises(PlateError, match="shot_v2.1004.exr"):
        source.image(1004)
    write(sequence / "shot_v2.1005.exr", np.zeros((10, 40, 3), np.float32), "half")
    with pytest.raises(PlateError, match=r"shot_v2.1005.exr is 40x10 but the shot is 40x20"):
        source.check_headers([1005])
    with pytest.raises(PlateError, match="not part of"):
        source.image(999)


def test_outputs_may_not_replace_plate_frames(sequence):
    parsed = plates.parse_sequence(str(sequence / "shot_v2.####.exr"))
    assert plates.output_would_clobber_plate(parsed, [str(sequence / "out.1001.exr")]) is None
    assert plates.output_would_clobber_plate(parsed, [str(sequence / "shot_v2.1002.exr")]) == str(sequence / "shot_v2.1002.exr")


def test_pixels_from_elsewhere_become_the_same_model_input_as_the_file(tmp_path):
    # The Gaffer nodes read pixels through Gaffer and call to_working_image():
    # they must feed the models exactly what `autoseg` reads from the file.
    rng = np.random.default_rng(3)
    pixels = (rng.random((90, 160, 3)) * 1.5).astype(np.float32)
    pixels[0, 0] = [np.nan, np.inf, -np.inf]
    write(tmp_path / "plate.1001.exr", pixels, "float")
    source = plates.PlateFrameSource(plates.parse_sequence(str(tmp_path / "plate.####.exr")), max_size=64)
    working = plates.to_working_image(pixels, 64, "linear")
    assert working.shape == (36, 64, 3) and working.dtype == np.float32
    np.testing.assert_array_equal(working, source.image(1001))
    assert np.isfinite(working).all() and working.min() >= 0.0 and working.max() <= 1.0
    # Already-encoded pixels are only clipped; no resize below max_size.
    np.testing.assert_array_equal(plates.to_working_image(pixels, None, "sRGB"), np.clip(np.nan_to_num(pixels, nan=0.0, posinf=1.0, neginf=0.0), 0, 1))
    with pytest.raises(PlateError, match="colour space .acescgg.*close names: .*ACEScg"):
        plates.to_working_image(pixels, 64, "acescgg")
    with pytest.raises(PlateError, match=r"\(height, width, 3\)"):
        plates.to_working_image(pixels[..., :2], 64, "linear")
