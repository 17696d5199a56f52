"""Anamorphic and overscan plates: the models see square-pixel frames of the
plate's data window; mattes keep the plate's stored resolution, pixel aspect
and windows, and independent readers (OpenEXR's exrheader / exrinfo -s,
oiiotool) accept them. Also: the EXR long-names flag and the Cryptomatte
rank-set warning."""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import OpenImageIO as oiio
import pytest

from SegmentationCore import cli, plates, synthetic
from SegmentationCore.core import maskops
from SegmentationCore.core.errors import PlateError
from SegmentationCore.idmatte import ImageWindows, read_layers, write_frame
from SegmentationCore.idmatte import exr_header as hdr
from SegmentationCore.idmatte.cryptomatte import NUKE_MAX_RANK_SETS, rank_sets_warning

FRAMES = 3


def write_exr(path, pixels, data_origin=(0, 0), display=None, pixel_aspect=1.0):
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], 3, "half")
    spec.x, spec.y = data_origin
    if display is not None:
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = display
    spec.attribute("compression", "zip")
    spec.attribute("PixelAspectRatio", float(pixel_aspect))
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), oiio.geterror()
    assert out.write_image(np.ascontiguousarray(pixels, np.float32))
    out.close()


def resize(pixels, height, width):
    source = oiio.ImageBuf(np.ascontiguousarray(pixels, np.float32))
    return oiio.ImageBufAlgo.resize(source, roi=oiio.ROI(0, width, 0, height, 0, 1, 0, 3)).get_pixels(oiio.FLOAT)


