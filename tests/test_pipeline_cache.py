"""The mask cache: the epsilon overwrite rule, registry, streaming to disk, compaction."""

import numpy as np
import pytest

from SegmentationCore.pipeline.mask_cache import MaskCache
from SegmentationCore.pipeline.tracking import TrackingParams, merge_into_cache
from SegmentationCore.core.types import TrackedFrame


def paper_merge(cache, tracked_frame, params=None):
    """The paper's epsilon rule (these tests are about it; the default rule is ``guarded``)."""
    return merge_into_cache(cache, tracked_frame, params or TrackingParams(cache_rule="paper"))

SIZE = (40, 60)


def block(value, x0=10, x1=30, y0=10, y1=30):
    mask = np.zeros(SIZE, np.float32)
    mask[y0:y1, x0:x1] = value
    return mask


def tracked(frame, layers, scores=None):
    ids = sorted(layers)
    return TrackedFrame(frame, ids, np.stack([layers[i] for i in ids]), np.asarray(scores or [1.0] * len(ids), np.float32))


def cache_with_two_layers(**kwargs):
    cache = MaskCache(SIZE, **kwargs)
    cache.new_layer("person", 0)
    cache.new_layer("person", 0)
    return cache


def test_a_new_prediction_must_beat_the_cache_by_epsilon():
    cache = cache_with_two_layers()
    paper_merge(cache, tracked(0, {1: block(0.8)}))
    paper_merge(cache, tracked(0, {2: block(0.85)}))  # better, but by less than 0.1
    assert set(np.unique(cache.id_map(0)[10:30, 10:30])) == {1}
    paper_merge(cache, tracked(0, {2: block(0.95, x1=20)}))  # better by 0.15 on half of it
    ids = cache.id_map(0)
    assert (ids[10:30, 10:20] == 2).all() and (ids[10:30, 20:30] == 1).all()
    assert cache.probability_map(0)[15, 15] == pytest.approx(0.95, abs=1 / 255)


def test_without_epsilon_the_slightly_better_prediction_wins():
    cache = cache_with_two_layers()
    params = TrackingParams(epsilon=0.0, cache_rule="paper")
    paper_merge(cache, tracked(0, {1: block(0.8)}), params)
    paper_merge(cache, tracked(0, {2: block(0.85)}), params)
    assert set(np.unique(cache.id_map(0)[10:30, 10:30])) == {2}


def test_a_weaker_prediction_never_erases_the_cache():
    cache = cache_with_two_layers()
    paper_merge(cache, tracked(0, {1: block(0.9)}))
    paper_merge(cache, tracked(0, {1: block(0.2)}))
    assert cache.layer_mask(0, 1)[15, 15] == pytest.approx(0.9, abs=1 / 255)


def test_empty_pixels_take_any_prediction_of_at_least_epsilon():
    cache = cache_with_two_layers()
    paper_merge(cache, tracked(0, {1: block(0.05, x1=20) + block(0.3, x0=20)}))
    ids = cache.id_map(0)
    assert (ids[10:30, 10:20] == 0).all() and (ids[10:30, 20:30] == 1).all()


def test_objects_reported_invisible_are_not_merged():
    cache = cache_with_two_layers()
    assert paper_merge(cache, tracked(0, {1: block(1.0)}, scores=[-0.5])) == 0
    assert not cache.layer_areas(0)


def test_overlapping_predictions_give_the_pixel_to_the_most_probable_object():
    cache = cache_with_two_layers()
    paper_merge(cache, tracked(0, {1: block(0.6, x1=25), 2: block(0.9, x0=20)}))
    ids = cache.id_map(0)
    assert ids[15, 15] == 1 and ids[15, 22] == 2 and ids[15, 28] == 2


def test_unregistered_layers_are_refused():
    cache = MaskCache(SIZE)
    with pytest.raises(ValueError, match="not registered"):
        cache.apply(0, (block(1) > 0).astype(np.uint16) * 3, block(1), 0.1)


def test_registry_names_are_stable_per_class():
    cache = MaskCache(SIZE)
    proposed = cache.propose_layers(["person", "car", "person"], 5)
    assert [p.name for p in proposed] == ["/person/person_0001", "/car/car_0001", "/person/person_0002"]
    assert cache.layer_ids == []  # proposing registers nothing
    cache.add_layers(proposed)
    assert cache.new_layer("red car").name == "/red_car/red_car_0001"
    assert cache.new_layer("person").name == "/person/person_0003"
    with pytest.raises(ValueError):
        cache.add_layers([proposed[0].__class__(99, "/person/person_0001", "person")])


def test_layers_for_writing_are_named_probabilities():
    cache = cache_with_two_layers()
    paper_merge(cache, tracked(3, {1: block(0.8, x1=20), 2: block(1.0, x0=20)}))
    layers = cache.layers(3)
    assert sorted(layers) == ["/person/person_0001", "/person/person_0002"]
    assert layers["/person/person_0001"].dtype == np.float32
    assert layers["/person/person_0001"][15, 15] == pytest.approx(0.8, abs=1 / 255)
    assert layers["/person/person_0001"][15, 25] == 0
    assert cache.layers(4) == {}


def test_sixteen_bit_probabilities_are_finer():
    cache = MaskCache(SIZE, probability_bits=16)
    cache.new_layer("person")
    paper_merge(cache, tracked(0, {1: block(0.123456)}))
    assert cache.probability_map(0)[15, 15] == pytest.approx(0.123456, abs=1e-4)


def test_a_disk_backed_cache_streams_frames_and_reloads(tmp_path):
    cache = cache_with_two_layers(directory=tmp_path / "cache", max_resident=3)
    for frame in range(20):
        paper_merge(cache, tracked(frame, {1 + frame % 2: block(0.7, x0=frame, x1=frame + 10)}))
        assert len(cache.resident_frames()) <= 3
    cache.flush()
    again = MaskCache.load(tmp_path / "cache", max_resident=2)
    assert again.frames == list(range(20))
    assert again.names() == cache.names()
    for frame in (0, 7, 19):
        np.testing.assert_array_equal(again.id_map(frame), cache.id_map(frame))
    assert len(again.resident_frames()) <= 2
    assert not list((tmp_path / "cache").rglob(".*tmp*"))


def test_pixels_of_uncommitted_layers_are_ignored_after_a_crash(tmp_path):
    cache = cache_with_two_layers(directory=tmp_path / "c", max_resident=1)
    cache.flush()  # registry knows layers 1 and 2
    cache.new_layer("person")  # layer 3: never committed
    paper_merge(cache, tracked(0, {3: block(1.0)}))
    paper_merge(cache, tracked(1, {1: block(1.0)}))  # evicts frame 0 to disk
    reloaded = MaskCache.load(tmp_path / "c")
    assert reloaded.layer_ids == [1, 2]
    assert reloaded.layer_areas(0) == {}


def test_compact_drops_empty_and_tiny_layers_and_renumbers(tmp_path):
    cache = MaskCache(SIZE)
    for _ in range(4):
        cache.new_layer("person")
    paper_merge(cache, tracked(0, {2: block(1.0), 4: block(1.0, x0=40, x1=42, y0=0, y1=2)}))
    paper_merge(cache, tracked(1, {4: block(1.0, x0=40, x1=42, y0=0, y1=2)}))
    mapping = cache.compact(min_area=16)
    assert mapping == {2: 1}
    assert cache.names() == {1: "/person/person_0002"}
    assert set(np.unique(cache.id_map(0))) == {0, 1}
    assert cache.layer_areas(1) == {}
