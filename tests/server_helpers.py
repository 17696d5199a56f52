"""Helpers for the browser-tool server tests: generated plates, a running
server on a free loopback port, and a small HTTP client that can send raw
(unnormalised) paths and headers."""

from __future__ import annotations

import http.client
import json
import pathlib
import time
import urllib.parse

import numpy as np

from SegmentationCore import synthetic
from SegmentationCore.server import start_in_thread

PNG_SHOT = "shot010/plate.####.png"
EXR_SHOT = "shot020/plate.####.exr"


def png_spec() -> synthetic.ShotSpec:
    """12 frames, 640x360, three people."""
    return synthetic.generate_shot(seed=3, num_frames=12, width=640, height=360, num_objects=3)


def exr_spec() -> synthetic.ShotSpec:
    """6 frames, 320x180, a person and a car."""
    return synthetic.generate_shot(seed=5, num_frames=6, width=320, height=180, num_objects=2, labels=("person", "car"))


def write_plates(root: pathlib.Path) -> pathlib.Path:
    """A plate root with an 8-bit PNG shot and a linear half-float EXR shot."""
    synthetic.SyntheticShot(png_spec()).write_plate(root / "shot010", "plate", "png")
    synthetic.SyntheticShot(exr_spec()).write_plate(root / "shot020", "plate", "exr")
    return root


def start(plates: pathlib.Path, output: pathlib.Path, **options):
    options.setdefault("models", ["synthetic"])
    options.setdefault("quiet", True)
    return start_in_thread(plates, output, host="127.0.0.1", port=0, **options)


def stop(server) -> None:
    server.shutdown()
    server.server_close()


class Client:
    """Raw HTTP against a test server (paths are sent exactly as given)."""

    def __init__(self, server):
        self.host, self.port = server.server_address[:2]

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            headers = dict(headers or {})
            headers.setdefault("Host", f"127.0.0.1:{self.port}")
            if body is not None:
                headers.setdefault("Content-Length", str(len(body)))
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.endheaders()
            if body is not None:
                connection.send(body)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def get(self, path: str, **params):
        if params:
            path = f"{path}?{urllib.parse.urlencode(params)}"
        status, headers, data = self.request("GET", path)
        return status, headers, data

    def get_json(self, path: str, expect: int = 200, **params):
        status, _, data = self.get(path, **params)
        decoded = json.loads(data)
        assert status == expect, (status, decoded)
        return decoded

    def post(self, path: str, body: dict, expect: int = 200, headers: dict | None = None):
        all_headers = {"Content-Type": "application/json"}
        all_headers.update(headers or {})
        status, _, data = self.request("POST", path, json.dumps(body).encode(), all_headers)
        decoded = json.loads(data)
        assert status == expect, (status, decoded)
        return decoded

    def wait_job(self, job: dict, timeout: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            current = self.get_json(f"/api/jobs/{job['id']}")["job"]
            if current["state"] not in ("queued", "running"):
                return current
            assert time.monotonic() < deadline, f"job {job['id']} did not finish: {current}"
            time.sleep(0.05)


def centre_of(mask: np.ndarray) -> tuple[float, float]:
    """A pixel well inside a mask (the median of its pixels, snapped onto it)."""
    rows, cols = np.nonzero(mask >= 0.5)
    order = np.argsort((rows - np.median(rows)) ** 2 + (cols - np.median(cols)) ** 2)
    return float(cols[order[0]]) + 0.5, float(rows[order[0]]) + 0.5


def decode_mask(data_url: str) -> np.ndarray:
    """The foreground of a mask overlay PNG (``data:image/png;base64,...``):
    its alpha is ``0.45 * p`` inside and opaque on the outline, so
    ``alpha >= 0.225`` is ``p >= 0.5``. Returns 0/1 float32."""
    import base64

    from SegmentationCore.server.imaging import decode_png_for_tests

    pixels = decode_png_for_tests(base64.b64decode(data_url.split(",", 1)[1]))
    return (pixels[..., -1] >= round(0.225 * 255)).astype(np.float32)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a >= 0.5, b >= 0.5
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union
