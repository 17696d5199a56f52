"""A finished run read back for review: the plate, the tracked layers and
the QC summary of ``OUT/.autoseg/<name>/`` (what ``autoseg report`` and
``autoseg review`` show).

:func:`open_run` finds the work folder; :class:`RunReview` gives a frame
of the plate at working resolution, the frame's layers, an overlay with
coloured layers, and :func:`contact_sheet` / :func:`write_report` write a
contact sheet (PNG or JPEG, through OpenImageIO, names drawn with its text
renderer) and a one-page summary (HTML plus plain text for e-mail).
"""

from __future__ import annotations

import colorsys
import html
import json
import math
import os
import pathlib
from typing import Any, Sequence

import numpy as np

from .. import plates
from ..core.errors import SegmentationError
from ..idmatte.murmur import murmurhash3_32
from . import qc
from .mask_cache import MaskCache


def find_work_folders(output: str | os.PathLike) -> dict[str, pathlib.Path]:
    """``{name: work folder}`` of the runs written into ``output``."""
    root = pathlib.Path(output) / ".autoseg"
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if (p / "run.json").is_file()}


def open_run(output: str | os.PathLike, name: str | None = None, work: str | os.PathLike | None = None) -> "RunReview":
    """The run ``name`` in ``output`` (the only one when ``name`` is None),
    or the work folder ``work`` given directly."""
    if work is not None:
        folder = pathlib.Path(work)
        if not (folder / "run.json").is_file():
            raise SegmentationError(f"{folder} is not an autoseg work folder (no run.json)")
        return RunReview(folder)
    found = find_work_folders(output)
    if not found:
        raise SegmentationError(f"no autoseg run in {output} (no .autoseg/<name>/run.json); run autoseg run -o {output} first")
    if name is None:
        if len(found) > 1:
            raise SegmentationError(f"{output} holds several runs ({', '.join(found)}); choose one with --name")
        name = next(iter(found))
    if name not in found:
        raise SegmentationError(f"no run named {name!r} in {output}; runs there: {', '.join(found)}")
    return RunReview(found[name])


def layer_colour(name: str) -> tuple[float, float, float]:
    """A stable, saturated colour per layer name (sRGB 0..1)."""
    hue = (murmurhash3_32(name) % 360) / 360.0
    return colorsys.hsv_to_rgb(hue, 0.75, 1.0)


class RunReview:
    """One run's work folder, plate and QC summary."""

    def __init__(self, work: str | os.PathLike):
        self.work = pathlib.Path(work)
        self.settings = json.loads((self.work / "run.json").read_text())
        state = self.work / "track" / "state.json"
        if not state.is_file() or not json.loads(state.read_text()).get("complete"):
            raise SegmentationError(f"tracking has not finished in {self.work / 'track'}; finish the run (autoseg run) first")
        self.name = self.settings.get("name") or self.work.name
        self.cache = MaskCache.load(self.work / "track" / "cache", max_resident=8)
        try:
            self.summary = qc.read_summary(self.work)
        except FileNotFoundError:  # a run older than QC: what the cache shows
            self.summary = qc.summarise(self.cache, self.cache.frames)
        self.frame_numbers = [int(f) for f in self.summary["frames"]]
        self._frames = None

    @property
    def plate(self) -> str:
        return str(self.settings["plate"])

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.cache.size)

    def frames(self) -> plates.PlateFrameSource:
        """The plate at working resolution, read as the run read it."""
        if self._frames is None:
            sequence = plates.parse_sequence(self.plate, self.frame_numbers)
            self._frames = plates.PlateFrameSource(
                sequence, max(self.size), self.settings.get("colorspace", "auto"), check=False,
                crop_to_display=bool(self.settings.get("crop_to_display", False)),
            )
        return self._frames

    def image(self, frame: int) -> np.ndarray:
        """The plate frame, sRGB float (H, W, 3) at working resolution."""
        return self.frames().image(int(frame))

    def labels(self, frame: int) -> np.ndarray:
        """Layer id per pixel (0: none) at working resolution."""
        if not self.cache.has_frame(int(frame)):
            return np.zeros(self.size, np.uint16)
        return np.where(self.cache.probability_map(int(frame)) >= 0.5, self.cache.id_map(int(frame)), 0).astype(np.uint16)

    def overlay(self, frame: int, highlight: str | None = None, opacity: float = 0.5) -> np.ndarray:
        """The plate with every layer tinted in its colour and outlined;
        ``highlight`` (a name) is drawn stronger. uint8 (H, W, 3)."""
        image = np.clip(self.image(frame), 0, 1).astype(np.float32)
        labels = self.labels(frame)
        names = self.cache.names()
        edge = np.zeros(labels.shape, bool)
        edge[1:, :] |= labels[1:, :] != labels[:-1, :]
        edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
        for layer_id, name in names.items():
            inside = labels == layer_id
            if not inside.any():
                continue
            colour = np.array(layer_colour(name), np.float32)
            alpha = min(1.0, opacity * (1.6 if name == highlight else 1.0))
            image[inside] = image[inside] * (1 - alpha) + colour * alpha
            image[edge & (inside | np.roll(inside, 1, 0) | np.roll(inside, 1, 1))] = colour
        return (image * 255 + 0.5).astype(np.uint8)

    def centroids(self, frame: int) -> dict[str, tuple[float, float]]:
        """Each layer's centre ``(x, y)`` on ``frame`` (working pixels)."""
        labels = self.labels(frame)
        out = {}
        for layer_id, name in self.cache.names().items():
            rows, cols = np.nonzero(labels == layer_id)
            if len(rows):
                out[name] = (float(cols.mean()), float(rows.mean()))
        return out


