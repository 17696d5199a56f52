"""The bounded per-frame feature cache (RAM LRU + disk spill)."""

import numpy as np
import pytest

from SegmentationCore.models.sam2.feature_cache import FeatureCache


def entry(seed: int, kib: int = 64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "pix_feat": rng.standard_normal(kib * 256 // 2).astype(np.float32),
        "high_res": rng.standard_normal((kib * 256 // 4, 2)).astype(np.float32),
    }


def test_ram_stays_within_budget_and_spills_to_disk(tmp_path):
    one = sum(a.nbytes for a in entry(0).values())
    cache = FeatureCache(max_bytes=3 * one, max_disk_bytes=100 * one, spill_dir=tmp_path)
    for frame in range(20):
        cache.put(f"shot@{frame}", entry(frame))
        assert cache.ram_bytes <= 3 * one
    stats = cache.snapshot()
    assert stats.ram_entries == 3
    assert stats.disk_entries == 17
    assert len(cache) == 20
    assert cache.spill_folder is not None and cache.spill_folder.parent == tmp_path
    assert len(list(cache.spill_folder.glob("*.npz"))) == 17


def test_spilled_entries_reload_identically(tmp_path):
    one = sum(a.nbytes for a in entry(0).values())
    cache = FeatureCache(max_bytes=2 * one, spill_dir=tmp_path)
    for frame in range(6):
        cache.put(f"k{frame}", entry(frame))
    assert "k0" in cache
    reloaded = cache.get("k0")  # from disk
    expected = entry(0)
    assert set(reloaded) == set(expected)
    for name in expected:
        assert reloaded[name].dtype == expected[name].dtype
        np.testing.assert_array_equal(reloaded[name], expected[name])
    assert cache.snapshot().disk_hits == 1
    assert cache.ram_bytes <= 2 * one


def test_least_recently_used_entry_is_evicted_first(tmp_path):
    one = sum(a.nbytes for a in entry(0).values())
    cache = FeatureCache(max_bytes=2 * one, max_disk_bytes=0, spill_dir=tmp_path)  # no disk: evicted = gone
    cache.put("a", entry(1))
    cache.put("b", entry(2))
    cache.get("a")  # a is now the most recent
    cache.put("c", entry(3))
    assert "a" in cache and "c" in cache
    assert "b" not in cache
    assert cache.get("b") is None


def test_disk_budget_drops_oldest_spills(tmp_path):
    one = sum(a.nbytes for a in entry(0).values())
    cache = FeatureCache(max_bytes=one, max_disk_bytes=int(2.5 * one), spill_dir=tmp_path)
    for frame in range(6):
        cache.put(f"k{frame}", entry(frame))
    assert cache.disk_bytes <= int(2.5 * one)
    assert "k0" not in cache  # oldest spill deleted
    assert "k5" in cache and "k4" in cache
    assert cache.snapshot().disk_evictions >= 1


def test_get_or_compute_computes_once(tmp_path):
    cache = FeatureCache(max_bytes=1 << 20, spill_dir=tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return entry(7, kib=4)

    first = cache.get_or_compute("x", compute)
    second = cache.get_or_compute("x", compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(first["pix_feat"], second["pix_feat"])
    with pytest.raises(ValueError):
        first["pix_feat"][0] = 1.0  # cached arrays are read-only


def test_entry_larger_than_ram_budget_is_still_returned(tmp_path):
    cache = FeatureCache(max_bytes=16, max_disk_bytes=0, spill_dir=tmp_path)
    value = cache.get_or_compute("big", lambda: entry(3, kib=4))
    assert value["pix_feat"].shape == entry(3, kib=4)["pix_feat"].shape
    assert cache.ram_bytes == 0


def test_close_removes_spill_folder(tmp_path):
    one = sum(a.nbytes for a in entry(0).values())
    cache = FeatureCache(max_bytes=one, spill_dir=tmp_path)
    for frame in range(3):
        cache.put(f"k{frame}", entry(frame))
    folder = cache.spill_folder
    assert folder.is_dir()
    cache.close()
    assert not folder.exists()
    assert len(cache) == 0


def test_environment_budget(monkeypatch, tmp_path):
    monkeypatch.setenv("SEGMENTATION_FEATURE_CACHE_MB", "2")
    monkeypatch.setenv("SEGMENTATION_FEATURE_CACHE_DISK_MB", "0")
    cache = FeatureCache(spill_dir=tmp_path)
    assert cache.max_bytes == 2 << 20
    assert cache.max_disk_bytes == 0
