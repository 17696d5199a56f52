"""Plate colour through OCIO: any colour space of the active config ($OCIO,
else OpenImageIO's built-in one) becomes the same sRGB-encoded model input
as the same picture stored as linear Rec.709."""

from __future__ import annotations

import io

import numpy as np
import OpenImageIO as oiio
import pytest

from SegmentationCore import cli, plates, synthetic
from SegmentationCore.core.errors import PlateError
from SegmentationCore.plates import colour

needs_ocio = pytest.mark.skipif(
    "ACEScg" not in oiio.ColorConfig("").getColorSpaceNames(),
    reason="this OpenImageIO has no built-in OCIO config (2.4 without $OCIO)",
)


def write(path, pixels):
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], 3, "float")
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec)
    out.write_image(np.ascontiguousarray(pixels, np.float32))
    out.close()


@pytest.fixture(scope="module")
def linear_picture():
    """Scene-linear Rec.709: a synthetic frame plus a ramp with highlights."""
    spec = synthetic.generate_shot(seed=12, num_frames=1, width=200, height=120, num_objects=3)
    picture = synthetic.srgb_to_linear(synthetic.SyntheticShot(spec).image(spec.frame_numbers[0])).astype(np.float32)
    picture[:8] = np.linspace(0.0, 2.0, 200, dtype=np.float32)[None, :, None]
    return picture


def model_input(folder, name, pixels, colorspace, max_size=128):
    write(folder / f"{name}.1001.exr", pixels)
    source = plates.PlateFrameSource(plates.parse_sequence(str(folder / f"{name}.####.exr")), max_size=max_size, colorspace=colorspace)
    return source.image(1001)


@needs_ocio
@pytest.mark.parametrize("space", ["ACEScg", "ACEScct", "ACES2065-1", "lin_rec2020"])
def test_a_plate_in_any_ocio_space_gives_the_input_of_the_linear_rec709_plate(tmp_path, linear_picture, space):
    reference = model_input(tmp_path, "rec709", linear_picture, "linear")
    encoded = colour.convert(linear_picture, "Linear Rec.709 (sRGB)", space)
    assert np.abs(encoded - linear_picture).max() > 0.05  # really another encoding
    converted = model_input(tmp_path, "other", encoded, space)
    assert np.abs(converted - reference).max() < 1e-3
    # without the colour space the same file reads differently
    assert np.abs(model_input(tmp_path, "wrong", encoded, "linear") - reference).max() > 0.02


def test_arri_logc_through_the_studio_config(tmp_path, linear_picture, monkeypatch):
    monkeypatch.setenv("OCIO", "ocio://studio-config-latest")
    try:
        names = colour.colour_spaces()
    except PlateError:
        pytest.skip("no OCIO studio config in this OpenImageIO")
    logc = next((n for n in names if "LogC3" in n or "LogC" in n), None)
    if logc is None:
        pytest.skip("the studio config has no ARRI LogC")
    reference = model_input(tmp_path, "rec709", linear_picture, "linear")
    encoded = colour.convert(linear_picture, "lin_rec709", logc)
    assert np.abs(model_input(tmp_path, "logc", encoded, logc) - reference).max() < 1e-3


@needs_ocio
def test_names_and_aliases_resolve_in_any_case():
    assert colour.resolve("acescg") == "ACEScg"
    assert colour.resolve("lin_ap1") == "ACEScg"
    assert colour.resolve("ACES - ACEScct") == "ACEScct"
    assert [colour.resolve(n) for n in ("AUTO", "Linear", "sRGB")] == ["auto", "linear", "srgb"]


@needs_ocio
def test_unknown_colour_spaces_list_close_names(tmp_path):
    with pytest.raises(PlateError, match=r"unknown colour space 'ACEScgx'.*close names: .*ACEScg"):
        colour.resolve("ACEScgx")
    write(tmp_path / "p.1001.exr", np.zeros((8, 8, 3), np.float32))
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["run", str(tmp_path / "p.####.exr"), "--output", str(tmp_path / "out"), "--colorspace", "ACEScgx",
                     "--progress", "none"], out, err)
    assert code == 4 and "unknown colour space 'ACEScgx'" in err.getvalue() and "ACEScg" in err.getvalue()


def test_ocio_names_go_through_to_working_image_like_the_reader(tmp_path, linear_picture):
    """The Gaffer nodes call to_working_image() on pixels they read: the same
    colour space name gives the same input as autoseg's reader."""
    name = "ACEScg" if "ACEScg" in colour.colour_spaces() else "linear"
    pixels = linear_picture if name == "linear" else colour.convert(linear_picture, "lin_rec709", name)
    from_file = model_input(tmp_path, "plate", pixels, name, max_size=100)
    np.testing.assert_array_equal(plates.to_working_image(pixels, 100, name), from_file)