# ---------------------------------------------------------------------------- contact sheet


def _oiio():
    from ..plates.oiio import oiio_module

    return oiio_module()


def _resize(image: np.ndarray, width: int) -> np.ndarray:
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    rows = np.minimum((np.arange(height) + 0.5) * image.shape[0] / height, image.shape[0] - 1).astype(np.int64)
    cols = np.minimum((np.arange(width) + 0.5) * image.shape[1] / width, image.shape[1] - 1).astype(np.int64)
    return image[np.ix_(rows, cols)]


def sheet_frames(frames: Sequence[int], every: int | None = None, max_tiles: int = 16) -> list[int]:
    """A frame every ``every`` frames (default: enough for ``max_tiles``), the last one included."""
    frames = list(frames)
    if not frames:
        return []
    step = every or max(1, math.ceil(len(frames) / max_tiles))
    chosen = frames[::step]
    if chosen[-1] != frames[-1] and every is None:
        chosen.append(frames[-1])
    return chosen


def contact_sheet(run: RunReview, every: int | None = None, tile_width: int = 360, columns: int = 4) -> np.ndarray:
    """uint8 (H, W, 3): one tile per chosen frame with coloured layers, the
    layer names at their centres, the frame number, and a red border on
    frames that carry a flag."""
    oiio = _oiio()
    chosen = sheet_frames(run.frame_numbers, every)
    flagged = {f for flag in run.summary["flags"] for f in range(flag["first"], flag["last"] + 1)}
    tiles = []
    label_size = max(10, tile_width // 28)
    for frame in chosen:
        overlay = run.overlay(frame)
        scale = tile_width / overlay.shape[1]
        tile = _resize(overlay, tile_width)
        if frame in flagged:
            tile[:3], tile[-3:], tile[:, :3], tile[:, -3:] = (230, 40, 40), (230, 40, 40), (230, 40, 40), (230, 40, 40)
        buf = oiio.ImageBuf(oiio.ImageSpec(tile.shape[1], tile.shape[0], 3, oiio.UINT8))
        buf.set_pixels(oiio.ROI(0, tile.shape[1], 0, tile.shape[0], 0, 1, 0, 3), tile)
        for name, (x, y) in run.centroids(frame).items():
            text = name.rsplit("/", 1)[-1]
            colour = [c for c in layer_colour(name)]
            xi, yi = int(np.clip(x * scale, 3 * label_size, tile.shape[1] - 3 * label_size)), int(y * scale)
            _text(oiio, buf, xi, yi, text, label_size, colour, "center")
        _text(oiio, buf, 6, label_size + 4, str(frame), label_size + 2, [1, 1, 1], "left")
        tiles.append(buf.get_pixels(oiio.UINT8).reshape(tile.shape))
    columns = max(1, min(columns, len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    gap = 4
    height, width = tiles[0].shape[:2]
    sheet = np.full((rows * (height + gap) + gap, columns * (width + gap) + gap, 3), 24, np.uint8)
    for index, tile in enumerate(tiles):
        r, c = divmod(index, columns)
        sheet[gap + r * (height + gap): gap + r * (height + gap) + height, gap + c * (width + gap): gap + c * (width + gap) + width] = tile
    return sheet


def _text(oiio, buf, x: int, y: int, text: str, size: int, colour, align: str) -> None:
    """Text with a dark shadow; without a usable font the sheet simply has no labels."""
    oiio.ImageBufAlgo.render_text(buf, x, y, text, size, "", list(colour), align, "center", 2)


def write_image(path: str | os.PathLike, pixels: np.ndarray) -> pathlib.Path:
    """uint8 RGB to PNG or JPEG (by extension), atomically."""
    oiio = _oiio()
    path = pathlib.Path(path)
    if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise SegmentationError(f"{path}: write the contact sheet as .png, .jpg or .jpeg")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], 3, oiio.UINT8)
    if path.suffix.lower() != ".png":
        spec.attribute("Compression", "jpeg:90")
    out = oiio.ImageOutput.create(str(temporary))
    if out is None or not out.open(str(temporary), spec):
        raise SegmentationError(f"cannot write {path}: {oiio.geterror()}")
    ok = out.write_image(np.ascontiguousarray(pixels))
    out.close()
    if not ok:
        temporary.unlink(missing_ok=True)
        raise SegmentationError(f"cannot write {path}: {oiio.geterror()}")
    os.replace(temporary, path)
    return path


# ---------------------------------------------------------------------------- one-page summary


def summary_text(run: RunReview, max_flags: int = 20) -> str:
    """Plain text for an e-mail or a dailies note."""
    s = run.summary
    frames = s["frames"]
    lines = [
        f"autoseg QC: {run.name}  ({frames[0]}-{frames[-1]}, {len(frames)} frames, {len(s['layers'])} layers, {len(s['flags'])} flags)",
        f"plate: {run.plate}",
        "",
    ]
    if s["flags"]:
        lines.append("Flags, most likely to need an artist first:")
        for flag in s["flags"][:max_flags]:
            lines.append(f"  [{flag['rank']:.2f}] {flag['text']}")
        if len(s["flags"]) > max_flags:
            lines.append(f"  ... and {len(s['flags']) - max_flags} more (autoseg review)")
    else:
        lines.append("No flags: nothing looked wrong.")
    lines += ["", "Layers:"]
    for name, layer in s["layers"].items():
        conf = [c for c in layer["series"]["confidence"] if c is not None]
        span = f"{layer['first']}-{layer['last']}" if layer["first"] is not None else "never present"
        lines.append(f"  {name:<28} {span:<11} {layer['present_frames']:>4} frames  min confidence {min(conf) if conf else 0:.2f}")
    return "\n".join(lines) + "\n"


def summary_html(run: RunReview, sheet_name: str, max_flags: int = 30) -> str:
    """A self-contained page (the contact sheet beside it by relative name)."""
    s = run.summary
    frames = s["frames"]
    esc = html.escape
    rows = "".join(
        f"<tr><td>{flag['rank']:.2f}</td><td><span class=sw style='background:{_css(layer_colour(flag['layer']))}'></span>{esc(flag['layer'])}</td>"
        f"<td>{esc(flag['kind'])}</td><td>{flag['first']}&ndash;{flag['last']}</td><td>{esc(flag['reason'])}</td></tr>"
        for flag in s["flags"][:max_flags]
    ) or "<tr><td colspan=5>No flags: nothing looked wrong.</td></tr>"
    layers = "".join(
        f"<tr><td><span class=sw style='background:{_css(layer_colour(name))}'></span>{esc(name)}</td>"
        f"<td>{layer['first'] if layer['first'] is not None else '-'}&ndash;{layer['last'] if layer['last'] is not None else '-'}</td>"
        f"<td>{layer['present_frames']}</td><td>{sum(1 for f in s['flags'] if f['layer'] == name)}</td></tr>"
        for name, layer in s["layers"].items()
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>autoseg QC: {esc(run.name)}</title>
<style>body{{font:14px sans-serif;margin:24px;color:#222;max-width:1500px}}table{{border-collapse:collapse;margin:8px 0 20px}}
td,th{{border-bottom:1px solid #ddd;padding:3px 10px;text-align:left}}.sw{{display:inline-block;width:10px;height:10px;margin-right:6px}}
img{{max-width:100%}}</style></head><body>
<h1>autoseg QC: {esc(run.name)}</h1>
<p>{esc(run.plate)} &mdash; frames {frames[0]}&ndash;{frames[-1]} ({len(frames)}), {len(s['layers'])} layers, <b>{len(s['flags'])} flags</b>.
Review interactively with <code>autoseg review</code>.</p>
<h2>Flags (most likely to need an artist first)</h2>
<table><tr><th>rank</th><th>layer</th><th>kind</th><th>frames</th><th>reason</th></tr>{rows}</table>
<h2>Contact sheet</h2><img src="{esc(sheet_name)}" alt="contact sheet">
<h2>Layers</h2><table><tr><th>layer</th><th>frames</th><th>present</th><th>flags</th></tr>{layers}</table>
</body></html>
"""


def _css(colour: Sequence[float]) -> str:
    return "#" + "".join(f"{int(round(c * 255)):02x}" for c in colour)


def write_report(run: RunReview, folder: str | os.PathLike, every: int | None = None, image_format: str = "jpg", tile_width: int = 360) -> dict[str, pathlib.Path]:
    """Contact sheet + summary (HTML and text) into ``folder``; returns the paths."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sheet = write_image(folder / f"{run.name}.contact.{image_format}", contact_sheet(run, every, tile_width))
    paths = {"contact_sheet": sheet}
    for key, suffix, text in (("html", "summary.html", summary_html(run, sheet.name)), ("text", "summary.txt", summary_text(run))):
        path = folder / f"{run.name}.{suffix}"
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(text)
        os.replace(temporary, path)
        paths[key] = path
    return paths


__all__ = ["RunReview", "contact_sheet", "find_work_folders", "layer_colour", "open_run", "sheet_frames", "summary_html", "summary_text", "write_image", "write_report"]
