"""Quality of the pipeline's variants on generated shots with injected faults.

Prints J&F (identity-aware, one layer per object for the whole shot), the
identity-free per-frame J&F, ID switches and layers per object for every
cache rule (``paper``, ``recent``, ``guarded``; see docs/pipeline.md),
forward only and forward + backward, on every generated *world* and fault
preset, plus two baselines on the ``default`` world:

* per-frame stage 2 only (no tracking; layers numbered left to right on
  each frame, which is all a per-frame method can do);
* tracking from raw boxes (no stage 2: boxes prompt the tracker directly).

Worlds (``synthetic.WORLDS``): ``default`` (5 person-like shapes that
cross, occlude, enter and leave), ``crowded`` (8 objects packed into the
middle third), ``crossing`` (pairs walking through each other), ``return``
(objects that leave the frame or hide behind a large near object and come
back). Presets (``synthetic.FAULT_PRESETS``): ``faulty`` (the tracker's
drift is a rigid slide), ``faulty-smear`` (drift smears and grows into the
background), ``faulty-creep`` (drift creeps onto touching neighbours),
``faulty-no-drift`` and ``none``. After each preset an ``all worlds`` block
averages J&F and layers per object over every shot and sums ID switches.

Everything runs on the synthetic backends (ground truth known), so the
figures measure the algorithm, not the models. Usage::

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_quality.py \\
        [--shots 6] [--frames 48] [--worlds default,crowded,crossing,return] \\
        [--presets faulty,faulty-smear,faulty-creep,none] [--rules paper,recent,guarded]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "python"))

from SegmentationCore.pipeline import metrics, stage2, tracking  # noqa: E402
from SegmentationCore import synthetic  # noqa: E402
from SegmentationCore.pipeline.mask_cache import MaskCache  # noqa: E402


def stage2_only(shot, detector, segmenter):
    """Per-frame stage 2 on every frame; names by left-to-right order."""
    per_frame = {}
    for frame in shot.frame_numbers:
        result = stage2.segment_frame(segmenter, shot, frame, detector.detect(shot, frame, ["person"]))
        order = sorted(range(len(result)), key=lambda i: np.argwhere(result.masks[i] >= 0.5)[:, 1].mean())
        per_frame[frame] = {f"/person/person_{rank + 1:04d}": result.masks[i] for rank, i in enumerate(order)}
    return per_frame.__getitem__, {"stage-2 frames": len(shot.frame_numbers), "tracked frames": 0}


def loop(shot, detector, segmenter, tracker, params, raw=False):
    frames = tracking.stage2_frames(shot.frame_numbers, params)
    results = {}
    for frame in frames:
        detections = detector.detect(shot, frame, ["person"])
        results[frame] = stage2.raw_boxes(shot, frame, detections) if raw else stage2.segment_frame(segmenter, shot, frame, detections)
    cache = MaskCache(shot.size)
    passes = tracking.track_shot(tracker, shot, cache, results, params)
    visits = sum(len(w.frames) for p in passes for w in p.windows)
    return cache.layers, {"stage-2 frames": len(frames), "tracked frames": visits}


BASELINES = [
    ("stage 2 per frame only", lambda s, d, g, t: stage2_only(s, d, g)),
    ("tracking from raw boxes", lambda s, d, g, t: loop(s, d, g, t, tracking.TrackingParams(), raw=True)),
]


def rule_variants(rules):
    variants = []
    for rule in rules:
        for backward, passes in ((False, "forward only"), (True, "forward + backward")):
            params = tracking.TrackingParams(backward=backward, cache_rule=rule)
            variants.append((f"{rule}, {passes}", lambda s, d, g, t, p=params: loop(s, d, g, t, p)))
    return variants


def faults_for(preset):
    if preset == "faulty-no-drift":
        faults = synthetic.FAULT_PRESETS["faulty"]()
        faults.tracker.drift = 0.0
        return faults
    return synthetic.FAULT_PRESETS[preset]()


HEADER = f"{'variant':32s} {'J&F':>6s} {'J':>6s} {'F':>6s} {'frameJ&F':>9s} {'IDsw':>5s} {'layers/obj':>10s} {'extra':>5s} {'stage2 fr':>9s} {'tracked fr':>10s} {'sec':>6s}"


def line(name, rows, seconds):
    mean = lambda key: float(np.mean([getattr(s, key) for s, _ in rows]))  # noqa: E731
    return (
        f"{name:32s} {mean('jf'):6.3f} {mean('j'):6.3f} {mean('f'):6.3f} {mean('frame_jf'):9.3f} "
        f"{sum(s.id_switches for s, _ in rows):5d} {mean('layers_per_object'):10.2f} {sum(s.extra_layers for s, _ in rows):5d} "
        f"{sum(c['stage-2 frames'] for _, c in rows):9d} {sum(c['tracked frames'] for _, c in rows):10d} {seconds:6.1f}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=6, help="shots per world (seeds 0..shots-1)")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--objects", type=int, default=5, help="objects per shot (crowded shots have at least 8)")
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--worlds", default=",".join(synthetic.WORLDS))
    parser.add_argument("--presets", default="faulty,faulty-smear,faulty-creep,none")
    parser.add_argument("--rules", default=",".join(tracking.CACHE_RULES))
    parser.add_argument("--no-baselines", action="store_true", help="skip the two baselines on the default world")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    worlds = args.worlds.split(",")
    variants = rule_variants(args.rules.split(","))
    print(f"{args.shots} generated shots per world x {args.frames} frames, {width}x{height}, worlds {', '.join(worlds)}")
    for preset in args.presets.split(","):
        faults = faults_for(preset)
        print(f"\nfaults: {preset}")
        if preset != "none":
            print(f"        detector {faults.detector.__dict__}\n        segmenter {faults.segmenter.__dict__}, tracker {faults.tracker.__dict__}")
        everything: dict[str, list] = {}
        for world in worlds:
            print(f"\n  world: {world}\n  {HEADER}")
            chosen = (BASELINES if world == "default" and not args.no_baselines else []) + variants
            for name, run in chosen:
                rows = []
                started = time.perf_counter()
                for seed in range(args.shots):
                    spec = synthetic.generate_shot(seed=seed, num_frames=args.frames, width=width, height=height,
                                                   num_objects=args.objects, world=world)
                    shot = synthetic.SyntheticShot(spec)
                    detector, segmenter, tracker = synthetic.make_backends(shot, faults, seed=seed)
                    predicted, cost = run(shot, detector, segmenter, tracker)
                    rows.append((metrics.evaluate(shot.frame_numbers, predicted, shot.gt_masks), cost))
                print("  " + line(name, rows, time.perf_counter() - started), flush=True)
                if (name, run) in variants:
                    everything.setdefault(name, []).extend(rows)
        if len(worlds) > 1:
            print(f"\n  all worlds ({len(worlds)} x {args.shots} shots)\n  {HEADER}")
            for name, rows in everything.items():
                print("  " + line(name, rows, 0.0))
    print("\nJ&F: shot-level identity (one layer per object); frameJ&F: per-frame matching (identity-free);"
          "\nIDsw: ID switches summed over shots; layers/obj: distinct layers covering an object (mean);"
          "\nextra: layers matched to no object; stage2 fr / tracked fr: frames through stages 1-2 / tracker visits, summed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
