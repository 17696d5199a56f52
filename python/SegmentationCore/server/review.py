"""``autoseg review OUT``: the review page of a finished run, served with the
browser tools (same server, same confinement: loopback by default, Host
and Origin checks, files only from the plate and output roots).

The review app is the tools app (so the interactive tool is one click
away, on the same origin) plus:

* ``GET /review``: the page (``web/review.html``);
* ``GET /api/review/runs``: the runs in the output root;
* ``GET /api/review/summary?run=NAME``: the QC summary, the shot id of the
  run's plate in the interactive tool, layer colours;
* ``GET /api/review/overlay?run=NAME&frame=F[&layer=L]``: the plate frame
  with the run's layers tinted (PNG, working resolution);
* ``POST /api/review/interactive {run, frame, layer}``: adds an object of
  the layer's class (in its colour) to the interactive session of the shot
  and answers the URL that opens the interactive tool on that frame with
  that object active, ready for clicks.
"""

from __future__ import annotations

import os
import pathlib
import sys
import threading
from typing import Any

from ..core.errors import OutputError, SegmentationError
from ..pipeline import review as run_review
from . import imaging
from .app import ToolsApp, make_server
from .backends import Backends
from .http import HttpError, Request, Response, json_response
from .paths import safe_file_name

REVIEW_PAGE = ("/review", "review.html")


class ReviewApp(ToolsApp):
    """The tools app plus the review routes over the runs in the output root."""

    def __init__(self, plates_root, output_root, backends: Backends, max_size: int = 1024, frame_source_factory=None):
        super().__init__(plates_root, output_root, backends, max_size=max_size, frame_source_factory=frame_source_factory)
        self._runs: dict[str, run_review.RunReview] = {}
        self._run_lock = threading.Lock()

    def routes(self) -> tuple[dict, list]:
        exact, prefix = super().routes()
        exact[("GET", REVIEW_PAGE[0])] = self.review_page
        exact[("GET", "/api/review/runs")] = self.api_runs
        exact[("GET", "/api/review/summary")] = self.api_summary
        exact[("GET", "/api/review/overlay")] = self.api_overlay
        exact[("POST", "/api/review/interactive")] = self.api_interactive
        return exact, prefix

    def review_page(self, request: Request) -> Response:
        from .http import static_file_response

        return static_file_response(self.web.resolve(REVIEW_PAGE[1]).read_bytes(), REVIEW_PAGE[1])

    # -- runs ------------------------------------------------------------------------

    def run(self, name: str) -> run_review.RunReview:
        """A run of the output root by name (validated: one plain folder name)."""
        safe_file_name(name, "run name")
        work = self.output.resolve(f".autoseg/{name}")  # confined to the output root, links included
        with self._run_lock:
            cached = self._runs.get(name)
            if cached is None:
                cached = run_review.RunReview(work)
                self._runs[name] = cached
            return cached

    def shot_id(self, run: run_review.RunReview) -> str | None:
        """The run's plate as a shot id of the plate root (None: outside it)."""
        from .. import plates

        sequence = plates.parse_sequence(run.plate, run.frame_numbers)
        prefix = pathlib.Path(sequence.prefix)
        try:
            folder = self.plates.relative(os.path.realpath(prefix.parent))
        except Exception:
            return None
        name = f"{prefix.name}{'#' * max(sequence.padding, 1)}{sequence.suffix}"
        shot_id = f"{folder}/{name}" if folder not in ("", ".") else name
        try:
            self.library.shot(shot_id)
        except Exception:
            return None
        return shot_id

    def api_runs(self, request: Request) -> Response:
        names = sorted(run_review.find_work_folders(self.output.real))
        return json_response({"runs": names})

    def api_summary(self, request: Request) -> Response:
        run = self.run(request.arg("run"))
        summary = run.summary
        return json_response({
            "run": run.name,
            "plate": run.plate,
            "shot": self.shot_id(run),
            "size": list(run.size),
            "colours": {name: _css(run_review.layer_colour(name)) for name in summary["layers"]},
            "summary": summary,
        })

    def api_overlay(self, request: Request) -> Response:
        run = self.run(request.arg("run"))
        frame = request.arg("frame", kind=int)
        if frame not in run.frame_numbers:
            raise HttpError(404, f"Frame {frame} is not a frame of run {run.name}")
        layer = request.arg("layer", None)
        data = imaging.encode_png(run.overlay(frame, layer))
        return Response(data, "image/png", headers={"Cache-Control": "private, max-age=60"})

    def api_interactive(self, request: Request) -> Response:
        run = self.run(request.arg("run"))
        frame = request.arg("frame", kind=int)
        layer = request.arg("layer")
        if layer not in run.summary["layers"]:
            raise HttpError(404, f"No layer {layer!r} in run {run.name}")
        shot_id = self.shot_id(run)
        if shot_id is None:
            raise HttpError(409, f"The plate {run.plate} is not under the plate root {self.plates.real}; restart with --plates at its folder")
        shot = self.library.shot(shot_id)
        if frame not in shot.frame_numbers:
            raise HttpError(404, f"Frame {frame} is not a frame of {shot_id}")
        session = self.session(shot.id)
        self._busy_check(session.shot_id)
        phrase = run.summary["layers"][layer].get("phrase") or layer.strip("/").split("/")[0]
        with session.lock:
            obj = session.add_object(phrase, _css(run_review.layer_colour(layer)))
        from urllib.parse import urlencode

        return json_response({
            "url": f"/interactive#{urlencode({'shot': shot.id, 'frame': frame, 'object': obj['id']})}",
            "object": obj,
            "layer": layer,
        })


