"""``autoseg``: end to end on synthetic backends, stages, resume, errors and exit codes."""

import io
import json
import os
import shutil

import numpy as np
import pytest

from SegmentationCore import cli, synthetic
from SegmentationCore.idmatte import mattefilter
from SegmentationCore.pipeline import metrics
from SegmentationCore.core.errors import ModelFolderError, OutputError, PlateError, PromptError
from SegmentationCore.synthetic import backends as synthetic_backends

FRAMES = 12


@pytest.fixture(scope="module")
def plate_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plate")
    spec = synthetic.generate_shot(seed=5, num_frames=FRAMES, width=192, height=108, num_objects=3)
    synthetic.SyntheticShot(spec).write_plate(folder, "shot", "exr")
    return folder


@pytest.fixture
def plate(plate_dir, tmp_path):
    """A private copy of the plate (tests may damage it)."""
    folder = tmp_path / "plate"
    shutil.copytree(plate_dir, folder)
    return folder


def autoseg(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([str(a) for a in argv], out, err)
    return code, out.getvalue(), err.getvalue()


def run(plate, output, *extra, faults="faulty"):
    return autoseg(
        "run", plate / "shot.####.exr", "--output", output, "--synthetic", plate / "shot.shot.json",
        "--synthetic-faults", faults, "--progress", "log", *extra,
    )


def outputs(folder):
    return sorted(p.name for p in folder.glob("*.exr"))


def read_all(folder, kind="objectid"):
    return {f: mattefilter.read_layers(folder / f"shot.{kind}.{f:04d}.exr") for f in range(1001, 1001 + FRAMES)}


def test_run_writes_every_frame_in_both_formats_with_stable_names(plate, tmp_path):
    code, out, err = run(plate, tmp_path / "out", faults="none")
    assert code == 0, err
    assert "wrote shot.objectid.####.exr, shot.crypto.####.exr" in out
    assert len(outputs(tmp_path / "out")) == 2 * FRAMES
    spec = synthetic.ShotSpec.load(plate / "shot.shot.json")
    shot = synthetic.SyntheticShot(spec)
    for kind in ("objectid", "crypto"):
        layers = read_all(tmp_path / "out", kind)
        scores = metrics.evaluate(shot.frame_numbers, layers.__getitem__, shot.gt_masks)
        assert scores.jf > 0.95 and scores.id_switches == 0, scores.line()
    names = set().union(*[set(v) for v in read_all(tmp_path / "out").values()])
    assert names == {"/person/person_0001", "/person/person_0002", "/person/person_0003"}
    assert "autoseg: track" in err and "eta" in err  # log lines when not on a terminal


def test_stages_run_separately_and_give_the_same_result(plate, tmp_path):
    assert run(plate, tmp_path / "all")[0] == 0
    for stage in ("detect", "segment", "track", "write"):
        code, out, err = run(plate, tmp_path / "staged", "--stage", stage)
        assert code == 0, err
        written = outputs(tmp_path / "staged")
        assert (len(written) == 2 * FRAMES) == (stage == "write")
    for frame, layers in read_all(tmp_path / "all").items():
        again = read_all(tmp_path / "staged")[frame]
        assert layers.keys() == again.keys()
        assert all(np.array_equal(layers[k], again[k]) for k in layers)


def test_a_later_stage_without_the_earlier_one_says_what_to_run(plate, tmp_path):
    code, _, err = run(plate, tmp_path / "out", "--stage", "track")
    assert code == 1 and "run --stage segment first" in err
    assert outputs(tmp_path / "out") == []


def test_a_farm_retry_resumes_where_it_stopped(plate, tmp_path, monkeypatch):
    calls = []
    original = synthetic_backends.SyntheticTracker.track

    def flaky(self, frames, prompts, order):
        calls.append(order[0])
        if len(calls) == 4:
            raise KeyboardInterrupt  # the farm kills the task in the middle of tracking
        yield from original(self, frames, prompts, order)

    monkeypatch.setattr(synthetic_backends.SyntheticTracker, "track", flaky)
    code, _, err = run(plate, tmp_path / "out")
    assert code == cli.INTERRUPTED and "rerun the same command to resume" in err
    assert outputs(tmp_path / "out") == []
    state = json.loads((tmp_path / "out/.autoseg/shot/track/state.json").read_text())
    assert state["windows"] == {"forward": 3}
    calls.clear()
    code, _, err = run(plate, tmp_path / "out")
    assert code == 0, err
    assert calls == [1012, 1007, 1002]  # the backward windows only: no rework
    monkeypatch.setattr(synthetic_backends.SyntheticTracker, "track", original)
    assert run(plate, tmp_path / "clean")[0] == 0
    for frame, layers in read_all(tmp_path / "clean").items():
        resumed = read_all(tmp_path / "out")[frame]
        assert layers.keys() == resumed.keys() and all(np.array_equal(layers[k], resumed[k]) for k in layers)


def test_a_retry_only_writes_the_frames_that_are_missing(plate, tmp_path):
    assert run(plate, tmp_path / "out")[0] == 0
    work = tmp_path / "out/.autoseg/shot/write"
    (work / "1005.done").unlink()
    (tmp_path / "out/shot.objectid.1005.exr").unlink()
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("*.exr")}
    code, out, err = run(plate, tmp_path / "out")
    assert code == 0, err
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("*.exr")}
    changed = sorted(name for name in after if before.get(name) != after[name])
    assert changed == ["shot.crypto.1005.exr", "shot.objectid.1005.exr"]


