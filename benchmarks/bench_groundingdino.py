#!/usr/bin/env python
"""GroundingDINO: ONNX Runtime vs PyTorch eager on CPU, plus int8 / fp16 variants.

Heavy (a full Swin-T export is ~1 min and 2-3 GB per size); run it alone::

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_groundingdino.py

For every size (default: 1024x576, the 16:9 working resolution, and
1333x800, the upstream demos' 800-short-side resize) it prints: export time,
ONNX size, session load time and memory, seconds per frame for ONNX Runtime
(fp32) and PyTorch eager with the same thread count, their ratio, and for
dynamic int8 quantisation and fp16 conversion: size, seconds per frame and
error against fp32. The 1024x576 graph is exported through
``export_groundingdino.export`` (so its ONNX-vs-PyTorch parity is measured
too) and also timed through the engine's ``Detector`` (tokeniser,
letterbox, post-processing included).

Random weights by default (official weights: ``--checkpoint`` + ``--vocab``).
Speed does not depend on the weights; the int8/fp16 errors do, so treat
random-weight errors as an upper-bound smoke test, not accuracy figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import pathlib
import resource
import shutil
import statistics
import sys
import tempfile
import time
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "export"), str(ROOT / "python")]
warnings.filterwarnings("ignore")
logging.getLogger().setLevel(logging.ERROR)  # the quantiser logs every tensor it skips

import numpy as np  # noqa: E402
import psutil  # noqa: E402

CAPTION_PHRASES = ["person", "car", "dog"]


def rss_mib() -> float:
    return psutil.Process().memory_info().rss / 2**20


def timed(function, runs: int) -> tuple[float, list[float]]:
    function()  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def ort_session(path, threads):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    started = time.perf_counter()
    before = rss_mib()
    session = onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    return session, time.perf_counter() - started, rss_mib() - before


def _xyxy(boxes):
    return np.concatenate([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], 1)


def _iou(box, others):
    x0, y0 = np.maximum(box[0], others[:, 0]), np.maximum(box[1], others[:, 1])
    x1, y1 = np.minimum(box[2], others[:, 2]), np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / np.maximum(area(box) + area(others) - inter, 1e-9)


def variant_error(reference, outputs, top: int = 20) -> dict:
    """Error of a variant against fp32 on the same input: before the top-k
    (proposal scores, overlap of the selected positions) and at detection
    level (the fp32 top-``top`` queries by score, each matched to the
    variant's best-IoU box among its top ``top``)."""
    logits, boxes, scores, indices = reference
    v_logits, v_boxes, v_scores, v_indices = outputs
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    overlap = len(set(indices[0].tolist()) & set(v_indices[0].tolist())) / indices.shape[1]
    # rank by logit: with random weights many probabilities saturate at 1.0
    ref_top, var_top = np.argsort(-logits[0].max(1))[:top], np.argsort(-v_logits[0].max(1))[:top]
    ref_score, var_score = sig(logits[0]).max(1), sig(v_logits[0]).max(1)
    ref_boxes, var_boxes = _xyxy(boxes[0][ref_top]), _xyxy(v_boxes[0][var_top])
    ious, score_errors = [], []
    for i, box in enumerate(ref_boxes):
        overlaps = _iou(box, var_boxes)
        j = int(overlaps.argmax())
        ious.append(float(overlaps[j]))
        score_errors.append(abs(float(ref_score[ref_top[i]] - var_score[var_top[j]])))
    return {
        "proposal_scores_max_abs": round(float(np.abs(scores - v_scores).max()), 5),
        "selected_positions_shared": round(overlap, 4),
        f"top{top}_mean_iou": round(float(np.mean(ious)), 4),
        f"top{top}_min_iou": round(float(np.min(ious)), 4),
        f"top{top}_score_max_abs": round(float(np.max(score_errors)), 4),
    }


ENGINE_MEMORY_SCRIPT = """
import sys, time
sys.path.insert(0, {python!r})
import numpy as np
from SegmentationCore.plates.arrays import ArrayFrameSource
from SegmentationCore.models.groundingdino import load_detector
started = time.perf_counter()
detector = load_detector({folder!r}, providers="cpu", threads={threads})
frames = ArrayFrameSource([np.random.default_rng(0).random(({height}, {width}, 3), np.float32)], first_frame=1)
detector.detect(frames, 1, ["person", "car"])
# VmHWM: peak RSS of this process image (ru_maxrss would include the forked parent's)
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(time.perf_counter() - started, peak / 1024)
"""


def engine_memory(folder: pathlib.Path, width: int, height: int, threads: int) -> tuple[float, float]:
    """(seconds to load + first detect, peak RSS MiB) of a fresh engine process
    (no torch) that loads one graph and detects on one frame."""
    import subprocess

    code = ENGINE_MEMORY_SCRIPT.format(python=str(ROOT / "python"), folder=str(folder), threads=threads,
                                       width=width, height=height)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, peak = (float(v) for v in result.stdout.split()[-2:])
    return seconds, peak


def int8_converter():
    """Dynamic int8 quantisation of a graph file (weights only)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    return lambda source, target: quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)


def fp16_converter():
    """fp16 weights and arithmetic, fp32 inputs and outputs."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    def convert(source, target):
        onnx.save(convert_float_to_float16(onnx.load(str(source)), keep_io_types=True), str(target))

    return convert


def measure_variant(path, suffix, converter, reference, feed, args) -> dict:
    """Convert the fp32 graph at ``path`` with ``converter()`` (its imports
    are not timed), time the result and compare it with the fp32
    ``reference``; the converted file is removed again. A failure is
    reported, not raised."""
    target = path.with_name(path.stem + suffix)
    try:
        convert = converter()
        started = time.perf_counter()
        convert(path, target)
        convert_s = time.perf_counter() - started
        session, _, _ = ort_session(target, args.threads)
        seconds, _ = timed(lambda: session.run(None, feed), args.runs)
        error = variant_error(reference, session.run(None, feed))
        result = {"mib": round(target.stat().st_size / 2**20, 1), "s": seconds,
                  "convert_s": round(convert_s, 1), "error_vs_fp32": error}
        del session
    except Exception as failure:  # noqa: BLE001 - report and go on
        result = {"failed": str(failure)[:300]}
    target.unlink(missing_ok=True)
    gc.collect()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="SwinT")
    parser.add_argument("--checkpoint")
    parser.add_argument("--vocab")
    parser.add_argument("--sizes", default="1024x576,1333x800", help="WIDTHxHEIGHT list")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-variants", action="store_true", help="skip int8 / fp16")
    parser.add_argument("--work", help="scratch folder (default: a temporary one, removed)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

    import torch

    import export_groundingdino
    import gdino_build
    import gdino_parity
    from SegmentationCore.plates.arrays import ArrayFrameSource
    from SegmentationCore.models.groundingdino import PromptTokenizer, load_detector

    torch.set_num_threads(args.threads)
    work = pathlib.Path(args.work or tempfile.mkdtemp(prefix="bench-gdino-"))
    work.mkdir(parents=True, exist_ok=True)
    sizes = export_groundingdino.parse_sizes(args.sizes)
    figures = {"config": args.config, "threads": args.threads, "random_weights": args.checkpoint is None,
               "cpu": f"{os.cpu_count()} logical cores", "sizes": {}}
    print(f"GroundingDINO {args.config}, {'random' if args.checkpoint is None else 'official'} weights, "
          f"{args.threads} threads, {args.runs} timed runs (median)")

    # One model folder through the real exporter (parity included) for the first
    # /32 size; other sizes are traced directly.
    folder = work / "model"
    vocab = None
    model = None
    try:
        first = next(((w, h) for w, h in sizes if w % 32 == 0 and h % 32 == 0), None)
        if first is not None:
            started = time.perf_counter()
            manifest = export_groundingdino.export(
                folder, config=args.config, checkpoint=args.checkpoint, vocab=args.vocab,
                random_weights=args.checkpoint is None, sizes=[first], force=True, threads=args.threads,
                log=lambda m: print("  export:", m),
            )
            figures["export_with_parity_s"] = round(time.perf_counter() - started, 1)
            figures["parity"] = manifest["parity"]
        vocab = folder / "vocab.txt" if first is not None else work / "vocab.txt"
        if first is None:
            gdino_build.write_random_vocab(vocab)
        model = gdino_build.build_model(args.config, vocab)
        if args.checkpoint:
            gdino_build.load_checkpoint(model, args.checkpoint)
        tokenizer = PromptTokenizer(vocab)
        prompt = tokenizer.encode(CAPTION_PHRASES)

        for width, height in sizes:
            key = f"{width}x{height}"
            row: dict = {}
            print(f"\n== {key} (W x H) ==")
            path = folder / export_groundingdino.graph_name(width, height)
            if not path.is_file():
                path = work / export_groundingdino.graph_name(width, height)
                started = time.perf_counter()
                export_groundingdino.export_graph(model, width, height, path)
                row["export_s"] = round(time.perf_counter() - started, 1)
            shipped = path.stat().st_size
            if path.parent == folder:  # exporter output: small graph + the shared weights file
                shipped += (folder / export_groundingdino.WEIGHTS_NAME).stat().st_size
            row["onnx_mib"] = round(shipped / 2**20, 1)
            image = gdino_parity.synthetic_image(height, width, seed=3)
            pixels = gdino_parity.normalise(image)
            feed = {"image": pixels, **prompt.feed()}

            session, load_s, load_mib = ort_session(path, args.threads)
            row["ort_load_s"], row["ort_session_rss_mib"] = round(load_s, 1), round(load_mib)
            row["ort_fp32_s"], _ = timed(lambda: session.run(None, feed), args.runs)
            reference = session.run(None, feed)
            del session
            gc.collect()

            torch_inputs = torch.from_numpy(pixels)
            caption = prompt.caption

            def eager():
                with torch.no_grad():
                    model(torch_inputs, captions=[caption])

            row["torch_eager_s"], _ = timed(eager, args.runs)
            row["eager_over_ort"] = round(row["torch_eager_s"] / row["ort_fp32_s"], 2)
            print(f"  ONNX {row['onnx_mib']} MiB, session load {row['ort_load_s']} s (+{row['ort_session_rss_mib']} MiB RSS)")
            print(f"  ORT fp32 {row['ort_fp32_s']:.2f} s/frame, PyTorch eager {row['torch_eager_s']:.2f} s/frame, "
                  f"eager/ORT {row['eager_over_ort']}x")

            if first == (width, height):
                frames = ArrayFrameSource([image], first_frame=1)
                detector = load_detector(folder, providers="cpu", threads=args.threads)
                detector.detect(frames, 1, CAPTION_PHRASES)  # loads the session
                row["engine_detect_s"], _ = timed(lambda: detector.detect(frames, 1, CAPTION_PHRASES), args.runs)
                print(f"  engine Detector.detect {row['engine_detect_s']:.2f} s/frame (tokeniser, letterbox, post-processing included)")
                first_s, peak = engine_memory(folder, width, height, args.threads)
                row["engine_process_first_detect_s"], row["engine_process_peak_rss_mib"] = round(first_s, 1), round(peak)
                print(f"  fresh engine process (no torch): load + first detect {first_s:.1f} s, peak RSS {peak:.0f} MiB")
                del detector
                from SegmentationCore.models import runtime

                runtime.clear_sessions()
                gc.collect()

            if not args.no_variants:
                row["variants"] = {
                    "int8_dynamic": measure_variant(path, ".int8.onnx", int8_converter, reference, feed, args),
                    "fp16": measure_variant(path, ".fp16.onnx", fp16_converter, reference, feed, args),
                }
                for name, variant in row["variants"].items():
                    if "failed" in variant:
                        print(f"  {name}: failed: {variant['failed']}")
                    else:
                        print(f"  {name}: {variant['mib']} MiB, {variant['s']:.2f} s/frame "
                              f"({row['ort_fp32_s'] / variant['s']:.2f}x fp32 speed), error vs fp32 {variant['error_vs_fp32']}")
            figures["sizes"][key] = row
        figures["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print("\n" + json.dumps(figures, indent=1, default=float))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(figures, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
