"""Edge refinement against bilinear upsampling, on plates with known soft alpha.

Generates plates at plate resolution with a soft ground-truth alpha per
layer: a person-like shape (head, torso, a motion-blurred arm) with thin,
hair-like strands on the head, and a ball partly behind it that moves
while the person stands still. Each frame gets its own film grain. Masks
are degraded the way SAM2's are: each layer's visible alpha is reduced
to 256x256 (SAM2's low-resolution logits, stretched over the frame as SAM2
does), blurred, turned into logits with a per-frame smooth jitter,
upsampled to the 1024 working frame and put through a mask cache (one
layer per pixel, 8-bit probabilities). Then the mattes at plate resolution
are made by bilinear upsampling (``plates.upsample_masks``) and by
``pipeline.refine.refine_layers``, and compared with the ground truth:

- the alphamatting.com measures in the boundary band (pixels within 1 %
  of the longest side of the true soft edge): SAD (/1000), MSE, gradient
  error (Gaussian derivatives, sigma 1.4, /1000) and connectivity error
  (/1000; needs OpenCV's connected components, else "n/a");
- boundary F (DAVIS, ``pipeline.metrics.boundary_f``);
- flicker: mean |alpha_t - alpha_t-1| in the band where the ground truth
  does not change between the frames;
- seconds per frame per layer, and the peak of the memory numpy allocates
  during the step (``tracemalloc``), with the output mattes' own size.

Usage::

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_refine.py [--sizes 1920x1080,4096x2160] [--frames 4]
        [--sweep] [--memory-sizes 1920x1080,4096x2160,6144x3160] [--image docs/images/refine-side-by-side.png]
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys
import time
import tracemalloc

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from SegmentationCore.core import maskops  # noqa: E402
from SegmentationCore.pipeline import metrics, refine  # noqa: E402
from SegmentationCore.plates import upsample_masks  # noqa: E402

try:  # connected components for the connectivity error only
    import cv2
except ImportError:  # pragma: no cover
    cv2 = None

LOW = 256  # SAM2's low-resolution mask
WORKING = 1024


# ---------------------------------------------------------------------------- scene


def _ellipse(yy, xx, cy, cx, ry, rx, angle=0.0):
    """Antialiased ellipse coverage (approximate signed distance in pixels)."""
    c, s = np.cos(angle), np.sin(angle)
    u = (xx - cx) * c + (yy - cy) * s
    v = -(xx - cx) * s + (yy - cy) * c
    radial = np.sqrt((u / rx) ** 2 + (v / ry) ** 2)
    return np.clip(0.5 - (radial - 1.0) * min(rx, ry), 0.0, 1.0)


def _box_blur(values, radius):
    return refine._box_mean(values, radius) if radius > 0 else values


@dataclasses.dataclass
class Scene:
    size: tuple[int, int]
    seed: int

    def __post_init__(self):
        height, width = self.size
        self.scale = height / 1080.0
        rng = np.random.default_rng(self.seed)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        h = float(height)
        cx, cy = 0.45 * width, 0.55 * h
        # person: torso, head, a fast-moving (motion-blurred) arm
        torso = _ellipse(yy, xx, cy + 0.22 * h, cx, 0.3 * h, 0.13 * h)
        head = _ellipse(yy, xx, cy - 0.17 * h, cx, 0.1 * h, 0.085 * h)
        arm = np.zeros((height, width), np.float32)
        shifts = 16
        for k in range(shifts):  # 0.06 H of motion during the shutter
            dx = (k / (shifts - 1) - 0.5) * 0.06 * h
            arm += _ellipse(yy, xx, cy + 0.12 * h, cx + 0.2 * h + dx, 0.035 * h, 0.16 * h, angle=-0.5)
        arm /= shifts
        hair = self._hair(rng, (cy - 0.17 * h, cx), 0.1 * h, 0.085 * h)
        person = 1.0 - (1.0 - torso) * (1.0 - head) * (1.0 - arm) * (1.0 - hair)
        self.person = person.astype(np.float32)
        self.hair = hair
        # colours (scene-linear): textured clothes/skin, dark hair, smooth textured background
        low = rng.uniform(0.05, 0.6, (9, 16, 3)).astype(np.float32)
        background = np.stack([maskops.resize_bilinear(low[..., c], (height, width)) for c in range(3)], axis=-1)
        stripes = 0.08 * np.sin(xx / (9.0 * self.scale) + 0.7 * np.sin(yy / (60.0 * self.scale)))
        self.background = np.clip(background + stripes[..., None], 0.01, 1.0)
        clothes = np.array([0.55, 0.25, 0.15], np.float32) * (1.0 + 0.15 * np.sin(yy / (25.0 * self.scale)))[..., None]
        skin = np.array([0.7, 0.45, 0.35], np.float32)
        self.person_colour = np.where((head > 0)[..., None], skin, clothes)
        hair_colour = np.array([0.04, 0.025, 0.015], np.float32)
        self.person_colour = (hair[..., None] * hair_colour + (1 - hair[..., None]) * self.person_colour).astype(np.float32)
        self.ball_colour = np.array([0.15, 0.5, 0.2], np.float32)
        self._yy, self._xx = yy, xx

    def _hair(self, rng, centre, ry, rx):
        """Thin strands leaving the top of the head: splatted, then 1-exp."""
        height, width = self.size
        density = np.zeros(height * width, np.float32)
        strands = 220
        px = max(0.35, 0.5 * self.scale)
        for _ in range(strands):
            theta = rng.uniform(-np.pi * 0.95, -np.pi * 0.05)  # upper half
            y0 = centre[0] + ry * np.sin(theta) * 0.95
            x0 = centre[1] + rx * np.cos(theta) * 0.95
            length = rng.uniform(0.02, 0.07) * height
            direction = np.array([np.sin(theta), np.cos(theta)]) + rng.normal(0, 0.25, 2)
            direction /= np.linalg.norm(direction)
            bend = rng.normal(0, 0.6)
            count = int(length / px)
            t = np.linspace(0, 1, count)
            normal = np.array([-direction[1], direction[0]])
            ys = y0 + direction[0] * length * t + normal[0] * bend * 0.3 * length * t ** 2
            xs = x0 + direction[1] * length * t + normal[1] * bend * 0.3 * length * t ** 2
            opacity = rng.uniform(0.5, 1.0) * px
            iy, ix = np.floor(ys).astype(int), np.floor(xs).astype(int)
            fy, fx = ys - iy, xs - ix
            for oy, ox, w in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
                yy, xx = iy + oy, ix + ox
                ok = (yy >= 0) & (yy < height) & (xx >= 0) & (xx < width)
                np.add.at(density, yy[ok] * width + xx[ok], (w[ok] * opacity).astype(np.float32))
        density = density.reshape(height, width)
        blur = int(round(self.scale / 2))
        if blur:
            density = _box_blur(density, blur).astype(np.float32) * 1.0
        return (1.0 - np.exp(-1.6 * density)).astype(np.float32)

    def frame(self, t: int):
        """(plate pixels (H, W, 3) scene-linear float32, {layer: visible alpha})."""
        height, width = self.size
        h = float(height)
        ball = _ellipse(self._yy, self._xx, 0.62 * h, 0.7 * width + 0.004 * h * t, 0.16 * h, 0.16 * h)
        person = self.person
        ball_visible = ball * (1.0 - person)
        rng = np.random.default_rng(1000 * self.seed + t)
        under = ball[..., None] * self.ball_colour + (1.0 - ball[..., None]) * self.background
        pixels = person[..., None] * self.person_colour + (1.0 - person[..., None]) * under
        pixels = pixels + rng.normal(0.0, 0.012, pixels.shape).astype(np.float32)  # film grain
        return np.clip(pixels, 0.0, None).astype(np.float32), {"/person/person_0001": person, "/ball/ball_0001": ball_visible.astype(np.float32)}


def sam2_like(alphas: dict[str, np.ndarray], working: tuple[int, int], seed: int) -> dict[str, np.ndarray]:
    """Probabilities at the working size, degraded as SAM2's are, through a
    one-layer-per-pixel cache with 8-bit probabilities."""
    rng = np.random.default_rng(seed)
    probabilities = []
    for alpha in alphas.values():
        low = maskops.resize_area(alpha, (LOW, LOW))
        low = refine._box_mean(low, 1)  # SAM2's low-resolution logits are smooth
        jitter = maskops.resize_bilinear(rng.normal(0.0, 0.8, (16, 16)).astype(np.float32), (LOW, LOW))
        logits = 12.0 * (low - 0.5) + jitter
        probability = 1.0 / (1.0 + np.exp(-logits))
        probabilities.append(maskops.resize_bilinear(probability.astype(np.float32), working))
    stack = np.stack(probabilities)
    winner = stack.argmax(axis=0)
    best = np.round(stack.max(axis=0) * 255.0) / 255.0
    return {name: np.where(winner == i, best, 0.0).astype(np.float32) for i, name in enumerate(alphas)}


def working_size(size):
    height, width = size
    scale = WORKING / max(height, width)
    return (int(round(height * scale)), int(round(width * scale)))


# ---------------------------------------------------------------------------- measures


def _gauss_derivative(values, sigma=1.4):
    radius = int(np.ceil(3 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-x * x / (2 * sigma * sigma))
    g /= g.sum()
    dg = -x * g / (sigma * sigma)
    dg /= np.abs(dg).sum() / 2

    def convolve(array, kernel, axis):
        padded = np.pad(array, [(radius, radius) if a == axis else (0, 0) for a in range(2)], mode="edge")
        out = np.zeros_like(array)
        for i, k in enumerate(kernel):
            out += k * np.take(padded, np.arange(i, i + array.shape[axis]), axis=axis)
        return out

    values = np.asarray(values, np.float64)
    gx = convolve(convolve(values, g, 0), dg, 1)
    gy = convolve(convolve(values, g, 1), dg, 0)
    return np.sqrt(gx * gx + gy * gy)


def _connectivity(prediction, truth, band):
    if cv2 is None:
        return float("nan")
    steps = np.arange(0.0, 1.0001, 0.1)
    level = -np.ones(truth.shape, np.float64)
    for i in range(1, len(steps)):
        both = ((prediction >= steps[i]) & (truth >= steps[i])).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(both, connectivity=4)
        if count > 1:
            largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            omega = labels == largest
        else:
            omega = np.zeros(truth.shape, bool)
        flag = (level == -1) & ~omega
        level[flag] = steps[i - 1]
    level[level == -1] = 1.0
    dp, dt = prediction - level, truth - level
    phi_p = 1 - dp * (dp >= 0.15)
    phi_t = 1 - dt * (dt >= 0.15)
    return float(np.abs(phi_p - phi_t)[band].sum() / 1000.0)


def evaluation_band(truth, size):
    width = max(2, int(round(0.01 * max(size))))
    soft = (truth > 0.01) & (truth < 0.99)
    return maskops.dilate(soft | maskops.boundary(truth), width)


def measure(prediction, truth, band):
    """alphamatting.com measures in ``band`` (on its bounding box) and boundary F."""
    rows, cols = np.flatnonzero(band.any(axis=1)), np.flatnonzero(band.any(axis=0))
    margin = 8
    y0, y1 = max(0, rows[0] - margin), min(band.shape[0], rows[-1] + margin + 1)
    x0, x1 = max(0, cols[0] - margin), min(band.shape[1], cols[-1] + margin + 1)
    p = prediction[y0:y1, x0:x1].astype(np.float64)
    g = truth[y0:y1, x0:x1].astype(np.float64)
    b = band[y0:y1, x0:x1]
    error = p - g
    gradient = (_gauss_derivative(p) - _gauss_derivative(g)) ** 2
    return {
        "sad": float(np.abs(error)[b].sum() / 1000.0),
        "mse": float((error ** 2)[b].mean()),
        "grad": float(gradient[b].sum() / 1000.0),
        "conn": _connectivity(p, g, b),
        "f": metrics.boundary_f(prediction, truth),
    }


# ---------------------------------------------------------------------------- candidates


def joint_bilateral(layers, size, guide, params: refine.RefineParams, sigma_colour=0.08):
    """Candidate: joint-bilateral upsampling in the band (numpy, strided
    window); the engine does not use it (see docs/pipeline.md)."""
    out = upsample_masks(layers, size)
    band_px, radius_px = params.pixels(size)
    g = guide.astype(np.float32) / 255.0
    step = max(1, radius_px // 4)
    for name, matte in out.items():
        band = refine.edge_band(matte, band_px)
        rows, cols = np.flatnonzero(band.any(axis=1)), np.flatnonzero(band.any(axis=0))
        if not len(rows):
            continue
        r = 2 * radius_px
        y0, y1 = max(0, rows[0] - r), min(size[0], rows[-1] + r + 1)
        x0, x1 = max(0, cols[0] - r), min(size[1], cols[-1] + r + 1)
        p = np.pad(matte[y0:y1, x0:x1], r, mode="edge")
        gi = np.pad(g[y0:y1, x0:x1], ((r, r), (r, r), (0, 0)), mode="edge")
        centre = g[y0:y1, x0:x1]
        total = np.zeros(centre.shape[:2], np.float32)
        weight = np.zeros(centre.shape[:2], np.float32)
        h, w = centre.shape[:2]
        for dy in range(-r, r + 1, step):
            for dx in range(-r, r + 1, step):
                spatial = np.exp(-(dy * dy + dx * dx) / (2.0 * radius_px * radius_px))
                diff = gi[r + dy:r + dy + h, r + dx:r + dx + w] - centre
                wgt = spatial * np.exp(-(diff * diff).sum(axis=-1) / (2 * sigma_colour ** 2))
                total += wgt * p[r + dy:r + dy + h, r + dx:r + dx + w]
                weight += wgt
        sub = band[y0:y1, x0:x1]
        region = matte[y0:y1, x0:x1]
        region[sub] = (total / np.maximum(weight, 1e-12))[sub]
    return out


# ---------------------------------------------------------------------------- runs


def run_size(size, frames, variants, seed=0, image=None):
    scene = Scene(size, seed)
    working = working_size(size)
    results = {name: {"frames": [], "seconds": 0.0, "flicker": []} for name in variants}
    previous = {name: None for name in variants}
    previous_truth = None
    for t in range(frames):
        pixels, truth = scene.frame(t)
        guide = refine.guide_from_plate(pixels, "linear")
        layers = sam2_like(truth, working, seed * 100 + t)
        for name, make in variants.items():
            started = time.perf_counter()
            mattes = make(layers, size, guide)
            results[name]["seconds"] += time.perf_counter() - started
            for layer, alpha in truth.items():
                band = evaluation_band(alpha, size)
                results[name]["frames"].append(measure(mattes[layer], alpha, band))
                if previous[name] is not None:
                    still = band & (np.abs(alpha - previous_truth[layer]) < 1e-4)
                    results[name]["flicker"].append(float(np.abs(mattes[layer] - previous[name][layer])[still].mean()))
            total = sum(mattes.values())
            results[name]["max_coverage"] = max(results[name].get("max_coverage", 0.0), float(total.max()))
            if image is not None and t == 0:
                image.setdefault("mattes", {})[name] = mattes["/person/person_0001"]
            previous[name] = mattes
        if image is not None and t == 0:
            image["plate"] = guide
            image["truth"] = truth["/person/person_0001"]
        previous_truth = truth
    rows = {}
    layers_count = len(truth)
    for name, data in results.items():
        keys = data["frames"][0].keys()
        row = {k: float(np.mean([f[k] for f in data["frames"]])) for k in keys}
        row["flicker"] = float(np.mean(data["flicker"])) if data["flicker"] else float("nan")
        row["seconds"] = data["seconds"] / (frames * layers_count)
        row["max_coverage"] = data["max_coverage"]
        rows[name] = row
    return rows


def peak_memory(size, params):
    """Peak numpy allocation during refine_layers on one frame (tracemalloc)."""
    scene = Scene(size, 0)
    pixels, truth = scene.frame(0)
    guide = refine.guide_from_plate(pixels, "linear")
    layers = sam2_like(truth, working_size(size), 0)
    del pixels, scene
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    mattes = refine.refine_layers(layers, size, guide, params)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    outputs = sum(m.nbytes for m in mattes.values())
    return {"peak_mib": peak / 2**20, "outputs_mib": outputs / 2**20, "work_mib": (peak - outputs) / 2**20,
            "guide_mib": guide.nbytes / 2**20, "seconds_per_layer": seconds / len(mattes)}


def side_by_side(image, path):
    from SegmentationCore.plates.oiio import oiio_module

    oiio = oiio_module()
    truth = image["truth"]
    rows, cols = np.flatnonzero((image["truth"] > 0).any(axis=1)), np.flatnonzero((truth > 0).any(axis=0))
    h = truth.shape[0]
    # the top of the head: hair strands and the head's edge
    cy, cx = rows[0] + int(0.07 * h), int(np.mean(cols[(truth[rows[0] + int(0.07 * h)] > 0.5)[cols]]))
    half = int(0.09 * h)
    y0, y1, x0, x1 = max(0, cy - half), cy + half, max(0, cx - half), cx + half
    panels = [image["plate"][y0:y1, x0:x1].astype(np.float32) / 255.0]
    for key in ("bilinear", "refined"):
        matte = image["mattes"][key][y0:y1, x0:x1]
        panels.append(np.repeat(matte[..., None], 3, axis=-1))
    panels.append(np.repeat(truth[y0:y1, x0:x1][..., None], 3, axis=-1))
    gap = np.ones((panels[0].shape[0], 6, 3), np.float32)
    strip = np.concatenate([p for panel in panels for p in (panel, gap)][:-1], axis=1)
    data = np.ascontiguousarray((np.clip(strip, 0, 1) * 255 + 0.5).astype(np.uint8))
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), oiio.ImageSpec(data.shape[1], data.shape[0], 3, oiio.UINT8))
    out.write_image(data)
    out.close()
    print(f"wrote {path} (plate | bilinear | refined | ground truth, {x1 - x0}x{y1 - y0} crop)")


def _parse_sizes(text):
    return [tuple(int(v) for v in reversed(s.split("x"))) for s in text.split(",") if s]


def _table(rows, size, frames):
    print(f"\n{size[1]}x{size[0]}, {frames} frames, 2 layers (person with hair and a motion-blurred arm, a ball behind it)")
    print("| method | SAD | MSE | gradient | connectivity | boundary F | flicker | s / frame / layer | max coverage sum |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['sad']:.2f} | {r['mse']:.5f} | {r['grad']:.2f} | {r['conn']:.2f} | {r['f']:.3f} | {r['flicker']:.4f} | {r['seconds']:.2f} | {r['max_coverage']:.4f} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1920x1080,4096x2160")
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--sweep", action="store_true", help="also try settings of the guided filter at the first size")
    parser.add_argument("--candidates", action="store_true", help="also run the full guided filter and joint-bilateral upsampling")
    parser.add_argument("--memory-sizes", default="1920x1080,4096x2160,6144x3160")
    parser.add_argument("--image", help="write the side-by-side crop (first size) to this PNG")
    args = parser.parse_args(argv)
    default = refine.RefineParams()
    print(f"refine defaults: {default}")
    sizes = _parse_sizes(args.sizes)
    if args.sweep:
        variants = {"bilinear": lambda layers, size, guide: upsample_masks(layers, size)}
        for radius in (0.004, 0.008):
            for eps in (1e-4, 1e-3, 1e-2):
                for sharpen in (1.0, 3.0):
                    p = dataclasses.replace(default, radius=radius, eps=eps, sharpen=sharpen)
                    variants[f"r {radius} eps {eps:g} sharpen {sharpen:g}"] = lambda layers, size, guide, p=p: refine.refine_layers(layers, size, guide, p)
        _table(run_size(sizes[0], 2, variants), sizes[0], 2)
    for index, size in enumerate(sizes):
        variants = {
            "bilinear": lambda layers, size, guide: upsample_masks(layers, size),
            "refined": lambda layers, size, guide: refine.refine_layers(layers, size, guide, default),
        }
        if args.candidates:
            full = dataclasses.replace(default, subsample=1)
            coarse = dataclasses.replace(default, subsample=4)
            variants["guided filter, full (subsample 1)"] = lambda layers, size, guide: refine.refine_layers(layers, size, guide, full)
            variants["fast guided filter, subsample 4"] = lambda layers, size, guide: refine.refine_layers(layers, size, guide, coarse)
            variants["joint-bilateral upsampling"] = lambda layers, size, guide: joint_bilateral(layers, size, guide, default)
        image = {} if (args.image and index == 0) else None
        rows = run_size(size, args.frames, variants, image=image)
        _table(rows, size, args.frames)
        if image is not None:
            side_by_side(image, pathlib.Path(args.image))
    if args.memory_sizes:
        print("\npeak memory of refine_layers on one frame (2 layers; tracemalloc: numpy allocations)")
        print("| plate | peak | of which the output mattes | working memory | guide (8-bit, held by the caller) | s / layer |")
        print("|---|---|---|---|---|---|")
        for size in _parse_sizes(args.memory_sizes):
            m = peak_memory(size, default)
            print(f"| {size[1]}x{size[0]} | {m['peak_mib']:.0f} MiB | {m['outputs_mib']:.0f} MiB | {m['work_mib']:.0f} MiB | {m['guide_mib']:.0f} MiB | {m['seconds_per_layer']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
