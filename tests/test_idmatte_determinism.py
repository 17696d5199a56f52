"""The same frame gives byte-identical ID-matte files in every process.

Reported: two identical ``autoseg run --chunks 2 --workers 2`` processes
wrote one Cryptomatte frame differently. Header and pixels were identical;
only the deflated chunk bytes differed: ISA-L's deflate (then the default)
now and then gave other, equally valid, bytes for the same chunk when called
from the thread pool. Deflate is now :mod:`zlib` (output a function of the
input alone); ISA-L is opt-in (``AUTOSEG_DEFLATE=isal``). Python's string
hash plays no part (tested with several ``PYTHONHASHSEED`` values)."""

import hashlib
import os
import subprocess
import sys
import zlib

import numpy as np

from SegmentationCore.idmatte import exr_zip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_WRITE_SCRIPT = """
import glob, hashlib, os, sys
import numpy as np
from SegmentationCore.idmatte import cryptomatte, output
out = sys.argv[1]
names = [f"/person/person_{i:04d}" for i in range(1, 9)] + ["/car/car_0001", "/Bäume/baum_0001", "/人/人_0001"]
for frame in range(1001, 1004):
    layers = {}
    for index, name in enumerate(names):
        alpha = np.zeros((180, 320), np.float32)
        alpha[index * 5:index * 5 + 120, index * 9:index * 9 + 200] = 0.5  # exact coverage ties
        alpha[60:70, :] = 0.25 + 0.05 * (frame - 1001)  # every layer in one band: ranks past the rank sets
        layers[name] = alpha
    rank_sets = cryptomatte.required_rank_sets(layers)
    output.write_frame(out + "/shot", frame, dict(reversed(list(layers.items()))), rank_sets=rank_sets,
                       depth_order=sorted(names), extra_alpha_channels=True)
    cryptomatte.write_cryptomatte(f"{out}/few.{frame}.exr", layers, rank_sets=3)
for path in sorted(glob.glob(out + "/*.exr")):
    print(os.path.basename(path), hashlib.sha256(open(path, "rb").read()).hexdigest())
"""


def _write_in_process(tmp_path, seed):
    out = tmp_path / f"seed{seed}"
    out.mkdir()
    script = tmp_path / "write.py"
    script.write_text(_WRITE_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"), PYTHONHASHSEED=str(seed))
    env.pop(exr_zip.DEFLATE_ENVIRONMENT, None)
    completed = subprocess.run(
        [sys.executable, str(script), str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout.splitlines()


def test_files_are_byte_identical_across_processes_and_hash_seeds(tmp_path):
    first, second = _write_in_process(tmp_path, 1), _write_in_process(tmp_path, 2)
    assert len(first) == 9  # 3 frames x (ObjectId, Cryptomatte, Cryptomatte with 3 rank sets)
    assert first == second


def test_chunks_are_zlibs_deflate_of_the_predicted_bytes():
    """The property that makes the bytes reproducible: each chunk is exactly
    zlib's level-1 stream of the predicted chunk (or the raw chunk), also on
    the thread pool (inputs above 64 KiB)."""
    rng = np.random.default_rng(3)
    rows = np.repeat(rng.integers(0, 3, (64, 800), dtype=np.uint8), 8, axis=1)
    rows[::7] = rng.integers(0, 256, (10, 6400), dtype=np.uint8)  # some rows that do not compress
    raw = rows.reshape(-1)
    lengths = [6400] * 64
    assert raw.size > 1 << 16
    packed = exr_zip.compress_chunks(raw, lengths)
    for index, chunk in enumerate(packed):
        line = raw[index * 6400:(index + 1) * 6400]
        deflated = zlib.compress(exr_zip.predict_chunk(line).tobytes(), exr_zip.DEFAULT_LEVEL)
        assert chunk == (deflated if len(deflated) < line.size else line.tobytes())
    assert exr_zip.compress_chunks(raw, lengths, threads=False) == packed


def test_isal_is_opt_in():
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    probe = "from SegmentationCore.idmatte import exr_zip; print(exr_zip.BACKEND)"
    for value, expected in (("", {"zlib"}), ("isal", {"isal", "zlib"}), ("zlib", {"zlib"})):
        env[exr_zip.DEFLATE_ENVIRONMENT] = value
        backend = subprocess.run([sys.executable, "-c", probe], env=env, stdout=subprocess.PIPE, universal_newlines=True,
                                 check=True).stdout.strip()
        assert backend in expected
    try:
        import isal  # noqa: F401
    except ImportError:
        return
    env[exr_zip.DEFLATE_ENVIRONMENT] = "isal"
    assert subprocess.run([sys.executable, "-c", probe], env=env, stdout=subprocess.PIPE, universal_newlines=True,
                          check=True).stdout.strip() == "isal"
