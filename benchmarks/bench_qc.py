"""Precision and recall of the QC flags (pipeline/qc.py) on generated shots
with injected faults.

Each shot gets one fault of one kind, injected where the synthetic backends
read the ground truth, so the frames and the object it hits are known:

* ``lost``: an object vanishes from what the detector, segmenter and tracker
  see for 3-5 frames mid-shot (the plate still shows it);
* ``switch``: two neighbouring objects swap identities for 6 frames (the
  tracker follows the other one: an identity that changed);
* ``merge``: an object swallows its nearest neighbour for 6 frames (the
  neighbour's pixels join its mask; the neighbour is gone meanwhile);
* ``short``: a real object that lives for 3 frames (a layer that lives for
  three frames: a TD must say whether it is wanted);
* ``fb``: the forward pass's tracker is wrong (slid by 60% of the object's
  width) for 6 frames while the backward pass is right.

The pipeline runs with the QC recorder hooked in (``qc.track_with_qc``, the
same hooks ``autoseg run`` uses). Output layers are mapped to ground-truth
objects by overlap. A flag is a true positive when its layer (or a layer it
names) is a faulted object and its frames touch the fault's frames (one
frame of slack); precision = true-positive flags / all flags on the shots
of that fault kind, recall = faults with at least one true-positive flag /
faults. ``clean`` shots (no fault) give the flags raised for nothing.
With ``--backgrounds faulty`` the backends also suffer the ``faulty``
preset (missed and false detections, wrong-size masks, tracker drift and
loss): the flags those cause count as false positives here, although many
point at real defects of the mattes.
``top-3`` is the share of faults hit by one of the shot's three
highest-ranked flags. Usage::

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_qc.py [--shots 6] [--frames 30] [--kinds lost,switch,merge,short,fb]
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "python"))

from SegmentationCore import synthetic  # noqa: E402
from SegmentationCore.pipeline import qc, stage2, tracking  # noqa: E402
from SegmentationCore.pipeline.mask_cache import MaskCache  # noqa: E402
from SegmentationCore.synthetic.backends import _shift  # noqa: E402

KINDS = ("lost", "switch", "merge", "short", "fb")
SIZE = (270, 480)


@dataclasses.dataclass
class Fault:
    kind: str
    objects: tuple[int, ...]
    first: int
    last: int


class FaultyView(synthetic.SyntheticShot):
    """What the backends see: the shot's ground truth with one fault."""

    def __init__(self, spec, size, fault: Fault | None, shift=None):
        super().__init__(spec, size=size)
        self.fault = fault
        self.shift = shift  # (dy, dx) for the fb fault

    def gt_masks(self, frame, size=None, include_empty=False):
        masks = dict(super().gt_masks(frame, size, include_empty))
        fault = self.fault
        if fault is None or not fault.first <= frame <= fault.last:
            return masks
        if fault.kind == "lost":
            masks.pop(fault.objects[0], None)
        elif fault.kind == "switch":
            a, b = fault.objects
            if a in masks and b in masks:
                masks[a], masks[b] = masks[b], masks[a]
        elif fault.kind == "merge":
            a, b = fault.objects
            if a in masks and b in masks:
                masks[a] = np.maximum(masks[a], masks.pop(b))
        elif fault.kind == "fb" and fault.objects[0] in masks:
            masks[fault.objects[0]] = _shift(masks[fault.objects[0]], *self.shift)
        return masks


class SplitTracker:
    """The forward pass tracks on one view, the backward pass on another."""

    def __init__(self, forward, backward):
        self.forward, self.backward = forward, backward

    def track(self, frames, prompts, frame_order):
        order = list(frame_order)
        ascending = len(order) < 2 or order[1] > order[0]
        return (self.forward if ascending else self.backward).track(frames, prompts, frame_order)


def _visible(shot, index, frame):
    return int(np.count_nonzero(shot.gt_masks(frame, SIZE).get(index, np.zeros(1)) >= 0.5))


