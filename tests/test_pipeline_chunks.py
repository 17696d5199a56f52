"""Chunked tracking: cutting, reconcile, the work-folder stages, batches and resume after a kill."""

import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from SegmentationCore import cli, synthetic
from SegmentationCore.idmatte import mattefilter
from SegmentationCore.pipeline import appearance, chunks, metrics, stage2, tracking
from SegmentationCore.pipeline.mask_cache import LayerInfo, MaskCache
from SegmentationCore.pipeline.runner import Pipeline, RunConfig

ROOT = pathlib.Path(__file__).resolve().parents[1]
FRAMES = 60


# ---------------------------------------------------------------------------- cutting


@pytest.mark.parametrize("count,n,overlap,step", [(60, 3, 20, 5), (240, 8, 20, 5), (101, 4, 7, 3), (30, 2, 1, 1), (57, 5, 10, 5)])
def test_chunks_cover_the_shot_own_each_frame_once_and_overlap(count, n, overlap, step):
    frames = list(range(1001, 1001 + count))
    parts = chunks.chunk_ranges(frames, n, overlap, step)
    assert len(parts) == n
    owned = [f for p in parts for f in p.owned]
    assert owned == frames  # every frame owned once, in order
    for p in parts:
        assert set(p.owned) <= set(p.frames) and list(p.frames) == sorted(p.frames)
        assert (frames.index(p.frames[0])) % step == 0  # on the forward re-prompt grid
        assert (count - 1 - frames.index(p.frames[-1])) % step == 0  # on the backward grid
    for a, b in zip(parts, parts[1:]):
        assert len(set(a.frames) & set(b.frames)) >= overlap
        assert a.owned[-1] + 1 == b.owned[0]


def test_chunked_stage2_frames_are_the_whole_shots():
    """Chunking never needs detect/segment on other frames than the whole shot."""
    params = tracking.TrackingParams()
    frames = list(range(1001, 1001 + 233))
    whole = set(tracking.stage2_frames(frames, params))
    for n in (2, 3, 7):
        for part in chunks.chunk_ranges(frames, n, params.window, params.reprompt_every):
            assert set(tracking.stage2_frames(part.frames, params)) <= whole


def test_bad_chunkings_are_refused():
    frames = list(range(20))
    with pytest.raises(ValueError, match="at most 4 chunks"):
        chunks.chunk_ranges(frames, 5, 5, 5)
    with pytest.raises(ValueError, match="overlap"):
        chunks.chunk_ranges(frames, 2, 0, 5)
    with pytest.raises(ValueError, match="i/n"):
        chunks.parse_chunk("2of4")
    with pytest.raises(ValueError, match="0..3"):
        chunks.parse_chunk("4/4")
    assert chunks.parse_chunk("3/4") == (3, 4)


# ---------------------------------------------------------------------------- reconcile


def _disc(size, cy, cx, r=6):
    yy, xx = np.mgrid[:size[0], :size[1]]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r)


def _paint(cache, frame, objects):
    ids = np.zeros(cache.size, np.uint16)
    probs = np.zeros(cache.size, np.float32)
    for layer_id, mask in objects.items():
        ids[mask] = layer_id
        probs[mask] = 0.9
    cache.set_frame(frame, ids, probs)


