"""Peak memory of ``autoseg run`` at 1080p, 4K and 6K plate sizes.

For each size, writes a short generated half-float EXR plate (6 frames by
default), then runs the whole pipeline (all four stages, one process, the
synthetic backends that answer from the plate's ground truth) and prints
the peak resident memory of the child (``ru_maxrss``), the seconds per
stage and the size of the mattes written at plate resolution. Usage::

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_plate_sizes.py [--frames 6] [--sizes 1920x1080,4096x2160,6144x3160]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_memory  # noqa: E402
from bench_memory import run_autoseg  # noqa: E402

from SegmentationCore import synthetic  # noqa: E402

SIZES = "1920x1080,4096x2160,6144x3160"


def write_plate(folder: str, width: int, height: int, frames: int, objects: int) -> None:
    spec = synthetic.generate_shot(seed=11, num_frames=frames, width=width, height=height, num_objects=objects)
    synthetic.SyntheticShot(spec).write_plate(pathlib.Path(folder), "plate", "exr")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--write-plate"]:
        folder, width, height, frames, objects = argv[1:6]
        write_plate(folder, int(width), int(height), int(frames), int(objects))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--sizes", default=SIZES)
    parser.add_argument("--objects", type=int, default=6)
    parser.add_argument("--folder", default="/tmp/autoseg-bench-plate-sizes")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--engine", help="another checkout's python/ folder to run (default: this one's)")
    parser.add_argument("--autoseg", default="", help="extra autoseg run arguments, e.g. --autoseg=--no-refine-edges")
    args = parser.parse_args(argv)
    if args.engine:
        bench_memory.ROOT = pathlib.Path(args.engine).resolve().parent
        print(f"engine: {bench_memory.ROOT / 'python'}")
    folder = pathlib.Path(args.folder)
    print(f"autoseg run {args.autoseg}".rstrip())
    print(f"synthetic backends, {args.frames} frames, {args.objects} objects, working size 1024 (default)")
    print(f"{'plate':>10s} {'peak RSS MiB':>12s} {'seconds':>8s}  {'per stage (s)':38s} {'mattes MiB/frame':>16s}"
          f" {'write alone: MiB':>16s} {'s':>6s}")
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        plate_dir = folder / size / "plate"
        shutil.rmtree(folder / size, ignore_errors=True)
        started = time.perf_counter()
        # in a child process: Linux carries the high-water RSS of the process
        # that starts autoseg into autoseg's own ru_maxrss (exec keeps it), so
        # this process must stay small for the figures to be autoseg's
        subprocess.run(
            [sys.executable, __file__, "--write-plate", str(plate_dir), str(width), str(height), str(args.frames), str(args.objects)],
            check=True, env=dict(os.environ, PYTHONPATH=str(bench_memory.ROOT / "python")),
        )
        written = time.perf_counter() - started
        output = folder / size / "out"
        output.mkdir(parents=True)
        code, peak, seconds, summary = run_autoseg([
            "run", str(plate_dir / "plate.####.exr"), "--output", str(output),
            "--synthetic", str(plate_dir / "plate.shot.json"), "--synthetic-faults", "faulty", *args.autoseg.split(),
        ])
        if code != 0:
            print(f"{size}: autoseg exited {code}")
            return code
        stages = " ".join(f"{k[:5]} {v.get('seconds', 0):.1f}" for k, v in summary.get("stages", {}).items())
        mattes = sum(p.stat().st_size for p in output.glob("*.exr")) / 2**20 / args.frames
        code, write_peak, write_seconds, _ = run_autoseg([
            "run", str(plate_dir / "plate.####.exr"), "--output", str(output),
            "--synthetic", str(plate_dir / "plate.shot.json"), "--synthetic-faults", "faulty", "--stage", "write", "--force",
            *args.autoseg.split(),
        ])
        if code != 0:
            print(f"{size}: autoseg --stage write exited {code}")
            return code
        print(f"{size:>10s} {peak:12.0f} {seconds:8.1f}  {stages:38s} {mattes:16.1f} {write_peak:16.0f} {write_seconds:6.1f}"
              f"   (plate written in {written:.0f} s)", flush=True)
        if not args.keep:
            shutil.rmtree(folder / size, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
