"""The plate-format table of docs/plates.md, produced for real.

Writes a two-frame plate per case with OpenImageIO (aspect x pixel aspect x
data/display window x colour space x bit depth x file format), runs
``autoseg run`` on it as a user would (synthetic backends: ``--synthetic``,
which answer from the generated plate's ground truth, so no model export is
needed), and prints a markdown table: exit code, working size, the default
GroundingDINO export's graph for that working size (and how much of it the
picture fills), and the mattes' stored size, windows and pixel aspect as
read back from the ObjectId file. Usage::

    .venv/bin/python benchmarks/plate_formats.py [--folder /tmp/autoseg-plate-formats]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import math
import pathlib
import shutil
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

import OpenImageIO as oiio  # noqa: E402

from SegmentationCore import cli, plates, synthetic  # noqa: E402
from SegmentationCore.core.errors import ModelFolderError  # noqa: E402
from SegmentationCore.idmatte import exr_header as hdr  # noqa: E402
from SegmentationCore.models.groundingdino.geometry import GraphSize, aspect_mismatch, choose_graph  # noqa: E402
from SegmentationCore.plates import colour  # noqa: E402

DEFAULT_EXPORT = [GraphSize(1024, 576, "a"), GraphSize(576, 1024, "b"), GraphSize(800, 800, "c")]


@dataclasses.dataclass
class Case:
    name: str
    width: int  # stored data window
    height: int
    ext: str = "exr"
    bits: str = "half"  # half | float | uint8 | uint16 | uint10
    space: str = "linear"  # pixels' colour space: linear | srgb | an OCIO name
    pixel_aspect: float = 1.0
    overscan: tuple[int, int] = (0, 0)  # data window bigger than the display by this on each side
    colorspace_option: str = "auto"
    tiled: bool = False
    truncate: bool = False
    extra: tuple[str, ...] = ()


CASES = [
    Case("scope 2.39:1", 2048, 858),
    Case("flat 1.85:1", 1998, 1080, bits="float"),
    Case("2:1, tiled", 2048, 1024, tiled=True),
    Case("16:9 HD", 1920, 1080),
    Case("4:3", 1440, 1080, ext="tif", bits="uint16", space="srgb"),
    Case("9:16 portrait", 1080, 1920, ext="png", bits="uint8", space="srgb"),
    Case("1:1", 1024, 1024, ext="png", bits="uint8", space="srgb"),
    Case("DPX 10-bit", 2048, 1080, ext="dpx", bits="uint10", space="srgb"),
    Case("anamorphic 2x (2.39:1)", 1024, 858, pixel_aspect=2.0),
    Case("anamorphic 1.8x", 1066, 1080, pixel_aspect=1.8),
    Case("anamorphic 1.3x", 1480, 1080, pixel_aspect=1.3),
    Case("overscan", 2048, 1152, overscan=(64, 36)),
    Case("overscan, cropped", 2048, 1152, overscan=(64, 36), extra=("--crop-to-display",)),
    Case("ACEScg", 1920, 1080, space="ACEScg", colorspace_option="ACEScg"),
    Case("ACEScct (log)", 1920, 1080, space="ACEScct", colorspace_option="ACEScct"),
    Case("ACEScg read as auto", 1920, 1080, space="ACEScg"),
    Case("5:1 ultra-wide", 2560, 512),
    Case("truncated frame", 1920, 1080, truncate=True),
]


def write_case(case: Case, folder: pathlib.Path) -> str:
    picture_width = int(round(case.width * case.pixel_aspect))
    spec = synthetic.generate_shot(seed=5, num_frames=2, width=picture_width, height=case.height, num_objects=3)
    shot = synthetic.SyntheticShot(spec)
    shot.write_plate(folder / "spec", "plate", "png")  # the spec file for --synthetic
    for frame in spec.frame_numbers:
        srgb = shot.image(frame)
        if case.space == "srgb":
            pixels = srgb
        else:
            pixels = synthetic.srgb_to_linear(srgb).astype(np.float32)
            if case.space != "linear":
                pixels = colour.convert(pixels, "lin_rec709", case.space)
        if case.pixel_aspect != 1.0:
            buf = oiio.ImageBuf(np.ascontiguousarray(pixels, np.float32))
            pixels = oiio.ImageBufAlgo.resize(buf, roi=oiio.ROI(0, case.width, 0, case.height, 0, 1, 0, 3)).get_pixels(oiio.FLOAT)
        fmt = {"uint10": "uint16"}.get(case.bits, case.bits)
        image_spec = oiio.ImageSpec(case.width, case.height, 3, fmt)
        if case.bits == "uint10":
            image_spec.attribute("oiio:BitsPerSample", 10)
        if case.overscan != (0, 0):
            dx, dy = case.overscan
            image_spec.x, image_spec.y = -dx, -dy
            image_spec.full_x, image_spec.full_y = 0, 0
            image_spec.full_width, image_spec.full_height = case.width - 2 * dx, case.height - 2 * dy
        if case.pixel_aspect != 1.0:
            image_spec.attribute("PixelAspectRatio", float(case.pixel_aspect))
        if case.tiled:
            image_spec.tile_width = image_spec.tile_height = 64
        path = folder / f"plate.{frame:04d}.{case.ext}"
        out = oiio.ImageOutput.create(str(path))
        if not out.open(str(path), image_spec):
            raise RuntimeError(oiio.geterror())
        data = np.clip(pixels, 0, 1) if fmt.startswith("uint") else pixels
        out.write_image(np.ascontiguousarray(data, np.float32))
        out.close()
        if case.truncate and frame == spec.frame_numbers[-1]:
            path.write_bytes(path.read_bytes()[:20000])
    return str(folder / f"plate.####.{case.ext}")


def run_case(case: Case, folder: pathlib.Path) -> list[str]:
    pattern = write_case(case, folder)
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["run", pattern, "--output", str(folder / "out"), "--synthetic", str(folder / "spec" / "plate.shot.json"),
                     "--progress", "none", "--colorspace", case.colorspace_option, *case.extra], out, err)
    message = err.getvalue().strip().splitlines()[-1] if code else ""
    bits = {"uint10": "10-bit", "uint16": "16-bit", "uint8": "8-bit"}.get(case.bits, case.bits)
    windows = f"data +{case.overscan[0]}/{case.overscan[1]} px" if case.overscan != (0, 0) else "same"
    row = [case.name, f"{case.width}x{case.height}", f"{case.pixel_aspect:g}", windows, case.space, bits,
           case.ext.upper() + (" tiled" if case.tiled else ""), case.colorspace_option + (" " + " ".join(case.extra) if case.extra else "")]
    try:
        source = plates.PlateFrameSource(plates.parse_sequence(pattern), 1024, case.colorspace_option,
                                         crop_to_display="--crop-to-display" in case.extra, check=False)
        working = source.size
        try:
            graph = choose_graph(DEFAULT_EXPORT, working)
            gdino = f"{graph.label}, fills {100 * math.exp(-aspect_mismatch(working, graph)):.0f} %"
        except ModelFolderError:
            gdino = "refused (> 4:1): export --sizes"
        working_text = f"{working[1]}x{working[0]}"
    except Exception as error:  # noqa: BLE001 - reported in the table
        working_text, gdino = "-", "-"
        message = message or str(error)
    if code == 0:
        header, _ = hdr.read_header(str(next((folder / "out").glob("*.objectid.*.exr"))))
        x0, y0, x1, y1 = header.value("dataWindow")
        d0, e0, d1, e1 = header.value("displayWindow")
        matte = f"{x1 - x0 + 1}x{y1 - y0 + 1}"
        if (x0, y0, x1, y1) != (d0, e0, d1, e1):
            matte += f" at {x0},{y0} in display {d1 - d0 + 1}x{e1 - e0 + 1}"
        matte += f", PAR {header.value('pixelAspectRatio'):g}"
        result = f"ok: mattes {matte}"
    else:
        result = f"exit {code}: {message.replace('autoseg: error: ', '')[:110]}"
    return row + [working_text, gdino, result.replace("|", "/")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default="/tmp/autoseg-plate-formats")
    args = parser.parse_args(argv)
    root = pathlib.Path(args.folder)
    shutil.rmtree(root, ignore_errors=True)
    header = ["plate", "stored", "pixel aspect", "data/display", "colour", "bits", "file", "--colorspace",
              "working", "default GroundingDINO graph", "autoseg run"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for index, case in enumerate(CASES):
        row = run_case(case, root / f"case{index:02d}")
        print("| " + " | ".join(row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