def test_reconcile_keeps_one_layer_for_an_object_crossing_a_boundary():
    """Object A (moving right) is in both chunks under different chunk ids;
    object B only appears in chunk 1; names follow (chunk, creation) order."""
    size = (40, 80)
    frames = list(range(1, 31))
    parts = chunks.chunk_ranges(frames, 2, 10, 1)
    first, second = MaskCache(size), MaskCache(size)
    first.add_layers([LayerInfo(1, "/person/person_0001", "person", 1), LayerInfo(2, "/person/person_0002", "person", 1)])
    # chunk 1 numbers its layers the other way round: B first, then A
    second.add_layers([LayerInfo(1, "/person/person_0001", "person", 18), LayerInfo(2, "/person/person_0002", "person", parts[1].frames[0])])
    for f in parts[0].frames:
        _paint(first, f, {1: _disc(size, 20, 5 + 2 * f), 2: _disc(size, 8, 70)})
    for f in parts[1].frames:
        objects = {2: _disc(size, 20, 5 + 2 * f)}
        if f >= 18:
            objects[1] = _disc(size, 32, 10)
        _paint(second, f, objects)
    target = MaskCache(size)
    summary = chunks.reconcile(parts, [first, second], target, min_area=4)
    assert summary["boundaries"][0]["matched"][0][:2] == [1, 2]
    names = target.names()
    assert sorted(names.values()) == ["/person/person_0001", "/person/person_0002", "/person/person_0003"]
    a = {f: [n for n, m in target.layers(f).items() if (m >= 0.5)[20, 5 + 2 * f]] for f in frames if 5 + 2 * f < 80}
    assert {tuple(v) for v in a.values()} == {("/person/person_0001",)}  # one layer for A over the whole shot
    assert target.layers(25).keys() >= {"/person/person_0001", "/person/person_0003"}
    assert "/person/person_0003" not in target.layers(10)


def _look(colour):
    """A layer's appearance: the histogram of a flat ``colour`` patch."""
    image = np.ones((16, 16, 3), np.float32) * np.asarray(colour, np.float32)
    return appearance.colour_histogram(image, np.ones((16, 16), bool))


def test_reconcile_continues_a_layer_by_appearance_across_a_boundary_it_was_absent_from():
    """Object A leaves during chunk 0 and comes back in chunk 1, after the
    shared frames: no overlap to match, but it looks like A (the guarded
    rule's looks). Object C, also new in chunk 1, looks like nothing seen."""
    size = (40, 80)
    frames = list(range(1, 31))
    parts = chunks.chunk_ranges(frames, 2, 6, 1)
    red, blue, green = _look((0.85, 0.25, 0.2)), _look((0.2, 0.55, 0.85)), _look((0.3, 0.75, 0.3))

    def caches(b_look):
        first, second = MaskCache(size), MaskCache(size)
        first.add_layers([LayerInfo(1, "/person/person_0001", "person", 1), LayerInfo(2, "/person/person_0002", "person", 1)])
        first.update_appearance({1: red, 2: b_look})
        second.add_layers([LayerInfo(1, "/person/person_0001", "person", parts[1].frames[0]),
                           LayerInfo(2, "/person/person_0002", "person", 25), LayerInfo(3, "/person/person_0003", "person", 25)])
        second.update_appearance({1: b_look, 2: red, 3: green})
        for f in parts[0].frames:
            _paint(first, f, ({1: _disc(size, 20, 10)} if f <= 8 else {}) | {2: _disc(size, 8, 60)})
        for f in parts[1].frames:
            _paint(second, f, {1: _disc(size, 8, 60)} | ({2: _disc(size, 30, 30), 3: _disc(size, 30, 60)} if f >= 25 else {}))
        return first, second

    first, second = caches(blue)
    target = MaskCache(size)
    summary = chunks.reconcile(parts, [first, second], target, min_area=4)
    boundary = summary["boundaries"][0]
    assert [m[:2] for m in boundary["matched"]] == [[2, 1]]  # B by overlap
    assert [m[:2] for m in boundary["matched_by_appearance"]] == [[1, 2]]  # A by its look
    names = target.names()
    a_layer = {n for n, m in target.layers(5).items() if (m >= 0.5)[20, 10]}
    assert a_layer == {n for n, m in target.layers(27).items() if (m >= 0.5)[30, 30]} == {"/person/person_0001"}
    assert len(names) == 3  # A, B and C
    # lookalikes: B looks like A, so A's look has no margin and nothing is guessed
    first, second = caches(red)
    target = MaskCache(size)
    summary = chunks.reconcile(parts, [first, second], target, min_area=4)
    assert summary["boundaries"][0]["matched_by_appearance"] == [] and len(target.names()) == 4


