"""Peak memory of ``autoseg run`` on a long vs a short 1080p plate.

Writes a generated 1080p EXR plate (300 frames by default), then runs the
whole pipeline (all four stages in one process) on its first 30 frames and
on all of it, each in a fresh process, and prints the peak resident memory
(``ru_maxrss`` of the child) and the time per stage. Memory should not grow
with shot length: frames are streamed, the mask cache lives on disk with a
bounded number of frames in RAM, stage results are per-frame files.

By default the synthetic backends answer (``--synthetic``): the tiny SAM2 /
GroundingDINO models on CPU take minutes per frame at 1080p-derived
working size, i.e. hours for 300 frames. To measure with real models, pass
``--models DIR`` (exported model folders; expect a long run) and
``--max-size`` to taste. Usage::

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_memory.py [--long 300 --short 30]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from SegmentationCore import synthetic  # noqa: E402


def run_autoseg(arguments: list[str]) -> tuple[int, float, float, dict]:
    """Run autoseg in a child process; returns (exit code, peak RSS MiB, seconds, summary)."""
    summary_path = pathlib.Path(arguments[arguments.index("--output") + 1]) / "summary.json"
    command = [sys.executable, "-m", "SegmentationCore.cli", *arguments, "--summary", str(summary_path), "--progress", "none"]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return code, usage.ru_maxrss / 1024.0, seconds, summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--long", type=int, default=300)
    parser.add_argument("--short", type=int, default=30)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--folder", default="/tmp/autoseg-bench-memory", help="scratch folder (plate + outputs)")
    parser.add_argument("--models", help="real model folders instead of the synthetic backends (slow)")
    parser.add_argument("--max-size", type=int, default=1024)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    folder = pathlib.Path(args.folder)
    plate_dir = folder / "plate"
    spec = synthetic.generate_shot(seed=11, num_frames=args.long, width=width, height=height, num_objects=6)
    if not (plate_dir / "plate.shot.json").is_file() or synthetic.ShotSpec.load(plate_dir / "plate.shot.json") != spec:
        shutil.rmtree(plate_dir, ignore_errors=True)
        started = time.perf_counter()
        synthetic.SyntheticShot(spec).write_plate(plate_dir, "plate", "exr")
        size = sum(p.stat().st_size for p in plate_dir.glob("*.exr")) / 2**20
        print(f"wrote a {args.long}-frame {width}x{height} half-float EXR plate ({size:.0f} MiB) in {time.perf_counter() - started:.0f} s")
    backend = ["--models", args.models] if args.models else ["--synthetic", str(plate_dir / "plate.shot.json"), "--synthetic-faults", "faulty"]
    print(f"backends: {'models in ' + args.models if args.models else 'synthetic (answer from ground truth, with faults)'}; max size {args.max_size}")
    print(f"{'frames':>6s} {'peak RSS MiB':>12s} {'seconds':>8s}  per stage (s)                         layers")
    results = {}
    for frames in (args.short, args.long):
        output = folder / f"out-{frames}"
        shutil.rmtree(output, ignore_errors=True)
        output.mkdir(parents=True)
        code, peak, seconds, summary = run_autoseg([
            "run", str(plate_dir / "plate.####.exr"), "--frames", f"{spec.first_frame}-{spec.first_frame + frames - 1}",
            "--output", str(output), "--max-size", str(args.max_size), *backend,
        ])
        if code != 0:
            print(f"autoseg failed with exit code {code} on {frames} frames")
            return 1
        stages = summary.get("stages", {})
        per_stage = " ".join(f"{k} {v.get('seconds', 0):.0f}" for k, v in stages.items())
        layers = stages.get("track", {}).get("layers", "?")
        print(f"{frames:6d} {peak:12.0f} {seconds:8.0f}  {per_stage:38s} {layers}")
        results[frames] = peak
    ratio = results[args.long] / results[args.short]
    print(f"peak memory {args.long} frames / {args.short} frames = {ratio:.2f}")
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