def test_interactive_prompt_file_alone(plate, tmp_path):
    spec = synthetic.ShotSpec.load(plate / "shot.shot.json")
    shot = synthetic.SyntheticShot(spec)
    mask = shot.gt_masks(1006)[2]
    centre = np.argwhere(mask >= 0.99).mean(axis=0)[::-1]
    prompts = {
        "format": "autoseg-prompts", "version": 1, "mode": "only", "image_size": [192, 108],
        "objects": [{"class": "person", "keyframes": {"1006": {"points": [centre.tolist()], "labels": [1]}}}],
    }
    (tmp_path / "p.json").write_text(json.dumps(prompts))
    code, out, err = run(plate, tmp_path / "out", "--prompts", tmp_path / "p.json", faults="none")
    assert code == 0, err
    layers = read_all(tmp_path / "out")
    assert all(set(v) <= {"/person/person_0001"} for v in layers.values())
    assert not (tmp_path / "out/.autoseg/shot/detect").exists()  # no automatic stages
    scores = metrics.evaluate(shot.frame_numbers, layers.__getitem__, lambda f: {2: shot.gt_masks(f).get(2, np.zeros(shot.size))})
    assert scores.j > 0.9


# ---------------------------------------------------------------- bad input


def test_missing_frame_is_named_and_nothing_is_written(plate, tmp_path):
    (plate / "shot.1007.exr").unlink()
    code, _, err = run(plate, tmp_path / "out", "--frames", "1001-1012")
    assert code == PlateError.exit_code and "shot.1007.exr" in err
    assert not (tmp_path / "out").exists() or outputs(tmp_path / "out") == []


def test_corrupt_frame_is_named_and_no_half_written_output_remains(plate, tmp_path):
    path = plate / "shot.1009.exr"
    path.write_bytes(path.read_bytes()[:300])
    code, _, err = run(plate, tmp_path / "out", "--detect-frames", "all")
    assert code == PlateError.exit_code and "shot.1009.exr" in err
    assert outputs(tmp_path / "out") == []
    assert not [p for p in (tmp_path / "out").rglob("*") if p.name.startswith(".") and p.name.endswith("tmp")]


@pytest.mark.parametrize("prompt", ["", " , . "])
def test_empty_prompt_is_refused(plate, tmp_path, prompt):
    code, _, err = run(plate, tmp_path / "out", "--prompt", prompt)
    assert code == PromptError.exit_code and "person, car" in err


def test_unparseable_prompt_file_is_refused(plate, tmp_path):
    (tmp_path / "p.json").write_text("{not json")
    code, _, err = run(plate, tmp_path / "out", "--prompts", tmp_path / "p.json")
    assert code == PromptError.exit_code and "p.json is not valid JSON" in err


def test_model_folder_errors(plate, tmp_path):
    base = ("run", plate / "shot.####.exr", "--output", tmp_path / "out", "--progress", "none")
    code, _, err = autoseg(*base, "--models", tmp_path / "nowhere")
    assert code == ModelFolderError.exit_code and "nowhere does not exist" in err
    (tmp_path / "models/sam2").mkdir(parents=True)
    (tmp_path / "models/sam2/manifest.json").write_text(json.dumps({"kind": "sam2", "format": 1, "files": {"image_encoder": "image_encoder.onnx"}}))
    code, _, err = autoseg(*base, "--models", tmp_path / "models")
    assert code == ModelFolderError.exit_code and "no groundingdino model folder" in err
    code, _, err = autoseg(*base, "--models", tmp_path / "models", "--detector", tmp_path / "models/sam2")
    assert code == ModelFolderError.exit_code and "holds a 'sam2' model, but a 'groundingdino' model is needed" in err
    code, _, err = autoseg(*base, "--models", tmp_path / "models", "--stage", "segment")
    assert code == ModelFolderError.exit_code and "image_encoder.onnx" in err and "missing" in err
    (tmp_path / "models/sam2/manifest.json").write_text("{broken")
    code, _, err = autoseg(*base, "--models", tmp_path / "models")
    assert code == ModelFolderError.exit_code and "manifest.json" in err
    assert not (tmp_path / "out").exists()


