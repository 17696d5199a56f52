"""The guarded rule's appearance evidence: colour histograms of layers
(pipeline/appearance.py) deciding parts and re-identification."""

import numpy as np
import pytest

from SegmentationCore.pipeline import appearance, stage2, tracking
from SegmentationCore.pipeline.mask_cache import MaskCache
from SegmentationCore.pipeline.tracking import TrackingParams

SIZE = (16, 48)
RED, BLUE, GREEN = (0.85, 0.25, 0.2), (0.2, 0.55, 0.85), (0.3, 0.75, 0.3)


def band(x0, x1):
    mask = np.zeros(SIZE, np.float32)
    mask[:, x0:x1] = 1.0
    return mask


def image_with(*regions):
    """A grey frame with ``(x0, x1, colour)`` bands painted in, a little texture."""
    image = np.full(SIZE + (3,), 0.5, np.float32)
    for x0, x1, colour in regions:
        image[:, x0:x1] = colour
    image *= 1.0 + 0.05 * np.sin(np.arange(SIZE[1]))[None, :, None]
    return np.clip(image, 0, 1)


def stage2_result(frame, masks):
    return stage2.cleanup_masks(np.stack(masks), ["person"] * len(masks), np.ones(len(masks)),
                                stage2.Stage2Params(discard_sim=2.0, merge_sim=2.0), frame)


def match(cache, frame, masks, image, **extra):
    params = TrackingParams(cache_rule="guarded", **extra)
    matches = tracking.match_stage2(cache, frame, stage2_result(frame, masks), params, image=image)
    cache.add_layers(matches.new_layers)
    cache.update_appearance(matches.looks)
    return [(m.kind, m.layer_id) for m in matches.entries], matches


# ---------------------------------------------------------------- descriptors


def test_a_histogram_tells_colours_apart_and_needs_enough_pixels():
    image = image_with((0, 8, RED), (8, 16, BLUE), (16, 24, RED))
    red, blue, red_again = (appearance.colour_histogram(image, band(a, b) > 0) for a, b in ((0, 8), (8, 16), (16, 24)))
    assert red.sum() == pytest.approx(1.0)
    assert appearance.similarity(red, red_again) > 0.95
    assert appearance.similarity(red, blue) < 0.05
    tiny = np.zeros(SIZE, bool)
    tiny[0, :appearance.MIN_PIXELS - 1] = True
    assert appearance.colour_histogram(image, tiny) is None and appearance.similarity(red, None) is None
    with pytest.raises(ValueError, match="does not fit"):
        appearance.colour_histogram(image, np.ones((4, 4), bool))


def test_a_layers_appearance_blends_fresh_looks_and_survives_save_load_and_compaction(tmp_path):
    image = image_with((0, 8, RED), (8, 16, BLUE))
    red, blue = appearance.colour_histogram(image, band(0, 8) > 0), appearance.colour_histogram(image, band(8, 16) > 0)
    cache = MaskCache(SIZE)
    for _ in range(3):
        cache.new_layer("person", 0)
    cache.update_appearance({2: red, 3: red})
    cache.update_appearance({3: blue})
    assert appearance.similarity(cache.appearance(3), red) == pytest.approx(np.sqrt(0.5), abs=0.01)  # half red, half blue
    with pytest.raises(ValueError, match="does not know"):
        cache.update_appearance({9: red})
    cache.apply(0, np.where(band(0, 8) > 0, 2, 0).astype(np.uint16), band(0, 8), 0.1)
    cache.apply(1, np.where(band(8, 16) > 0, 3, 0).astype(np.uint16), band(8, 16), 0.1)
    cache.save(tmp_path / "cache")
    loaded = MaskCache.load(tmp_path / "cache")
    assert loaded.appearance(1) is None
    assert appearance.similarity(loaded.appearance(2), red) > 0.999
    assert loaded.compact() == {2: 1, 3: 2}  # layer 1 never had pixels
    assert appearance.similarity(loaded.appearance(1), red) > 0.999 and loaded.appearance(3) is None


# ---------------------------------------------------------------- decisions


def lost_layers(colours, seen=(0, 1, 2)):
    """A cache whose layers 1..n (each ``colours[i]``) were seen on ``seen`` frames, then lost."""
    cache = MaskCache(SIZE)
    regions = [(4 + 12 * i, 12 + 12 * i, colour) for i, colour in enumerate(colours)]
    masks = [band(a, b) for a, b, _ in regions]
    for frame in seen:
        if frame != seen[0]:
            track(cache, frame, masks)  # the tracker got there first
        kinds, _ = match(cache, frame, masks, image_with(*regions))
        assert kinds == [("new" if frame == seen[0] else "direct", i + 1) for i in range(len(colours))]
        track(cache, frame, masks)
    return cache


def track(cache, frame, masks):
    """Write layers 1..n on ``frame`` as a tracked frame would."""
    cache.apply_recent(frame, list(range(1, len(masks) + 1)), np.stack(masks), [1.0] * len(masks), 0.1)


