"""Benchmark the ID-matte writers and readers at 1920x1080.

Cases: 5 big soft overlapping layers, and a 60-instance crowd. For each,
ObjectId (deep EXR) and Cryptomatte write / read / matte-extract times
(median and best of ``--repeat`` runs, warm) and file sizes, plus two
references measured in the same run: OpenImageIO's C++ deep read + flatten
of our ObjectId file, and the OpenEXR binding's per-pixel deep writer fed
by a per-pixel Python loop (the slow way this module replaces). Every
write goes band by band of scan lines (``idmatte.bands``); the
``write_frame`` row writes both files in one pass over the bands.

Run under the shared lock:  flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_idmatte.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "python"), os.path.join(ROOT, "tests")]

import numpy as np  # noqa: E402

from idmatte_layers import crowd_layers, overlapping_layers  # noqa: E402
from SegmentationCore.idmatte import cryptomatte, exr_read, mattefilter, objectid, output  # noqa: E402
from SegmentationCore.idmatte.idsamples import collect_samples  # noqa: E402


def timed(function, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def per_pixel_baseline(path: str, layers: dict) -> float:
    """The OpenEXR binding's deep writer, object arrays built pixel by pixel."""
    import OpenEXR

    start = time.perf_counter()
    samples = collect_samples(path, layers)
    height, width = samples.height, samples.width
    hashes = samples.hashes
    a = np.empty(height * width, dtype=object)
    ids = np.empty(height * width, dtype=object)
    z = np.empty(height * width, dtype=object)
    starts = np.concatenate([[0], np.cumsum(samples.counts)]).tolist()
    alpha = samples.alpha.astype(np.float16)
    layer = samples.layer
    for pixel in range(height * width):
        first, last = starts[pixel], starts[pixel + 1]
        if last > first:
            a[pixel] = alpha[first:last]
            ids[pixel] = hashes[layer[first:last]]
            z[pixel] = (layer[first:last] + 1).astype(np.float32)
    header = {"compression": OpenEXR.ZIPS_COMPRESSION, "type": OpenEXR.deepscanline}
    channels = {"A": a.reshape(height, width), "id": ids.reshape(height, width), "Z": z.reshape(height, width)}
    with OpenEXR.File(header, channels) as exr_file:
        exr_file.write(path)
    return time.perf_counter() - start


def oiio_flatten(path: str) -> None:
    import OpenImageIO as oiio

    buf = oiio.ImageBuf(path)
    buf.read()
    flat = oiio.ImageBufAlgo.flatten(buf)
    flat.get_pixels(oiio.FLOAT)


def in_gaffer_process(function, *args):
    """``function(*args)`` reading pixels as it does where IECore is loaded:
    with the package's own decoder, never the PyPI OpenEXR binding."""
    saved = exr_read.openexr_is_safe
    exr_read.openexr_is_safe = lambda: False
    try:
        return function(*args)
    finally:
        exr_read.openexr_is_safe = saved


