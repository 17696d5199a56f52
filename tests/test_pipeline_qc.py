"""Quality control (pipeline/qc.py): data collected while tracking, events,
ranked flags with reasons, the summary in the work folder and the EXR headers."""

import io
import json

import numpy as np
import pytest

from SegmentationCore import cli, synthetic
from SegmentationCore.core import errors
from SegmentationCore.idmatte import cryptomatte, exr_header
from SegmentationCore.pipeline import qc, stage2, tracking
from SegmentationCore.pipeline.mask_cache import MaskCache

SIZE = (108, 192)


class HiddenView(synthetic.SyntheticShot):
    """The backends' view of a shot in which one object vanishes for a span."""

    def __init__(self, spec, size, hidden, first, last):
        super().__init__(spec, size=size)
        self.hidden, self.first, self.last = hidden, first, last

    def gt_masks(self, frame, size=None, include_empty=False):
        masks = dict(super().gt_masks(frame, size, include_empty))
        if self.first <= frame <= self.last:
            masks.pop(self.hidden, None)
        return masks


def _spec():
    return synthetic.ObjectSpec, synthetic.ShotSpec(
        width=384, height=216, num_frames=20, objects=[
            synthetic.ObjectSpec(start=(0.4, 0.5), radius=(0.12, 0.25), velocity=(0.004, 0.0), colour=(0.9, 0.2, 0.2)),
            synthetic.ObjectSpec(start=(1.3, 0.5), radius=(0.12, 0.25), velocity=(-0.003, 0.0), colour=(0.2, 0.3, 0.9)),
        ],
    )


def _track(view, truth, folder=None):
    detector, segmenter, tracker = synthetic.make_backends(view, "none")
    params = tracking.TrackingParams()
    results = {f: stage2.segment_frame(segmenter, truth, f, detector.detect(truth, f, ["person"])) for f in tracking.stage2_frames(truth.frame_numbers, params)}
    cache = MaskCache(truth.size)
    _, recorder = qc.track_with_qc(tracker, truth, cache, results, params, folder=folder)
    cache.compact(min_area=params.min_layer_area)
    return cache, recorder


def test_a_lost_object_is_flagged_with_its_frames_and_the_tracker_score(tmp_path):
    _, spec = _spec()
    truth = synthetic.SyntheticShot(spec, size=SIZE)
    view = HiddenView(spec, SIZE, 0, 1008, 1011)
    cache, recorder = _track(view, truth, tmp_path / "qc")
    summary = qc.summarise(cache, truth.frame_numbers, recorder.records())
    lost = [f for f in summary["flags"] if f["kind"] == qc.LOST]
    assert len(lost) == 1, summary["flags"]
    flag = lost[0]
    assert (flag["first"], flag["last"]) == (1008, 1011)
    assert flag["reason"] == "lost on 1008\u20131011 (object score < 0)"
    assert flag["text"].startswith(flag["layer"] + ": lost on")
    assert summary["flags"][0] == flag  # nothing else outranks it on this shot
    series = summary["layers"][flag["layer"]]["series"]
    index = truth.frame_numbers.index(1009)
    assert series["area"][index] == 0 and series["score"][index] <= 0
    kinds = {(e["kind"], e["frame"]) for e in summary["events"] if e["layer"] == flag["layer"]}
    assert ("disappears", 1008) in kinds and ("reappears", 1012) in kinds
    # the per-window files were written while tracking and read back the same
    assert sorted(p.name for p in (tmp_path / "qc").glob("*.npz"))[0].startswith("backward-")
    again = qc.summarise(cache, truth.frame_numbers, qc.load_records(tmp_path / "qc"))
    assert again == summary


def test_a_clean_shot_has_no_flags():
    _, spec = _spec()
    truth = synthetic.SyntheticShot(spec, size=SIZE)
    cache, recorder = _track(truth, truth)
    summary = qc.summarise(cache, truth.frame_numbers, recorder.records())
    assert summary["flags"] == []
    assert summary["live_data"]
    for layer in summary["layers"].values():
        values = [c for c in layer["series"]["confidence"] if c is not None]
        assert values and min(values) > 0.8
        assert any(v is not None for v in layer["series"]["stage2"])  # agreement recorded at re-prompt frames
        assert any(v is not None for v in layer["series"]["fb"])  # both passes measured


def _cache_from(frames):
    """A cache from ``{frame: {layer id: (row0, row1, col0, col1)}}`` boxes."""
    cache = MaskCache((40, 60))
    names = sorted({i for boxes in frames.values() for i in boxes})
    cache.add_layers(cache.propose_layers(["person"] * len(names)))
    for frame, boxes in frames.items():
        ids = np.zeros((40, 60), np.uint16)
        for layer, (r0, r1, c0, c1) in boxes.items():
            ids[r0:r1, c0:c1] = layer
        cache.set_frame(frame, ids, (ids > 0).astype(np.float32))
    return cache