def test_an_object_back_after_a_long_absence_continues_the_layer_it_looks_like():
    cache = lost_layers([RED, BLUE])
    # frame 40: beyond any window, somewhere else: a blue object and a green one
    frame_40 = image_with((30, 38, BLUE), (4, 12, GREEN))
    kinds, matches = match(cache, 40, [band(30, 38), band(4, 12)], frame_40)
    assert kinds == [("reidentified", 2), ("new", 3)]
    assert "by appearance" in matches.entries[0].reason
    # the same frame without the image (paper-era callers): nothing to go on, a new layer
    cache = lost_layers([RED, BLUE])
    params = TrackingParams(cache_rule="guarded")
    matches = tracking.match_stage2(cache, 40, stage2_result(40, [band(30, 38)]), params)
    assert [(m.kind, m.layer_id) for m in matches.entries] == [("new", 3)]


def test_in_a_crowd_of_lookalikes_appearance_guesses_nothing():
    cache = lost_layers([RED, RED])
    kinds, _ = match(cache, 40, [band(30, 38)], image_with((30, 38, RED)))
    assert kinds == [("new", 3)]
    # with the margin off it would have picked one of them
    cache = lost_layers([RED, RED])
    kinds, _ = match(cache, 40, [band(30, 38)], image_with((30, 38, RED)), appearance_margin=0.0)
    assert kinds[0][0] == "reidentified"


def test_appearance_never_re_identifies_a_layer_present_on_the_frame():
    cache = lost_layers([RED], seen=(0, 1, 2, 40))  # layer 1 is on frame 40 (columns 4-11)
    kinds, _ = match(cache, 40, [band(30, 38)], image_with((4, 12, RED), (30, 38, RED)))
    assert kinds == [("new", 2)]


def test_re_identification_by_position_needs_a_mask_that_looks_like_the_layer():
    # layer 1 (red) moved right one column a frame on frames 0-2, then was lost;
    # on frame 5 a mask sits where it would be now
    for colour, expected in ((RED, ("reidentified", 1)), (BLUE, ("new", 2))):
        cache = MaskCache(SIZE)
        for frame in (0, 1, 2):
            match(cache, frame, [band(frame, frame + 8)], image_with((frame, frame + 8, RED)))
            track(cache, frame, [band(frame, frame + 8)])
        kinds, _ = match(cache, 5, [band(5, 13)], image_with((5, 13, colour)))
        assert kinds == [expected], colour


def test_a_second_mask_inside_a_layer_is_a_part_if_it_looks_like_the_layer_and_an_object_if_not():
    for colour, second in ((RED, ("part", 1)), (BLUE, ("new", 2))):
        cache = MaskCache(SIZE)
        match(cache, 0, [band(4, 20)], image_with((4, 20, RED)))
        # frame 5: the layer (drifted to columns 4-29) holds the object (4-19) and a second mask (20-29)
        cache.apply_recent(5, [1], band(4, 30)[None], [3.0], 0.1)
        image = image_with((4, 20, RED), (20, 30, colour))
        kinds, matches = match(cache, 5, [band(4, 20), band(20, 30)], image)
        assert kinds == [("partial", 1), second], colour
    assert "part of layer 1" in matches_part_reason()


def matches_part_reason():
    cache = MaskCache(SIZE)
    match(cache, 0, [band(4, 20)], image_with((4, 20, RED)))
    cache.apply_recent(5, [1], band(4, 30)[None], [3.0], 0.1)
    _, matches = match(cache, 5, [band(4, 20), band(20, 30)], image_with((4, 30, RED)))
    return matches.entries[1].reason


class StillTracker:
    """Tracks every prompt as a still mask (enough to run a pass)."""

    def track(self, frames, prompts, order):
        from SegmentationCore.core.types import TrackedFrame
        start = prompts[order[0]]
        ids = sorted(start)
        masks = np.stack([start[i].mask for i in ids])
        for frame in order:
            yield TrackedFrame(frame, ids, masks, np.ones(len(ids)))


class Frames:
    frame_numbers = list(range(12))
    size = SIZE

    def image(self, frame):
        return image_with((4, 12, RED))

    def cache_key(self, frame):
        return f"appearance-test@{frame}"


def test_a_pass_learns_each_layers_look_from_fresh_stage2_masks_under_the_guarded_rule_only():
    results = {f: stage2_result(f, [band(4, 12)]) for f in Frames.frame_numbers}
    red = appearance.colour_histogram(image_with((4, 12, RED)), band(4, 12) > 0)
    for rule, learnt in (("guarded", True), ("paper", False), ("recent", False)):
        cache = MaskCache(SIZE)
        tracking.run_pass(StillTracker(), Frames(), cache, results, TrackingParams(cache_rule=rule, backward=False))
        assert cache.layer_ids == [1]
        assert (cache.appearance(1) is not None) == learnt, rule
        if learnt:
            assert appearance.similarity(cache.appearance(1), red) > 0.999


def test_appearance_thresholds_are_similarities():
    with pytest.raises(ValueError, match="appearance_gate is a colour-histogram similarity"):
        TrackingParams(appearance_gate=1.5).validate()


def test_a_layer_learns_its_look_only_from_a_mask_that_is_surely_its_own():
    # a partial match (a blob of the red object and a blue neighbour) teaches the red layer nothing
    cache = MaskCache(SIZE)
    match(cache, 0, [band(4, 20)], image_with((4, 20, RED)))
    red = cache.appearance(1)
    track(cache, 5, [band(4, 20)])
    kinds, _ = match(cache, 5, [band(4, 30)], image_with((4, 20, RED), (20, 30, BLUE)))
    assert kinds == [("partial", 1)]
    assert appearance.similarity(cache.appearance(1), red) > 0.999
