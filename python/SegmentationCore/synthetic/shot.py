"""Synthetic shots with known answers.

A :class:`ShotSpec` describes soft-edged, textured shapes that move, rotate,
occlude each other and enter or leave the frame. It is resolution-free
(positions and sizes are in units of the frame height), so the same shot
renders at plate resolution (to write a plate) and at working resolution
(for the ground truth the synthetic backends answer from). Everything is
deterministic from the spec (and the spec from a seed).

A :class:`SyntheticShot` is also a :class:`~SegmentationCore.core.protocols.FrameSource`.
Frames are rendered on demand: a 300-frame 1080p shot never sits in RAM.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
from typing import Any, Iterable, Sequence

import numpy as np

SHAPES = ("ellipse", "rect", "blob")


@dataclasses.dataclass
class ObjectSpec:
    """One moving shape. Lengths are in units of the frame height, times in frames."""

    label: str = "person"
    shape: str = "ellipse"
    radius: tuple[float, float] = (0.06, 0.15)  # half width, half height
    start: tuple[float, float] = (0.5, 0.5)  # centre on the first frame (x from the left edge)
    velocity: tuple[float, float] = (0.0, 0.0)  # per frame
    wobble: float = 0.0  # vertical sinusoidal motion amplitude
    wobble_period: float = 24.0
    sway: float = 0.0  # horizontal sinusoidal motion amplitude (objects near an edge leave and come back)
    sway_period: float = 40.0
    rotation: float = 0.0  # radians on the first frame
    spin: float = 0.0  # radians per frame
    depth: float = 0.0  # larger is nearer the camera (drawn on top)
    colour: tuple[float, float, float] = (0.8, 0.3, 0.2)  # sRGB
    texture: float = 0.3  # texture contrast
    texture_scale: float = 60.0  # texture frequency (radians per unit)
    lobes: int = 3  # blob only
    lobe_amount: float = 0.15  # blob only
    present: tuple[int, int] | None = None  # (first, last) frame index where it exists

    def centre(self, t: float) -> tuple[float, float]:
        x = self.start[0] + self.velocity[0] * t
        y = self.start[1] + self.velocity[1] * t
        if self.wobble:
            y += self.wobble * math.sin(2 * math.pi * t / self.wobble_period)
        if self.sway:
            x += self.sway * math.sin(2 * math.pi * t / self.sway_period)
        return x, y

    def angle(self, t: float) -> float:
        return self.rotation + self.spin * t

    def exists(self, t: int) -> bool:
        return self.present is None or self.present[0] <= t <= self.present[1]

    def reach(self) -> float:
        """Radius of a circle that contains the shape."""
        extra = 1 + (self.lobe_amount if self.shape == "blob" else 0)
        if self.shape == "rect":
            return math.hypot(*self.radius)
        return max(self.radius) * extra


@dataclasses.dataclass
class ShotSpec:
    """A whole synthetic shot (plate resolution, frame range, shapes)."""

    width: int = 1920
    height: int = 1080
    num_frames: int = 48
    first_frame: int = 1001
    seed: int = 0
    softness: float = 0.004  # edge ramp width, units of height
    objects: list[ObjectSpec] = dataclasses.field(default_factory=list)

    @property
    def aspect(self) -> float:
        return self.width / self.height

    @property
    def frame_numbers(self) -> list[int]:
        return list(range(self.first_frame, self.first_frame + self.num_frames))

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["format"] = "autoseg-synthetic-shot"
        data["version"] = 1
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ShotSpec":
        data = dict(data)
        data.pop("format", None)
        data.pop("version", None)
        objects = []
        for item in data.pop("objects", []):
            item = dict(item)
            for key in ("radius", "start", "velocity", "colour", "present"):
                if item.get(key) is not None:
                    item[key] = tuple(item[key])
            objects.append(ObjectSpec(**item))
        return cls(objects=objects, **data)

    def save(self, path: str | os.PathLike) -> None:
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(json.dumps(self.to_dict(), indent=1))
        os.replace(temporary, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ShotSpec":
        return cls.from_dict(json.loads(pathlib.Path(path).read_text()))


_PALETTE = [
    (0.85, 0.25, 0.2), (0.2, 0.55, 0.85), (0.3, 0.75, 0.3), (0.9, 0.75, 0.2),
    (0.65, 0.3, 0.8), (0.15, 0.75, 0.75), (0.9, 0.5, 0.7), (0.55, 0.4, 0.25),
]


def generate_shot(
    seed: int = 0,
    num_frames: int = 48,
    width: int = 1920,
    height: int = 1080,
    num_objects: int = 5,
    labels: Sequence[str] = ("person",),
    first_frame: int = 1001,
    world: str = "default",
) -> ShotSpec:
    """A random but deterministic shot: person-like shapes crossing the frame.

    Guarantees at least one object entering from outside the frame, one
    leaving it and (for 3+ objects) crossing paths that cause occlusions.
    ``world`` picks the kind of shot (see :data:`WORLDS`): ``default``;
    ``crowded`` (at least 8 objects packed into the middle third, heavy
    occlusion); ``crossing`` (pairs walking through each other in opposite
    directions at similar heights); ``return`` (objects that sway out of
    the frame and come back, or are hidden behind a large near object for a
    while); ``lookalike`` (the ``crowded`` layout with every object the same
    colour, only their textures differ: a crowd in one uniform, where
    appearance cannot tell identities apart).
    """
    if world not in WORLDS:
        raise ValueError(f"unknown synthetic world {world!r}; choose from {', '.join(WORLDS)}")
    if world != "default":
        return _generate_world(world, seed, num_frames, width, height, num_objects, labels, first_frame)
    rng = np.random.default_rng(seed)
    aspect = width / height
    objects: list[ObjectSpec] = []
    depths = rng.permutation(num_objects).astype(float)
    span = max(num_frames - 1, 1)
    for index in range(num_objects):
        ry = float(rng.uniform(0.12, 0.2))
        rx = float(ry * rng.uniform(0.35, 0.6))
        y = float(rng.uniform(0.35, 0.65))
        if index == 0:  # enters from the left during the shot
            x0 = -rx * 1.2
            x1 = float(rng.uniform(0.3, 0.6)) * aspect
        elif index == 1:  # leaves on the right
            x0 = float(rng.uniform(0.55, 0.8)) * aspect
            x1 = aspect + rx * 1.5
        else:  # wanders across the middle, crossing the others
            x0 = float(rng.uniform(0.1, 0.9)) * aspect
            x1 = float(np.clip(x0 + rng.uniform(-0.5, 0.5) * aspect, 0.05 * aspect, 0.95 * aspect))
        velocity = ((x1 - x0) / span, float(rng.uniform(-0.05, 0.05)) / span)
        objects.append(
            ObjectSpec(
                label=str(labels[index % len(labels)]),
                shape=SHAPES[index % len(SHAPES)],
                radius=(rx, ry),
                start=(x0, y),
                velocity=velocity,
                wobble=float(rng.uniform(0.0, 0.02)),
                wobble_period=float(rng.uniform(12, 30)),
                rotation=float(rng.uniform(-0.2, 0.2)),
                spin=float(rng.uniform(-0.004, 0.004)),
                depth=float(depths[index]),
                colour=_PALETTE[index % len(_PALETTE)],
                texture=float(rng.uniform(0.15, 0.35)),
                texture_scale=float(rng.uniform(40, 90)),
                lobes=int(rng.integers(2, 5)),
                lobe_amount=float(rng.uniform(0.08, 0.18)),
            )
        )
    return ShotSpec(width=width, height=height, num_frames=num_frames, first_frame=first_frame, seed=seed, objects=objects)


WORLDS = ("default", "crowded", "crossing", "return", "lookalike")


def _generate_world(
    world: str, seed: int, num_frames: int, width: int, height: int, num_objects: int,
    labels: Sequence[str], first_frame: int,
) -> ShotSpec:
    rng = np.random.default_rng([seed, WORLDS.index(world)])
    aspect = width / height
    span = max(num_frames - 1, 1)
    crowd = world in ("crowded", "lookalike")
    count = max(num_objects, 8) if crowd else num_objects
    depths = rng.permutation(count).astype(float)
    objects: list[ObjectSpec] = []
    for index in range(count):
        ry = float(rng.uniform(0.11, 0.18))
        rx = float(ry * rng.uniform(0.35, 0.6))
        sway = 0.0
        sway_period = 40.0
        if crowd:  # everyone within the middle third: constant overlaps
            y = float(rng.uniform(0.4, 0.6))
            x0 = float(rng.uniform(0.3, 0.7)) * aspect
            x1 = float(np.clip(x0 + rng.uniform(-0.3, 0.3) * aspect, 0.25 * aspect, 0.75 * aspect))
        elif world == "crossing":  # pairs walking through each other
            y = float(0.5 + rng.uniform(-0.06, 0.06))
            left = index % 2 == 0
            x0 = float(rng.uniform(0.05, 0.3)) * aspect if left else float(rng.uniform(0.7, 0.95)) * aspect
            x1 = float(rng.uniform(0.65, 0.95)) * aspect if left else float(rng.uniform(0.05, 0.35)) * aspect
        else:  # return: sway out of the frame and back in, or hide behind a wide near object
            y = float(rng.uniform(0.35, 0.65))
            if index == 0:  # a wide object close to the camera, slowly crossing the middle
                rx, ry = 0.22, 0.3
                x0, x1 = 0.3 * aspect, 0.7 * aspect
            else:
                edge = index % 2 == 1
                x0 = float(rng.uniform(0.05, 0.12)) * aspect if edge else float(rng.uniform(0.88, 0.95)) * aspect
                x1 = x0
                sway = (-1 if edge else 1) * float(rng.uniform(0.2, 0.3) * aspect)
                sway_period = float(rng.uniform(0.6, 1.0) * num_frames)
        velocity = ((x1 - x0) / span, float(rng.uniform(-0.03, 0.03)) / span)
        objects.append(
            ObjectSpec(
                label=str(labels[index % len(labels)]),
                shape=SHAPES[index % len(SHAPES)],
                radius=(rx, ry),
                start=(x0, y),
                velocity=velocity,
                wobble=float(rng.uniform(0.0, 0.015)),
                wobble_period=float(rng.uniform(12, 30)),
                sway=sway,
                sway_period=sway_period,
                rotation=float(rng.uniform(-0.2, 0.2)),
                spin=float(rng.uniform(-0.004, 0.004)),
                depth=float(depths[index]) if not (world == "return" and index == 0) else float(count),
                colour=_PALETTE[0 if world == "lookalike" else index % len(_PALETTE)],
                texture=float(rng.uniform(0.15, 0.35)),
                texture_scale=float(rng.uniform(40, 90)),
                lobes=int(rng.integers(2, 5)),
                lobe_amount=float(rng.uniform(0.08, 0.18)),
            )
        )
    return ShotSpec(width=width, height=height, num_frames=num_frames, first_frame=first_frame, seed=seed, objects=objects)


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, np.float32)
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4).astype(np.float32)


class SyntheticShot:
    """Renders a :class:`ShotSpec` at a given ``size = (height, width)``.

    Acts as a FrameSource at that size; :meth:`gt_masks` gives the visible
    (occlusion-aware) soft alpha of every object on a frame at any size.
    """

    def __init__(self, spec: ShotSpec, size: tuple[int, int] | None = None):
        self.spec = spec
        self._size = (int(size[0]), int(size[1])) if size else (spec.height, spec.width)
        self.shot_id = f"synthetic-{spec.seed}-{id(spec):x}"
        self._background: dict[tuple[int, int], np.ndarray] = {}

    # FrameSource -------------------------------------------------------
    @property
    def frame_numbers(self) -> list[int]:
        return self.spec.frame_numbers

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def cache_key(self, frame: int) -> str:
        return f"{self.shot_id}@{frame}:{self._size[1]}x{self._size[0]}"

    def image(self, frame: int, size: tuple[int, int] | None = None) -> np.ndarray:
        """The frame as float32 ``(H, W, 3)`` sRGB."""
        size = size or self._size
        image = self._background_at(size).copy()
        t = self._index(frame)
        for index in sorted(range(len(self.spec.objects)), key=lambda i: self.spec.objects[i].depth):
            rendered = self._render_object(index, t, size, with_colour=True)
            if rendered is None:
                continue
            (r0, r1, c0, c1), alpha, colour = rendered
            region = image[r0:r1, c0:c1]
            region *= 1 - alpha[..., None]
            region += colour * alpha[..., None]
        return np.clip(image, 0, 1)

    # Ground truth ----------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        return [obj.label for obj in self.spec.objects]

    def gt_masks(self, frame: int, size: tuple[int, int] | None = None, include_empty: bool = False) -> dict[int, np.ndarray]:
        """``{object index: visible soft alpha (H, W) float32}`` on one frame."""
        size = size or self._size
        t = self._index(frame)
        transmission = np.ones(size, np.float32)
        masks: dict[int, np.ndarray] = {}
        for index in sorted(range(len(self.spec.objects)), key=lambda i: -self.spec.objects[i].depth):
            rendered = self._render_object(index, t, size, with_colour=False)
            if rendered is None:
                if include_empty:
                    masks[index] = np.zeros(size, np.float32)
                continue
            (r0, r1, c0, c1), alpha, _ = rendered
            visible = np.zeros(size, np.float32)
            visible[r0:r1, c0:c1] = alpha * transmission[r0:r1, c0:c1]
            transmission[r0:r1, c0:c1] *= 1 - alpha
            if include_empty or visible.max() >= 0.5:
                masks[index] = visible
        return dict(sorted(masks.items()))

    def full_mask(self, index: int, frame: int, size: tuple[int, int] | None = None) -> np.ndarray:
        """Unoccluded soft alpha of one object (what it would cover alone)."""
        size = size or self._size
        mask = np.zeros(size, np.float32)
        rendered = self._render_object(index, self._index(frame), size, with_colour=False)
        if rendered is not None:
            (r0, r1, c0, c1), alpha, _ = rendered
            mask[r0:r1, c0:c1] = alpha
        return mask

    def centre_pixels(self, index: int, frame: int, size: tuple[int, int] | None = None) -> tuple[float, float]:
        """Object centre ``(x, y)`` in pixels of ``size``."""
        size = size or self._size
        x, y = self.spec.objects[index].centre(self._index(frame))
        return x * size[0], y * size[0]

    # Plates ----------------------------------------------------------------
    def write_plate(
        self,
        directory: str | os.PathLike,
        name: str = "plate",
        extension: str = "exr",
        frames: Iterable[int] | None = None,
    ) -> str:
        """Write the plate at the spec's resolution as ``name.####.ext``.

        EXR frames are scene-linear half float (the sRGB render decoded), PNG
        frames 8-bit sRGB. The spec is saved next to them as ``name.shot.json``
        so the synthetic backends can answer for the plate. Returns the
        ``####`` pattern.
        """
        import OpenImageIO as oiio

        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        size = (self.spec.height, self.spec.width)
        extension = extension.lstrip(".").lower()
        for frame in frames if frames is not None else self.frame_numbers:
            pixels = self.image(frame, size)
            path = directory / f"{name}.{frame:04d}.{extension}"
            temporary = directory / f".{name}.{frame:04d}.tmp.{extension}"
            if extension == "exr":
                spec = oiio.ImageSpec(size[1], size[0], 3, "half")
                spec.attribute("compression", "zip")
                data = srgb_to_linear(pixels)
            else:
                spec = oiio.ImageSpec(size[1], size[0], 3, "uint8")
                data = (pixels * 255 + 0.5).astype(np.uint8)
            output = oiio.ImageOutput.create(str(temporary))
            if output is None or not output.open(str(temporary), spec):
                raise OSError(f"cannot write {temporary}: {oiio.geterror()}")
            output.write_image(data)
            output.close()
            os.replace(temporary, path)
        self.spec.save(directory / f"{name}.shot.json")
        return str(directory / f"{name}.####.{extension}")

    # Internals -------------------------------------------------------------
    def _index(self, frame: int) -> int:
        t = int(frame) - self.spec.first_frame
        if not 0 <= t < self.spec.num_frames:
            raise KeyError(f"frame {frame} is outside the synthetic shot {self.frame_numbers[0]}-{self.frame_numbers[-1]}")
        return t

    def _background_at(self, size: tuple[int, int]) -> np.ndarray:
        cached = self._background.get(size)
        if cached is not None:
            return cached
        height, width = size
        rng = np.random.default_rng(self.spec.seed + 7919)
        y = (np.arange(height, dtype=np.float32)[:, None] + 0.5) / height
        x = (np.arange(width, dtype=np.float32)[None, :] + 0.5) / height
        base = np.empty((height, width, 3), np.float32)
        for channel in range(3):
            phase = rng.uniform(0, 2 * np.pi, 3)
            freq = rng.uniform(2, 6, 3)
            base[..., channel] = (
                0.35 + 0.1 * channel / 3
                + 0.08 * np.sin(freq[0] * x + phase[0])
                + 0.08 * np.cos(freq[1] * y + phase[1])
                + 0.05 * np.sin(freq[2] * (x + y) + phase[2])
            )
        # static fine grain, the same at every resolution's pixel grid
        base += rng.normal(0, 0.02, (height, width, 1)).astype(np.float32)
        base = np.clip(base, 0, 1)
        self._background[size] = base
        return base

    def _render_object(self, index: int, t: int, size: tuple[int, int], with_colour: bool):
        obj = self.spec.objects[index]
        if not obj.exists(t):
            return None
        height, width = size
        scale = float(height)
        cx, cy = obj.centre(t)
        reach = obj.reach() + self.spec.softness
        c0 = max(int(math.floor((cx - reach) * scale)), 0)
        c1 = min(int(math.ceil((cx + reach) * scale)) + 1, width)
        r0 = max(int(math.floor((cy - reach) * scale)), 0)
        r1 = min(int(math.ceil((cy + reach) * scale)) + 1, height)
        if c0 >= c1 or r0 >= r1:
            return None
        v = (np.arange(r0, r1, dtype=np.float32)[:, None] + 0.5) / scale - cy
        u = (np.arange(c0, c1, dtype=np.float32)[None, :] + 0.5) / scale - cx
        angle = obj.angle(t)
        cos, sin = math.cos(angle), math.sin(angle)
        lu = cos * u + sin * v
        lv = -sin * u + cos * v
        rx, ry = obj.radius
        if obj.shape == "rect":
            distance = np.maximum(np.abs(lu) - rx, np.abs(lv) - ry)
        else:
            radial = np.sqrt((lu / rx) ** 2 + (lv / ry) ** 2)
            if obj.shape == "blob":
                theta = np.arctan2(lv / ry, lu / rx)
                radial = radial / (1 + obj.lobe_amount * np.sin(obj.lobes * theta + 0.05 * t))
            distance = (radial - 1) * min(rx, ry)
        softness = max(self.spec.softness, 0.5 / scale)
        alpha = np.clip(0.5 - distance / softness, 0, 1).astype(np.float32)
        if not alpha.any():
            return None
        colour = None
        if with_colour:
            k = obj.texture_scale
            pattern = 0.5 + 0.5 * np.sin(k * lu) * np.cos(0.7 * k * lv)
            shade = (1 - obj.texture) + obj.texture * pattern
            colour = np.asarray(obj.colour, np.float32)[None, None, :] * shade[..., None].astype(np.float32)
        return (r0, r1, c0, c1), alpha, colour