def test_merge_split_identity_jump_and_short_lived_events():
    a, b = (5, 25, 5, 15), (5, 25, 17, 27)
    frames = {}
    for f in range(10):
        frames[f] = {1: a, 2: b}
    frames[4] = {1: (5, 25, 5, 27)}  # 1 swallows 2
    frames[5] = {1: a, 2: b}  # 2 comes back out of 1: a split
    frames[7] = {1: (5, 25, 40, 50), 2: b}  # 1 jumps far away
    cache = _cache_from(frames)
    cache.add_layers(cache.propose_layers(["person"]))
    for f in (8, 9):  # layer 3 takes over 2's pixels as 2 ends: an identity change, and it is short-lived
        ids = cache.id_map(f).copy()
        ids[ids == 2] = 3
        cache.set_frame(f, ids, (ids > 0).astype(np.float32))
    summary = qc.summarise(cache, list(range(10)), thresholds=qc.QcThresholds(min_area=4))
    found = {(f["kind"], f["layer"], f["first"]) for f in summary["flags"]}
    names = cache.names()
    assert (qc.MERGE, names[1], 4) in found
    assert (qc.LOST, names[2], 4) in found
    assert (qc.SPLIT, names[2], 5) in found
    jump = next(f for f in summary["flags"] if f["kind"] == qc.JUMP)
    assert (jump["layer"], jump["first"], jump["last"]) == (names[1], 7, 8)  # away and back: one span
    assert (qc.IDENTITY, names[3], 8) in found
    assert (qc.SHORT_LIVED, names[3], 8) in found
    assert (qc.MERGE, names[3], 8) not in found  # a new layer taking over is an identity change, not a merge
    merge = next(f for f in summary["flags"] if f["kind"] == qc.MERGE)
    assert merge["others"] == [names[2]] and "swallowed" in merge["reason"]
    ranks = [f["rank"] for f in summary["flags"]]
    assert ranks == sorted(ranks, reverse=True)
    assert summary["flags"][0]["kind"] in (qc.LOST, qc.IDENTITY)


def test_an_occlusion_is_not_a_merge():
    frames = {f: {1: (5, 25, 5, 15), 2: (5, 25, 20, 30)} for f in range(6)}
    frames[3] = {1: (5, 25, 5, 15), 2: (5, 25, 20, 30)}
    cache = _cache_from(frames)
    ids = cache.id_map(3).copy()  # layer 2 hides behind layer 1, which keeps its size: 1 now covers where 2 was
    ids[:] = 0
    ids[5:25, 18:28] = 1
    cache.set_frame(3, ids, (ids > 0).astype(np.float32))
    summary = qc.summarise(cache, list(range(6)), thresholds=qc.QcThresholds(min_area=4))
    assert not [f for f in summary["flags"] if f["kind"] == qc.MERGE]


def test_header_digest_is_compact_json_with_the_frame():
    summary = {
        "frames": [1, 2, 3], "layers": {"/a/a_0001": {"series": {"confidence": [1.0, 0.2, None]}}},
        "flags": [{"layer": "/a/a_0001", "kind": "lost", "first": 2, "last": 3, "rank": 0.9}],
    }
    digest = json.loads(qc.header_summary(summary, 2))
    assert digest["flags"] == 1 and digest["kinds"] == {"lost": 1}
    assert digest["here"] == ["/a/a_0001"] and digest["confidence"] == {"/a/a_0001": 0.2}
    assert json.loads(qc.header_summary(summary, 1))["here"] == []


def test_no_extra_metadata_under_the_cryptomatte_prefix():
    with pytest.raises(errors.OutputError, match="cryptomatte/"):
        cryptomatte.CryptomatteBandWriter(io.BytesIO(), ["/a"], 4, 4, metadata={"cryptomatte/x": "1"})


def test_autoseg_run_writes_the_summary_and_the_headers(tmp_path):
    _, spec = _spec()
    spec.num_frames = 10
    shot = synthetic.SyntheticShot(spec)
    shot.write_plate(tmp_path / "plate", "shot", "exr")
    spec.save(tmp_path / "shot.json")
    code = cli.main([
        "run", str(tmp_path / "plate" / "shot.####.exr"), "-o", str(tmp_path / "out"), "--synthetic", str(tmp_path / "shot.json"),
        "--progress", "none", "--max-size", "192", "--no-refine-edges",
    ], io.StringIO(), io.StringIO())
    assert code == 0
    work = tmp_path / "out" / ".autoseg" / "shot"
    summary = qc.read_summary(work)
    assert summary["live_data"] and set(summary["layers"]) == {"/person/person_0001", "/person/person_0002"}
    assert list((work / "track" / "qc").glob("forward-*.npz"))
    for kind in ("objectid", "crypto"):
        header, _ = exr_header.read_header(str(tmp_path / "out" / f"shot.{kind}.1005.exr"))
        digest = json.loads(header.value(qc.HEADER_ATTRIBUTE))
        assert digest["frame"] == 1005 and digest["layers"] == 2
        assert set(digest["confidence"]) == set(summary["layers"])
        crypto_keys = {k.split("/")[-1] for k in header.attributes if k.startswith("cryptomatte/")}
        assert crypto_keys <= {"name", "hash", "conversion", "manifest"}


