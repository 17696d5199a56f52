#!/usr/bin/env python
"""SAM2 engine benchmark: ONNX Runtime vs PyTorch eager, batched tracking,
memory vs shot length. Prints figures; asserts nothing.

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_sam2.py

1. Per graph: ONNX Runtime time vs the same work in PyTorch eager (SAM2's
   own code paths), and their ratio. Memory attention is timed in the
   steady tracking state (7 memories, 16 object pointers).
2. Tracking throughput (frames/minute, features already cached as in the
   pipeline, where stage 2 has encoded the frames): N objects in one
   batched session vs N sessions of one object (sam2 1.1.0's loop).
3. Peak RSS after 10 / 40 / 80 tracked frames of one forward pass over a
   synthetic clip (frames generated on demand, feature cache budget as
   given): it must stay flat.

The model defaults to the tests' tiny random-weight export (sam2.1_hiera_t);
``--model`` takes any exported folder. Timings depend on the machine's
load: run it under the heavy lock and compare ratios from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
for sub in ("python", "export", "tests"):
    if str(ROOT / sub) not in sys.path:
        sys.path.insert(0, str(ROOT / sub))

from SegmentationCore.models.sam2 import FeatureCache, load_sam2  # noqa: E402
from SegmentationCore.core.types import Prompt  # noqa: E402

HEIGHT, WIDTH = 576, 1024


class SyntheticFrames:
    """A clip of moving discs generated on demand (nothing held in memory)."""

    def __init__(self, count: int, objects: int = 5, shot_id: str = "bench"):
        self.count = count
        self.objects = objects
        self.shot_id = shot_id
        self._y, self._x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)

    @property
    def frame_numbers(self):
        return list(range(self.count))

    @property
    def size(self):
        return (HEIGHT, WIDTH)

    def disc(self, frame: int, k: int):
        cx = 120 + 170 * k + 3 * frame
        cy = 180 + 60 * (k % 3) + (2 * frame if k % 2 else -frame)
        return cx % WIDTH, cy, 45 + 5 * k

    def mask(self, frame: int, k: int) -> np.ndarray:
        cx, cy, r = self.disc(frame, k)
        return ((self._x - cx) ** 2 + (self._y - cy) ** 2 < r * r).astype(np.float32)

    def image(self, frame: int) -> np.ndarray:
        image = np.stack([self._x / WIDTH, self._y / HEIGHT, np.full_like(self._x, 0.25 + 0.01 * (frame % 7))], -1)
        for k in range(self.objects):
            image[self.mask(frame, k) > 0] = ((k * 0.37) % 1, (k * 0.61) % 1, (k * 0.83) % 1)
        return image.astype(np.float32)

    def cache_key(self, frame: int) -> str:
        return f"{self.shot_id}@{frame}:{WIDTH}x{HEIGHT}"


def timed(function, repeat: int = 2) -> float:
    """Best of ``repeat`` runs after one warm-up (seconds)."""
    function()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def default_model() -> pathlib.Path:
    from fixtures_sam2 import export_cached

    return export_cached()


# ---------------------------------------------------------------------------- 1. graphs


def bench_graphs(model_dir: pathlib.Path, threads: int, repeat: int) -> list[tuple[str, float, float]]:
    import torch

    import sam2_model
    from SegmentationCore.models.sam2.heads import decode, padded_points
    from SegmentationCore.models.sam2.segmenter import prompt_points

    torch.set_num_threads(threads)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    if manifest.get("random_weights"):
        model = sam2_model.build_model(manifest["config"], seed=manifest.get("seed") or 0)
    else:
        raise SystemExit("the PyTorch side needs the checkpoint; benchmark a --random-weights export")
    segmenter, tracker = load_sam2(model_dir, threads=threads, feature_cache=FeatureCache(max_bytes=512 << 20))
    engine = segmenter.model
    engine.warm_up()
    frames = SyntheticFrames(1)
    image = frames.image(0)
    from SegmentationCore.models.sam2.preprocess import preprocess_image

    tensor = preprocess_image(image, engine.input_size, engine.mean, engine.std)
    rows = []

    ort_encoder = timed(lambda: engine.run("image_encoder", image=tensor), repeat)
    torch_image = torch.from_numpy(tensor)
    with torch.inference_mode():
        torch_encoder = timed(lambda: model.forward_image(torch_image), repeat)
    rows.append(("image_encoder (1 frame)", ort_encoder, torch_encoder))

    features = engine.features(frames, 0)
    embed = engine.image_embedding(features)
    pix_t = torch.from_numpy(features["pix_feat"])
    embed_t = torch.from_numpy(embed)
    high_res_t = [torch.from_numpy(features["high_res_feat0"]), torch.from_numpy(features["high_res_feat1"])]
    for count in (1, 5):
        prompts = [Prompt(box=[100 + 40 * k, 80, 300 + 40 * k, 400]) for k in range(count)]
        points = [prompt_points(engine, p, frames.size) for p in prompts]
        coords, labels = padded_points([c for c, _ in points], [l for _, l in points])
        ort_time = timed(lambda: decode(engine, embed, features, coords, labels, None, None), repeat)

        def torch_decoder():
            # SAM2ImagePredictor._predict on a batch of boxes
            sparse, dense = model.sam_prompt_encoder(
                points=(torch.from_numpy(coords[:, :-1]), torch.from_numpy(labels[:, :-1]).int()), boxes=None, masks=None)
            return model.sam_mask_decoder(
                image_embeddings=embed_t, image_pe=model.sam_prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=False,
                repeat_image=count > 1, high_res_features=high_res_t)

        with torch.inference_mode():
            torch_time = timed(torch_decoder, repeat)
        rows.append((f"mask_decoder ({count} box{'es' if count > 1 else ''})", ort_time, torch_time))

    low_res = np.random.default_rng(0).normal(0, 5, (1, 1, 256, 256)).astype(np.float32)
    ort_time = timed(lambda: engine.run("memory_encoder", pix_feat=features["pix_feat"], mask_logits=low_res,
                                        object_score_logits=np.ones((1, 1), np.float32), binarize=np.zeros(1, np.float32)), repeat)
    import torch.nn.functional as F

    def torch_memory_encoder():
        high = F.interpolate(torch.from_numpy(low_res), size=(1024, 1024), mode="bilinear", align_corners=False)
        return model._encode_new_memory(current_vision_feats=[pix_t.flatten(2).permute(2, 0, 1)], feat_sizes=[(64, 64)],
                                        pred_masks_high_res=high, object_score_logits=torch.ones(1, 1), is_mask_from_pts=False)

    with torch.inference_mode():
        torch_time = timed(torch_memory_encoder, repeat)
    rows.append(("memory_encoder (1 object)", ort_time, torch_time))

    # steady tracking state: conditioning frame 0 + 6 recent memories, 1 + 15 pointers, at frame 16
    rng = np.random.default_rng(1)
    memory = rng.normal(size=(1, 7, 64, 64, 64)).astype(np.float32)
    pointers = rng.normal(size=(1, 16, 256)).astype(np.float32)
    tpos = np.array([6, 5, 4, 3, 2, 1, 0], np.int64)
    ptr_pos = np.array([16] + list(range(1, 16)), np.float32)
    ort_time = timed(lambda: engine.run("memory_attention", pix_feat=features["pix_feat"], memory=memory, memory_tpos=tpos,
                                        obj_ptrs=pointers, obj_ptr_tpos=ptr_pos, obj_ptr_tpos_max=np.array([15], np.float32)), repeat)
    pos_enc = model.memory_encoder.position_encoding(torch.zeros(1, 64, 64, 64))

    def out(t):  # memories of frames 10..15 attended, pointers of every frame
        return {"maskmem_features": torch.from_numpy(memory[:, max(t - 9, 0)]), "maskmem_pos_enc": [pos_enc],
                "obj_ptr": torch.from_numpy(pointers[:, t])}

    cond = {0: out(0)}
    non_cond = {t: out(t) for t in range(1, 16)}
    curr_pos = model.image_encoder.neck.position_encoding(pix_t).flatten(2).permute(2, 0, 1)

    def torch_attention():
        return model._prepare_memory_conditioned_features(
            frame_idx=16, is_init_cond_frame=False, current_vision_feats=[pix_t.flatten(2).permute(2, 0, 1)],
            current_vision_pos_embeds=[curr_pos], feat_sizes=[(64, 64)],
            output_dict={"cond_frame_outputs": cond, "non_cond_frame_outputs": non_cond}, num_frames=100)

    with torch.inference_mode():
        torch_time = timed(torch_attention, repeat)
    rows.append(("memory_attention (M=7, K=16, 1 object)", ort_time, torch_time))
    total_ort = sum(r[1] for r in rows if r[0].startswith(("memory", "mask_decoder (1")))
    total_torch = sum(r[2] for r in rows if r[0].startswith(("memory", "mask_decoder (1")))
    rows.append(("tracked frame, 1 object (attn + decoder + mem. enc.)", total_ort, total_torch))
    return rows


# ---------------------------------------------------------------------------- 2. batching


def bench_batching(model_dir: pathlib.Path, threads: int, counts: list[int], length: int) -> list[tuple[int, float, float]]:
    cache = FeatureCache(max_bytes=2 << 30)
    _, tracker = load_sam2(model_dir, threads=threads, feature_cache=cache)
    frames = SyntheticFrames(length, objects=max(counts))
    for frame in frames.frame_numbers:  # pre-encode: stage 2 has done this in the pipeline
        tracker.model.features(frames, frame)
    tracker.model.warm_up()
    rows = []
    for count in counts:
        prompts = {0: {k + 1: Prompt(mask=frames.mask(0, k)) for k in range(count)}}
        start = time.perf_counter()
        for _ in tracker.track(frames, prompts, frames.frame_numbers):
            pass
        batched = time.perf_counter() - start
        single = batched
        if count > 1:
            start = time.perf_counter()
            for object_id, prompt in prompts[0].items():
                for _ in tracker.track(frames, {0: {object_id: prompt}}, frames.frame_numbers):
                    pass
            single = time.perf_counter() - start
        rows.append((count, 60.0 * length / batched, 60.0 * length / single))
        print(f"    {count} object(s): batched {batched:.1f} s, one at a time {single:.1f} s", flush=True)
    return rows


# ---------------------------------------------------------------------------- 3. memory


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ``ru_maxrss``: on
    Linux a child started by fork + exec inherits the parent's peak there."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_child(model_dir: pathlib.Path, threads: int, checkpoints: list[int], objects: int, cache_mb: int) -> None:
    """Runs in a fresh process: one forward pass, peak RSS at checkpoints."""
    import psutil

    cache = FeatureCache(max_bytes=cache_mb << 20)
    _, tracker = load_sam2(model_dir, threads=threads, feature_cache=cache)
    frames = SyntheticFrames(max(checkpoints), objects=objects)
    prompts = {0: {k + 1: Prompt(mask=frames.mask(0, k)) for k in range(objects)}}
    process = psutil.Process()
    start = time.perf_counter()
    for count, _ in enumerate(tracker.track(frames, prompts, frames.frame_numbers), start=1):
        if count in checkpoints:
            stats = cache.snapshot()
            print(json.dumps({
                "frames": count,
                "peak_rss_mb": peak_rss_mb(),
                "rss_mb": process.memory_info().rss / 2**20,
                "cache_ram_mb": stats.ram_bytes / 2**20,
                "cache_disk_mb": stats.disk_bytes / 2**20,
                "seconds": time.perf_counter() - start,
            }), flush=True)
    cache.close()


def bench_memory(model_dir, threads, checkpoints, objects, cache_mb) -> list[dict]:
    command = [sys.executable, __file__, "--model", str(model_dir), "--threads", str(threads), "--rss-child",
               ",".join(map(str, checkpoints)), "--rss-objects", str(objects), "--cache-mb", str(cache_mb)]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(completed.stderr[-2000:])
    return [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]


# ---------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="SAM2 model folder (default: the tests' tiny random-weight export)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=2, help="timed repeats per graph (best is kept)")
    parser.add_argument("--objects", default="1,3,5", help="object counts for the batching figures")
    parser.add_argument("--length", type=int, default=8, help="frames per tracking run for the batching figures")
    parser.add_argument("--rss-frames", default="10,40,80", help="checkpoints of the memory run")
    parser.add_argument("--rss-objects", type=int, default=2, help="objects tracked in the memory run")
    parser.add_argument("--cache-mb", type=int, default=256, help="feature-cache RAM budget of the memory run")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: graphs,batching,memory")
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = parser.parse_args()

    model_dir = pathlib.Path(args.model) if args.model else default_model()
    if args.rss_child:
        rss_child(model_dir, args.threads, [int(x) for x in args.rss_child.split(",")], args.rss_objects, args.cache_mb)
        return 0
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    import onnxruntime

    print(f"SAM2 benchmark: {model_dir.name}, {args.threads} threads, onnxruntime {onnxruntime.__version__}, "
          f"working resolution {WIDTH}x{HEIGHT}")

    if "graphs" not in skip:
        print("\n1. Per graph (best of runs): ONNX Runtime vs PyTorch eager")
        print(f"   {'work':<52} {'ORT s':>8} {'torch s':>8} {'torch/ORT':>10}")
        for name, ort_time, torch_time in bench_graphs(model_dir, args.threads, args.repeat):
            print(f"   {name:<52} {ort_time:8.3f} {torch_time:8.3f} {torch_time / ort_time:10.2f}")

    if "batching" not in skip:
        counts = [int(x) for x in args.objects.split(",")]
        print(f"\n2. Tracking {args.length} frames (features cached), frames/minute")
        rows = bench_batching(model_dir, args.threads, counts, args.length)
        print(f"   {'objects':>7} {'batched':>10} {'one at a time':>14} {'speed-up':>9}")
        for count, batched, single in rows:
            print(f"   {count:>7} {batched:10.2f} {single:14.2f} {batched / single:9.2f}")

    if "memory" not in skip:
        checkpoints = [int(x) for x in args.rss_frames.split(",")]
        print(f"\n3. Memory: one forward pass, {args.rss_objects} objects, feature cache {args.cache_mb} MB RAM "
              "(then disk)")
        print(f"   {'frames':>6} {'peak RSS MB':>12} {'RSS MB':>8} {'cache RAM MB':>13} {'cache disk MB':>14} {'s':>7}")
        for row in bench_memory(model_dir, args.threads, checkpoints, args.rss_objects, args.cache_mb):
            print(f"   {row['frames']:>6} {row['peak_rss_mb']:12.0f} {row['rss_mb']:8.0f} {row['cache_ram_mb']:13.0f} "
                  f"{row['cache_disk_mb']:14.0f} {row['seconds']:7.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
