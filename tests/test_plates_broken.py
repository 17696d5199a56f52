"""Broken plate frames are always errors naming the frame: truncated, partly
written, zero-length and corrupt EXRs (scanline and tiled), in the plate
reader, in ``autoseg run`` (exit code 4, no matte written) and in the
browser server's frame reads."""

from __future__ import annotations

import io
import pathlib
import struct

import numpy as np
import OpenImageIO as oiio
import pytest

from SegmentationCore import cli, plates, synthetic
from SegmentationCore.core.errors import PlateError

FRAMES = 6
BROKEN = 1003


def write_exr(path, pixels, tiled=False, compression="zip"):
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], 3, "half")
    spec.attribute("compression", compression)
    if tiled:
        spec.tile_width = spec.tile_height = 32
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), oiio.geterror()
    assert out.write_image(np.ascontiguousarray(pixels, np.float32))
    out.close()


def header_end(data: bytes) -> int:
    """Offset of the chunk offset table (just past a single-part header)."""
    offset = 8
    while True:
        end = data.index(b"\0", offset)
        name = data[offset:end]
        offset = end + 1
        if not name:
            return offset
        offset = data.index(b"\0", offset) + 1
        offset += 4 + struct.unpack_from("<i", data, offset)[0]


@pytest.fixture(params=["scanline", "tiled"])
def shot(request, tmp_path):
    """A 6-frame synthetic EXR plate (scanline or tiled) and its spec file."""
    spec = synthetic.generate_shot(seed=2, num_frames=FRAMES, width=192, height=108, num_objects=2)
    folder = tmp_path / "plate"
    synthetic.SyntheticShot(spec).write_plate(folder, "plate", "exr")
    if request.param == "tiled":
        for frame in spec.frame_numbers:
            path = folder / f"plate.{frame:04d}.exr"
            _, pixels = plates.read_rgb(str(path))
            write_exr(path, pixels, tiled=True)
    return folder, spec