def test_reconcile_matches_interactive_layers_by_name_and_keeps_phrases_apart():
    size = (30, 60)
    frames = list(range(1, 21))
    parts = chunks.chunk_ranges(frames, 2, 6, 1)
    caches = []
    for k, part in enumerate(parts):
        cache = MaskCache(size)
        cache.add_layers([LayerInfo(1, "/hero/hero_0001", "hero", 1, "interactive"), LayerInfo(2, f"/car/car_000{k + 1}", "car", part.frames[0])])
        for f in part.frames:
            # the interactive layer jumps between chunks (IoU 0), the car overlaps a dog-shaped layer
            _paint(cache, f, {1: _disc(size, 10, 10 + 30 * k), 2: _disc(size, 20, 40)})
        caches.append(cache)
    target = MaskCache(size)
    chunks.reconcile(parts, caches, target, min_area=4)
    assert sorted(target.names().values()) == ["/car/car_0001", "/hero/hero_0001"]
    assert target.layer(next(i for i, n in target.names().items() if n == "/hero/hero_0001")).source == "interactive"


def test_track_chunks_is_close_to_the_whole_shot_on_a_clean_shot():
    spec = synthetic.generate_shot(seed=4, num_frames=80, width=160, height=90, num_objects=3)
    shot = synthetic.SyntheticShot(spec)
    detector, segmenter, tracker = synthetic.make_backends(shot, "none")
    params = tracking.TrackingParams()
    results = {f: stage2.segment_frame(segmenter, shot, f, detector.detect(shot, f, ["person"])) for f in tracking.stage2_frames(shot.frame_numbers, params)}
    whole = MaskCache(shot.size)
    tracking.track_shot(tracker, shot, whole, results, params)
    whole.compact(min_area=params.min_layer_area)
    base = metrics.evaluate(shot.frame_numbers, whole.layers, shot.gt_masks)
    cache, summary = chunks.track_chunks(tracker, shot, results, params, 3)
    scores = metrics.evaluate(shot.frame_numbers, cache.layers, shot.gt_masks)
    assert scores.id_switches <= base.id_switches
    assert scores.jf >= base.jf - 0.01
    assert len(summary["boundaries"]) == 2 and all(b["matched"] for b in summary["boundaries"])


# ---------------------------------------------------------------------------- work folder


@pytest.fixture(scope="module")
def plate_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plate")
    spec = synthetic.generate_shot(seed=6, num_frames=FRAMES, width=160, height=90, num_objects=3)
    synthetic.SyntheticShot(spec).write_plate(folder, "shot", "exr")
    return folder


def _config(plate_dir, output, **extra):
    return RunConfig(plate=str(plate_dir / "shot.####.exr"), output=str(output), synthetic=str(plate_dir / "shot.shot.json"),
                     synthetic_faults="faulty", **extra)


def _mattes(folder):
    """ObjectId files byte for byte; Cryptomatte files as decoded layers (the
    writer orders equal-coverage ranks by Python's per-process string hash,
    so their bytes may differ between processes while the mattes do not)."""
    out = {}
    for path in sorted(pathlib.Path(folder).glob("*.exr")):
        if ".crypto." in path.name:
            out[path.name] = {k: np.asarray(v).tobytes() for k, v in sorted(mattefilter.read_layers(path).items())}
        else:
            out[path.name] = path.read_bytes()
    return out


