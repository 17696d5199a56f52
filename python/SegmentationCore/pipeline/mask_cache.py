"""The mask cache of stage 3: one layer-id map and one probability map per frame.

Per frame and pixel the cache holds which layer owns the pixel (``M_ID``,
uint16, 0 = none) and that layer's probability there (``M_P``, quantised to
uint8 or uint16). A new tracking prediction ``V_P`` of layer ``k`` takes a
pixel only where ``M_P + epsilon <= V_P`` (the paper's overwrite rule), see
:meth:`MaskCache.apply`.

Besides the maps the cache keeps the layer registry (id -> name, class
phrase, where it was born). With a ``directory`` the cache streams: at most
``max_resident`` frames are held in memory, the others live on disk as one
``.npz`` per frame, so memory does not grow with shot length. A 1024x576
frame costs 1.8 MB resident (uint16 ids + uint8 probabilities) and a few KB
to a few hundred KB compressed on disk.

The optional ``recent`` cache rule (:meth:`MaskCache.apply_recent`, see
docs/pipeline.md) also keeps, per frame and layer, the *age* of the evidence
that wrote the layer there: how many frames the tracker propagated since the
layer was last prompted from stage 2 or an interactive keyframe. The paper's
rule (:meth:`MaskCache.apply`) neither reads nor writes ages.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import pathlib
from typing import Any, Iterable, Mapping

import numpy as np

from ..core.prompts import class_name, layer_name
from . import appearance as appearance_model

FORMAT = "autoseg-mask-cache"
VERSION = 1
MAX_LAYERS = 65535


@dataclasses.dataclass
class LayerInfo:
    """One layer of the shot: a tracked object instance."""

    id: int
    name: str  # "/person/person_0003"
    phrase: str  # the prompt phrase ("person"), or the interactive class
    created_frame: int | None = None
    source: str = "auto"  # auto | interactive

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LayerInfo":
        return cls(**dict(data))


@dataclasses.dataclass
class _FrameMaps:
    ids: np.ndarray  # (H, W) uint16
    probs: np.ndarray  # (H, W) uint8 / uint16
    dirty: bool = False
    ages: dict[int, float] = dataclasses.field(default_factory=dict)  # layer id -> evidence age (recent rule)


class MaskCache:
    """Layer-id + probability maps per frame and the layer registry.

    ``size`` is ``(height, width)`` of the working resolution;
    ``probability_bits`` 8 or 16; ``directory`` makes the cache disk-backed
    (see module docs). All frame accessors return copies or read-only views.
    """

    def __init__(
        self,
        size: tuple[int, int],
        directory: str | os.PathLike | None = None,
        probability_bits: int = 8,
        max_resident: int = 48,
    ):
        if probability_bits not in (8, 16):
            raise ValueError("probability_bits must be 8 or 16")
        self.size = (int(size[0]), int(size[1]))
        self.probability_bits = probability_bits
        self._dtype = np.uint8 if probability_bits == 8 else np.uint16
        self._scale = float(np.iinfo(self._dtype).max)
        self.max_resident = max(int(max_resident), 1)
        self.directory = pathlib.Path(directory) if directory is not None else None
        self._layers: dict[int, LayerInfo] = {}
        self._class_counters: dict[str, int] = {}
        self._appearance: dict[int, np.ndarray] = {}  # layer id -> colour histogram (guarded rule)
        self._resident: collections.OrderedDict[int, _FrameMaps] = collections.OrderedDict()
        self._stored: set[int] = set()  # frames with a file on disk
        if self.directory is not None:
            (self.directory / "frames").mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ registry
    @property
    def layer_ids(self) -> list[int]:
        return sorted(self._layers)

    @property
    def layer_infos(self) -> dict[int, LayerInfo]:
        return dict(self._layers)

    def layer(self, layer_id: int) -> LayerInfo:
        return self._layers[int(layer_id)]

    def names(self) -> dict[int, str]:
        return {i: info.name for i, info in sorted(self._layers.items())}

    def next_layer_id(self) -> int:
        return max(self._layers, default=0) + 1

    def propose_layers(self, phrases: Iterable[str], frame: int | None = None, source: str = "auto") -> list[LayerInfo]:
        """New layers for ``phrases`` with the next free ids and names,
        *not* registered yet (see :meth:`add_layers`)."""
        next_id = self.next_layer_id()
        counters = dict(self._class_counters)
        proposed = []
        for phrase in phrases:
            cls = class_name(phrase)
            counters[cls] = counters.get(cls, 0) + 1
            proposed.append(LayerInfo(next_id, layer_name(phrase, counters[cls]), phrase, frame, source))
            next_id += 1
        return proposed

    def add_layers(self, infos: Iterable[LayerInfo]) -> None:
        """Register layers (from :meth:`propose_layers`, or given names)."""
        for info in infos:
            if info.id in self._layers:
                if self._layers[info.id] == info:
                    continue
                raise ValueError(f"layer id {info.id} is already used by {self._layers[info.id].name}")
            if not 0 < info.id <= MAX_LAYERS:
                raise ValueError(f"layer ids run from 1 to {MAX_LAYERS}, got {info.id}")
            if any(existing.name == info.name for existing in self._layers.values()):
                raise ValueError(f"layer name {info.name} is already used")
            self._layers[info.id] = info
            cls = info.name.strip("/").split("/")[0]
            suffix = info.name.rsplit("_", 1)[-1]
            if suffix.isdigit():
                self._class_counters[cls] = max(self._class_counters.get(cls, 0), int(suffix))

    def appearance(self, layer_id: int) -> np.ndarray | None:
        """What the layer looks like (:mod:`.appearance`), if known."""
        return self._appearance.get(int(layer_id))

    def update_appearance(self, looks: Mapping[int, np.ndarray]) -> None:
        """Blend fresh looks ``{layer id: histogram}`` into the layers'
        descriptors (kept in the registry; written on the next flush)."""
        for layer_id, look in looks.items():
            if int(layer_id) not in self._layers:
                raise ValueError(f"appearance for layer {layer_id}, which the cache does not know")
            self._appearance[int(layer_id)] = appearance_model.blend(self._appearance.get(int(layer_id)), look)

    def restore_appearance(self, looks: Mapping[str, Any]) -> None:
        """Set descriptors from a :meth:`registry`'s ``"appearance"`` entry
        (layers the cache does not know are ignored)."""
        for key, look in looks.items():
            if int(key) in self._layers:
                self._appearance[int(key)] = appearance_model.from_json(look)

    def new_layer(self, phrase: str, frame: int | None = None, source: str = "auto") -> LayerInfo:
        info = self.propose_layers([phrase], frame, source)[0]
        self.add_layers([info])
        return info

    # ------------------------------------------------------------------ frames
    @property
    def frames(self) -> list[int]:
        """Frames that hold any data."""
        return sorted(set(self._resident) | self._stored)

    def has_frame(self, frame: int) -> bool:
        return int(frame) in self._resident or int(frame) in self._stored

    def id_map(self, frame: int) -> np.ndarray:
        maps = self._get(frame, create=False)
        if maps is None:
            return np.zeros(self.size, np.uint16)
        return maps.ids.copy()

    def probability_map(self, frame: int) -> np.ndarray:
        """``M_P`` as float32 in [0, 1]."""
        maps = self._get(frame, create=False)
        if maps is None:
            return np.zeros(self.size, np.float32)
        return maps.probs.astype(np.float32) / self._scale

    def layer_mask(self, frame: int, layer_id: int) -> np.ndarray:
        """Probability of one layer on one frame, 0 where another layer owns the pixel."""
        maps = self._get(frame, create=False)
        if maps is None:
            return np.zeros(self.size, np.float32)
        return np.where(maps.ids == layer_id, maps.probs.astype(np.float32) / self._scale, 0.0).astype(np.float32)

    def layer_masks(self, frame: int, layer_ids: Iterable[int] | None = None) -> dict[int, np.ndarray]:
        """``{layer id: probability (H, W)}`` for the layers present on ``frame``."""
        maps = self._get(frame, create=False)
        if maps is None:
            return {}
        present = np.unique(maps.ids)
        present = [int(i) for i in present if i]
        if layer_ids is not None:
            wanted = {int(i) for i in layer_ids}
            present = [i for i in present if i in wanted]
        probs = maps.probs.astype(np.float32) / self._scale
        return {i: np.where(maps.ids == i, probs, 0.0).astype(np.float32) for i in present}

    def layer_areas(self, frame: int, threshold: float = 0.5) -> dict[int, int]:
        """Pixels per layer at or above ``threshold`` on one frame."""
        maps = self._get(frame, create=False)
        if maps is None:
            return {}
        level = int(np.ceil(threshold * self._scale - 1e-6))
        ids = maps.ids[maps.probs >= level]
        counts = np.bincount(ids.ravel(), minlength=1)
        return {int(i): int(c) for i, c in enumerate(counts) if i and c}

    def layers(self, frame: int) -> dict[str, np.ndarray]:
        """``{layer name: probability (H, W) float32}`` for writing ID mattes."""
        return {self._layers[i].name: mask for i, mask in self.layer_masks(frame).items() if i in self._layers}

    # ------------------------------------------------------------------ updates
    def apply(self, frame: int, candidate_ids: np.ndarray, candidate_probs: np.ndarray, epsilon: float) -> int:
        """Merge one prediction into a frame with the overwrite rule.

        ``candidate_ids`` ``(H, W)`` gives per pixel the layer the new
        prediction proposes (0 = none) and ``candidate_probs`` its
        probability ``V_P``. A pixel is overwritten only where
        ``M_P + epsilon <= V_P`` and ``V_P`` quantises above zero. Returns the
        number of pixels that changed.
        """
        candidate_ids = np.asarray(candidate_ids)
        candidate_probs = np.asarray(candidate_probs, np.float32)
        if candidate_ids.shape != self.size or candidate_probs.shape != self.size:
            raise ValueError(f"prediction of shape {candidate_probs.shape} does not match the cache size {self.size}")
        unknown = set(np.unique(candidate_ids).tolist()) - set(self._layers) - {0}
        if unknown:
            raise ValueError(f"layers {sorted(unknown)} are not registered in the mask cache")
        quantised = np.clip(np.rint(candidate_probs * self._scale), 0, self._scale).astype(self._dtype)
        maps = self._get(frame, create=True)
        current = maps.probs.astype(np.float32) / self._scale
        write = (candidate_ids > 0) & (quantised > 0) & (current + epsilon <= candidate_probs + 1e-6)
        changed = write & ((maps.ids != candidate_ids) | (maps.probs != quantised))
        count = int(np.count_nonzero(changed))
        if count:
            if maps.ages:
                # this evidence has no age: the layers it touched lose theirs
                touched = set(np.unique(candidate_ids[changed]).tolist()) | set(np.unique(maps.ids[changed]).tolist())
                for layer_id in touched:
                    maps.ages.pop(int(layer_id), None)
            maps.ids[write] = candidate_ids[write]
            maps.probs[write] = quantised[write]
            maps.dirty = True
        return count

    def evidence_ages(self, frame: int) -> dict[int, float]:
        """``{layer id: age}`` of the evidence behind each layer on ``frame``
        (written by :meth:`apply_recent`; layers missing are of unknown age)."""
        maps = self._get(frame, create=False)
        return {} if maps is None else dict(maps.ages)

    def evidence_age(self, frame: int, layer_id: int) -> float:
        """Age of the evidence of one layer on one frame; ``inf`` if unknown."""
        return self.evidence_ages(frame).get(int(layer_id), float("inf"))

    def apply_recent(
        self,
        frame: int,
        layer_ids: Iterable[int],
        probabilities: np.ndarray,
        ages: Iterable[float],
        epsilon: float,
    ) -> int:
        """Merge one tracked frame with the ``recent`` rule (see docs/pipeline.md).

        ``probabilities`` ``(N, H, W)`` are the predictions of the visible
        layers ``layer_ids`` and ``ages`` how many frames each was propagated
        since its last prompt from fresh evidence (stage 2, a keyframe).

        * A prediction older than the evidence the cache already holds for
          its layer on this frame is ignored.
        * Otherwise it *replaces* its layer there: the layer's pixels are
          released first, so pixels a drifted, older track wrote go away.
        * Per pixel the most probable accepted layer is the candidate. It
          takes a pixel another layer holds with older evidence (or an empty
          one) where ``epsilon <= V_P``, and a pixel held with evidence as
          recent or more recent only under the paper's ``M_P + epsilon <= V_P``.

        Returns the number of pixels that changed.
        """
        layer_ids = np.asarray(list(layer_ids), np.int64).reshape(-1)
        ages_in = np.asarray(list(ages), np.float64).reshape(-1)
        stack = np.asarray(probabilities, np.float32)
        if stack.ndim != 3 or stack.shape[0] != len(layer_ids) or len(ages_in) != len(layer_ids):
            raise ValueError(f"apply_recent needs one (H, W) prediction and one age per layer, got {stack.shape}, {len(layer_ids)} ids, {len(ages_in)} ages")
        if stack.shape[1:] != self.size:
            raise ValueError(f"prediction of shape {stack.shape[1:]} does not match the cache size {self.size}")
        unknown = set(layer_ids.tolist()) - set(self._layers)
        if unknown:
            raise ValueError(f"layers {sorted(unknown)} are not registered in the mask cache")
        maps = self._get(frame, create=True)
        accepted = [i for i in range(len(layer_ids)) if ages_in[i] <= maps.ages.get(int(layer_ids[i]), np.inf)]
        if not accepted:
            return 0
        ids = layer_ids[accepted]
        new_ages = ages_in[accepted]
        stack = stack[accepted]
        best = np.argmax(stack, axis=0)
        best_p = np.take_along_axis(stack, best[None], axis=0)[0]
        candidate_ids = np.where(best_p > 0, ids[best], 0).astype(np.uint16)
        candidate_ages = new_ages[best]
        quantised = np.clip(np.rint(best_p * self._scale), 0, self._scale).astype(self._dtype)

        released = np.isin(maps.ids, ids)
        kept_ids = np.where(released, 0, maps.ids).astype(np.uint16)
        kept_probs = np.where(released, 0, maps.probs).astype(self._dtype)
        lut = np.full(int(max(kept_ids.max(), 0)) + 1, np.inf)
        for layer_id, age in maps.ages.items():
            if layer_id < len(lut):
                lut[layer_id] = age
        owner_age = np.where(kept_ids > 0, lut[kept_ids], np.inf)
        current = kept_probs.astype(np.float32) / self._scale
        base = np.where(candidate_ages < owner_age, 0.0, current)  # older evidence counts as empty
        write = (candidate_ids > 0) & (quantised > 0) & (base + epsilon <= best_p + 1e-6)
        kept_ids[write] = candidate_ids[write]
        kept_probs[write] = quantised[write]
        changed = (kept_ids != maps.ids) | (kept_probs != maps.probs)
        count = int(np.count_nonzero(changed))
        for layer_id, age in zip(ids.tolist(), new_ages.tolist()):
            if maps.ages.get(int(layer_id)) != age:
                maps.ages[int(layer_id)] = float(age)
                maps.dirty = True
        if count:
            maps.ids, maps.probs, maps.dirty = kept_ids, kept_probs, True
        return count

    def set_frame(
        self, frame: int, ids: np.ndarray, probabilities: np.ndarray, ages: Mapping[int, float] | None = None
    ) -> None:
        """Replace a frame's maps outright (loading, tests, compaction);
        ``ages`` ``{layer id: evidence age}`` for the ``recent`` rule."""
        ids = np.asarray(ids, np.uint16)
        probs = np.asarray(probabilities)
        if probs.dtype != self._dtype:
            probs = np.clip(np.rint(np.asarray(probs, np.float32) * self._scale), 0, self._scale).astype(self._dtype)
        if ids.shape != self.size or probs.shape != self.size:
            raise ValueError(f"maps of shape {ids.shape}/{probs.shape} do not match the cache size {self.size}")
        ids = np.where(probs > 0, ids, 0).astype(np.uint16)
        maps = _FrameMaps(ids.copy(), probs.copy(), dirty=True, ages={int(k): float(v) for k, v in (ages or {}).items()})
        self._resident[int(frame)] = maps
        self._resident.move_to_end(int(frame))
        self._evict()

    def compact(self, min_area: int = 1, min_frames: int = 1) -> dict[int, int]:
        """Drop layers smaller than ``min_area`` pixels (at p >= 0.5) on every
        frame or present on fewer than ``min_frames`` frames, renumber the
        rest densely (names are kept), and return ``{old id: new id}``."""
        best_area: dict[int, int] = {}
        frame_count: dict[int, int] = {}
        for frame in self.frames:
            for layer_id, area in self.layer_areas(frame).items():
                best_area[layer_id] = max(best_area.get(layer_id, 0), area)
                if area >= min_area:
                    frame_count[layer_id] = frame_count.get(layer_id, 0) + 1
        keep = [i for i in sorted(self._layers) if best_area.get(i, 0) >= min_area and frame_count.get(i, 0) >= min_frames]
        mapping = {old: new for new, old in enumerate(keep, start=1)}
        lut = np.zeros(max(self._layers, default=0) + 1, np.uint16)
        for old, new in mapping.items():
            lut[old] = new
        for frame in self.frames:
            maps = self._get(frame, create=False)
            ids = lut[np.minimum(maps.ids, len(lut) - 1)]
            probs = np.where(ids > 0, maps.probs, 0).astype(self._dtype)
            if not np.array_equal(ids, maps.ids) or not np.array_equal(probs, maps.probs):
                maps.ids, maps.probs, maps.dirty = ids, probs, True
            if maps.ages:
                ages = {mapping[k]: v for k, v in maps.ages.items() if k in mapping}
                if ages != maps.ages:
                    maps.ages, maps.dirty = ages, True
        self._layers = {mapping[old]: dataclasses.replace(self._layers[old], id=mapping[old]) for old in keep}
        self._appearance = {mapping[old]: h for old, h in self._appearance.items() if old in mapping}
        return mapping

    # ------------------------------------------------------------------ persistence
    def flush(self) -> None:
        """Write every changed resident frame and the registry to ``directory``."""
        if self.directory is None:
            raise ValueError("this mask cache has no directory to flush to; use save(directory)")
        for frame, maps in self._resident.items():
            if maps.dirty:
                self._write_frame(frame, maps)
        self._write_registry()

    def save(self, directory: str | os.PathLike) -> None:
        """Persist the whole cache to ``directory`` (becomes its home)."""
        directory = pathlib.Path(directory)
        if self.directory is not None and directory.resolve() == self.directory.resolve():
            self.flush()
            return
        (directory / "frames").mkdir(parents=True, exist_ok=True)
        old_directory = self.directory
        frames = self.frames
        for frame in frames:
            maps = self._get(frame, create=False)
            self.directory = directory
            self._write_frame(frame, maps)
            self.directory = old_directory
        self.directory = directory
        self._stored = set(frames)
        for maps in self._resident.values():
            maps.dirty = False
        self._write_registry()

    @classmethod
    def load(cls, directory: str | os.PathLike, max_resident: int = 48) -> "MaskCache":
        """Open a cache saved with :meth:`save` / :meth:`flush` (frames stay on disk)."""
        directory = pathlib.Path(directory)
        path = directory / "layers.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot read the mask cache registry {path}: {error}") from error
        if data.get("format") != FORMAT:
            raise ValueError(f"{path} is not a mask cache registry")
        cache = cls(tuple(data["size"]), directory, int(data["probability_bits"]), max_resident)
        cache.add_layers(LayerInfo.from_dict(item) for item in data["layers"])
        cache.restore_appearance(data.get("appearance", {}))
        cache._stored = {int(p.stem) for p in (directory / "frames").glob("*.npz") if p.stem.lstrip("-").isdigit()}
        return cache

    def registry(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "size": list(self.size),
            "probability_bits": self.probability_bits,
            "layers": [info.to_dict() for _, info in sorted(self._layers.items())],
            "appearance": {str(i): appearance_model.to_json(h) for i, h in sorted(self._appearance.items())},
        }

    def resident_frames(self) -> list[int]:
        return list(self._resident)

    def nbytes_resident(self) -> int:
        return sum(m.ids.nbytes + m.probs.nbytes for m in self._resident.values())

    # ------------------------------------------------------------------ internals
    def _frame_path(self, frame: int) -> pathlib.Path:
        return self.directory / "frames" / f"{int(frame)}.npz"

    def _get(self, frame: int, create: bool) -> _FrameMaps | None:
        frame = int(frame)
        maps = self._resident.get(frame)
        if maps is not None:
            self._resident.move_to_end(frame)
            return maps
        if frame in self._stored:
            with np.load(self._frame_path(frame)) as data:
                maps = _FrameMaps(data["ids"].astype(np.uint16), data["probs"].astype(self._dtype))
                if "age_ids" in data.files:
                    maps.ages = {int(k): float(v) for k, v in zip(data["age_ids"], data["age_values"]) if int(k) in self._layers}
            # Pixels of layers the registry does not know (written by an
            # interrupted run before its layers were committed) count as empty.
            known = np.zeros(int(maps.ids.max()) + 1, bool)
            known[[i for i in self._layers if i < len(known)]] = True
            known[0] = False
            orphans = ~known[maps.ids] & (maps.ids > 0)
            if orphans.any():
                maps.ids[orphans] = 0
                maps.probs[orphans] = 0
                maps.dirty = True
        elif create:
            maps = _FrameMaps(np.zeros(self.size, np.uint16), np.zeros(self.size, self._dtype))
        else:
            return None
        self._resident[frame] = maps
        self._evict()
        return maps

    def _evict(self) -> None:
        if self.directory is None:
            return
        while len(self._resident) > self.max_resident:
            frame, maps = self._resident.popitem(last=False)
            if maps.dirty:
                self._write_frame(frame, maps)

    def _write_frame(self, frame: int, maps: _FrameMaps) -> None:
        path = self._frame_path(frame)
        temporary = path.with_name(f".{frame}.tmp.npz")
        with open(temporary, "wb") as stream:
            if maps.ages:
                layer_ids = sorted(maps.ages)
                np.savez_compressed(
                    stream, ids=maps.ids, probs=maps.probs, age_ids=np.asarray(layer_ids, np.int64),
                    age_values=np.asarray([maps.ages[k] for k in layer_ids], np.float64),
                )
            else:
                np.savez_compressed(stream, ids=maps.ids, probs=maps.probs)
        os.replace(temporary, path)
        maps.dirty = False
        self._stored.add(int(frame))

    def _write_registry(self) -> None:
        path = self.directory / "layers.json"
        temporary = path.with_name(".layers.json.tmp")
        temporary.write_text(json.dumps(self.registry(), indent=1))
        os.replace(temporary, path)
