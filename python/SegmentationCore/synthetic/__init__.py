"""Synthetic shots with ground truth, and backends that answer from it.

Used by ``autoseg demo``/``autoseg synth``, the tests and the benchmarks:

>>> from SegmentationCore import synthetic
>>> spec = synthetic.generate_shot(seed=3, num_frames=30, width=640, height=360)
>>> shot = synthetic.SyntheticShot(spec, size=(360, 640))
>>> detector, segmenter, tracker = synthetic.make_backends(shot, "faulty")
"""

from __future__ import annotations

import dataclasses

from .backends import (
    DetectorFaults,
    SegmenterFaults,
    SyntheticDetector,
    SyntheticSegmenter,
    SyntheticTracker,
    TrackerFaults,
    resolve_prompt,
)
from .shot import WORLDS, ObjectSpec, ShotSpec, SyntheticShot, generate_shot, srgb_to_linear


@dataclasses.dataclass
class Faults:
    detector: DetectorFaults = dataclasses.field(default_factory=DetectorFaults)
    segmenter: SegmenterFaults = dataclasses.field(default_factory=SegmenterFaults)
    tracker: TrackerFaults = dataclasses.field(default_factory=TrackerFaults)


FAULT_PRESETS = {
    # answers exactly from the ground truth
    "none": lambda: Faults(),
    # every fault the paper's rules are there to repair, at moderate rates
    "faulty": lambda: Faults(
        DetectorFaults(miss_rate=0.2, false_pair_rate=0.25, part_box_rate=0.2, jitter=0.03),
        SegmenterFaults(shrink_rate=0.1, grow_rate=0.1),
        TrackerFaults(drift=0.0015, lose_below_visible=0.25),
    ),
    # the same, but the tracker's drift smears and grows the mask into the background
    "faulty-smear": lambda: Faults(
        DetectorFaults(miss_rate=0.2, false_pair_rate=0.25, part_box_rate=0.2, jitter=0.03),
        SegmenterFaults(shrink_rate=0.1, grow_rate=0.1),
        TrackerFaults(drift=0.0015, drift_mode="smear", lose_below_visible=0.25),
    ),
    # the same, but the tracker's drift creeps onto the neighbours an object touches
    "faulty-creep": lambda: Faults(
        DetectorFaults(miss_rate=0.2, false_pair_rate=0.25, part_box_rate=0.2, jitter=0.03),
        SegmenterFaults(shrink_rate=0.1, grow_rate=0.1),
        TrackerFaults(drift=0.0015, drift_mode="creep", lose_below_visible=0.25),
    ),
}


def make_backends(shot: SyntheticShot, faults: str | Faults = "none", seed: int = 0):
    """``(detector, segmenter, tracker)`` answering from ``shot``'s ground truth."""
    if isinstance(faults, str):
        try:
            faults = FAULT_PRESETS[faults]()
        except KeyError:
            raise ValueError(f"unknown fault preset {faults!r}; choose from {', '.join(FAULT_PRESETS)}") from None
    return (
        SyntheticDetector(shot, faults.detector, seed=seed),
        SyntheticSegmenter(shot, faults.segmenter, seed=seed),
        SyntheticTracker(shot, faults.tracker, seed=seed),
    )


__all__ = [
    "DetectorFaults", "Faults", "FAULT_PRESETS", "ObjectSpec", "SegmenterFaults", "ShotSpec",
    "SyntheticDetector", "SyntheticSegmenter", "SyntheticShot", "SyntheticTracker", "TrackerFaults",
    "WORLDS", "generate_shot", "make_backends", "resolve_prompt", "srgb_to_linear",
]
