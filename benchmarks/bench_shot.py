#!/usr/bin/env python
"""Whole-shot benchmark: ``autoseg run`` end to end on the standard case.

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_shot.py
    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_shot.py --frames 12   # shorter, say so

Standard case: a 48-frame synthetic plate, 2.39:1 (2048x857 half-float
EXR, 1024x428 working resolution), 3 objects from a prompt file (``only``
mode: boxes on each object's first visible frame; no detector), tiny SAM2.1
with random weights (the tests' export), default tracking settings (20-frame
windows re-prompted every 5 frames, forward and backward passes).

Each model folder runs in its own child process; the table gives
frames/minute, seconds per stage (from ``--summary``) and per graph
(calls, objects, seconds inside ONNX Runtime). The default compares
today's export (``--memory-attention folded``) with the graph from before
issue 13 (``plain``) in one run and prints the ratio. ``--large DIR``
also times the image encoder of a large export (e.g. ``sam2.1_hiera_l``
with random weights) and prints the shot with that encoder, for scale.
Figures depend on the machine's load: compare ratios from one run.
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
for sub in ("python", "export", "tests"):
    if str(ROOT / sub) not in sys.path:
        sys.path.insert(0, str(ROOT / sub))

PLATE_WIDTH, PLATE_HEIGHT = 2048, 857  # 2.39:1


def make_plate(folder: pathlib.Path, frames: int, objects: int, seed: int) -> tuple[str, pathlib.Path, int]:
    """The synthetic plate and its prompt file (boxes from the ground truth)."""
    import numpy as np

    from SegmentationCore import synthetic

    spec = synthetic.generate_shot(seed=seed, num_frames=frames, width=PLATE_WIDTH, height=PLATE_HEIGHT,
                                   num_objects=objects)
    plate_dir = folder / "plate"
    if not (plate_dir / "plate.shot.json").is_file() or synthetic.ShotSpec.load(plate_dir / "plate.shot.json") != spec:
        shutil.rmtree(plate_dir, ignore_errors=True)
        synthetic.SyntheticShot(spec).write_plate(plate_dir, "plate", "exr")
    shot = synthetic.SyntheticShot(spec)
    entries = []
    for index in range(objects):
        for frame in spec.frame_numbers:
            mask = shot.full_mask(index, frame, (PLATE_HEIGHT, PLATE_WIDTH))
            if mask.sum() > 200:
                ys, xs = np.nonzero(mask)
                box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
                entries.append({"class": "person", "keyframes": {str(frame): {"box": box}}})
                break
    prompts = {"format": "autoseg-prompts", "version": 1, "mode": "only",
               "image_size": [PLATE_WIDTH, PLATE_HEIGHT], "objects": entries}
    prompt_file = folder / "shot.prompts.json"
    prompt_file.write_text(json.dumps(prompts, indent=1))
    return str(plate_dir / "plate.####.exr"), prompt_file, spec.first_frame


def child(arguments: list[str], stats_path: str) -> int:
    """In a fresh process: ``autoseg run`` in-process, then the graph statistics."""
    from SegmentationCore import cli
    from SegmentationCore.models.sam2 import graph_stats

    started = time.perf_counter()
    code = cli.main(arguments)
    seconds = time.perf_counter() - started
    pathlib.Path(stats_path).write_text(json.dumps({"code": code, "seconds": seconds, "graphs": graph_stats()}))
    return code


def run_shot(label: str, model: pathlib.Path, plate: str, prompts: pathlib.Path, frames: str, folder: pathlib.Path,
             threads: int, extra: list[str]) -> dict:
    output = folder / f"out-{label}"
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    summary = output / "summary.json"
    stats = output / "graphs.json"
    arguments = ["run", plate, "--frames", frames, "--output", str(output), "--sam2", str(model), "--prompts",
                 str(prompts), "--summary", str(summary), "--progress", "none", "--threads", str(threads), *extra]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    completed = subprocess.run([sys.executable, __file__, "--child", json.dumps(arguments), str(stats)], env=env)
    if completed.returncode != 0 or not stats.is_file():
        raise SystemExit(f"autoseg run with {model} failed (exit {completed.returncode})")
    result = json.loads(stats.read_text())
    result["summary"] = json.loads(summary.read_text()) if summary.is_file() else {}
    return result


def encoder_seconds(model: pathlib.Path, threads: int, repeat: int = 2) -> float:
    import numpy as np

    from SegmentationCore.models.sam2 import Sam2Model

    engine = Sam2Model(model, threads=threads)
    image = np.random.default_rng(0).normal(size=(1, 3, engine.input_size, engine.input_size)).astype(np.float32)
    engine.run("image_encoder", image=image)
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        engine.run("image_encoder", image=image)
        best = min(best, time.perf_counter() - started)
    return best


def report(label: str, result: dict, frames: int) -> None:
    seconds = result["seconds"]
    print(f"\n{label}: {seconds:.0f} s, {60.0 * frames / seconds:.2f} frames/min")
    stages = result["summary"].get("stages", {})
    print("   stages: " + ", ".join(f"{name} {value.get('seconds', 0):.0f} s" for name, value in stages.items()))
    print(f"   {'graph':<18} {'calls':>6} {'objects':>8} {'seconds':>8} {'s/call':>7} {'share':>6}")
    for role, values in sorted(result["graphs"].items(), key=lambda item: -item[1]["seconds"]):
        print(f"   {role:<18} {values['calls']:>6} {values['batch']:>8} {values['seconds']:8.1f} "
              f"{values['seconds'] / max(values['calls'], 1):7.2f} {values['seconds'] / seconds:6.0%}")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(json.loads(sys.argv[2]), sys.argv[3])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=48, help="frames of the shot (standard case: 48)")
    parser.add_argument("--objects", type=int, default=3, help="objects in the prompt file (standard case: 3)")
    parser.add_argument("--seed", type=int, default=5, help="synthetic shot seed")
    parser.add_argument("--model", help="model folder to measure (default: the tests' tiny export, folded)")
    parser.add_argument("--baseline", help="model folder to compare with (default: the same export with the "
                        "plain memory attention); 'none' to skip")
    parser.add_argument("--large", help="a large export (e.g. sam2.1_hiera_l): time its image encoder for scale")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--folder", default="/tmp/autoseg-bench-shot", help="scratch folder (plate + outputs)")
    parser.add_argument("--autoseg", default="", help="extra autoseg run arguments")
    args = parser.parse_args()

    from fixtures_sam2 import export_cached

    model = pathlib.Path(args.model) if args.model else export_cached()
    baseline = None
    if args.baseline != "none":
        baseline = pathlib.Path(args.baseline) if args.baseline else export_cached(memory_attention="plain")
    folder = pathlib.Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    plate, prompts, first = make_plate(folder, args.frames, args.objects, args.seed)
    frames = f"{first}-{first + args.frames - 1}"
    print(f"Shot: {args.frames} frames {PLATE_WIDTH}x{PLATE_HEIGHT} (2.39:1) -> 1024 wide, {args.objects} objects "
          f"from {prompts.name}, {args.threads} threads; other work on the machine shows in the figures")

    runs = [("new", model)] + ([("baseline", baseline)] if baseline else [])
    results = {}
    for label, folder_ in runs:
        variant = json.loads((folder_ / "manifest.json").read_text()).get("memory_attention_variant", "plain")
        results[label] = run_shot(label, folder_, plate, prompts, frames, folder, args.threads, args.autoseg.split())
        report(f"{label} ({folder_.name}, memory attention {variant})", results[label], args.frames)
    if baseline:
        new, old = results["new"], results["baseline"]
        print(f"\nratio new/baseline: shot {old['seconds'] / new['seconds']:.2f}x frames/min", end="")
        for role in ("memory_attention", "mask_decoder", "memory_encoder", "image_encoder"):
            if role in new["graphs"] and role in old["graphs"]:
                print(f", {role} {old['graphs'][role]['seconds'] / max(new['graphs'][role]['seconds'], 1e-9):.2f}x", end="")
        print()
    if args.large:
        tiny = encoder_seconds(model, args.threads)
        large = encoder_seconds(pathlib.Path(args.large), args.threads)
        new = results["new"]
        calls = new["graphs"].get("image_encoder", {}).get("calls", 0)
        seconds = new["seconds"] + calls * (large - tiny)
        print(f"\nlarge encoder ({pathlib.Path(args.large).name}): {large:.1f} s/frame vs tiny {tiny:.1f} s; "
              f"this shot with it: about {seconds:.0f} s, {60.0 * args.frames / seconds:.2f} frames/min "
              f"({calls} encoder calls; the large model's memory graphs are the same size)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