def _css(colour) -> str:
    return "#" + "".join(f"{int(round(c * 255)):02x}" for c in colour)


def create_review_server(
    output_root: str | pathlib.Path,
    plates_root: str | pathlib.Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8766,
    models=None,
    providers=None,
    max_size: int = 1024,
    quiet: bool = False,
):
    """A ready-to-run review server over the runs in ``output_root``.

    ``plates_root`` defaults to the folder of the (first) run's plate, so
    the interactive tool can open it; it may not overlap the output root."""
    found = run_review.find_work_folders(output_root)
    if not found:
        raise SegmentationError(f"no autoseg run in {output_root} (no .autoseg/<name>/run.json); run autoseg run -o {output_root} first")
    first = run_review.RunReview(next(iter(found.values())))
    if plates_root is None:
        from .. import plates

        plates_root = pathlib.Path(plates.parse_sequence(first.plate, first.frame_numbers).prefix).parent
    if models is None:
        models = _run_models(first)
    backends = Backends(models, providers=providers)
    try:
        app = ReviewApp(plates_root, output_root, backends, max_size=max_size)
    except OutputError as error:
        raise OutputError(f"{error} (autoseg review: give --plates FOLDER holding the plate but not {output_root})") from None
    server = make_server(app, host, port, quiet=quiet)
    server.app = app
    return server


def _run_models(run: run_review.RunReview) -> list[str]:
    """The interactive tool's models: the run's SAM2 export (or synthetic)."""
    models = run.settings.get("models", {})
    if models.get("synthetic"):
        return ["synthetic"]
    return [m for m in (models.get("sam2"),) if m]


def serve_review(output_root, plates_root=None, host: str = "127.0.0.1", port: int = 8766, **options) -> None:
    server = create_review_server(output_root, plates_root, host, port, **options)
    print(f"review: output {server.app.output.real}, plates {server.app.plates.real}", file=sys.stderr)
    print(f"review: {server.url}review", file=sys.stderr)
    server.serve_until_interrupted("review", "read the plates and results")


def start_review_in_thread(*args, **kwargs):
    """Start a review server in a daemon thread (tests); stop it with
    ``server.shutdown(); server.server_close()``."""
    return create_review_server(*args, **kwargs).start_thread("review-server")


__all__ = ["ReviewApp", "create_review_server", "serve_review", "start_review_in_thread"]
