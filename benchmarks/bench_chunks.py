"""Chunked tracking for long shots: quality against the whole-shot loop, and wall time.

**Quality** (default): generated shots of ``--frames`` (240) frames with
injected faults (synthetic backends, ground truth known). For each shot the
stage-2 results are computed once (the frames are the same whatever the
chunking, see pipeline/chunks.py); then the whole-shot loop and chunked
tracking + reconcile for every ``--configs`` entry (``N:OVERLAP`` = N
chunks sharing OVERLAP frames). Prints J&F (identity-aware), ID switches
and layers per object per shot, and the mean / total over shots.

**Wall time** (``--wall``): ``autoseg run`` on a generated plate written to
disk, synthetic backends, whole pipeline (detect, segment, track, write):
plain in one process, then ``--workers 1`` and ``--workers 2`` with the
task graph of ``autoseg plan`` (chunked with ``--wall-chunks``). Prints the
wall times, per-stage seconds (sum over tasks) and a model for N GPU
machines from per-stage costs (``--model-costs``: the measured ones, or
per-frame GPU seconds such as the paper's).

Usage::

    .venv/bin/python benchmarks/bench_chunks.py [--frames 240] [--shots default:1,crossing:2,return:3]
        [--preset faulty] [--configs 2:20,4:20,4:40,8:20,8:10] [--rule guarded]
    .venv/bin/python benchmarks/bench_chunks.py --wall [--wall-frames 120] [--wall-chunks 2]
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from SegmentationCore import synthetic  # noqa: E402
from SegmentationCore.pipeline import chunks, metrics, stage2, tracking  # noqa: E402
from SegmentationCore.pipeline.mask_cache import MaskCache  # noqa: E402


def quality(args) -> None:
    configs = [tuple(int(v) for v in item.split(":")) for item in args.configs.split(",")]
    params = tracking.TrackingParams(cache_rule=args.rule)
    rows: dict[str, list] = {"whole shot": []}
    for n, overlap in configs:
        rows[f"{n} chunks of ~{args.frames // n}, overlap {overlap}"] = []
    print(f"{args.frames} frames, {args.width}x{args.height}, preset {args.preset}, cache rule {args.rule}")
    for item in args.shots.split(","):
        world, seed = item.split(":")
        spec = synthetic.generate_shot(seed=int(seed), num_frames=args.frames, width=args.width, height=args.height,
                                       num_objects=args.objects, world=world)
        shot = synthetic.SyntheticShot(spec)
        detector, segmenter, tracker = synthetic.make_backends(shot, args.preset)
        started = time.perf_counter()
        results = {}
        for frame in tracking.stage2_frames(shot.frame_numbers, params):
            results[frame] = stage2.segment_frame(segmenter, shot, frame, detector.detect(shot, frame, ["person"]))
        stage2_seconds = time.perf_counter() - started

        def score(cache):
            return metrics.evaluate(shot.frame_numbers, cache.layers, shot.gt_masks)

        started = time.perf_counter()
        whole = MaskCache(shot.size)
        tracking.track_shot(tracker, shot, whole, results, params)
        whole.compact(min_area=params.min_layer_area)
        seconds = time.perf_counter() - started
        base = score(whole)
        rows["whole shot"].append((base, seconds, None))
        print(f"  {world}:{seed}  stage 2 {stage2_seconds:.1f} s  whole shot: {base.line()}  ({seconds:.1f} s)")
        for n, overlap in configs:
            started = time.perf_counter()
            cache, summary = chunks.track_chunks(tracker, shot, results, params, n, overlap)
            seconds = time.perf_counter() - started
            scores = score(cache)
            matched = sum(len(b["matched"]) for b in summary["boundaries"])
            rows[f"{n} chunks of ~{args.frames // n}, overlap {overlap}"].append((scores, seconds, matched))
            print(f"  {world}:{seed}  {n} chunks, overlap {overlap}: {scores.line()}  "
                  f"({seconds:.1f} s, {matched} layers matched across {n - 1} boundaries)")
    print()
    print("| tracking | J&F (mean) | ΔJ&F vs whole | ID switches (total) | layers/object | worst shot ΔJ&F |")
    print("|---|---|---|---|---|---|")
    base_jf = [r[0].jf for r in rows["whole shot"]]
    for label, entries in rows.items():
        jf = [r[0].jf for r in entries]
        switches = sum(r[0].id_switches for r in entries)
        lpo = sum(r[0].layers_per_object for r in entries) / len(entries)
        delta = sum(jf) / len(jf) - sum(base_jf) / len(base_jf)
        worst = min(a - b for a, b in zip(jf, base_jf))
        print(f"| {label} | {sum(jf) / len(jf):.3f} | {delta:+.3f} | {switches} | {lpo:.2f} | {worst:+.3f} |")


# ---------------------------------------------------------------------------- wall time


def _autoseg(*argv: str) -> tuple[float, dict]:
    summary = pathlib.Path(tempfile.mktemp(suffix=".json"))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "SegmentationCore.cli", *argv, "--progress", "none", "--summary", str(summary)],
                   check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT / "python"), "PATH": "/usr/bin:/bin"})
    seconds = time.perf_counter() - started
    data = json.loads(summary.read_text())
    summary.unlink()
    return seconds, data


def wall(args) -> None:
    root = pathlib.Path(tempfile.mkdtemp(prefix="bench_chunks_"))
    spec = synthetic.generate_shot(seed=3, num_frames=args.wall_frames, width=args.wall_width, height=args.wall_height, num_objects=5)
    synthetic.SyntheticShot(spec).write_plate(root / "plate", "shot", "exr")
    common = [str(root / "plate" / "shot.####.exr"), "--synthetic", str(root / "plate" / "shot.shot.json"), "--synthetic-faults", "faulty"]
    print(f"plate: {args.wall_frames} frames {args.wall_width}x{args.wall_height}, synthetic backends (faulty), both output formats")
    plain, data = _autoseg("run", *common, "--output", str(root / "plain"))
    stages = {k: v["seconds"] for k, v in data["stages"].items()}
    print(f"plain autoseg run (one process): {plain:.1f} s wall; stages {stages}")
    figures = {}
    for workers in (1, 2):
        out = root / f"w{workers}"
        seconds, data = _autoseg("run", *common, "--output", str(out), "--chunks", str(args.wall_chunks),
                                 "--workers", str(workers), "--batch-size", str(args.wall_batch))
        per_stage: dict[str, float] = {}
        for task, task_seconds in data["tasks"].items():
            stage = task.split("/")[1]
            per_stage[stage] = round(per_stage.get(stage, 0.0) + task_seconds, 1)
        figures[workers] = (seconds, per_stage, len(data["tasks"]))
        print(f"--workers {workers} --chunks {args.wall_chunks}: {seconds:.1f} s wall, {len(data['tasks'])} tasks; "
              f"task seconds per stage {per_stage}")
        same = all((out / p.name).read_bytes() == p.read_bytes() for p in (root / "plain").glob("*.exr"))
        print(f"   mattes identical to the plain run: {same if args.wall_chunks == 1 else 'n/a (chunked)'}")
    model(args, stages)


def model(args, measured: dict[str, float]) -> None:
    """Wall time on N GPU machines for a long shot, from per-stage costs."""
    frames = args.model_frames
    s_p, window = 5, 20
    stage2_share = 0.4  # stages 1-2 run on ~40% of the frames (re-prompt frames of both passes)
    if args.model_costs == "paper":
        # seconds per frame on one GPU: the paper's ~6 s a frame in all (100 min for 1,000 frames),
        # split as measured for the ONNX graphs here: tracking dominates
        detect, segment, track, write = 0.5, 0.3, 5.0, 0.2
    else:
        n = args.wall_frames
        detect = measured.get("detect", 0) / n
        segment = measured.get("segment", 0) / n
        track = measured.get("track", 0) / n
        write = measured.get("write", 0) / n
    print()
    print(f"model: {frames}-frame shot, per-frame costs detect {detect:.3f} s, segment {segment:.3f} s, "
          f"track {track:.3f} s, write {write:.3f} s ({args.model_costs}); chunks = machines, overlap {window}")
    print("| GPU machines | detect+segment | track (longest chunk) | reconcile | write | total | speed-up |")
    print("|---|---|---|---|---|---|---|")
    one = None
    for machines in (1, 2, 4, 8, 16):
        n = min(machines, frames // s_p)
        parallel = (detect + segment) * frames / machines  # batches spread over every machine
        chunk_len = math.ceil(frames / n) + (window if n > 1 else 0) + (s_p if n > 1 else 0)
        tracked = track * min(chunk_len, frames)
        reconcile = 0.02 * frames if n > 1 else 0.0  # numpy on the caches: 3.0 s for 80 frames here, process start included
        written = write * frames / machines
        total = parallel + tracked + reconcile + written
        one = one or total
        print(f"| {machines} | {parallel / 60:.1f} min | {tracked / 60:.1f} min | {reconcile:.0f} s | {written / 60:.1f} min | "
              f"{total / 60:.1f} min | {one / total:.1f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--objects", type=int, default=5)
    parser.add_argument("--shots", default="default:1,crossing:2,return:3")
    parser.add_argument("--preset", default="faulty")
    parser.add_argument("--rule", default=tracking.TrackingParams().cache_rule, choices=tracking.CACHE_RULES)
    parser.add_argument("--configs", default="2:20,4:20,4:40,8:20,8:10")
    parser.add_argument("--wall", action="store_true")
    parser.add_argument("--wall-frames", type=int, default=120)
    parser.add_argument("--wall-width", type=int, default=480)
    parser.add_argument("--wall-height", type=int, default=270)
    parser.add_argument("--wall-chunks", type=int, default=2)
    parser.add_argument("--wall-batch", type=int, default=20)
    parser.add_argument("--model-frames", type=int, default=1000)
    parser.add_argument("--model-costs", choices=("measured", "paper"), default="paper")
    args = parser.parse_args()
    if args.wall:
        wall(args)
    else:
        quality(args)


if __name__ == "__main__":
    main()
