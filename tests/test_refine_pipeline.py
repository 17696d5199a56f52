"""Edge refinement in ``autoseg run`` (the write stage): the flag, the work
folder never reusing mattes written with another setting, and the farm plan
carrying it."""

import io
import json

import numpy as np
import pytest

from SegmentationCore import cli, synthetic
from SegmentationCore.idmatte import mattefilter
from SegmentationCore.pipeline import farm, refine
from SegmentationCore.pipeline.runner import RunConfig

FRAMES = 4


@pytest.fixture(scope="module")
def plate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plate")
    spec = synthetic.generate_shot(seed=3, num_frames=FRAMES, width=256, height=144, num_objects=2)
    synthetic.SyntheticShot(spec).write_plate(folder, "shot", "exr")
    return folder


def autoseg(plate, output, *extra):
    out, err = io.StringIO(), io.StringIO()
    argv = ["run", plate / "shot.####.exr", "--output", output, "--synthetic", plate / "shot.shot.json",
            "--progress", "log", "--max-size", "128", "--summary", output / "summary.json", *extra]
    code = cli.main([str(a) for a in argv], out, err)
    return code, out.getvalue(), err.getvalue()


def mattes(folder):
    return {f: mattefilter.read_layers(folder / f"shot.objectid.{f:04d}.exr") for f in range(1001, 1001 + FRAMES)}


def test_refine_edges_is_on_by_default_and_can_be_switched_off():
    parser = cli.build_parser()
    args = parser.parse_args(["run", "plate.####.exr", "-o", "out"])
    assert args.refine_edges is True
    assert parser.parse_args(["run", "plate.####.exr", "-o", "out", "--no-refine-edges"]).refine_edges is False
    assert RunConfig(plate="p", output="o").refine_edges is True


def test_a_run_with_the_other_setting_rewrites_the_mattes_and_keeps_the_tracking(plate, tmp_path):
    output = tmp_path / "out"
    code, _, err = autoseg(plate, output)
    assert code == 0, err
    summary = json.loads((output / "summary.json").read_text())
    assert summary["stages"]["write"]["refine_edges"] is True
    refined = mattes(output)
    work = output / ".autoseg" / "shot"
    assert json.loads((work / "write" / "settings.json").read_text())["refine_edges"] is True

    code, _, err = autoseg(plate, output, "--no-refine-edges")
    assert code == 0, err
    assert "edge refinement on -> off: rewriting the 4 frame(s)" in err
    summary = json.loads((output / "summary.json").read_text())
    assert summary["stages"]["write"]["written"] == FRAMES  # nothing reused
    assert summary["stages"]["track"].get("resumed") is True  # tracking kept
    bilinear = mattes(output)
    assert any(
        not np.array_equal(refined[f][name], bilinear[f][name]) for f in refined for name in refined[f]
    ), "the rewritten mattes are the refined ones"

    # the same setting again reuses everything
    code, _, err = autoseg(plate, output, "--no-refine-edges")
    assert code == 0, err
    assert json.loads((output / "summary.json").read_text())["stages"]["write"]["written"] == 0

    # another refinement setting is a change too
    code, _, err = autoseg(plate, output, "--refine-eps", "0.01")
    assert code == 0, err
    assert "edge refinement off -> on" in err
    code, _, err = autoseg(plate, output, "--refine-eps", "0.02")
    assert code == 0, err
    assert "edge refinement settings changed" in err


def test_a_work_folder_written_before_refinement_existed_is_rewritten_refined(plate, tmp_path):
    output = tmp_path / "out"
    assert autoseg(plate, output, "--no-refine-edges")[0] == 0
    (output / ".autoseg" / "shot" / "write" / "settings.json").unlink()  # as older versions left it
    code, _, err = autoseg(plate, output)
    assert code == 0, err
    assert "edge refinement off -> on" in err
    assert json.loads((output / "summary.json").read_text())["stages"]["write"]["written"] == FRAMES


def test_refined_mattes_keep_coverage_at_most_one_in_the_files(plate, tmp_path):
    output = tmp_path / "out"
    assert autoseg(plate, output)[0] == 0
    for frame, layers in mattes(output).items():
        total = sum(np.asarray(alpha, np.float64) for alpha in layers.values())
        assert total.max() <= 1.0 + 1e-3, frame  # half-float alpha in the ObjectId file


def test_bad_refine_settings_stop_before_any_work(plate, tmp_path):
    code, _, err = autoseg(plate, tmp_path / "out", "--refine-eps", "-1")
    assert code != 0 and "eps" in err
    assert not (tmp_path / "out" / ".autoseg").exists()


def test_the_farm_plan_carries_the_setting():
    off = RunConfig(plate="/p/shot.####.exr", output="/o", refine_edges=False)
    assert "--no-refine-edges" in farm.config_arguments(off)
    on = RunConfig(plate="/p/shot.####.exr", output="/o", refine_params=refine.RefineParams(eps=0.01))
    arguments = farm.config_arguments(on)
    assert "--no-refine-edges" not in arguments and arguments[arguments.index("--refine-eps") + 1] == "0.01"
    args = cli.build_parser().parse_args(["run", *arguments])
    assert args.refine_edges is True and args.refine_eps == 0.01
    with pytest.raises(Exception, match="refine radius"):
        farm.config_arguments(RunConfig(plate="/p/shot.####.exr", output="/o", refine_params=refine.RefineParams(radius=0.02)))
