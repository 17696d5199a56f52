"""Which graph serves a frame, and how frames map to graph inputs and back.

Each exported graph has a fixed input size (GroundingDINO cannot take a
dynamic image size: docs/groundingdino.md). A frame uses the graph whose
aspect ratio is closest to its own, measured as ``|ln(frame_aspect /
graph_aspect)|``: the one where letterboxing pads least. The frame is scaled
to fit the graph (up or down, aspect kept), placed at the top-left and the
rest padded with the normalisation mean (zeros after normalising); boxes are
mapped back by the inverse scale, and boxes centred in the padding are
dropped (:func:`~SegmentationCore.models.groundingdino.postprocess.detections_from_outputs`),
so padding never makes a detection.

So the default export (1024x576, 576x1024, 800x800) serves every everyday
aspect: 2.39:1 scope, 2:1, 1.85:1, 16:9, 4:3 (square graph), 1:1, 9:16.
Only frames beyond 4:1 (or 1:4) are refused (``tolerance``): the picture
would fill less than 44 % of the graph, each object shrunk to match, and
a graph of the frame's own aspect should be exported (the error names the
``--sizes`` to give the exporter).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from ...core.errors import ModelFolderError

#: Default |ln(aspect ratio)| difference accepted: a 4:1 frame in a 16:9
#: graph (and 1:4 in 9:16), i.e. the picture fills at least 44 % of the graph.
ASPECT_TOLERANCE = math.log(4.0 / (16.0 / 9.0)) + 1e-3


@dataclasses.dataclass(frozen=True)
class GraphSize:
    width: int
    height: int
    file: str

    @property
    def aspect(self) -> float:
        return self.width / self.height

    @property
    def label(self) -> str:
        return f"{self.width}x{self.height}"


def aspect_mismatch(frame_size: tuple[int, int], graph: GraphSize) -> float:
    height, width = frame_size
    return abs(math.log((width / height) / graph.aspect))


def suggested_size(frame_size: tuple[int, int], longest: int = 1024, multiple: int = 32) -> str:
    """A ``WIDTHxHEIGHT`` export size for a frame's aspect (longest side 1024)."""
    height, width = frame_size
    scale = longest / max(height, width)
    return "x".join(str(max(multiple, int(round(v * scale / multiple)) * multiple)) for v in (width, height))


def choose_graph(
    sizes: Sequence[GraphSize],
    frame_size: tuple[int, int],
    tolerance: float = ASPECT_TOLERANCE,
    where: str = "",
) -> GraphSize:
    """The graph whose aspect best matches ``frame_size`` ``(height, width)``."""
    height, width = frame_size
    if height <= 0 or width <= 0:
        raise ValueError(f"frame size {frame_size} is empty")
    if not sizes:
        raise ModelFolderError(f"{where or 'the GroundingDINO model'} lists no graph sizes; re-run the export")
    best = min(sizes, key=lambda graph: (aspect_mismatch(frame_size, graph), -graph.width * graph.height))
    if aspect_mismatch(frame_size, best) > tolerance:
        available = ", ".join(g.label for g in sizes)
        fill = math.exp(-aspect_mismatch(frame_size, best))
        raise ModelFolderError(
            f"{where or 'The GroundingDINO model'} has no graph for {width}x{height} frames "
            f"(aspect {width / height:.3f}); it has {available}, and letterboxing into {best.label} would leave "
            f"only {100 * fill:.0f} % of it for the picture. Export a graph for this aspect, e.g. "
            f"`python export/export_groundingdino.py ... --sizes {','.join([*(g.label for g in sizes), suggested_size(frame_size)])}`, "
            f"or raise the aspect tolerance (now {tolerance:.3f})"
        )
    return best


@dataclasses.dataclass(frozen=True)
class Letterbox:
    """A frame of ``frame_size`` scaled by ``scale`` into the top-left of a graph input."""

    frame_size: tuple[int, int]  # (height, width)
    graph: GraphSize
    scale: float
    content_size: tuple[int, int]  # (height, width) of the scaled frame inside the input

    @classmethod
    def fit(cls, frame_size: tuple[int, int], graph: GraphSize) -> "Letterbox":
        height, width = frame_size
        scale = min(graph.width / width, graph.height / height)
        content = (min(graph.height, max(1, round(height * scale))), min(graph.width, max(1, round(width * scale))))
        return cls((int(height), int(width)), graph, float(scale), content)

    def to_frame(self, normalised_xyxy: np.ndarray) -> np.ndarray:
        """Boxes normalised to the graph input -> frame pixels (not clipped)."""
        size = np.asarray([self.graph.width, self.graph.height] * 2, np.float32)
        scale = np.asarray([self.content_size[1] / self.frame_size[1], self.content_size[0] / self.frame_size[0]] * 2,
                           np.float32)
        return np.asarray(normalised_xyxy, np.float32) * size / scale


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W, C)`` float32 -> ``size`` ``(height, width)`` with a triangle
    (bilinear, antialiased when shrinking) filter."""
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    import OpenImageIO as oiio

    source = oiio.ImageBuf(np.ascontiguousarray(image, dtype=np.float32))
    roi = oiio.ROI(0, width, 0, height, 0, 1, 0, image.shape[2])
    result = oiio.ImageBufAlgo.resize(source, filtername="triangle", roi=roi)
    if result.has_error:  # pragma: no cover - OIIO failure
        raise RuntimeError(f"resizing a frame to {width}x{height} failed: {result.geterror()}")
    return result.get_pixels(oiio.FLOAT).reshape(height, width, image.shape[2])


def prepare_image(image: np.ndarray, letterbox: Letterbox, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """``(H, W, 3)`` sRGB [0, 1] -> ``(3, H_in, W_in)`` normalised graph input."""
    if image.shape[:2] != letterbox.frame_size:
        raise ValueError(f"image is {image.shape[:2]}, letterbox expects {letterbox.frame_size}")
    content = resize(np.asarray(image, np.float32), letterbox.content_size)
    mean = np.asarray(mean, np.float32)
    std = np.asarray(std, np.float32)
    graph = letterbox.graph
    pixels = np.zeros((graph.height, graph.width, 3), np.float32)
    pixels[: content.shape[0], : content.shape[1]] = (content - mean) / std
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))
