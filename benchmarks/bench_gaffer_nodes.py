#!/usr/bin/env python
"""What the Gaffer nodes add on top of the engine, on a synthetic shot.

Runs the same shot twice with the engine's synthetic backends (so the figures
are the nodes' own cost, not the models'):

* engine : plate frames from disk (PlateFrameSource), stage 2 on the re-prompt
  frames, `tracking.track_shot`, `mask_cache.compact` ;
* nodes : ImageReader -> Detect -> Segment -> Track in the Gaffer stand-in,
  pulling `layers` on every frame.

Prints both times, their ratio, and how big the data in the plugs is (the
compressed shot in Gaffer's cache, one frame of layers). The stand-in is
pure Python : in a real Gaffer the graph overhead differs (the IECore
conversions are C++, images come tile by tile).

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_gaffer_nodes.py [--frames 48] [--width 1024]
"""

import argparse
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "gaffer_standin"), str(ROOT / "python")]

import numpy as np  # noqa: E402

import Gaffer  # noqa: E402
import GafferImage  # noqa: E402
import GafferSegmentation  # noqa: E402
from SegmentationCore import plates, synthetic
from SegmentationCore.pipeline import stage2, tracking  # noqa: E402
from SegmentationCore.pipeline.mask_cache import MaskCache  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--objects", type=int, default=5)
    args = parser.parse_args()
    height = args.width * 9 // 16

    with tempfile.TemporaryDirectory() as directory:
        spec = synthetic.generate_shot(seed=5, num_frames=args.frames, width=args.width, height=height, num_objects=args.objects)
        shot = synthetic.SyntheticShot(spec)
        pattern = shot.write_plate(directory)
        shotFile = str(pathlib.Path(directory) / "plate.shot.json")
        frames = spec.frame_numbers
        params = tracking.TrackingParams()

        # Engine alone.
        started = time.perf_counter()
        source = plates.PlateFrameSource(plates.parse_sequence(pattern), 1024)
        detector, segmenter, tracker = synthetic.make_backends(synthetic.SyntheticShot(spec), "none")
        results = {}
        for frame in tracking.stage2_frames(frames, params):
            results[frame] = stage2.segment_frame(segmenter, source, frame, detector.detect(source, frame, ["person"]))
        cache = MaskCache(source.size)
        tracking.track_shot(tracker, source, cache, results, params)
        cache.compact(min_area=params.min_layer_area)
        engine = time.perf_counter() - started
        engineLayers = len(cache.layer_ids)

        # Through the nodes.
        Gaffer.ValuePlug.clearCache()
        script = Gaffer.ScriptNode()
        script["frameRange"]["start"].setValue(frames[0])
        script["frameRange"]["end"].setValue(frames[-1])
        script["reader"] = GafferImage.ImageReader()
        script["reader"]["fileName"].setValue(pattern)
        script["detect"] = GafferSegmentation.Detect()
        script["detect"]["in"].setInput(script["reader"]["out"])
        script["detect"]["model"].setValue(shotFile)
        script["segment"] = GafferSegmentation.Segment()
        script["segment"]["in"].setInput(script["reader"]["out"])
        script["segment"]["detections"].setInput(script["detect"]["detections"])
        script["segment"]["model"].setValue(shotFile)
        script["track"] = GafferSegmentation.Track()
        script["track"]["in"].setInput(script["reader"]["out"])
        script["track"]["masks"].setInput(script["segment"]["masks"])
        script["track"]["model"].setValue(shotFile)

        started = time.perf_counter()
        context = Gaffer.Context(script.context())
        names = set()
        with context:
            for frame in frames:
                context.setFrame(frame)
                names.update(script["track"]["layers"].getValue()["names"])
                if frame == frames[0]:
                    first = time.perf_counter() - started
        nodes = time.perf_counter() - started

        with context:
            context.setFrame(frames[len(frames) // 2])
            shotData = script["track"]["__shot"].getValue()
            layerData = script["track"]["layers"].getValue()
        shotBytes = sum(len(e["ids"]["data"]) + len(e["probabilities"]["data"]) for e in shotData["frames"].values())
        frameBytes = len(layerData["ids"]["data"]) + len(layerData["probabilities"]["data"])
        raw = np.prod(source.size) * 3  # uint16 ids + uint8 probabilities

    print(f"shot: {args.frames} frames, {args.width}x{height} plate, {args.objects} objects, working size {source.size[1]}x{source.size[0]}")
    print(f"engine alone : {engine:6.2f} s ({engineLayers} layers)")
    print(f"Gaffer nodes : {nodes:6.2f} s ({len(names)} layers; first frame {first:.2f} s, then {(nodes - first) / max(1, len(frames) - 1) * 1000:.0f} ms per frame)")
    print(f"ratio nodes / engine : {nodes / engine:.2f}")
    print(f"shot in Gaffer's cache : {shotBytes / 1e6:.2f} MB compressed ({shotBytes / (raw * len(frames)):.1%} of the raw maps)")
    print(f"one frame of layers : {frameBytes / 1e3:.1f} kB compressed ({frameBytes / raw:.1%} of the raw maps)")


if __name__ == "__main__":
    main()