def _nearest_pair(shot, frames):
    best, best_d = None, None
    for a in range(len(shot.spec.objects)):
        for b in range(a + 1, len(shot.spec.objects)):
            if not all(_visible(shot, i, f) > 200 for i in (a, b) for f in frames):
                continue
            d = max(np.hypot(*np.subtract(shot.centre_pixels(a, f, SIZE), shot.centre_pixels(b, f, SIZE))) for f in frames)
            if best_d is None or d < best_d:
                best, best_d = (a, b), d
    return best


def make_case(kind: str, seed: int, num_frames: int):
    spec = synthetic.generate_shot(seed=seed, num_frames=num_frames, width=SIZE[1] * 4, height=SIZE[0] * 4)
    rng = np.random.default_rng(seed * 31 + KINDS.index(kind) if kind in KINDS else seed)
    first_frame = spec.first_frame
    start = first_frame + int(rng.integers(num_frames // 3, num_frames // 2))
    if kind == "short":
        index = len(spec.objects)
        length = 3
        spec.objects.append(synthetic.ObjectSpec(
            label="person", shape="ellipse", radius=(0.05, 0.1), start=(float(rng.uniform(0.2, 0.8) * spec.aspect), 0.78),
            velocity=(0.002, 0.0), depth=10.0, colour=(0.95, 0.9, 0.1), present=(start - first_frame, start - first_frame + length - 1),
        ))
        truth = synthetic.SyntheticShot(spec, size=SIZE)
        return truth, FaultyView(spec, SIZE, None), None, Fault(kind, (index,), start, start + length - 1)
    truth = synthetic.SyntheticShot(spec, size=SIZE)
    length = {"lost": int(rng.integers(3, 6)), "switch": 6, "merge": 6, "fb": 6}.get(kind, 0)
    frames = list(range(start, start + length))
    if kind in ("switch", "merge"):
        pair = _nearest_pair(truth, frames)
        if pair is None:
            return None
        fault = Fault(kind, pair, start, start + length - 1)
    elif kind in ("lost", "fb"):
        candidates = [i for i in range(len(spec.objects)) if all(_visible(truth, i, f) > 300 for f in range(start - 2, start + length + 2))]
        if not candidates:
            return None
        fault = Fault(kind, (int(rng.choice(candidates)),), start, start + length - 1)
    else:
        return truth, FaultyView(spec, SIZE, None), None, None
    view = FaultyView(spec, SIZE, fault)
    backward_view = None
    if kind == "fb":
        width = max(8, int(np.sqrt(_visible(truth, fault.objects[0], start))))
        angle = rng.uniform(0, 2 * np.pi)
        view.shift = (0.6 * width * np.sin(angle), 0.6 * width * np.cos(angle))
        backward_view = FaultyView(spec, SIZE, None)
    return truth, view, backward_view, fault


def run_case(truth, view, backward_view, params, background="none"):
    detector, segmenter, tracker = synthetic.make_backends(view, background)
    if backward_view is not None:
        tracker = SplitTracker(tracker, synthetic.make_backends(backward_view, background)[2])
    results = {}
    for frame in tracking.stage2_frames(truth.frame_numbers, params):
        results[frame] = stage2.segment_frame(segmenter, truth, frame, detector.detect(truth, frame, ["person"]))
    cache = MaskCache(truth.size)
    _, recorder = qc.track_with_qc(tracker, truth, cache, results, params)
    cache.compact(min_area=params.min_layer_area)
    return cache, qc.summarise(cache, truth.frame_numbers, recorder.records())


def layer_objects(cache, truth) -> dict[str, int]:
    """Each output layer's ground-truth object: the one it overlaps most over the shot."""
    totals: dict[str, dict[int, int]] = {}
    for frame in truth.frame_numbers:
        gt = truth.gt_masks(frame, SIZE)
        for name, mask in cache.layers(frame).items():
            binary = mask >= 0.5
            for index, m in gt.items():
                inter = int(np.count_nonzero(binary & (m >= 0.5)))
                if inter:
                    totals.setdefault(name, {})[index] = totals.setdefault(name, {}).get(index, 0) + inter
    return {name: max(t, key=t.get) for name, t in totals.items() if t}


def score_flags(flags, owners, fault: Fault | None):
    hits = []
    for flag in flags:
        layers = [flag["layer"], *flag.get("others", [])]
        objects = {owners.get(name) for name in layers}
        hit = fault is not None and bool(objects & set(fault.objects)) and flag["first"] <= fault.last + 1 and flag["last"] >= fault.first - 1
        hits.append(hit)
    return hits


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=6, help="shots per fault kind")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--kinds", default=",".join(KINDS + ("clean",)))
    parser.add_argument("--backgrounds", default="none,faulty",
                        help="synthetic fault presets the backends also suffer (none: only the injected fault)")
    parser.add_argument("--verbose", action="store_true", help="print every shot's flags")
    parser.add_argument("--rule", default=tracking.TrackingParams().cache_rule, choices=tracking.CACHE_RULES,
                        help="mask-cache rule of the tracking loop (default: the pipeline's default)")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    started = time.time()
    for background in [b.strip() for b in args.backgrounds.split(",") if b.strip()]:
        table(kinds, args, background)
    print(f"({time.time() - started:.0f} s)")
    return 0


def table(kinds, args, background):
    params = tracking.TrackingParams(cache_rule=args.rule)
    print()
    print(f"QC flags on generated shots ({args.frames} frames, {SIZE[1]}x{SIZE[0]} working resolution, {args.shots} shots per kind, "
          f"{args.rule} cache rule), background faults: {background}")
    print(f"{'fault':<8} {'shots':>5} {'flags':>6} {'TP flags':>8} {'precision':>9} {'recall':>7} {'top-3':>6}  flag kinds that hit")
    totals = [0, 0, 0, 0, 0]
    for kind in kinds:
        shots = flags_total = tp_total = found = top3 = 0
        hit_kinds: dict[str, int] = {}
        seed = 0
        while shots < args.shots and seed < args.shots * 5:
            seed += 1
            case = make_case(kind if kind != "clean" else "none", seed, args.frames)
            if case is None:
                continue
            truth, view, backward_view, fault = case
            cache, summary = run_case(truth, view, backward_view, params, background)
            owners = layer_objects(cache, truth)
            flags = summary["flags"]
            hits = score_flags(flags, owners, fault)
            shots += 1
            flags_total += len(flags)
            tp_total += sum(hits)
            found += int(any(hits))
            top3 += int(any(hits[:3]))
            for flag, hit in zip(flags, hits):
                if hit:
                    hit_kinds[flag["kind"]] = hit_kinds.get(flag["kind"], 0) + 1
            if args.verbose:
                print(f"  seed {seed} fault {fault}")
                for flag, hit in zip(flags, hits):
                    print(f"    {'HIT ' if hit else '    '}{flag['rank']:.2f} {flag['text']}")
        precision = tp_total / flags_total if flags_total else float("nan")
        recall = found / shots if (shots and kind != "clean") else float("nan")
        top = top3 / shots if (shots and kind != "clean") else float("nan")
        kinds_text = ", ".join(f"{k} {n}" for k, n in sorted(hit_kinds.items(), key=lambda kv: -kv[1])) or "-"
        print(f"{kind:<8} {shots:>5} {flags_total:>6} {tp_total:>8} {precision:>9.2f} {recall:>7.2f} {top:>6.2f}  {kinds_text}")
        if kind != "clean":
            totals = [totals[0] + shots, totals[1] + flags_total, totals[2] + tp_total, totals[3] + found, totals[4] + top3]
    if totals[0]:
        print(f"{'all':<8} {totals[0]:>5} {totals[1]:>6} {totals[2]:>8} {totals[2] / max(1, totals[1]):>9.2f} {totals[3] / totals[0]:>7.2f} {totals[4] / totals[0]:>6.2f}")


if __name__ == "__main__":
    sys.exit(main())
