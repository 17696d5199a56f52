"""Background jobs (tracking a shot, writing outputs) with progress polling.

A job runs one function in a daemon thread. The function receives a
:class:`JobContext` and reports ``progress(done, total, message)``; a
cancelled job stops at its next progress report. The browser polls
``/api/jobs/<id>`` for :meth:`Job.to_dict`.
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from typing import Any, Callable

from ..core.errors import SegmentationError


class JobCancelled(Exception):
    """Raised inside a job function when the user cancelled it."""


class JobContext:
    def __init__(self, job: "Job"):
        self._job = job

    def progress(self, done: int, total: int, message: str = "") -> None:
        job = self._job
        with job._lock:
            job.done = int(done)
            job.total = int(total)
            if message:
                job.message = message
        if job._cancel.is_set():
            raise JobCancelled()

    @property
    def cancelled(self) -> bool:
        return self._job._cancel.is_set()


class Job:
    def __init__(self, job_id: str, kind: str, shot: str):
        self.id = job_id
        self.kind = kind
        self.shot = shot
        self.state = "queued"  # queued, running, done, failed, cancelled
        self.done = 0
        self.total = 0
        self.message = ""
        self.error: str | None = None
        self.result: Any = None
        self.started = time.time()
        self.finished: float | None = None
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.active

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            elapsed = (self.finished or time.time()) - self.started
            eta = None
            if self.state == "running" and self.done > 0 and self.total > self.done:
                eta = elapsed / self.done * (self.total - self.done)
            return {
                "id": self.id,
                "kind": self.kind,
                "shot": self.shot,
                "state": self.state,
                "done": self.done,
                "total": self.total,
                "message": self.message,
                "error": self.error,
                "result": self.result,
                "elapsed": round(elapsed, 2),
                "eta": None if eta is None else round(eta, 1),
            }


class JobManager:
    """Runs jobs; at most one active job per shot (tracking and writing
    the same shot at once would race on its results)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._counter = itertools.count(1)

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise KeyError(f"No job {job_id!r}")
        return job

    def active_for(self, shot: str) -> Job | None:
        with self._lock:
            for job in self._jobs.values():
                if job.shot == shot and job.active:
                    return job
        return None

    def start(self, kind: str, shot: str, function: Callable[[JobContext], Any]) -> Job:
        with self._lock:
            for job in self._jobs.values():
                if job.shot == shot and job.active:
                    raise SegmentationError(
                        f"Shot {shot} is busy with a {job.kind} job ({job.id}); wait for it or cancel it first"
                    )
            job = Job(f"job{next(self._counter)}", kind, shot)
            self._jobs[job.id] = job

        def run() -> None:
            with job._lock:
                job.state = "running"
            try:
                result = function(JobContext(job))
            except JobCancelled:
                with job._lock:
                    job.state = "cancelled"
                    job.message = "cancelled"
            except SegmentationError as error:
                with job._lock:
                    job.state = "failed"
                    job.error = str(error)
            except Exception as error:  # reported to the browser, logged to the terminal
                traceback.print_exc()
                with job._lock:
                    job.state = "failed"
                    job.error = f"{type(error).__name__}: {error}"
            else:
                with job._lock:
                    job.state = "done"
                    job.result = result
            finally:
                job.finished = time.time()

        job._thread = threading.Thread(target=run, name=f"segmentation-{job.id}", daemon=True)
        job._thread.start()
        return job

    def list(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())
