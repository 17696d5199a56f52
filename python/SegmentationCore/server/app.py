"""The browser tools' application: routes of the JSON API and the static files.

See docs/browser-tools.md for the API list; every route takes its
parameters from the query string (GET) or a JSON object body (POST).
"""

from __future__ import annotations

import pathlib
import threading
import time
from typing import Any

from .. import __version__
from ..core.errors import PlateError
from . import imaging, workflows
from .backends import Backends
from .http import (
    HttpError,
    Request,
    Response,
    ToolServer,
    as_bool,
    json_response,
    static_file_response,
)
from .jobs import JobManager
from .paths import Root
from .session import ShotSession
from .shots import ShotLibrary

WEB_ROOT = pathlib.Path(__file__).resolve().parent / "web"
PAGES = {"/": "index.html", "/bench": "bench.html", "/interactive": "interactive.html"}


class ToolsApp:
    """State shared by all requests: roots, shots, models, sessions, jobs."""

    def __init__(
        self,
        plates_root: str | pathlib.Path,
        output_root: str | pathlib.Path,
        backends: Backends,
        max_size: int = 1024,
        frame_source_factory=None,
    ):
        plates = pathlib.Path(plates_root)
        if not plates.is_dir():
            raise PlateError(f"Plate root {plates} is not a folder; pass --plates DIR with your image sequences")
        output = pathlib.Path(output_root)
        output.mkdir(parents=True, exist_ok=True)
        self.plates = Root(plates, "plate")
        self.output = Root(output, "output")
        if self.output.real == self.plates.real or self.plates.real in self.output.real.parents or self.output.real in self.plates.real.parents:
            from ..core.errors import OutputError

            raise OutputError(
                f"Output root {self.output.real} and plate root {self.plates.real} overlap; "
                "give an --output folder outside the plates so results can never overwrite them"
            )
        self.web = Root(WEB_ROOT, "web")
        self.library = ShotLibrary(self.plates, max_size=max_size, frame_source_factory=frame_source_factory)
        self.backends = backends
        self.jobs = JobManager()
        self._sessions: dict[str, ShotSession] = {}
        self.lock = threading.Lock()
        self._preview_cache: dict[tuple, tuple[bytes, str]] = {}
        self.detections_cache: dict[tuple, Any] = {}

    def close(self) -> None:
        """Cancel running jobs and remove the sessions' temporary tracking folders."""
        for job in self.jobs.list():
            job.cancel()
        for job in self.jobs.list():
            job.wait(30)
        with self.lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            session.close()

    # -- helpers -----------------------------------------------------------------

    def session(self, shot_id: str) -> ShotSession:
        shot = self.library.shot(shot_id)
        with self.lock:
            existing = self._sessions.get(shot.id)
            if existing is None:
                existing = ShotSession(shot.id, shot.frame_numbers)
                self._sessions[shot.id] = existing
            return existing

    def context(self, request: Request, need_frame: bool = True) -> workflows.ShotContext:
        shot_id = request.arg("shot")
        shot = self.library.shot(shot_id)
        frames = self.library.frames(shot.id)
        frame = self.library.check_frame(shot.id, request.arg("frame")) if need_frame else None
        return workflows.ShotContext(self, shot, frames, frame)

    def _busy_check(self, shot_id: str) -> None:
        job = self.jobs.active_for(shot_id)
        if job is not None:
            raise HttpError(409, f"Shot {shot_id} is busy with a {job.kind} job ({job.id}, {job.done}/{job.total}); wait or cancel it")

    # -- routes: pages ------------------------------------------------------------

    def routes(self) -> tuple[dict, list]:
        exact = {
            ("GET", "/api/info"): self.api_info,
            ("GET", "/api/shots"): self.api_shots,
            ("GET", "/api/shot"): self.api_shot,
            ("GET", "/api/frame"): self.api_frame,
            ("POST", "/api/detect"): self.api_detect,
            ("POST", "/api/stage2"): self.api_stage2,
            ("POST", "/api/settings"): self.api_settings,
            ("GET", "/api/session"): self.api_session,
            ("POST", "/api/object/add"): self.api_object_add,
            ("POST", "/api/object/update"): self.api_object_update,
            ("POST", "/api/object/delete"): self.api_object_delete,
            ("POST", "/api/click"): self.api_click,
            ("POST", "/api/keyframe/clear"): self.api_keyframe_clear,
            ("POST", "/api/undo"): self.api_undo,
            ("POST", "/api/redo"): self.api_redo,
            ("GET", "/api/masks"): self.api_masks,
            ("POST", "/api/track"): self.api_track,
            ("POST", "/api/prompts/save"): self.api_prompts_save,
            ("POST", "/api/prompts/load"): self.api_prompts_load,
            ("POST", "/api/outputs/write"): self.api_outputs_write,
            ("GET", "/api/outputs"): self.api_outputs,
        }
        for path in PAGES:
            exact[("GET", path)] = self.page
        prefix = [
            ("GET", "/static/", self.static),
            ("GET", "/api/jobs/", self.api_job),
            ("POST", "/api/jobs/", self.api_job_cancel),
        ]
        return exact, prefix

    def page(self, request: Request) -> Response:
        name = PAGES[request.path]
        return static_file_response(self.web.resolve(name).read_bytes(), name)

    def static(self, request: Request) -> Response:
        relative = request.path[len("/static/"):]
        path = self.web.resolve(relative)
        if not path.is_file():
            raise FileNotFoundError(f"No file {relative}")
        return static_file_response(path.read_bytes(), path.name)

    # -- routes: shots and frames -------------------------------------------------

    def api_info(self, request: Request) -> Response:
        return json_response({
            "version": __version__,
            "plates_root": str(self.plates.real),
            "output_root": str(self.output.real),
            "models": self.backends.describe(),
            "defaults": workflows.default_settings(self.backends),
        })

    def api_shots(self, request: Request) -> Response:
        shots = self.library.refresh()
        return json_response({"shots": [
            {"id": shot.id, "frames": shot.frame_numbers, "first": shot.frame_numbers[0], "last": shot.frame_numbers[-1]}
            for shot in shots
        ]})

    def api_shot(self, request: Request) -> Response:
        context = self.context(request, need_frame=False)
        return json_response({
            "id": context.shot.id,
            "frames": context.shot.frame_numbers,
            "size": list(context.frames.size),
            "plate_size": list(workflows.plate_size(context)),
            "models": context.backends.kind,
            "output_folder": workflows.output_folder_name(context.shot),
            "session": self.session(context.shot.id).summary(),
        })

    def api_frame(self, request: Request) -> Response:
        context = self.context(request)
        image_format = request.arg("format", "png").lower()
        key = (context.shot.id, context.frame, image_format, context.frames.size)
        with self.lock:
            cached = self._preview_cache.get(key)
        if cached is None:
            cached = imaging.frame_preview(context.frames.image(context.frame), image_format)
            with self.lock:
                if len(self._preview_cache) > 32:
                    self._preview_cache.pop(next(iter(self._preview_cache)))
                self._preview_cache[key] = cached
        data, content_type = cached
        return Response(data, content_type, headers={"Cache-Control": "private, max-age=60"})

    # -- routes: prompt test bench -------------------------------------------------

    def api_detect(self, request: Request) -> Response:
        context = self.context(request)
        started = time.perf_counter()
        result = workflows.detect(context, request.arg("prompt"), workflows.bench_settings(request, self.backends))
        result["seconds"] = round(time.perf_counter() - started, 3)
        return json_response(result)

    def api_stage2(self, request: Request) -> Response:
        context = self.context(request)
        started = time.perf_counter()
        result = workflows.stage2_preview(context, request.arg("prompt"), workflows.bench_settings(request, self.backends))
        result["seconds"] = round(time.perf_counter() - started, 3)
        return json_response(result)

    def api_settings(self, request: Request) -> Response:
        settings = workflows.bench_settings(request, self.backends)
        shot_id = request.arg("shot", "")
        shot = self.library.shot(shot_id) if shot_id else None
        return json_response(workflows.copy_settings(request.arg("prompt", "person"), settings, shot, self))

    # -- routes: interactive segmentation -------------------------------------------

    def _summary(
        self, session: ShotSession, frame: int | None = None, context: workflows.ShotContext | None = None, refine_edges: bool = False,
    ) -> Response:
        data: dict[str, Any] = {"session": session.summary()}
        if frame is not None and context is not None:
            data["masks"] = workflows.frame_masks(context, session, frame, refine_edges)
        return json_response(data)

    def api_session(self, request: Request) -> Response:
        return self._summary(self.session(request.arg("shot")))

    def api_object_add(self, request: Request) -> Response:
        session = self.session(request.arg("shot"))
        self._busy_check(session.shot_id)
        with session.lock:
            session.add_object(request.arg("class", "object"), request.arg("colour", None))
        return self._summary(session)

    def api_object_update(self, request: Request) -> Response:
        session = self.session(request.arg("shot"))
        self._busy_check(session.shot_id)
        with session.lock:
            session.update_object(request.arg("object", kind=int), request.arg("class", None), request.arg("colour", None))
        return self._summary(session)

    def api_object_delete(self, request: Request) -> Response:
        session = self.session(request.arg("shot"))
        self._busy_check(session.shot_id)
        with session.lock:
            session.delete_object(request.arg("object", kind=int))
        return self._summary(session)

    def api_click(self, request: Request) -> Response:
        context = self.context(request)
        session = self.session(context.shot.id)
        self._busy_check(session.shot_id)
        with session.lock:
            session.add_click(
                request.arg("object", kind=int), context.frame,
                request.arg("x", kind=float), request.arg("y", kind=float),
                request.arg("positive", True, kind=as_bool), context.frames.size,
            )
        return self._summary(session, context.frame, context)

    def api_keyframe_clear(self, request: Request) -> Response:
        context = self.context(request)
        session = self.session(context.shot.id)
        self._busy_check(session.shot_id)
        with session.lock:
            session.clear_keyframe(request.arg("object", kind=int), context.frame)
        return self._summary(session, context.frame, context)

    def _undo_redo(self, request: Request, redo: bool) -> Response:
        session = self.session(request.arg("shot"))
        self._busy_check(session.shot_id)
        with session.lock:
            changed = session.redo() if redo else session.undo()
        frame = request.arg("frame", None)
        if frame is not None:
            context = self.context(request)
            response = self._summary(session, context.frame, context)
        else:
            response = self._summary(session)
        if not changed:
            response.headers["X-Nothing-To-Do"] = "1"
        return response

    def api_undo(self, request: Request) -> Response:
        return self._undo_redo(request, redo=False)

    def api_redo(self, request: Request) -> Response:
        return self._undo_redo(request, redo=True)

    def api_masks(self, request: Request) -> Response:
        context = self.context(request)
        session = self.session(context.shot.id)
        # refine_edges: preview the tracked masks refined at plate resolution, as the outputs write them
        return self._summary(session, context.frame, context, request.arg("refine_edges", False, kind=as_bool))

    def api_track(self, request: Request) -> Response:
        context = self.context(request, need_frame=False)
        session = self.session(context.shot.id)
        params = workflows.tracking_settings(request)
        job = self.jobs.start("track", session.shot_id, lambda job_context: workflows.track(context, session, params, job_context))
        return json_response({"job": job.to_dict()})

    def api_job(self, request: Request) -> Response:
        job_id = request.path[len("/api/jobs/"):]
        return json_response({"job": self.jobs.get(job_id).to_dict()})

    def api_job_cancel(self, request: Request) -> Response:
        rest = request.path[len("/api/jobs/"):]
        if not rest.endswith("/cancel"):
            raise HttpError(404, f"Nothing at {request.path}")
        job = self.jobs.get(rest[: -len("/cancel")])
        job.cancel()
        return json_response({"job": job.to_dict()})

    def api_prompts_save(self, request: Request) -> Response:
        context = self.context(request, need_frame=False)
        session = self.session(context.shot.id)
        self._busy_check(session.shot_id)
        mode = request.arg("mode", "only")
        if mode not in ("only", "combine"):
            raise HttpError(400, f"mode must be 'only' or 'combine', not {mode!r}")
        return json_response(workflows.save_prompts(context, session, overwrite=request.arg("overwrite", False, kind=as_bool), mode=mode))

    def api_prompts_load(self, request: Request) -> Response:
        context = self.context(request, need_frame=False)
        session = self.session(context.shot.id)
        self._busy_check(session.shot_id)
        loaded = workflows.load_prompts(context, session)
        response = self._summary(session)
        return json_response({"session": session.summary(), "loaded": loaded})

    def api_outputs_write(self, request: Request) -> Response:
        context = self.context(request, need_frame=False)
        session = self.session(context.shot.id)
        formats = request.arg("formats", ["objectid", "cryptomatte"], kind=list)
        overwrite = request.arg("overwrite", False, kind=as_bool)
        refine_edges = request.arg("refine_edges", True, kind=as_bool)  # on by default, as autoseg run
        workflows.check_outputs_request(context, session, formats, overwrite)
        job = self.jobs.start(
            "write", session.shot_id,
            lambda job_context: workflows.write_outputs(context, session, formats, overwrite, job_context, refine_edges),
        )
        return json_response({"job": job.to_dict()})

    def api_outputs(self, request: Request) -> Response:
        context = self.context(request, need_frame=False)
        return json_response(workflows.list_outputs(context))


def make_server(app: ToolsApp, host: str = "127.0.0.1", port: int = 8765, quiet: bool = False) -> ToolServer:
    exact, prefix = app.routes()
    server = ToolServer((host, port), exact, prefix, quiet=quiet)
    server.app = app
    server.on_close = [app.close]
    return server
