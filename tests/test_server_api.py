"""The browser tools' JSON API on synthetic shots (ground-truth backends):
shots and previews, the prompt test bench, click segmentation with
undo/redo, tracking jobs, prompt files and ObjectId/Cryptomatte output."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from SegmentationCore.idmatte import cryptomatte, objectid
from SegmentationCore.pipeline import interactive
from SegmentationCore import synthetic
from SegmentationCore.core.maskops import resize_bilinear
from SegmentationCore.server.imaging import decode_png_for_tests, to_uint8

import server_helpers as helpers
from server_helpers import EXR_SHOT, PNG_SHOT, Client, centre_of, decode_mask, iou

WORK = (360, 640)  # working size of the PNG shot (its plate size)


@pytest.fixture(scope="module")
def plates(tmp_path_factory):
    return helpers.write_plates(tmp_path_factory.mktemp("api") / "plates")


@pytest.fixture()
def server(plates, tmp_path):
    running = helpers.start(plates, tmp_path / "out")
    yield running
    helpers.stop(running)


@pytest.fixture()
def client(server):
    return Client(server)


def truth(size=WORK) -> synthetic.SyntheticShot:
    return synthetic.SyntheticShot(helpers.png_spec(), size=size)


def click_object(client, object_id, index, frame, positive=True, size=WORK, shot=PNG_SHOT, expect=200):
    x, y = centre_of(truth(size).gt_masks(frame)[index])
    return client.post("/api/click", {"shot": shot, "object": object_id, "frame": frame, "x": x, "y": y, "positive": positive}, expect=expect)


def mask_of(response, object_id):
    found = [m for m in response["masks"] if m["object"] == object_id]
    return (decode_mask(found[0]["mask"]), found[0]) if found else (None, None)


# -- shots and previews -------------------------------------------------------------------


def test_shots_and_frame_numbers(client):
    shots = {s["id"]: s for s in client.get_json("/api/shots")["shots"]}
    assert shots[PNG_SHOT]["frames"] == list(range(1001, 1013))
    assert shots[EXR_SHOT]["frames"] == list(range(1001, 1007))
    shot = client.get_json("/api/shot", shot=EXR_SHOT)
    assert shot["size"] == [180, 320] and shot["plate_size"] == [180, 320]


def test_linear_exr_plate_previews_as_srgb(client):
    status, headers, data = client.get("/api/frame", shot=EXR_SHOT, frame=1003)
    assert status == 200 and headers["Content-Type"] == "image/png"
    preview = decode_png_for_tests(data).astype(int)
    # The plate holds linear light; the preview must show the sRGB render again.
    expected = to_uint8(synthetic.SyntheticShot(helpers.exr_spec()).image(1003)).astype(int)
    assert preview.shape == expected.shape
    assert np.abs(preview - expected).max() <= 3
    linear = to_uint8(synthetic.srgb_to_linear(expected / 255.0)).astype(int)
    assert np.abs(preview - linear).mean() > 20  # a linear (unconverted) preview would be far darker


def test_jpeg_preview_and_bad_frames(client):
    status, headers, data = client.get("/api/frame", shot=PNG_SHOT, frame=1001, format="jpeg")
    assert status == 200 and headers["Content-Type"] == "image/jpeg" and data[:3] == b"\xff\xd8\xff"
    assert "Shot shot010" in client.get_json("/api/frame", expect=400, shot=PNG_SHOT, frame=999)["error"]
    assert client.get("/api/frame", shot=PNG_SHOT, frame="x")[0] == 400
    assert client.get("/api/frame", shot=PNG_SHOT, frame=1001, format="gif")[0] == 400


def test_working_resolution_follows_max_size(plates, tmp_path):
    server = helpers.start(plates, tmp_path / "out", max_size=320)
    try:
        shot = Client(server).get_json("/api/shot", shot=PNG_SHOT)
        assert shot["size"] == [180, 320] and shot["plate_size"] == [360, 640]
    finally:
        helpers.stop(server)


# -- prompt test bench ----------------------------------------------------------------------


def test_detect_finds_only_the_prompted_class(client):
    spec = helpers.exr_spec()
    shot = synthetic.SyntheticShot(spec, size=(180, 320))
    frame = 1003
    result = client.post("/api/detect", {"shot": EXR_SHOT, "frame": frame, "prompt": "Car."})
    assert result["phrases"] == ["car"]
    cars = [i for i, label in enumerate(shot.labels) if label == "car" and i in shot.gt_masks(frame)]
    assert [d["label"] for d in result["detections"]] == ["car"] * len(cars) and cars
    from SegmentationCore.core.maskops import bounding_box

    expected = bounding_box(shot.gt_masks(frame)[cars[0]])
    assert np.allclose(result["detections"][0]["box"], expected, atol=1.0)
    both = client.post("/api/detect", {"shot": EXR_SHOT, "frame": frame, "prompt": "person, car"})
    assert sorted({d["label"] for d in both["detections"]}) == sorted({shot.labels[i] for i in shot.gt_masks(frame)})
    assert client.post("/api/detect", {"shot": EXR_SHOT, "frame": frame, "prompt": " , . "}, expect=400)["error"]
    assert client.post("/api/detect", {"shot": EXR_SHOT, "frame": frame, "prompt": "car", "box_threshold": 0.9})["detections"] == []


@pytest.fixture()
def faulty_server(plates, tmp_path):
    """Frame 1006: a false box spanning objects 1 and 2 and a part box on object 0."""
    spec = helpers.png_spec()
    shot = synthetic.SyntheticShot(spec, size=WORK)
    present = sorted(shot.gt_masks(1006))
    assert present == [0, 1, 2]
    faults = synthetic.Faults(detector=synthetic.DetectorFaults(false_pairs=frozenset({(1, 2, 1006)}), part_boxes=frozenset({(0, 1006)})))
    running = helpers.start(plates, tmp_path / "out", synthetic_faults=faults)
    yield running
    helpers.stop(running)


def test_stage2_preview_explains_every_decision(faulty_server):
    client = Client(faulty_server)
    result = client.post("/api/stage2", {"shot": PNG_SHOT, "frame": 1006, "prompt": "person"})
    inputs = result["inputs"]
    assert len(inputs) == 5  # three objects, one part box, one box spanning two objects
    actions = [item["action"] for item in inputs]
    assert actions.count("kept") == 3
    merged = [item for item in inputs if item["action"] == "merged"]
    assert len(merged) == 1 and merged[0]["reason"].startswith(f"merged into {merged[0]['into']}")
    assert inputs[merged[0]["into"]]["action"] == "kept"
    # whichever of the spanning box and the object it overlaps is judged a false positive
    discarded = [item for item in inputs if item["action"] == "discarded"]
    assert len(discarded) == 1 and discarded[0]["reason"].startswith("discarded: overlaps")
    assert len(discarded[0]["overlaps"]) >= 2
    assert len(result["outputs"]) == 3 and result["summary"] == {"kept": 3, "merged": 1, "discarded": 1}
    truth_masks = truth().gt_masks(1006)
    for output in result["outputs"]:
        mask = decode_mask(output["mask"])
        assert max(iou(mask, m) for m in truth_masks.values()) > 0.9

    # Thresholds apply at once and change the decisions: nothing is
    # discarded when three overlapping masks are required.
    relaxed = client.post("/api/stage2", {"shot": PNG_SHOT, "frame": 1006, "prompt": "person", "discard_min_others": 3})
    assert "discarded" not in relaxed["summary"]
    assert relaxed["inputs"][discarded[0]["index"]]["action"] != "discarded"


def test_copy_settings_parse_as_autoseg_arguments(client):
    from SegmentationCore import cli

    data = client.post("/api/settings", {"shot": PNG_SHOT, "prompt": "Person, car", "box_threshold": 0.3, "merge_sim": 0.7})
    arguments = data["arguments"]
    assert arguments[:2] == ["autoseg", "run"]
    parsed = cli.build_parser().parse_args(arguments[1:])
    assert parsed.prompt == "person, car"
    assert parsed.box_threshold == pytest.approx(0.3) and parsed.text_threshold == pytest.approx(0.25)
    assert parsed.merge_sim == pytest.approx(0.7) and parsed.discard_sim == pytest.approx(0.1)
    assert parsed.plate.endswith("shot010/plate.####.png")
    assert data["gaffer"]["Detect"]["prompt"] == "person, car"
    assert data["gaffer"]["Segment"]["mergeSimilarity"] == pytest.approx(0.7)


# -- interactive clicks -----------------------------------------------------------------------


def test_clicks_give_masks_with_undo_and_redo(client):
    session = client.post("/api/object/add", {"shot": PNG_SHOT, "class": "person"})["session"]
    assert session["objects"][0]["name"] == "/person/person_0001"
    gt = truth().gt_masks(1006)

    first = click_object(client, 1, 1, 1006)
    mask, info = mask_of(first, 1)
    assert info["source"] == "clicks" and iou(mask, gt[1]) > 0.9
    assert first["session"]["can_undo"] and not first["session"]["can_redo"]

    second = click_object(client, 1, 2, 1006)  # a second object joins the mask
    mask, _ = mask_of(second, 1)
    assert iou(mask, np.maximum(gt[1], gt[2])) > 0.9

    third = click_object(client, 1, 2, 1006, positive=False)  # and a negative click removes it
    mask, _ = mask_of(third, 1)
    assert iou(mask, gt[1]) > 0.9
    assert [p[2] for p in third["session"]["objects"][0]["keyframes"]["1006"]] == [1, 1, 0]

    undone = client.post("/api/undo", {"shot": PNG_SHOT, "frame": 1006})
    mask, _ = mask_of(undone, 1)
    assert iou(mask, np.maximum(gt[1], gt[2])) > 0.9 and undone["session"]["can_redo"]
    redone = client.post("/api/redo", {"shot": PNG_SHOT, "frame": 1006})
    mask, _ = mask_of(redone, 1)
    assert iou(mask, gt[1]) > 0.9 and not redone["session"]["can_redo"]

    for _ in range(3):
        client.post("/api/undo", {"shot": PNG_SHOT})
    back = client.get_json("/api/masks", shot=PNG_SHOT, frame=1006)
    assert back["masks"] == [] and back["session"]["objects"][0]["keyframes"] == {}
    client.post("/api/undo", {"shot": PNG_SHOT})
    assert client.get_json("/api/session", shot=PNG_SHOT)["session"]["objects"] == []


def test_several_objects_names_and_colours(client):
    for _ in range(2):
        client.post("/api/object/add", {"shot": PNG_SHOT, "class": "person"})
    session = client.post("/api/object/add", {"shot": PNG_SHOT, "class": "Red Car", "colour": "#00FF00"})["session"]
    names = [o["name"] for o in session["objects"]]
    assert names == ["/person/person_0001", "/person/person_0002", "/red_car/red_car_0001"]
    assert session["objects"][2]["colour"] == "#00ff00"
    assert len({o["colour"] for o in session["objects"]}) == 3
    renamed = client.post("/api/object/update", {"shot": PNG_SHOT, "object": 1, "class": "car"})["session"]
    assert renamed["objects"][0]["name"] == "/car/car_0001"
    after = click_object(client, 2, 0, 1006)
    click_object(client, 3, 1, 1006)
    masks = client.get_json("/api/masks", shot=PNG_SHOT, frame=1006)["masks"]
    assert sorted(m["object"] for m in masks) == [2, 3]
    assert after["session"]["keyframes"] == [1006]
    deleted = client.post("/api/object/delete", {"shot": PNG_SHOT, "object": 2})["session"]
    assert [o["id"] for o in deleted["objects"]] == [1, 3]
    assert client.post("/api/object/update", {"shot": PNG_SHOT, "object": 3, "colour": "red"}, expect=400)["error"]
    assert client.post("/api/object/delete", {"shot": PNG_SHOT, "object": 42}, expect=400)["error"]


def test_clicks_outside_the_frame_or_for_unknown_objects_are_refused(client):
    client.post("/api/object/add", {"shot": PNG_SHOT})
    base = {"shot": PNG_SHOT, "object": 1, "frame": 1001}
    assert "outside" in client.post("/api/click", dict(base, x=640, y=10), expect=400)["error"]
    assert "outside" in client.post("/api/click", dict(base, x=-1, y=10), expect=400)["error"]
    client.post("/api/click", dict(base, object=7, x=5, y=5), expect=400)
    client.post("/api/click", dict(base, frame=2000, x=5, y=5), expect=400)
    assert not client.get_json("/api/session", shot=PNG_SHOT)["session"]["can_undo"] is False  # only the add


# -- tracking and review -------------------------------------------------------------------------


def test_tracking_fills_the_shot_for_review(client):
    gt = truth()
    client.post("/api/object/add", {"shot": PNG_SHOT, "class": "person"})
    client.post("/api/object/add", {"shot": PNG_SHOT, "class": "person"})
    click_object(client, 1, 1, 1006)
    click_object(client, 2, 2, 1006)
    job = client.post("/api/track", {"shot": PNG_SHOT})["job"]
    done = client.wait_job(job)
    assert done["state"] == "done", done
    assert done["done"] == done["total"] == done["result"]["windows"]
    session = client.get_json("/api/session", shot=PNG_SHOT)["session"]
    assert not session["tracking_stale"]
    reviewed = 0
    for frame in range(1001, 1013):
        masks = {m["object"]: m for m in client.get_json("/api/masks", shot=PNG_SHOT, frame=frame)["masks"]}
        truth_masks = gt.gt_masks(frame)
        for object_id, index in ((1, 1), (2, 2)):
            if index not in truth_masks:
                continue
            assert masks[object_id]["source"] == ("clicks" if frame == 1006 else "tracked")
            assert iou(decode_mask(masks[object_id]["mask"]), truth_masks[index]) > 0.9, (frame, object_id)
            reviewed += 1
    assert reviewed >= 18
    assert set(session["tracked_frames"]) >= {1001, 1012}
    # a new click makes the result stale until tracking runs again
    click_object(client, 1, 0, 1009)
    assert client.get_json("/api/session", shot=PNG_SHOT)["session"]["tracking_stale"]
    client.post("/api/undo", {"shot": PNG_SHOT})
    assert not client.get_json("/api/session", shot=PNG_SHOT)["session"]["tracking_stale"]


def test_tracking_needs_clicks(client):
    client.post("/api/object/add", {"shot": PNG_SHOT})
    job = client.wait_job(client.post("/api/track", {"shot": PNG_SHOT})["job"])
    assert job["state"] == "failed" and "no clicks" in job["error"]


def test_a_busy_shot_refuses_edits(server, client):
    client.post("/api/object/add", {"shot": PNG_SHOT})
    release = threading.Event()
    job = server.app.jobs.start("track", PNG_SHOT, lambda context: release.wait(30))
    try:
        refused = client.post("/api/click", {"shot": PNG_SHOT, "object": 1, "frame": 1001, "x": 5, "y": 5}, expect=409)
        assert job.id in refused["error"]
        client.post("/api/track", {"shot": PNG_SHOT}, expect=400)
        client.post("/api/object/add", {"shot": EXR_SHOT})  # other shots are free
    finally:
        release.set()
    assert job.wait(10) and job.state == "done"


def test_requests_needing_the_models_do_not_hang_behind_tracking(server, client):
    """While a tracking job holds the models, model calls from other shots
    are refused at once (409) instead of waiting for it."""
    import time

    client.post("/api/object/add", {"shot": EXR_SHOT})
    holding, release = threading.Event(), threading.Event()

    def hold(context):
        with server.app.backends.use(job=f"tracking shot {PNG_SHOT}"):
            holding.set()
            release.wait(30)

    job = server.app.jobs.start("track", PNG_SHOT, hold)
    try:
        assert holding.wait(10)
        started = time.monotonic()
        refused = client.post("/api/click", {"shot": EXR_SHOT, "object": 1, "frame": 1001, "x": 5, "y": 5}, expect=409)
        assert "busy with tracking shot" in refused["error"] and time.monotonic() - started < 5
        client.post("/api/detect", {"shot": EXR_SHOT, "frame": 1001, "prompt": "car"}, expect=409)
        assert client.get("/api/frame", shot=EXR_SHOT, frame=1001)[0] == 200  # previews need no model
    finally:
        release.set()
    assert job.wait(10)
    client.post("/api/detect", {"shot": EXR_SHOT, "frame": 1001, "prompt": "car"})


def test_jobs_can_be_cancelled(server, client):
    started = threading.Event()

    def slow(context):
        started.set()
        for step in range(1000):
            context.progress(step, 1000, f"step {step}")
            threading.Event().wait(0.01)

    job = server.app.jobs.start("track", PNG_SHOT, slow)
    assert started.wait(10)
    client.post(f"/api/jobs/{job.id}/cancel", {})
    finished = client.wait_job({"id": job.id})
    assert finished["state"] == "cancelled" and finished["done"] < 999
    assert client.get("/api/jobs/job999")[0] == 404


# -- prompt files and outputs -----------------------------------------------------------------------


def _track_two_objects(client, size=WORK):
    client.post("/api/object/add", {"shot": PNG_SHOT, "class": "person"})
    client.post("/api/object/add", {"shot": PNG_SHOT, "class": "person"})
    click_object(client, 1, 1, 1004, size=size)
    click_object(client, 1, 2, 1004, positive=False, size=size)
    click_object(client, 2, 2, 1009, size=size)
    job = client.wait_job(client.post("/api/track", {"shot": PNG_SHOT})["job"])
    assert job["state"] == "done", job


def test_saved_prompts_use_the_shared_format_in_plate_pixels(plates, tmp_path):
    server = helpers.start(plates, tmp_path / "out", max_size=320)  # working 320x180, plate 640x360
    try:
        client = Client(server)
        _track_two_objects(client, size=(180, 320))
        session = client.get_json("/api/session", shot=PNG_SHOT)["session"]
        saved = client.post("/api/prompts/save", {"shot": PNG_SHOT})
        path = tmp_path / "out" / "shot010" / "plate" / "prompts.json"
        assert saved["files"][0] == "shot010/plate/prompts.json" and path.is_file()
        assert len(saved["files"]) == 3  # the JSON and one mask per keyframe
        loaded = interactive.load_prompts(path)
        assert loaded.image_size == (640, 360) and loaded.mode == "only"
        assert [o.name for o in loaded.objects] == ["/person/person_0001", "/person/person_0002"]
        clicks = session["objects"][0]["keyframes"]["1004"]
        keyframe = loaded.objects[0].keyframes[1004]
        assert np.allclose(keyframe.points, np.array([[c[0], c[1]] for c in clicks]) * 2, atol=0.02)
        assert keyframe.labels.tolist() == [1, 0]
        gt_plate = synthetic.SyntheticShot(helpers.png_spec()).gt_masks(1004)[1]
        mask = resize_bilinear(keyframe.mask, (360, 640))
        assert iou(mask, gt_plate) > 0.9
        assert sorted(loaded.objects[1].keyframes) == [1009]

        # refuse to overwrite unless asked
        assert "already exists" in client.post("/api/prompts/save", {"shot": PNG_SHOT}, expect=409)["error"]
        client.post("/api/prompts/save", {"shot": PNG_SHOT, "overwrite": True, "mode": "combine"})
        assert json.loads(path.read_text())["mode"] == "combine"

        # load them back into an emptied session
        client.post("/api/object/delete", {"shot": PNG_SHOT, "object": 1})
        client.post("/api/object/delete", {"shot": PNG_SHOT, "object": 2})
        restored = client.post("/api/prompts/load", {"shot": PNG_SHOT})
        assert restored["loaded"]["skipped"] == []
        objects = restored["session"]["objects"]
        assert [o["name"] for o in objects] == ["/person/person_0001", "/person/person_0002"]
        assert np.allclose(objects[0]["keyframes"]["1004"], clicks, atol=0.02)
    finally:
        helpers.stop(server)


def test_write_outputs_as_autoseg_names_them(client, tmp_path):
    refused = client.post("/api/outputs/write", {"shot": PNG_SHOT}, expect=400)
    assert "run tracking" in refused["error"]
    _track_two_objects(client)
    job = client.wait_job(client.post("/api/outputs/write", {"shot": PNG_SHOT, "formats": ["objectid", "cryptomatte"]})["job"])
    assert job["state"] == "done", job
    folder = tmp_path / "out" / "shot010" / "plate"
    frames = range(1001, 1013)
    for frame in frames:
        assert (folder / f"plate.objectid.{frame}.exr").is_file()
        assert (folder / f"plate.crypto.{frame}.exr").is_file()
    names = ["/person/person_0001", "/person/person_0002"]
    assert job["result"]["layers"] == names
    # what was written is what the review shows (plate = working size here)
    for frame in (1001, 1004, 1009, 1012):
        shown = {m["name"]: decode_mask(m["mask"]) for m in client.get_json("/api/masks", shot=PNG_SHOT, frame=frame)["masks"] if m["source"] == "tracked"}
        from_objectid = objectid.read_objectid(folder / f"plate.objectid.{frame}.exr")
        from_crypto = cryptomatte.read_cryptomatte(folder / f"plate.crypto.{frame}.exr")
        for name in names:
            if name not in shown:
                continue
            assert iou(from_objectid[name], shown[name]) > 0.98, (frame, name)
            assert iou(from_crypto[name], shown[name]) > 0.98, (frame, name)
    assert set(objectid.objectid_layer_names(folder / "plate.objectid.1004.exr")) == set(names)

    refused = client.post("/api/outputs/write", {"shot": PNG_SHOT, "formats": ["objectid"]})["job"]
    failed = client.wait_job(refused)
    assert failed["state"] == "failed" and "exist already" in failed["error"]
    again = client.wait_job(client.post("/api/outputs/write", {"shot": PNG_SHOT, "formats": ["objectid"], "overwrite": True})["job"])
    assert again["state"] == "done"
    assert client.post("/api/outputs/write", {"shot": PNG_SHOT, "formats": ["tiff"]}, expect=400)
    listed = client.get_json("/api/outputs", shot=PNG_SHOT)["files"]
    assert "shot010/plate/plate.objectid.1001.exr" in listed and "shot010/plate/plate.crypto.1012.exr" in listed

    click_object(client, 2, 0, 1011)
    stale = client.post("/api/outputs/write", {"shot": PNG_SHOT, "overwrite": True}, expect=400)
    assert "run tracking again" in stale["error"]


def test_autoseg_with_the_saved_prompts_matches_the_browser(client, plates, tmp_path):
    """The saved prompt file makes `autoseg run` reproduce the browser's tracking."""
    from SegmentationCore import cli

    _track_two_objects(client)
    client.post("/api/prompts/save", {"shot": PNG_SHOT})
    job = client.wait_job(client.post("/api/outputs/write", {"shot": PNG_SHOT, "formats": ["objectid"]})["job"])
    assert job["state"] == "done"
    browser = tmp_path / "out" / "shot010" / "plate"
    farm = tmp_path / "farm"
    code = cli.main([
        "run", str(plates / "shot010" / "plate.####.png"), "--output", str(farm),
        "--prompts", str(browser / "prompts.json"), "--formats", "objectid",
        "--synthetic", str(plates / "shot010" / "plate.shot.json"), "--progress", "none",
    ])
    assert code == 0
    for frame in range(1001, 1013):
        ours = objectid.read_objectid(browser / f"plate.objectid.{frame}.exr")
        theirs = objectid.read_objectid(farm / f"plate.objectid.{frame}.exr")
        assert sorted(ours) == sorted(theirs), frame
        for name in ours:
            assert np.abs(ours[name].astype(np.float32) - theirs[name].astype(np.float32)).max() < 1e-3, (frame, name)