@pytest.fixture(scope="module")
def chunked_reference(plate_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    Pipeline(_config(plate_dir, out, chunks=3)).run()
    return out


def test_chunked_stages_one_by_one_give_the_same_mattes_as_one_chunked_run(plate_dir, tmp_path, chunked_reference):
    out = tmp_path / "out"
    config = _config(plate_dir, out, chunks=3)
    Pipeline(config).run(["detect", "segment"])
    for i in (2, 0, 1):  # any order
        Pipeline(config).run(["track"], chunk=(i, 3))
    with pytest.raises(Exception, match="tracking has not finished"):
        Pipeline(config).run(["write"])
    summary = Pipeline(config).run(["reconcile"])["stages"]["reconcile"]
    assert summary["layers"] >= 3 and len(summary["boundaries"]) == 2
    for batch in (range(1031, 1061), range(1001, 1031)):
        Pipeline(config).run(["write"], frames=batch)
    assert _mattes(out) == _mattes(chunked_reference)
    state = (out / ".autoseg" / "shot" / "track" / "state.json").read_text()
    assert '"chunks": 3' in state


def test_reconcile_before_every_chunk_is_tracked_names_the_missing_chunks(plate_dir, tmp_path):
    config = _config(plate_dir, tmp_path / "out", chunks=2)
    Pipeline(config).run(["detect", "segment"])
    Pipeline(config).run(["track"], chunk=(0, 2))
    with pytest.raises(Exception, match=r"chunk\(s\) 1/2 not tracked"):
        Pipeline(config).run(["reconcile"])
    with pytest.raises(Exception, match="tracks in 2 chunk"):
        Pipeline(config).run(["track"], chunk=(0, 3))


def test_batches_only_do_their_frames(plate_dir, tmp_path):
    config = _config(plate_dir, tmp_path / "out")
    pipeline = Pipeline(config)
    needed = pipeline.stage2_frames()
    result = pipeline.run(["detect"], frames=range(1001, 1021))["stages"]["detect"]
    done = sorted(int(p.stem) for p in (pipeline.work / "detect").glob("*.json"))
    assert done == [f for f in needed if f <= 1020] and result["computed"] == len(done)
    with pytest.raises(Exception, match="run --stage detect first"):
        Pipeline(config).run(["segment"], frames=range(1021, 1041))
    with pytest.raises(Exception, match="not in the shot"):
        Pipeline(config).run(["detect"], frames=[1000, 1001])
    with pytest.raises(Exception, match="--force redoes whole stages"):
        Pipeline(_config(plate_dir, tmp_path / "out", force=True)).run(["detect"], frames=[1001])


def test_batches_in_concurrent_processes_give_the_plain_runs_mattes(plate_dir, tmp_path):
    """Two processes detect / segment / write disjoint batches of one work folder at the same time."""
    plain, out = tmp_path / "plain", tmp_path / "out"
    Pipeline(_config(plate_dir, plain)).run()
    base = ["run", str(plate_dir / "shot.####.exr"), "--output", str(out), "--synthetic", str(plate_dir / "shot.shot.json"),
            "--synthetic-faults", "faulty", "--progress", "none"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}

    def both(stage, batches):
        processes = [subprocess.Popen([sys.executable, "-m", "SegmentationCore.cli", *base, "--stage", stage, "--batch", b], env=env,
                                      stderr=subprocess.PIPE, text=True) for b in batches]
        for process in processes:
            assert process.wait() == 0, process.stderr.read()

    both("detect,segment", ["1001-1030", "1031-1060"])
    assert cli.main([*base, "--stage", "track"]) == 0
    both("write", ["1001-1030", "1031-1060"])
    assert _mattes(out) == _mattes(plain)


def test_a_killed_chunk_resumes_and_gives_identical_mattes(plate_dir, tmp_path, chunked_reference):
    """SIGKILL a chunk's tracking task mid-way; the rerun continues after the
    last finished window and the mattes are the uninterrupted run's."""
    out = tmp_path / "out"
    config = _config(plate_dir, out, chunks=3)
    Pipeline(config).run(["detect", "segment"])
    Pipeline(config).run(["track"], chunk=(0, 3))
    Pipeline(config).run(["track"], chunk=(2, 3))
    command = [sys.executable, "-m", "SegmentationCore.cli", "run", str(plate_dir / "shot.####.exr"), "--output", str(out),
               "--synthetic", str(plate_dir / "shot.shot.json"), "--synthetic-faults", "faulty", "--chunks", "3",
               "--stage", "track", "--chunk", "1/3", "--progress", "none"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}
    state = out / ".autoseg" / "shot" / "track" / "chunks" / "1" / "state.json"
    process = subprocess.Popen(command, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if state.is_file() and '"forward": 2' in state.read_text():
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the task finished before it could be killed"
    assert '"complete": true' not in state.read_text()
    result = Pipeline(config).run(["track"], chunk=(1, 3))["stages"]["track"]
    windows = len(tracking.reprompt_frames(chunks.chunk_ranges(list(range(1001, 1001 + FRAMES)), 3, 20, 5)[1].frames, tracking.TrackingParams()))
    assert 0 < result["windows"] <= 2 * windows - 2  # resumed after the finished windows, not started over
    Pipeline(config).run(["reconcile", "write"])
    assert _mattes(out) == _mattes(chunked_reference)