def test_models_are_found_on_the_search_path(plate, tmp_path, monkeypatch):
    from SegmentationCore.models import runtime

    monkeypatch.setattr(runtime, "model_search_paths", lambda: [tmp_path / "models"])
    base = ("run", plate / "shot.####.exr", "--output", tmp_path / "out", "--progress", "none")
    code, _, err = autoseg(*base)
    assert code == ModelFolderError.exit_code and "no groundingdino model found" in err and "--detector" in err
    for name in ("gdino_a", "gdino_b"):
        (tmp_path / "models" / name).mkdir(parents=True)
        (tmp_path / "models" / name / "manifest.json").write_text(json.dumps({"kind": "groundingdino", "format": 1}))
    code, _, err = autoseg(*base)
    assert code == ModelFolderError.exit_code and "several groundingdino models" in err


def test_existing_results_of_another_run_are_not_overwritten(plate, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out/shot.crypto.1004.exr").write_bytes(b"someone else's")
    code, _, err = run(plate, tmp_path / "out")
    assert code == OutputError.exit_code and "shot.crypto.1004.exr already exists" in err and "--force" in err
    assert (tmp_path / "out/shot.crypto.1004.exr").read_bytes() == b"someone else's"
    assert run(plate, tmp_path / "out", "--force")[0] == 0
    assert (tmp_path / "out/shot.crypto.1004.exr").read_bytes() != b"someone else's"


def test_changed_settings_are_not_mixed_with_old_results(plate, tmp_path):
    assert run(plate, tmp_path / "out")[0] == 0
    code, _, err = run(plate, tmp_path / "out", "--epsilon", "0.2")
    assert code == OutputError.exit_code and "differs in: tracking" in err
    assert run(plate, tmp_path / "out", "--epsilon", "0.2", "--force")[0] == 0


def test_output_may_never_replace_the_plate(plate, tmp_path):
    for frame in range(1001, 1001 + FRAMES):
        os.rename(plate / f"shot.{frame:04d}.exr", plate / f"shot.objectid.{frame:04d}.exr")
    code, _, err = autoseg(
        "run", plate / "shot.objectid.####.exr", "--output", plate, "--name", "shot", "--formats", "objectid",
        "--synthetic", plate / "shot.shot.json", "--progress", "none", "--force",
    )
    assert code == OutputError.exit_code and "would overwrite a plate frame" in err


def test_bad_command_lines_exit_2(plate, tmp_path):
    assert autoseg("run", plate / "shot.####.exr")[0] == 2  # no --output
    assert autoseg("run", plate / "shot.####.exr", "-o", tmp_path, "--epsilon", "3")[0] == 2
    code, _, err = run(plate, tmp_path / "out", "--stage", "paint")
    assert code == 1 and "unknown --stage paint" in err


def test_progress_bar_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    reporter = cli.ProgressReporter(stream)
    for done in range(5):
        reporter("track", done, 4, "window")
    text = stream.getvalue()
    assert "\rtrack    [" in text and "ETA" in text and "100%" in text
    log = io.StringIO()
    cli.ProgressReporter(log)("write", 2, 4, "frame 1002")
    assert log.getvalue() == "autoseg: write 2/4 (50%) eta --:-- frame 1002\n"


def test_synth_writes_a_plate_with_its_answers(tmp_path):
    code, out, _ = autoseg("synth", "-o", tmp_path, "--frames", "3", "--size", "64x36", "--objects", "2")
    assert code == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["plate.1001.exr", "plate.1002.exr", "plate.1003.exr", "plate.shot.json"]


def test_demo_explains_what_it_needs_to_export(tmp_path, monkeypatch):
    real_find_spec = cli.importlib.util.find_spec
    monkeypatch.setattr(cli.importlib.util, "find_spec", lambda name: None if name == "torch" else real_find_spec(name))
    with pytest.raises(ModelFolderError, match=r"torch missing.*pip install '\.\[export\]'"):
        cli._export_models(tmp_path / "models", (512, 288), io.StringIO())
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff/precious.txt").write_text("x")
    code, _, err = autoseg("demo", "-o", tmp_path / "stuff")
    assert code == OutputError.exit_code and "not an autoseg demo folder" in err