def run_case(label: str, layers: dict, folder: str, repeat: int, baseline: bool) -> None:
    names = list(layers)
    height, width = next(iter(layers.values())).shape
    samples = collect_samples("<bench>", layers)
    rank_sets = cryptomatte.required_rank_sets(samples)
    oid = os.path.join(folder, f"{label}.objectid.0001.exr")
    crypto = os.path.join(folder, f"{label}.crypto.0001.exr")
    crypto_extra = os.path.join(folder, f"{label}.crypto_alpha.0001.exr")
    print(f"\n== {label}: {len(names)} layers at {width}x{height}, {len(samples)} samples "
          f"(max {samples.max_samples}/pixel), {rank_sets} rank sets")

    rows = []
    start = time.perf_counter()
    objectid.write_objectid(oid, layers, overwrite=True)
    cold_oid = time.perf_counter() - start
    start = time.perf_counter()
    cryptomatte.write_cryptomatte(crypto, layers, rank_sets=rank_sets, overwrite=True)
    cold_crypto = time.perf_counter() - start

    w_oid = timed(lambda: objectid.write_objectid(oid, layers, overwrite=True), repeat)
    w_crypto = timed(lambda: cryptomatte.write_cryptomatte(crypto, layers, rank_sets=rank_sets, overwrite=True), repeat)
    w_extra = timed(
        lambda: cryptomatte.write_cryptomatte(crypto_extra, layers, rank_sets=rank_sets, overwrite=True, extra_alpha_channels=True),
        repeat,
    )
    w_both = timed(
        lambda: (objectid.write_objectid(oid, layers, overwrite=True),
                 cryptomatte.write_cryptomatte(crypto, layers, rank_sets=rank_sets, overwrite=True)),
        repeat,
    )

    def both_shared() -> None:
        shared = collect_samples(oid, layers)
        objectid.write_objectid(oid, shared, overwrite=True)
        cryptomatte.write_cryptomatte(crypto, shared, rank_sets=rank_sets, overwrite=True)

    w_shared = timed(both_shared, repeat)
    prefix = os.path.join(folder, f"{label}.frame")
    w_frame = timed(lambda: output.write_frame(prefix, 1, layers, rank_sets=rank_sets, overwrite=True), repeat)
    r_oid = timed(lambda: objectid.read_objectid(oid), repeat)
    r_crypto = timed(lambda: cryptomatte.read_cryptomatte(crypto), repeat)
    r_crypto_gaffer = timed(lambda: in_gaffer_process(cryptomatte.read_cryptomatte, crypto), repeat)
    pattern = names[0].rsplit("/", 1)[0]  # a class: every layer below it
    e_oid = timed(lambda: mattefilter.extract_matte(oid, pattern), repeat)
    e_crypto = timed(lambda: mattefilter.extract_matte(crypto, pattern), repeat)
    f_oiio = timed(lambda: oiio_flatten(oid), repeat)

    rows.append(("ObjectId write", w_oid, os.path.getsize(oid)))
    rows.append(("Cryptomatte write", w_crypto, os.path.getsize(crypto)))
    rows.append(("Cryptomatte write + alpha channels", w_extra, os.path.getsize(crypto_extra)))
    rows.append(("BOTH formats write", w_both, os.path.getsize(oid) + os.path.getsize(crypto)))
    rows.append(("BOTH formats write, samples collected once", w_shared, None))
    rows.append(("BOTH formats, write_frame (one banded pass)", w_frame, None))
    rows.append(("ObjectId read (all layers)", r_oid, None))
    rows.append(("Cryptomatte read (all layers)", r_crypto, None))
    rows.append(("  the same as inside Gaffer (numpy decoder)", r_crypto_gaffer, None))
    rows.append((f"ObjectId extract_matte {pattern!r}", e_oid, None))
    rows.append((f"Cryptomatte extract_matte {pattern!r}", e_crypto, None))
    rows.append(("reference: OIIO C++ deep read+flatten", f_oiio, None))
    print(f"{'operation':44s} {'median s':>9s} {'best s':>8s} {'size MB':>8s}")
    for name, (median, best), size in rows:
        size_text = f"{size / 1e6:8.2f}" if size is not None else ""
        print(f"{name:44s} {median:9.3f} {best:8.3f} {size_text}")
    print(f"{'first (cold) ObjectId / Cryptomatte write':44s} {cold_oid:9.3f} {cold_crypto:8.3f}")
    if baseline:
        slow_path = os.path.join(folder, f"{label}.baseline.exr")
        slow = per_pixel_baseline(slow_path, layers)
        print(f"{'reference: per-pixel loop + OpenEXR deep write':44s} {slow:9.3f} {'':8s} {os.path.getsize(slow_path) / 1e6:8.2f}")
        print(f"  -> vectorised ObjectId write is {slow / w_oid[0]:.1f}x faster (same run)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-baseline", action="store_true", help="skip the slow per-pixel reference")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--isal", action="store_true",
                        help="deflate with ISA-L (faster, not byte-reproducible; what AUTOSEG_DEFLATE=isal selects) instead of zlib")
    args = parser.parse_args()
    from SegmentationCore.idmatte import exr_zip

    if args.isal:
        from isal import isal_zlib

        exr_zip._deflate_lib, exr_zip.BACKEND = isal_zlib, "isal"
    print(f"bench_idmatte: numpy {np.__version__}, {os.cpu_count()} CPUs, deflate {exr_zip.BACKEND} "
          f"level {exr_zip.DEFAULT_LEVEL}, repeat {args.repeat}")
    with tempfile.TemporaryDirectory(prefix="bench_idmatte_") as folder:
        run_case("soft5", overlapping_layers(args.height, args.width, 5), folder, args.repeat, not args.no_baseline)
        run_case("crowd60", crowd_layers(args.height, args.width, 60), folder, args.repeat, not args.no_baseline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
