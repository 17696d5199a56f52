"""Quality of the pipeline's variants on generated shots with injected faults.

Prints J&F (identity-aware, one layer per object for the whole shot), the
identity-free per-frame J&F, ID switches and layers per object for:

1. per-frame stage 2 only (no tracking; layers numbered left to right on
   each frame, which is all a per-frame method can do);
2. tracking from raw boxes (no stage 2: boxes prompt the tracker directly);
3. the full loop, forward pass only;
4. the full loop, forward + backward (the paper's method);
5. and 6. the full loop with the optional ``recent`` cache rule
   (``TrackingParams(cache_rule="recent")``, ``autoseg run --cache-rule
   recent``), forward only and forward + backward.

Everything runs on the synthetic backends (ground truth known), so the
figures measure the algorithm, not the models. Usage::

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_quality.py [--shots 6] [--frames 48]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "python"))

from SegmentationCore.pipeline import metrics, stage2, tracking
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


VARIANTS = [
    ("stage 2 per frame only", lambda s, d, g, t: stage2_only(s, d, g)),
    ("tracking from raw boxes", lambda s, d, g, t: loop(s, d, g, t, tracking.TrackingParams(), raw=True)),
    ("full loop, forward only", lambda s, d, g, t: loop(s, d, g, t, tracking.TrackingParams(backward=False))),
    ("full loop, forward + backward", lambda s, d, g, t: loop(s, d, g, t, tracking.TrackingParams())),
    ("recent rule, forward only", lambda s, d, g, t: loop(s, d, g, t, tracking.TrackingParams(backward=False, cache_rule="recent"))),
    ("recent rule, forward + backward", lambda s, d, g, t: loop(s, d, g, t, tracking.TrackingParams(cache_rule="recent"))),
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=6)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--objects", type=int, default=5)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--presets", default="faulty,faulty-no-drift,none")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    print(f"{args.shots} generated shots x {args.frames} frames, {width}x{height}, {args.objects} objects each (seeds 0..{args.shots - 1})")
    for preset in args.presets.split(","):
        faults = synthetic.FAULT_PRESETS["faulty" if preset.startswith("faulty") else preset]()
        if preset == "faulty-no-drift":
            faults.tracker.drift = 0.0
        print(f"\nfaults: {preset}  (detector {faults.detector.__dict__ if preset != 'none' else 'none'})" if preset != "none" else "\nfaults: none")
        if preset != "none":
            print(f"        segmenter {faults.segmenter.__dict__}, tracker {faults.tracker.__dict__}")
        print(f"{'variant':32s} {'J&F':>6s} {'J':>6s} {'F':>6s} {'frameJ&F':>9s} {'IDsw':>5s} {'layers/obj':>10s} {'extra':>5s} {'stage2 fr':>9s} {'tracked fr':>10s} {'sec':>5s}")
        for name, run in VARIANTS:
            rows = []
            started = time.perf_counter()
            for seed in range(args.shots):
                spec = synthetic.generate_shot(seed=seed, num_frames=args.frames, width=width, height=height, num_objects=args.objects)
                shot = synthetic.SyntheticShot(spec)
                detector, segmenter, tracker = synthetic.make_backends(shot, faults, seed=seed)
                predicted, cost = run(shot, detector, segmenter, tracker)
                scores = metrics.evaluate(shot.frame_numbers, predicted, shot.gt_masks)
                rows.append((scores, cost))
            seconds = time.perf_counter() - started
            mean = lambda key: float(np.mean([getattr(s, key) for s, _ in rows]))  # noqa: E731
            switches = sum(s.id_switches for s, _ in rows)
            stage2_frames = sum(c["stage-2 frames"] for _, c in rows)
            visits = sum(c["tracked frames"] for _, c in rows)
            extra = sum(s.extra_layers for s, _ in rows)
            print(
                f"{name:32s} {mean('jf'):6.3f} {mean('j'):6.3f} {mean('f'):6.3f} {mean('frame_jf'):9.3f} {switches:5d} "
                f"{mean('layers_per_object'):10.2f} {extra:5d} {stage2_frames:9d} {visits:10d} {seconds:5.1f}"
            )
    print("\nJ&F: shot-level identity (one layer per object); frameJ&F: per-frame matching (identity-free);"
          "\nIDsw: ID switches summed over shots; stage2 fr / tracked fr: frames through stages 1-2 / tracker visits, summed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