def test_autoseg_serve_command(plates, tmp_path):
    """`autoseg serve` starts the tools on loopback and says where."""
    import os
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[1]
    environment = dict(os.environ, PYTHONPATH=str(root / "python"), PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "SegmentationCore.cli", "serve", "--plates", str(plates), "--output", str(tmp_path / "out"),
         "--port", "0", "--models", "synthetic", "--quiet"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=environment,
    )
    try:
        url = None
        lines = []
        for _ in range(10):
            line = process.stderr.readline()
            lines.append(line)
            if "interactive tool" in line:
                url = line.split()[-1]
                break
        assert url and url.startswith("http://127.0.0.1:") and url.endswith("/interactive"), lines
        import urllib.request

        with urllib.request.urlopen(url.replace("/interactive", "/api/shots"), timeout=30) as response:
            shots = json.loads(response.read())["shots"]
        assert {s["id"] for s in shots} == {PNG_SHOT, EXR_SHOT}
    finally:
        process.terminate()
        process.wait(30)
    bad = subprocess.run(
        [sys.executable, "-m", "SegmentationCore.cli", "serve", "--plates", str(tmp_path / "missing"), "--port", "0"],
        capture_output=True, text=True, env=environment, timeout=120,
    )
    assert bad.returncode != 0 and "Plate root" in bad.stderr