def autoseg(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([str(a) for a in argv], out, err)
    return code, out.getvalue(), err.getvalue()


def run(folder, output, *extra):
    code, _, err = autoseg(
        "run", folder / "plate.####.exr", "--output", output, "--synthetic", folder / "plate.shot.json",
        "--progress", "none", "--window", "3", "--reprompt-every", "2", *extra,
    )
    assert code == 0, err
    return err


def header_of(path):
    header, _ = hdr.read_header(str(path))
    return header


def independent_readers_accept(path):
    """OpenEXR's own tools (Debian openexr) read the file strictly."""
    if shutil.which("exrheader") is None or shutil.which("exrinfo") is None:
        pytest.skip("OpenEXR's command-line tools are not installed (apt-get install openexr)")
    listing = subprocess.run(["exrheader", str(path)], capture_output=True, text=True)
    assert "ERROR" not in listing.stdout + listing.stderr and "dataWindow" in listing.stdout, listing.stdout + listing.stderr
    strict = subprocess.run(["exrinfo", "-s", str(path)], capture_output=True, text=True)  # its exit code is unreliable
    assert f"File '{path}'" in strict.stdout and "channels:" in strict.stdout, strict.stdout + strict.stderr
    return listing.stdout


@pytest.fixture(scope="module")
def anamorphic(tmp_path_factory):
    """A 2x anamorphic plate: a 384x108 picture stored squeezed at 192x108."""
    folder = tmp_path_factory.mktemp("anamorphic") / "plate"
    spec = synthetic.generate_shot(seed=8, num_frames=FRAMES, width=384, height=108, num_objects=2)
    shot = synthetic.SyntheticShot(spec)
    shot.write_plate(folder, "plate", "exr")  # the spec file; frames replaced below
    for frame in spec.frame_numbers:
        linear = synthetic.srgb_to_linear(shot.image(frame))
        write_exr(folder / f"plate.{frame:04d}.exr", resize(linear, 108, 192), pixel_aspect=2.0)
    return folder, shot


def test_anamorphic_frames_reach_the_models_desqueezed(anamorphic):
    folder, shot = anamorphic
    source = plates.PlateFrameSource(plates.parse_sequence(str(folder / "plate.####.exr")))
    assert source.pixel_aspect == 2.0 and source.plate_size == (108, 192) and source.size == (108, 384)
    working = source.image(1001)
    assert working.shape == (108, 384, 3)
    assert np.abs(working - shot.image(1001)).mean() < 0.03  # the square-pixel picture again
    half = plates.PlateFrameSource(plates.parse_sequence(str(folder / "plate.####.exr")), max_size=192)
    assert half.size == (54, 192)


def test_anamorphic_mattes_keep_the_stored_resolution_and_pixel_aspect(anamorphic, tmp_path):
    folder, shot = anamorphic
    run(folder, tmp_path / "out")
    for kind in ("objectid", "crypto"):
        path = tmp_path / "out" / f"plate.{kind}.1001.exr"
        header = header_of(path)
        assert header.value("pixelAspectRatio") == 2.0
        assert header.value("dataWindow") == (0, 0, 191, 107) == header.value("displayWindow")
        assert "pixelAspectRatio (type float): 2" in independent_readers_accept(path)
    layers = read_layers(str(tmp_path / "out" / "plate.objectid.1001.exr"))
    union = np.max(np.stack(list(layers.values())), axis=0)
    assert union.shape == (108, 192)
    truth = maskops.resize_bilinear(np.max(np.stack(list(shot.gt_masks(1001).values())), axis=0), (108, 192))
    inter = ((union >= 0.5) & (truth >= 0.5)).sum()
    assert inter / ((union >= 0.5) | (truth >= 0.5)).sum() > 0.85  # squeezed back onto the plate's pixels


@pytest.fixture(scope="module")
def overscan(tmp_path_factory):
    """A 192x108 display window with 16/8 pixels of overscan on every side."""
    folder = tmp_path_factory.mktemp("overscan") / "plate"
    spec = synthetic.generate_shot(seed=9, num_frames=FRAMES, width=224, height=124, num_objects=2)
    shot = synthetic.SyntheticShot(spec)
    shot.write_plate(folder, "plate", "exr")
    for frame in spec.frame_numbers:
        write_exr(folder / f"plate.{frame:04d}.exr", synthetic.srgb_to_linear(shot.image(frame)), (-16, -8), (0, 0, 192, 108))
    return folder, shot


def test_overscan_mattes_cover_the_data_window_and_carry_both_windows(overscan, tmp_path):
    folder, shot = overscan
    source = plates.PlateFrameSource(plates.parse_sequence(str(folder / "plate.####.exr")))
    assert source.plate_size == (124, 224) and source.window.box == (-16, -8, 207, 115)
    np.testing.assert_allclose(source.image(1001), shot.image(1001), atol=2e-3)
    run(folder, tmp_path / "out")
    for kind in ("objectid", "crypto"):
        path = tmp_path / "out" / f"plate.{kind}.1001.exr"
        header = header_of(path)
        assert header.value("dataWindow") == (-16, -8, 207, 115)
        assert header.value("displayWindow") == (0, 0, 191, 107)
        independent_readers_accept(path)
        info = subprocess.run(["oiiotool", "--info", "-v", str(path)], capture_output=True, text=True).stdout
        assert "224 x  124" in info and "full/display size: 192 x 108" in info and "origin: x=-16, y=-8" in info
    layers = read_layers(str(tmp_path / "out" / "plate.crypto.1001.exr"))
    assert {m.shape for m in layers.values()} == {(124, 224)}


def test_overscan_can_be_cropped_to_the_display_window(overscan, tmp_path):
    folder, shot = overscan
    source = plates.PlateFrameSource(plates.parse_sequence(str(folder / "plate.####.exr")), crop_to_display=True)
    assert source.plate_size == (108, 192)
    np.testing.assert_allclose(source.image(1001), shot.image(1001)[8:116, 16:208], atol=2e-3)
    run(folder, tmp_path / "out", "--crop-to-display")
    for kind in ("objectid", "crypto"):
        header = header_of(tmp_path / "out" / f"plate.{kind}.1001.exr")
        assert header.value("dataWindow") == (0, 0, 191, 107) == header.value("displayWindow")


def test_a_data_window_smaller_than_the_display_is_padded_black_when_cropped(tmp_path):
    pixels = np.full((20, 30, 3), 0.5, np.float32)
    write_exr(tmp_path / "inset.1001.exr", pixels, (10, 5), (0, 0, 50, 40))
    header, framed = plates.read_rgb(str(tmp_path / "inset.1001.exr"), crop_to_display=True)
    assert framed.shape == (40, 50, 3) and header.data_window.box == (10, 5, 39, 24)
    assert (framed[5:25, 10:40] == 0.5).all() and framed.sum() == pytest.approx(0.5 * 20 * 30 * 3)


def test_frames_whose_windows_change_are_refused(overscan, tmp_path):
    folder, shot = overscan
    for frame in shot.frame_numbers:
        shutil.copy(folder / f"plate.{frame:04d}.exr", tmp_path / f"plate.{frame:04d}.exr")
    write_exr(tmp_path / "plate.1002.exr", np.zeros((124, 224, 3), np.float32), (-10, -8), (0, 0, 192, 108))
    source = plates.PlateFrameSource(plates.parse_sequence(str(tmp_path / "plate.####.exr")))
    with pytest.raises(PlateError, match=r"plate\.1002\.exr.*data window 224x124-10-8"):
        source.check_headers()


def test_long_channel_names_set_the_long_names_flag(tmp_path):
    mask = np.zeros((20, 30), np.float32)
    mask[4:12, 6:20] = 1.0
    name = "/person/a_rather_long_layer_name_person_0001"
    paths = write_frame(tmp_path / "long", 1001, {name: mask}, extra_alpha_channels=True)
    header = header_of(paths["crypto"])
    assert any(len(c.name) > 31 for c in header.channels)
    assert header.version & hdr.VERSION_LONG_NAMES
    independent_readers_accept(paths["crypto"])
    short = write_frame(tmp_path / "short", 1001, {"/p/p1": mask}, extra_alpha_channels=True)
    assert not header_of(short["crypto"]).version & hdr.VERSION_LONG_NAMES  # only when needed


def test_more_rank_sets_than_nuke_reads_warn(overscan, tmp_path, monkeypatch):
    assert rank_sets_warning(NUKE_MAX_RANK_SETS) is None
    message = rank_sets_warning(13, "shot x")
    assert "13 Cryptomatte rank sets" in message and "at most 12" in message and "Nuke" in message
    from SegmentationCore.idmatte import cryptomatte

    folder, _ = overscan
    monkeypatch.setattr(cryptomatte, "required_rank_sets", lambda layers, *a, **k: 13)
    err = run(folder, tmp_path / "out")
    assert "warning:" in err and "13 Cryptomatte rank sets" in err
    channels = [c.name for c in header_of(tmp_path / "out" / "plate.crypto.1001.exr").channels]
    assert "CryptoObject12.R" in channels


def test_windows_reach_the_writers_unchanged():
    windows = ImageWindows(-16, -8, (0, 0, 191, 107), 2.0)
    attributes = hdr.image_attributes([hdr.ChannelInfo("A", hdr.PIXEL_HALF)], "zips", 224, 124, windows=windows)
    assert hdr.decode_attribute(*attributes["dataWindow"]) == (-16, -8, 207, 115)
    assert hdr.decode_attribute(*attributes["displayWindow"]) == (0, 0, 191, 107)
    assert hdr.decode_attribute(*attributes["pixelAspectRatio"]) == 2.0
