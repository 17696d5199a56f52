"""What letterboxing costs GroundingDINO: the same frames run padded into a
16:9 graph vs. through a graph of their exact size.

Exports the reduced ``tiny`` config with random weights (as the test
fixtures do; cached under ``build/bench-models/``) at the test sizes
(512x288, 288x512, 320x320) and at one exact size per tested frame, then for each frame compares the
detections of the padded run with those of the exact-size run: boxes are
matched greedily by IoU; the script prints the mean / worst score
difference and box IoU of the matched pairs, and how many boxes only one of
the runs kept. Random weights make the figures a property of the geometry
(padding changes the image the attention sees), not of a trained model.
Usage::

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_letterbox.py [--frames 4]
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
CACHE = ROOT / "build" / "bench-models"

from SegmentationCore import synthetic  # noqa: E402
from SegmentationCore.models.groundingdino import load_detector  # noqa: E402
from SegmentationCore.models.groundingdino.postprocess import box_iou  # noqa: E402
from SegmentationCore.plates import ArrayFrameSource  # noqa: E402

# (width, height) of the frames tried; each is also exported as its own graph.
FRAMES = ((512, 256), (384, 288))  # 2:1 (into 16:9), 4:3 (into the square graph)
PADDED = ((512, 288), (288, 512), (320, 320))


def compare(a, b) -> tuple[list[float], list[float], int]:
    """Greedy IoU matching of two Detections: score diffs, IoUs, unmatched count."""
    used = set()
    score_diffs, ious = [], []
    for index in np.argsort(-a.scores):
        if len(b) == 0:
            break
        overlaps = box_iou(a.boxes[index], b.boxes)
        for taken in used:
            overlaps[taken] = -1
        best = int(np.argmax(overlaps))
        if overlaps[best] > 0.3:
            used.add(best)
            ious.append(float(overlaps[best]))
            score_diffs.append(abs(float(a.scores[index]) - float(b.scores[best])))
    return score_diffs, ious, (len(a) - len(ious)) + (len(b) - len(used))


def export(sizes) -> pathlib.Path:
    """A random-weights tiny export at ``sizes`` (reused when present)."""
    import subprocess

    label = ",".join(f"{w}x{h}" for w, h in sizes)
    folder = CACHE / f"gdino-tiny-{label.replace(',', '_')}"
    if not (folder / "manifest.json").is_file():
        command = [sys.executable, str(ROOT / "export" / "export_groundingdino.py"), "--random-weights", "--config", "tiny",
                   "--sizes", label, "--output", str(folder), "--force"]
        print(f"exporting {label} ...", flush=True)
        subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
    return folder


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=4, help="synthetic frames per size")
    parser.add_argument("--box-threshold", type=float, default=0.2)
    args = parser.parse_args(argv)
    padded_dir = export(PADDED)
    exact_dir = export(FRAMES)
    thresholds = dict(box_threshold=args.box_threshold, text_threshold=0.0, max_detections=50)
    padded = load_detector(padded_dir, providers="cpu", **thresholds)
    exact = load_detector(exact_dir, providers="cpu", **thresholds)
    print(f"tiny GroundingDINO, random weights; box threshold {args.box_threshold}; {args.frames} frames per size")
    print(f"{'frame':>8s} {'padded into':>11s} {'fill':>5s} {'boxes p/e':>9s} {'matched':>7s} "
          f"{'|dscore| mean/max':>17s} {'IoU mean/min':>13s} {'unmatched':>9s}")
    for width, height in FRAMES:
        spec = synthetic.generate_shot(seed=21, num_frames=args.frames, width=width, height=height, num_objects=4)
        shot = synthetic.SyntheticShot(spec)
        frames = ArrayFrameSource({f: shot.image(f) for f in spec.frame_numbers})
        graph = padded.graph_for(frames.size)
        assert exact.graph_for(frames.size).label == f"{width}x{height}"
        diffs, ious, unmatched, counts = [], [], 0, [0, 0]
        for frame in spec.frame_numbers:
            a = padded.detect(frames, frame, ["person", "car"])
            b = exact.detect(frames, frame, ["person", "car"])
            counts[0] += len(a)
            counts[1] += len(b)
            d, i, u = compare(a, b)
            diffs += d
            ious += i
            unmatched += u
        fill = (width / height) / graph.aspect if graph.aspect > width / height else graph.aspect / (width / height)
        mean = lambda v: float(np.mean(v)) if v else float("nan")  # noqa: E731
        print(f"{width}x{height:<4d} {graph.label:>11s} {fill:5.2f} {counts[0]:4d}/{counts[1]:<4d} {len(ious):7d} "
              f"{mean(diffs):8.4f}/{max(diffs, default=float('nan')):.4f} {mean(ious):6.3f}/{min(ious, default=float('nan')):.3f} "
              f"{unmatched:9d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
