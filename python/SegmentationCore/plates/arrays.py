"""In-memory :class:`~SegmentationCore.core.protocols.FrameSource` for tests, tools
and short clips. Plates on disk are streamed by :mod:`SegmentationCore.plates`."""

from __future__ import annotations

import itertools
from typing import Mapping, Sequence

import numpy as np

_shot_counter = itertools.count()


class ArrayFrameSource:
    """Frames held as arrays: ``{frame_number: (H, W, 3) float32 sRGB}``.

    ``shot_id`` names the shot in feature-cache keys; by default every
    instance gets a unique one, so two sources never share cached features.
    """

    def __init__(self, images: Mapping[int, np.ndarray] | Sequence[np.ndarray], shot_id: str | None = None, first_frame: int = 0):
        if not isinstance(images, Mapping):
            images = {first_frame + i: image for i, image in enumerate(images)}
        if not images:
            raise ValueError("ArrayFrameSource needs at least one frame")
        self._images = {int(k): self._check(int(k), v) for k, v in sorted(images.items())}
        shapes = {image.shape for image in self._images.values()}
        if len(shapes) != 1:
            raise ValueError(f"ArrayFrameSource: all frames must have one size, got {sorted(shapes)}")
        self._size = next(iter(shapes))[:2]
        self.shot_id = shot_id or f"array-shot-{next(_shot_counter)}"

    @staticmethod
    def _check(frame: int, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"frame {frame}: expected (H, W, 3) RGB, got shape {image.shape}")
        if image.dtype == np.uint8:
            return image.astype(np.float32) / 255.0
        return image.astype(np.float32, copy=False)

    @property
    def frame_numbers(self) -> list[int]:
        return list(self._images)

    @property
    def size(self) -> tuple[int, int]:
        return (int(self._size[0]), int(self._size[1]))

    def image(self, frame: int) -> np.ndarray:
        try:
            return self._images[frame]
        except KeyError:
            raise KeyError(f"frame {frame} is not in {self.shot_id} (frames {self.frame_numbers[0]}-{self.frame_numbers[-1]})") from None

    def cache_key(self, frame: int) -> str:
        height, width = self.size
        return f"{self.shot_id}@{frame}:{width}x{height}"