def test_copied_gaffer_plug_values_fit_the_nodes(client, tmp_path):
    """Every plug the bench's "Copy Gaffer plugs" names exists on the node and
    takes the value (checked on the Gaffer stand-in, in a separate process)."""
    import pathlib
    import subprocess
    import sys

    _track_two_objects(client)
    client.post("/api/prompts/save", {"shot": PNG_SHOT})
    values = client.post("/api/settings", {"shot": PNG_SHOT, "prompt": "person, car", "discard_min_others": 3, "merge_sim": 0.7})["gaffer"]
    assert set(values) == {"Detect", "Segment", "Track"}
    root = pathlib.Path(__file__).resolve().parents[1]
    script = """
import json, sys
import GafferSegmentation
values = json.loads(sys.argv[1])
for node_name, plugs in values.items():
    node = getattr(GafferSegmentation, node_name)()
    for plug, value in plugs.items():
        node[plug].setValue(value)
        got = node[plug].getValue()
        assert got == value or abs(got - value) < 1e-6, (node_name, plug, got, value)
print("ok")
"""
    environment = {"PYTHONPATH": f"{root / 'tests' / 'gaffer_standin'}:{root / 'python'}", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", script, json.dumps(values)], capture_output=True, text=True, env=environment, timeout=120)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


def test_write_outputs_refine_edges_toggle_and_preview(plates, tmp_path):
    """Edge refinement in the browser tools: on by default when writing (as
    autoseg run), off writes the bilinear mattes; the masks preview shows
    the refined matte at plate resolution."""
    from SegmentationCore.pipeline import refine
    from SegmentationCore.plates import upsample_masks

    server = helpers.start(plates, tmp_path / "out", max_size=320)  # working 320x180, plate 640x360
    try:
        client = Client(server)
        _track_two_objects(client, size=(180, 320))
        folder = tmp_path / "out" / "shot010" / "plate"
        names = ["/person/person_0001", "/person/person_0002"]

        job = client.wait_job(client.post("/api/outputs/write", {"shot": PNG_SHOT, "formats": ["objectid"], "refine_edges": False})["job"])
        assert job["state"] == "done" and job["result"]["refine_edges"] is False, job
        bilinear = {f: objectid.read_objectid(folder / f"plate.objectid.{f}.exr") for f in (1004, 1009)}
        job = client.wait_job(client.post("/api/outputs/write", {"shot": PNG_SHOT, "formats": ["objectid"], "overwrite": True})["job"])
        assert job["state"] == "done" and job["result"]["refine_edges"] is True, job
        refined = {f: objectid.read_objectid(folder / f"plate.objectid.{f}.exr") for f in (1004, 1009)}

        session = server.app.session(PNG_SHOT)
        params = refine.RefineParams()
        for frame in (1004, 1009):
            plain = client.get_json("/api/masks", shot=PNG_SHOT, frame=frame)["masks"]
            object_names = {m["object"]: m["name"] for m in plain}
            with session.lock:
                tracked = session.tracked_masks(frame)
            working = {object_names[i]: m for i, m in tracked.items()}
            assert sorted(working) == names
            expected = upsample_masks(working, (360, 640))
            band = np.zeros((360, 640), bool)
            total = np.zeros((360, 640))
            differs = 0
            for name in names:
                off = bilinear[frame][name].astype(np.float32)
                on = refined[frame][name].astype(np.float32)
                assert off.shape == on.shape == (360, 640)
                # off: today's bilinear upsampling of the tracked masks
                assert np.abs(off - expected[name]).max() < 2e-3, (frame, name)
                band |= refine.edge_band(expected[name], params.pixels((360, 640))[0])
                differs += int(np.count_nonzero(np.abs(on - off) > 0.02))
                total += on
            # refined: different near the edges, the same far from them, coverage <= 1
            assert differs > 50, frame
            for name in names:
                assert np.array_equal(refined[frame][name][~band], bilinear[frame][name][~band]), (frame, name)
            assert total.max() <= 1.0 + 1e-3

            # the preview shows the refined matte at plate resolution
            preview = client.get_json("/api/masks", shot=PNG_SHOT, frame=frame, refine_edges=1)["masks"]
            for item in plain:
                if item["source"] == "tracked":
                    assert not item["refined"] and decode_mask(item["mask"]).shape == (180, 320)
            shown = [m for m in preview if m["source"] == "tracked"]
            assert shown, frame
            for item in shown:
                assert item["refined"]
                mask = decode_mask(item["mask"])
                assert mask.shape == (360, 640)
                assert iou(mask, refined[frame][item["name"]].astype(np.float32)) > 0.97, (frame, item["name"])
    finally:
        helpers.stop(server)
