"""``autoseg plan`` (the task graph) and ``autoseg run --workers N`` (its local runner)."""

import io
import json
import pathlib

import numpy as np
import pytest

from SegmentationCore import cli, synthetic
from SegmentationCore.idmatte import mattefilter
from SegmentationCore.pipeline import farm
from SegmentationCore.pipeline.runner import Pipeline

FRAMES = 40


@pytest.fixture(scope="module")
def plates(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plates")
    for name, seed in (("sh010", 1), ("sh020", 2), ("sh030", 3)):
        spec = synthetic.generate_shot(seed=seed, num_frames=FRAMES, width=128, height=72, num_objects=3)
        synthetic.SyntheticShot(spec).write_plate(folder / name, name, "exr")
    return folder


def autoseg(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([str(a) for a in argv], out, err)
    return code, out.getvalue(), err.getvalue()


def synthetic_args(plates, name):
    return [plates / name / f"{name}.####.exr", "--synthetic", plates / name / f"{name}.shot.json", "--synthetic-faults", "faulty"]


def config_from(argv):
    """The RunConfig of an ``autoseg run`` command line (without ``autoseg``)."""
    return cli._run_config(cli.build_parser().parse_args([str(a) for a in argv]))


def mattes(folder):
    """ObjectId bytes; Cryptomatte decoded (see tests/test_pipeline_chunks.py)."""
    out = {}
    for path in sorted(pathlib.Path(folder).glob("*.exr")):
        if ".crypto." in path.name:
            out[path.name] = {k: np.asarray(v).tobytes() for k, v in sorted(mattefilter.read_layers(path).items())}
        else:
            out[path.name] = path.read_bytes()
    return out


def test_plan_of_three_shots_is_a_valid_graph(plates, tmp_path):
    code, out, err = autoseg("plan", *[plates / n / f"{n}.####.exr" for n in ("sh010", "sh020", "sh030")], "--output", tmp_path / "out",
                             "--synthetic", plates / "sh010" / "sh010.shot.json", "--chunks", "2", "--batch-size", "4")
    assert code == 0, err
    graph = json.loads(out)
    assert graph["format"] == "autoseg-plan" and [s["name"] for s in graph["shots"]] == ["sh010", "sh020", "sh030"]
    ids = [t["id"] for t in graph["tasks"]]
    assert len(ids) == len(set(ids))
    seen = set()
    for task in graph["tasks"]:  # listed in dependency order, within the shot
        assert set(task["depends"]) <= seen
        assert all(d.split("/")[0] == task["shot"] for d in task["depends"])
        assert task["command"][:2] == ["autoseg", "run"] and "--force" not in task["command"]
        assert pathlib.Path(task["command"][2]).is_absolute()
        seen.add(task["id"])
    for shot in graph["shots"]:
        pipeline = Pipeline(config_from(next(t for t in graph["tasks"] if t["shot"] == shot["name"])["command"][1:]))
        tasks = [t for t in graph["tasks"] if t["shot"] == shot["name"]]
        by_stage = {s: [t for t in tasks if t["stage"] == s] for s in ("detect", "segment", "track", "reconcile", "write")}
        needed = pipeline.stage2_frames()
        assert sorted(f for t in by_stage["detect"] for f in t["frames"]) == needed
        assert sorted(f for t in by_stage["write"] for f in t["frames"]) == list(range(1001, 1001 + FRAMES))
        assert [t["chunk"] for t in by_stage["track"]] == [[0, 2], [1, 2]]
        assert by_stage["reconcile"][0]["depends"] == [t["id"] for t in by_stage["track"]]
        assert all(t["depends"] == [by_stage["reconcile"][0]["id"]] for t in by_stage["write"])
        # chunk 0 does not wait for segment batches it never reads
        last_segment = by_stage["segment"][-1]
        assert last_segment["id"] not in by_stage["track"][0]["depends"] and last_segment["id"] in by_stage["track"][1]["depends"]
        assert all(t["resources"]["gpu"] == 0 for t in tasks)  # synthetic backends need no GPU


def test_plan_resources_name_the_gpu_stages(plates, tmp_path):
    config = config_from(["run", plates / "sh010" / "sh010.####.exr", "-o", tmp_path, "--models", tmp_path])
    graph = farm.plan(config, batch_size=100)
    gpu = {t["stage"]: t["resources"]["gpu"] for t in graph["tasks"]}
    assert gpu == {"detect": 1, "segment": 1, "track": 1, "write": 0}


def test_the_command_line_of_a_config_gives_the_config_back(plates, tmp_path):
    argv = ["run", str(plates / "sh010" / "sh010.####.exr"), "-o", str(tmp_path), "--prompt", "person, red car", "--frames", "1001-1030",
            "--max-size", "512", "--colorspace", "ACEScg", "--crop-to-display", "--name", "x", "--providers", "cuda,cpu", "--threads", "3",
            "--box-threshold", "0.3", "--text-threshold", "0.2", "--max-detections", "7", "--detect-frames", "all", "--formats", "crypto",
            "--discard-sim", "0.2", "--discard-min-others", "3", "--merge-sim", "0.7", "--window", "12", "--reprompt-every", "4",
            "--epsilon", "0.2", "--direct-iou", "0.8", "--partial-sim", "0.4", "--no-backward", "--cache-rule", "guarded",
            "--chunks", "3", "--chunk-overlap", "15"]
    config = farm.absolute_config(cli._run_config(cli.build_parser().parse_args(argv)))
    again = config_from(["run", *farm.config_arguments(config)])
    assert again == config


def test_plan_refuses_force(plates, tmp_path):
    code, out, err = autoseg("plan", *synthetic_args(plates, "sh010"), "-o", tmp_path, "--force")
    assert code == 1 and "never carries --force" in err


@pytest.mark.parametrize("chunks", [1, 2])
def test_the_plan_run_by_the_local_runner_gives_the_plain_runs_mattes(plates, tmp_path, chunks):
    plain, farmed = tmp_path / "plain", tmp_path / "farmed"
    extra = ["--chunks", str(chunks)]
    code, _, err = autoseg("run", *synthetic_args(plates, "sh020"), "-o", plain, *extra, "--progress", "none")
    assert code == 0, err
    code, out, err = autoseg("run", *synthetic_args(plates, "sh020"), "-o", farmed, *extra, "--workers", "2", "--batch-size", "8",
                             "--progress", "none", "--summary", tmp_path / "summary.json")
    assert code == 0, err
    summary = json.loads((tmp_path / "summary.json").read_text())
    stages = {task.split("/")[1] for task in summary["tasks"]}
    assert stages == ({"detect", "segment", "track", "write"} | ({"reconcile"} if chunks > 1 else set()))
    assert len([t for t in summary["tasks"] if "/write/" in t]) == FRAMES // 8
    assert mattes(farmed) == mattes(plain) and len(mattes(plain)) == 2 * FRAMES
    # a second run resumes: every task finds its work done
    code, out, err = autoseg("run", *synthetic_args(plates, "sh020"), "-o", farmed, *extra, "--workers", "2", "--batch-size", "8", "--progress", "none")
    assert code == 0, err


def test_a_failing_task_stops_the_runner_and_names_the_task_and_its_log(plates, tmp_path):
    out = tmp_path / "out"
    code, _, err = autoseg("run", *synthetic_args(plates, "sh030"), "-o", out, "--stage", "detect,segment", "--progress", "none")
    assert code == 0, err
    work = out / ".autoseg" / "sh030"
    sorted((work / "segment").glob("*.npz"))[-1].unlink()  # stage 2 of one frame lost
    code, _, err = autoseg("run", *synthetic_args(plates, "sh030"), "-o", out, "--stage", "track,write", "--workers", "2", "--progress", "none")
    assert code == 1, err
    assert "task sh030/track/0 failed" in err and "sh030_track_0.log" in err
    log = (work / "logs" / "sh030_track_0.log").read_text()
    assert "run --stage segment first" in log
    assert not list(out.glob("*.exr"))  # the write tasks never started