def test_a_layer_that_comes_back_under_a_new_name_and_one_lost_inside_the_frame():
    frames = {f: {1: (10, 30, 10, 20), 2: (10, 30, 35, 45)} for f in range(12)}
    for f in range(4, 12):
        del frames[f][1]  # layer 1 ends at frame 3 ...
    for f in range(7, 12):
        frames[f][3] = (10, 30, 12, 22)  # ... and layer 3 starts near where it was, 3 frames later
    for f in range(9, 12):
        del frames[f][2]  # layer 2 vanishes in the middle of the picture
    cache = _cache_from(frames)
    summary = qc.summarise(cache, list(range(12)), thresholds=qc.QcThresholds(min_area=4))
    names = cache.names()
    identity = [f for f in summary["flags"] if f["kind"] == qc.IDENTITY]
    assert [(f["layer"], f["first"], f["others"]) for f in identity] == [(names[3], 7, [names[1]])]
    assert "ended 4 frame(s) before" in identity[0]["reason"]
    lost = {(f["layer"], f["first"], f["last"]) for f in summary["flags"] if f["kind"] == qc.LOST}
    assert (names[2], 9, 11) in lost and (names[1], 4, 11) in lost


def test_a_layer_leaving_through_the_border_is_not_lost():
    frames = {f: {1: (10, 30, 0, 8 + f)} for f in range(4)}  # touches the left edge
    frames.update({f: {} for f in range(4, 8)})
    frames[7] = {2: (5, 10, 30, 40)}
    cache = _cache_from(frames)
    summary = qc.summarise(cache, list(range(8)), thresholds=qc.QcThresholds(min_area=4, short_lived_frames=1))
    assert not [f for f in summary["flags"] if f["kind"] == qc.LOST and f["layer"] == cache.names()[1]]


def test_an_interrupted_track_stage_resumes_with_the_same_qc(tmp_path, monkeypatch):
    """The per-window records are files: a track stage killed after a few
    windows and rerun ends with the summary of an uninterrupted run."""
    from SegmentationCore.synthetic import backends as synthetic_backends

    _, spec = _spec()
    spec.num_frames = 16
    synthetic.SyntheticShot(spec).write_plate(tmp_path / "plate", "shot", "exr")
    spec.save(tmp_path / "shot.json")

    def run(out, *extra):
        return cli.main([
            "run", str(tmp_path / "plate" / "shot.####.exr"), "-o", str(tmp_path / out), "--synthetic", str(tmp_path / "shot.json"),
            "--synthetic-faults", "faulty", "--progress", "none", "--max-size", "192", "--no-refine-edges", *extra,
        ], io.StringIO(), io.StringIO())

    assert run("whole") == 0
    assert run("resumed", "--stage", "detect,segment") == 0
    original = synthetic_backends.SyntheticTracker.track
    calls = []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(synthetic_backends.SyntheticTracker, "track", interrupted)
    assert run("resumed", "--stage", "track") != 0
    work = tmp_path / "resumed" / ".autoseg" / "shot"
    assert len(list((work / "track" / "qc").glob("*.npz"))) == 3 and not (work / qc.QC_FILE).exists()
    monkeypatch.setattr(synthetic_backends.SyntheticTracker, "track", original)
    assert run("resumed") == 0
    assert qc.read_summary(work) == qc.read_summary(tmp_path / "whole" / ".autoseg" / "shot")


def test_stage2_agreement_leaves_out_layers_re_identified_by_appearance():
    # a layer re-identified by appearance was lost: there is no track to agree
    # with, and an agreement of 0 would read as a bad track
    cache = MaskCache(SIZE)
    for _ in range(3):
        cache.new_layer("person", 0)
    matches = tracking.Matches(1005, [
        tracking.Match(0, tracking.DIRECT, 1, iou=0.95),
        tracking.Match(1, tracking.REIDENTIFIED, 2, iou=0.0, sim=0.93),  # by appearance
        tracking.Match(2, tracking.REIDENTIFIED, 3, iou=0.6),  # by position
    ], stage2=stage2.cleanup_masks(np.ones((1,) + SIZE, np.float32), ["person"], np.ones(1), stage2.Stage2Params(), 1005))
    recorder = qc.QcRecorder(cache)
    recorder.end_window("forward", 0, matches)
    (record,) = recorder.records()
    assert [(name, value) for name, _, value in record["agreement"]] == [("/person/person_0001", 0.95), ("/person/person_0003", 0.6)]
