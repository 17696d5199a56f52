"""Quality metrics: J, F, J&F with shot-level identity, ID switches."""

import itertools

import numpy as np
import pytest

from SegmentationCore.pipeline import metrics

SIZE = (80, 120)


def rect(x0, y0, x1, y1):
    mask = np.zeros(SIZE, np.float32)
    mask[y0:y1, x0:x1] = 1
    return mask


def walkers(frame):
    return {"a": rect(10 + frame, 10, 30 + frame, 60), "b": rect(70 - frame, 10, 90 - frame, 60)}


FRAMES = list(range(10))


def test_perfect_prediction_scores_one():
    scores = metrics.evaluate(FRAMES, lambda f: {f"/p/{k}": m for k, m in walkers(f).items()}, walkers)
    assert scores.j == scores.f == scores.jf == pytest.approx(1.0)
    assert scores.id_switches == 0 and scores.layers_per_object == 1 and scores.extra_layers == 0
    assert scores.objects["a"].layer == "/p/a"


def test_swapped_identities_halve_shot_level_jf_but_not_per_frame_quality():
    def swapped(frame):
        truth = walkers(frame)
        if frame < 5:
            return {"x": truth["a"], "y": truth["b"]}
        return {"x": truth["b"], "y": truth["a"]}

    scores = metrics.evaluate(FRAMES, swapped, walkers)
    assert scores.j == pytest.approx(0.5)
    assert scores.frame_jf == pytest.approx(1.0)
    assert scores.id_switches == 2 and scores.layers_per_object == 2


def test_a_missing_object_scores_zero_and_an_extra_layer_is_counted():
    def prediction(frame):
        return {"only_a": walkers(frame)["a"], "ghost": rect(100, 70, 110, 78)}

    scores = metrics.evaluate(FRAMES, prediction, walkers)
    assert scores.objects["b"].layer is None and scores.objects["b"].j == 0
    assert scores.j == pytest.approx(0.5)
    assert scores.extra_layers == 1


def test_frames_where_the_object_is_absent_count_only_if_the_layer_is_there():
    truth = lambda f: {"a": rect(10, 10, 30, 60)} if f < 5 else {}  # noqa: E731
    lingering = lambda f: {"x": rect(10, 10, 30, 60)}  # noqa: E731
    assert metrics.evaluate(FRAMES, lingering, truth).j == pytest.approx(0.5)
    leaving = lambda f: {"x": rect(10, 10, 30, 60)} if f < 5 else {}  # noqa: E731
    assert metrics.evaluate(FRAMES, leaving, truth).j == pytest.approx(1.0)


def test_region_and_boundary_measures():
    a = rect(20, 20, 60, 60)
    assert metrics.region_similarity(a, rect(20, 20, 60, 40)) == pytest.approx(0.5)
    assert metrics.region_similarity(np.zeros(SIZE), np.zeros(SIZE)) == 1.0
    assert metrics.boundary_f(a, a) == 1.0
    # a 1-pixel shift is inside the tolerance band (ceil(0.008 * 144) = 2 px), 6 px is not
    assert metrics.boundary_f(rect(21, 20, 61, 60), a) == 1.0
    assert metrics.boundary_f(rect(26, 20, 66, 60), a) < 0.6
    assert metrics.boundary_f(np.zeros(SIZE), a) == 0.0


def test_assignment_is_optimal():
    rng = np.random.default_rng(0)
    for _ in range(50):
        score = rng.random((4, 3)) * (rng.random((4, 3)) > 0.3)
        pairs = metrics.assign(score)
        best = max(
            sum(score[r, c] for r, c in zip(rows, range(3)))
            for rows in itertools.permutations(range(4), 3)
        )
        assert sum(score[r, c] for r, c in pairs) == pytest.approx(best)
