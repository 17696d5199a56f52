"""A bounded per-frame feature cache: LRU in RAM, spilling to disk.

Encoder features are computed once per frame and reused by every later
stage and pass (stage 2, each tracking window, forward and backward). The
RAM part holds at most ``max_bytes``; least recently used entries move to a
spill folder on disk (at most ``max_disk_bytes``; the oldest spilled entries
are deleted beyond that) and come back to RAM when asked for again. So
memory does not grow with shot length.

An entry is a ``{name: ndarray}`` dict, stored on disk as one uncompressed
``.npz`` written atomically. Keys are strings (``FrameSource.cache_key``
plus a model id). Thread-safe.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import os
import pathlib
import shutil
import tempfile
import threading
import weakref
from typing import Callable, Mapping

import numpy as np

from ...core.errors import SegmentationError

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB of RAM (about 64 SAM2 frames)
DEFAULT_MAX_DISK_BYTES = 32 << 30


def _env_megabytes(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(float(value) * (1 << 20))
    except ValueError:
        raise SegmentationError(f"{name}={value!r} is not a number of megabytes") from None


def _entry_bytes(arrays: Mapping[str, np.ndarray]) -> int:
    return int(sum(array.nbytes for array in arrays.values()))


@dataclasses.dataclass
class CacheStats:
    hits: int = 0
    disk_hits: int = 0
    misses: int = 0
    spills: int = 0
    disk_evictions: int = 0
    ram_bytes: int = 0
    disk_bytes: int = 0
    ram_entries: int = 0
    disk_entries: int = 0


class FeatureCache:
    """LRU cache of per-frame arrays with a RAM budget and disk spill.

    ``max_bytes`` (RAM) defaults to ``SEGMENTATION_FEATURE_CACHE_MB`` or
    1 GiB; ``max_disk_bytes`` to ``SEGMENTATION_FEATURE_CACHE_DISK_MB`` or
    32 GiB (0 disables spilling: evicted entries are dropped). The spill
    folder is a private temporary folder under ``spill_dir`` (default
    ``SEGMENTATION_FEATURE_CACHE_DIR`` or the system temp folder), removed
    by :meth:`close` or when the cache is garbage-collected.
    """

    def __init__(
        self,
        max_bytes: int | None = None,
        max_disk_bytes: int | None = None,
        spill_dir: str | os.PathLike | None = None,
    ):
        self.max_bytes = int(max_bytes if max_bytes is not None else _env_megabytes("SEGMENTATION_FEATURE_CACHE_MB", DEFAULT_MAX_BYTES))
        self.max_disk_bytes = int(
            max_disk_bytes if max_disk_bytes is not None
            else _env_megabytes("SEGMENTATION_FEATURE_CACHE_DISK_MB", DEFAULT_MAX_DISK_BYTES)
        )
        if self.max_bytes < 0 or self.max_disk_bytes < 0:
            raise ValueError("cache budgets must not be negative")
        self._spill_parent = spill_dir or os.environ.get("SEGMENTATION_FEATURE_CACHE_DIR") or None
        self._spill_root: pathlib.Path | None = None
        self._finalizer = None
        self._lock = threading.RLock()
        self._ram: collections.OrderedDict[str, dict[str, np.ndarray]] = collections.OrderedDict()
        self._ram_sizes: dict[str, int] = {}
        self._disk: collections.OrderedDict[str, tuple[pathlib.Path, int]] = collections.OrderedDict()
        self.stats = CacheStats()

    # ------------------------------------------------------------------ public

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``key`` (from RAM or disk), or ``None``."""
        with self._lock:
            entry = self._ram.get(key)
            if entry is not None:
                self._ram.move_to_end(key)
                self.stats.hits += 1
                return entry
            spilled = self._disk.get(key)
            if spilled is None:
                self.stats.misses += 1
                return None
            path, _ = spilled
            try:
                with np.load(path, allow_pickle=False) as data:
                    entry = {name: data[name] for name in data.files}
            except (OSError, ValueError):
                self._drop_disk(key)
                self.stats.misses += 1
                return None
            self._disk.move_to_end(key)
            self.stats.disk_hits += 1
            self._insert_ram(key, entry, on_disk=True)
            return entry

    def put(self, key: str, arrays: Mapping[str, np.ndarray]) -> None:
        """Store ``arrays`` under ``key`` (replacing an older entry)."""
        entry = {name: np.ascontiguousarray(array) for name, array in arrays.items()}
        for array in entry.values():
            array.setflags(write=False)
        with self._lock:
            if key in self._disk:
                self._drop_disk(key)
            self._insert_ram(key, entry, on_disk=False)

    def get_or_compute(self, key: str, compute: Callable[[], Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """The entry under ``key``; computed with ``compute()`` and stored if missing."""
        entry = self.get(key)
        if entry is None:
            entry = {name: np.ascontiguousarray(array) for name, array in compute().items()}
            self.put(key, entry)
        return entry

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._ram or key in self._disk

    def __len__(self) -> int:
        with self._lock:
            return len(set(self._ram) | set(self._disk))

    @property
    def ram_bytes(self) -> int:
        with self._lock:
            return sum(self._ram_sizes.values())

    @property
    def disk_bytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._disk.values())

    def snapshot(self) -> CacheStats:
        with self._lock:
            stats = dataclasses.replace(self.stats)
            stats.ram_bytes = self.ram_bytes
            stats.disk_bytes = self.disk_bytes
            stats.ram_entries = len(self._ram)
            stats.disk_entries = len(self._disk)
            return stats

    def clear(self) -> None:
        with self._lock:
            self._ram.clear()
            self._ram_sizes.clear()
            for key in list(self._disk):
                self._drop_disk(key)

    def close(self) -> None:
        """Drop everything and delete the spill folder."""
        with self._lock:
            self._ram.clear()
            self._ram_sizes.clear()
            self._disk.clear()
            if self._finalizer is not None:
                self._finalizer()
                self._finalizer = None
            self._spill_root = None

    @property
    def spill_folder(self) -> pathlib.Path | None:
        return self._spill_root

    # ------------------------------------------------------------------ internals

    def _insert_ram(self, key: str, entry: dict[str, np.ndarray], on_disk: bool) -> None:
        size = _entry_bytes(entry)
        if key in self._ram:
            del self._ram[key]
            del self._ram_sizes[key]
        self._ram[key] = entry
        self._ram_sizes[key] = size
        while self._ram and sum(self._ram_sizes.values()) > self.max_bytes:
            old_key, old_entry = self._ram.popitem(last=False)
            del self._ram_sizes[old_key]
            if old_key not in self._disk:
                self._spill(old_key, old_entry)

    def _ensure_spill_root(self) -> pathlib.Path:
        if self._spill_root is None:
            parent = pathlib.Path(self._spill_parent) if self._spill_parent else None
            if parent is not None:
                parent.mkdir(parents=True, exist_ok=True)
            root = pathlib.Path(tempfile.mkdtemp(prefix="segmentation-features-", dir=parent))
            self._spill_root = root
            self._finalizer = weakref.finalize(self, shutil.rmtree, str(root), True)
        return self._spill_root

    def _spill(self, key: str, entry: dict[str, np.ndarray]) -> None:
        size = _entry_bytes(entry)
        if size > self.max_disk_bytes:
            return
        root = self._ensure_spill_root()
        path = root / (hashlib.sha1(key.encode()).hexdigest() + ".npz")
        temporary = path.with_suffix(".tmp")
        try:
            with open(temporary, "wb") as stream:
                np.savez(stream, **entry)
            os.replace(temporary, path)
        except OSError:
            temporary.unlink(missing_ok=True)
            return  # disk full or unwritable: the entry is simply recomputed later
        self._disk[key] = (path, os.path.getsize(path))
        self.stats.spills += 1
        while self._disk and sum(size for _, size in self._disk.values()) > self.max_disk_bytes:
            old_key = next(iter(self._disk))
            self._drop_disk(old_key)
            self.stats.disk_evictions += 1

    def _drop_disk(self, key: str) -> None:
        spilled = self._disk.pop(key, None)
        if spilled is not None:
            spilled[0].unlink(missing_ok=True)