def cuts(data: bytes) -> list[int]:
    table = header_end(data)
    return [0, 7, table // 2, table + 4, table + 200, len(data) // 3, len(data) - 40, len(data) - 1]


def test_truncated_frames_are_errors_naming_the_frame(shot):
    folder, _ = shot
    path = folder / f"plate.{BROKEN}.exr"
    data = path.read_bytes()
    for cut in cuts(data):
        path.write_bytes(data[:cut])
        with pytest.raises(PlateError, match=rf"plate\.{BROKEN}\.exr.*(empty|truncated|corrupt)"):
            plates.read_rgb(str(path))
        source = plates.PlateFrameSource(plates.parse_sequence(str(folder / "plate.####.exr")))
        with pytest.raises(PlateError, match=rf"plate\.{BROKEN}\.exr"):
            source.image(BROKEN)


def test_flipped_chunk_table_bytes_never_read_as_wrong_pixels(shot):
    """OpenEXR rebuilds a damaged offset table when it can; whatever it does,
    the reader either returns the true pixels or raises naming the frame."""
    folder, _ = shot
    path = folder / f"plate.{BROKEN}.exr"
    data = path.read_bytes()
    _, truth = plates.read_rgb(str(path))
    table = header_end(data)
    rng = np.random.default_rng(4)
    errors = 0
    for _ in range(24):
        damaged = bytearray(data)
        damaged[table + int(rng.integers(0, 8 * 4))] ^= int(rng.integers(1, 256))
        path.write_bytes(bytes(damaged))
        try:
            _, pixels = plates.read_rgb(str(path))
        except PlateError as error:
            assert f"plate.{BROKEN}.exr" in str(error)
            errors += 1
        else:
            np.testing.assert_array_equal(pixels, truth)
    # a chunk offset pointing past the end of the file
    damaged = bytearray(data)
    damaged[table:table + 8] = struct.pack("<Q", len(data) * 4)
    damaged[table + 8:table + 16] = struct.pack("<Q", 3)
    path.write_bytes(bytes(damaged))
    try:
        _, pixels = plates.read_rgb(str(path))
    except PlateError:
        errors += 1
    else:
        np.testing.assert_array_equal(pixels, truth)
    assert errors > 0


def test_flipped_pixel_data_bytes_are_errors(shot):
    folder, _ = shot
    path = folder / f"plate.{BROKEN}.exr"
    data = path.read_bytes()
    start = header_end(data) + 8 * 8
    rng = np.random.default_rng(5)
    for _ in range(6):
        damaged = bytearray(data)
        position = int(rng.integers(start + 64, len(data)))
        damaged[position:position + 4] = bytes(b ^ 0x5A for b in damaged[position:position + 4])
        path.write_bytes(bytes(damaged))
        with pytest.raises(PlateError, match=rf"plate\.{BROKEN}\.exr"):
            plates.read_rgb(str(path))


def autoseg(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([str(a) for a in argv], out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("cut", ["empty", "header", "half", "tail"])
def test_autoseg_stops_on_a_broken_frame_and_writes_nothing(shot, tmp_path, cut):
    folder, spec = shot
    path = folder / f"plate.{BROKEN}.exr"
    data = path.read_bytes()
    size = {"empty": 0, "header": 100, "half": len(data) // 2, "tail": len(data) - 20}[cut]
    path.write_bytes(data[:size])
    output = tmp_path / "out"
    code, _, err = autoseg(
        "run", folder / "plate.####.exr", "--output", output, "--synthetic", folder / "plate.shot.json",
        "--progress", "none", "--detect-frames", "all",
    )
    assert code == 4, err
    assert f"plate.{BROKEN}.exr" in err and "autoseg: error:" in err
    assert not list(output.glob("*.exr"))


def test_browser_server_frame_reads_report_broken_frames(shot, tmp_path):
    from server_helpers import Client, start, stop

    folder, _ = shot
    root = tmp_path / "root"
    (root / "shot").mkdir(parents=True)
    for frame in range(1001, 1001 + FRAMES):
        name = f"plate.{frame:04d}.exr"
        (root / "shot" / name).write_bytes((folder / name).read_bytes())
    broken = root / "shot" / f"plate.{BROKEN}.exr"
    broken.write_bytes(broken.read_bytes()[:3000])
    server = start(root, tmp_path / "out")
    try:
        client = Client(server)
        assert client.get("/api/frame", shot="shot/plate.####.exr", frame=1001)[0] == 200
        answer = client.get_json("/api/frame", expect=400, shot="shot/plate.####.exr", frame=BROKEN)
        assert f"plate.{BROKEN}.exr" in answer["error"] and "truncated" in answer["error"]
    finally:
        stop(server)


SYSTEM_PYTHON = "/usr/bin/python3"
SYSTEM_CHECK = """
import sys
from SegmentationCore import plates
from SegmentationCore.core.errors import PlateError
header, pixels = plates.read_rgb(sys.argv[1])
assert pixels.shape == (108, 192, 3) and header.pixel_aspect == 1.0, (pixels.shape, header)
try:
    plates.read_rgb(sys.argv[2])
except PlateError as error:
    print("refused:", error)
else:
    raise SystemExit("a truncated frame was read")
"""


def test_the_reader_also_refuses_broken_frames_with_openimageio_2_4(shot, tmp_path):
    """Debian's OpenImageIO 2.4 (what Gaffer's python sees here) must behave the same."""
    import subprocess

    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import OpenImageIO, numpy; print(OpenImageIO.__version__)"],
                           capture_output=True, text=True) if pathlib.Path(SYSTEM_PYTHON).exists() else None
    if probe is None or probe.returncode != 0:
        pytest.skip("no system python3 with OpenImageIO (apt-get install python3-openimageio python3-numpy)")
    folder, _ = shot
    good = folder / "plate.1001.exr"
    broken = tmp_path / "plate.1003.exr"
    broken.write_bytes((folder / "plate.1003.exr").read_bytes()[:5000])
    root = pathlib.Path(__file__).resolve().parents[1]
    result = subprocess.run([SYSTEM_PYTHON, "-c", SYSTEM_CHECK, str(good), str(broken)], capture_output=True, text=True,
                            env={"PYTHONPATH": str(root / "python"), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "plate.1003.exr" in result.stdout and "truncated" in result.stdout
