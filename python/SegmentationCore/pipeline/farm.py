"""The task graph of a run (``autoseg plan``) and a local runner for it (``autoseg run --workers N``).

API::

    plan(config, batch_size=10, chunks=None, stages=STAGES) -> dict
        the JSON-ready task graph of one shot (``config`` a RunConfig) or of
        several (a list of RunConfigs: an ingest in one dispatch);
        ``chunks`` overrides ``config.chunks`` (tracking chunks per shot).
    config_arguments(config) -> list[str]
        the ``autoseg run`` options that reproduce ``config``.
    run_local(config, stages, workers=2, batch_size=10) -> dict
        executes ``plan(config)`` with ``workers`` processes.

The graph (``"format": "autoseg-plan"``)::

    {"format": "autoseg-plan", "version": 1,
     "shots": [{"name", "plate", "output", "work_dir", "frames": [first, last, count], "chunks", "chunk_overlap"}],
     "tasks": [{"id": "sh010/detect/0", "shot": "sh010", "stage": "detect",
                "frames": [1001, 1006, ...],      # the frames it works on (detect/segment/write)
                "chunk": [i, n] | null,            # track tasks of a chunked shot
                "command": ["autoseg", "run", PLATE, ..., "--stage", "detect", "--batch", "1001-1046"],
                "depends": ["sh010/..."],          # task ids that must finish first
                "resources": {"gpu": 0|1, "cpus": 1, "memory_gb": 4}}]}

Per shot: detect and segment go by batches of ``batch_size`` of the frames
stages 1-2 run on (segment batch k needs detect batch k); tracking is one
task, or one per chunk (chunk i needs the segment batches holding its
frames) followed by a ``reconcile`` task; writing goes by batches of
``batch_size`` plate frames after tracking. Every command carries the
run's full settings (the work folder refuses a task with other settings),
never ``--force``; each one resumes when retried. Tasks are listed in an
order that respects the dependencies.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import subprocess
import sys
import time
from typing import Any, Callable, Iterable, Sequence

from ..core.errors import SegmentationError
from .refine import RefineParams
from .runner import STAGES, Pipeline, RunConfig
from .stage2 import Stage2Params
from .tracking import TrackingParams

PLAN_FORMAT = "autoseg-plan"
PLAN_VERSION = 1
DEFAULT_BATCH_SIZE = 10

# suggested resources per stage (ONNX models on a GPU; reconcile and write are numpy + EXR encoding)
RESOURCES = {
    "detect": {"gpu": 1, "cpus": 2, "memory_gb": 6},
    "segment": {"gpu": 1, "cpus": 2, "memory_gb": 6},
    "track": {"gpu": 1, "cpus": 2, "memory_gb": 8},
    "reconcile": {"gpu": 0, "cpus": 1, "memory_gb": 2},
    "write": {"gpu": 0, "cpus": 1, "memory_gb": 4},
}
SYNTHETIC_RESOURCES = {"gpu": 0, "cpus": 1, "memory_gb": 1}


# ---------------------------------------------------------------------------- commands


def absolute_config(config: RunConfig) -> RunConfig:
    """``config`` with its paths made absolute, so a plan's commands run
    from any folder on any machine that sees the same paths."""
    def absolute(path: str | None, must_exist: bool = False) -> str | None:
        if path is None or (must_exist and not os.path.exists(path)):
            return path
        return os.path.abspath(path)

    return dataclasses.replace(
        config, plate=absolute(config.plate), output=absolute(config.output), models=absolute(config.models),
        sam2_model=absolute(config.sam2_model, True), detector_model=absolute(config.detector_model, True),
        work_dir=absolute(config.work_dir), prompts_file=absolute(config.prompts_file), synthetic=absolute(config.synthetic),
    )


def config_arguments(config: RunConfig) -> list[str]:
    """The ``autoseg run`` arguments (plate first) that give ``config``.
    Settings the command line cannot express are an error."""
    defaults_t, defaults_s = TrackingParams(), Stage2Params()
    t, s2 = config.tracking, config.stage2
    hidden_t = [f.name for f in dataclasses.fields(TrackingParams) if f.name in (
        "overlap_sim", "mask_threshold", "min_layer_area", "per_class", "reid_iou") and getattr(t, f.name) != getattr(defaults_t, f.name)]
    hidden_s = [f.name for f in dataclasses.fields(Stage2Params) if f.name in (
        "mask_threshold", "per_class", "min_area") and getattr(s2, f.name) != getattr(defaults_s, f.name)]
    if hidden_t or hidden_s:
        raise SegmentationError(f"settings {', '.join(hidden_t + hidden_s)} have no autoseg option; a plan cannot carry them")
    args = [str(config.plate), "--output", str(config.output)]

    def option(name: str, value: Any) -> None:
        if value is not None:
            args.extend([name, str(value)])

    option("--prompt", config.prompt)
    option("--frames", config.frames)
    option("--models", config.models)
    option("--sam2", config.sam2_model)
    option("--detector", config.detector_model)
    option("--max-size", config.max_size)
    option("--colorspace", config.colorspace)
    if config.crop_to_display:
        args.append("--crop-to-display")
    option("--name", config.name)
    option("--work-dir", config.work_dir)
    option("--prompts", config.prompts_file)
    option("--providers", config.providers)
    option("--threads", config.threads)
    option("--box-threshold", config.box_threshold)
    option("--text-threshold", config.text_threshold)
    option("--max-detections", config.max_detections)
    option("--detect-frames", config.detect_frames)
    option("--formats", ",".join(config.formats))
    option("--discard-sim", s2.discard_sim)
    option("--discard-min-others", s2.discard_min_others)
    option("--merge-sim", s2.merge_sim)
    option("--window", t.window)
    option("--reprompt-every", t.reprompt_every)
    option("--epsilon", t.epsilon)
    option("--direct-iou", t.direct_match_iou)
    option("--partial-sim", t.partial_match_sim)
    if not t.backward:
        args.append("--no-backward")
    option("--cache-rule", t.cache_rule)
    option("--synthetic", config.synthetic)
    if config.synthetic:
        option("--synthetic-faults", config.synthetic_faults)
    if config.chunks > 1:
        option("--chunks", config.chunks)
        option("--chunk-overlap", config.chunk_overlap)
    if not config.refine_edges:
        args.append("--no-refine-edges")
    else:
        r, defaults_r = config.refine_params, RefineParams()
        hidden_r = [f"refine {name}" for name in ("radius", "subsample", "sharpen", "feather") if getattr(r, name) != getattr(defaults_r, name)]
        if hidden_r:
            raise SegmentationError(f"settings {', '.join(hidden_r)} have no autoseg option; a plan cannot carry them")
        option("--refine-band", r.band)
        option("--refine-eps", r.eps)
    return args


# ---------------------------------------------------------------------------- plan


def _batches(frames: Sequence[int], size: int) -> list[list[int]]:
    return [list(frames[k:k + size]) for k in range(0, len(frames), size)]


def _shot_tasks(pipeline: Pipeline, base: list[str], stages: Sequence[str], batch_size: int) -> list[dict[str, Any]]:
    config = pipeline.config
    shot = pipeline.name
    resources = (lambda stage: dict(SYNTHETIC_RESOURCES)) if config.synthetic else (lambda stage: dict(RESOURCES[stage]))
    command = ["autoseg", "run", *base, "--progress", "log"]
    tasks: list[dict[str, Any]] = []

    def add(stage: str, index: int | str, extra: list[str], depends: list[str], frames: list[int] | None = None, chunk=None) -> str:
        task_id = f"{shot}/{stage}/{index}"
        tasks.append({
            "id": task_id, "shot": shot, "stage": stage, "frames": frames, "chunk": chunk,
            "command": [*command, "--stage", stage, *extra], "depends": depends, "resources": resources(stage),
        })
        return task_id

    needed = [] if pipeline.interactive_only else pipeline.stage2_frames()
    batches = _batches(needed, batch_size)
    detect_ids: list[str] = []
    segment_ids: list[tuple[str, set[int]]] = []
    if "detect" in stages:
        detect_ids = [add("detect", k, ["--batch", f"{b[0]}-{b[-1]}"], [], b) for k, b in enumerate(batches)]
    if "segment" in stages:
        for k, b in enumerate(batches):
            depends = [detect_ids[k]] if detect_ids else []
            segment_ids.append((add("segment", k, ["--batch", f"{b[0]}-{b[-1]}"], depends, b), set(b)))
    track_done: list[str] = []
    if "track" in stages:
        if config.chunks == 1:
            track_done = [add("track", 0, [], [t for t, _ in segment_ids])]
        else:
            chunk_ids = []
            for part in pipeline.chunk_list:
                inside = set(part.frames)
                depends = [t for t, frames in segment_ids if frames & inside]
                chunk_ids.append(add("track", part.index, ["--chunk", part.label], depends, chunk=[part.index, part.count]))
            track_done = [add("reconcile", 0, [], chunk_ids)]
    elif "reconcile" in stages and config.chunks > 1:
        track_done = [add("reconcile", 0, [], [])]
    if "write" in stages:
        for k, b in enumerate(_batches(list(pipeline.sequence.frames), batch_size)):
            add("write", k, ["--batch", f"{b[0]}-{b[-1]}"], track_done, b)
    return tasks


def plan(
    config: RunConfig | Sequence[RunConfig],
    batch_size: int = DEFAULT_BATCH_SIZE,
    chunks: int | None = None,
    stages: Iterable[str] = STAGES,
) -> dict[str, Any]:
    """The task graph (see module docs) of one shot or a list of shots."""
    configs = [config] if isinstance(config, RunConfig) else list(config)
    if batch_size < 1:
        raise SegmentationError(f"the batch size must be at least 1, not {batch_size}")
    stages = list(stages)
    unknown = set(stages) - {*STAGES, "reconcile"}
    if unknown:
        raise SegmentationError(f"unknown stage(s) {sorted(unknown)}; choose from {', '.join(STAGES)}")
    shots, tasks, names = [], [], set()
    for shot_config in configs:
        if shot_config.force:
            raise SegmentationError("a plan never carries --force: clear the old results first (autoseg run ... --force --stage detect) or use a new --output")
        if chunks is not None:
            shot_config = dataclasses.replace(shot_config, chunks=int(chunks))
        shot_config = absolute_config(shot_config)
        pipeline = Pipeline(shot_config)
        if pipeline.name in names:
            raise SegmentationError(f"two shots of the plan are named {pipeline.name}; give each a --name")
        names.add(pipeline.name)
        shots.append({
            "name": pipeline.name, "plate": pipeline.sequence.pattern, "output": str(pipeline.output), "work_dir": str(pipeline.work),
            "frames": [pipeline.sequence.frames[0], pipeline.sequence.frames[-1], len(pipeline.sequence.frames)],
            "chunks": shot_config.chunks, "chunk_overlap": pipeline.chunk_overlap if shot_config.chunks > 1 else None,
            "chunk_frames": [c.to_dict() for c in pipeline.chunk_list] if shot_config.chunks > 1 else None,
        })
        tasks.extend(_shot_tasks(pipeline, config_arguments(shot_config), stages, batch_size))
    return {"format": PLAN_FORMAT, "version": PLAN_VERSION, "batch_size": batch_size, "shots": shots, "tasks": tasks}


# ---------------------------------------------------------------------------- local runner


def _python_command(command: Sequence[str]) -> list[str]:
    """``autoseg ...`` -> this interpreter running the CLI module."""
    if command and command[0] == "autoseg":
        return [sys.executable, "-m", "SegmentationCore.cli", *command[1:]]
    return list(command)


def execute(graph: dict[str, Any], workers: int = 2, log: Callable[[str], None] | None = None,
            env: dict[str, str] | None = None, logs: pathlib.Path | None = None) -> dict[str, Any]:
    """Run the tasks of ``graph`` with at most ``workers`` processes at a
    time, each as soon as its dependencies have finished. A failing task
    stops new starts (running ones finish); the first failure is raised as a
    :class:`SegmentationError` naming the task and its log. Returns per-task
    seconds and the wall time."""
    log = log or (lambda message: None)
    tasks = {t["id"]: t for t in graph["tasks"]}
    pending = list(tasks)
    running: dict[str, tuple[subprocess.Popen, float, Any]] = {}
    finished: dict[str, float] = {}
    failed: list[tuple[str, int, str]] = []
    environment = dict(os.environ if env is None else env)
    package_root = str(pathlib.Path(__file__).resolve().parents[2])
    environment["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, environment.get("PYTHONPATH", "")) if p)
    if logs is not None:
        logs.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    while pending or running:
        if not failed:
            for task_id in list(pending):
                if len(running) >= workers:
                    break
                if all(d in finished for d in tasks[task_id]["depends"]):
                    pending.remove(task_id)
                    log_path = (logs / (task_id.replace("/", "_") + ".log")) if logs is not None else None
                    stream = open(log_path, "w") if log_path else subprocess.DEVNULL
                    process = subprocess.Popen(_python_command(tasks[task_id]["command"]), stdout=stream, stderr=subprocess.STDOUT, env=environment)
                    running[task_id] = (process, time.perf_counter(), stream)
                    log(f"task {task_id} started")
        else:
            pending.clear()
        if not running and pending:
            raise SegmentationError(f"tasks {', '.join(pending)} wait on tasks that are not in the plan")
        time.sleep(0.05)
        for task_id, (process, since, stream) in list(running.items()):
            code = process.poll()
            if code is None:
                continue
            del running[task_id]
            if stream is not subprocess.DEVNULL:
                stream.close()
            seconds = time.perf_counter() - since
            if code == 0:
                finished[task_id] = round(seconds, 2)
                log(f"task {task_id} done in {seconds:.1f} s")
            else:
                where = logs / (task_id.replace("/", "_") + ".log") if logs is not None else "(no log)"
                failed.append((task_id, code, str(where)))
                log(f"task {task_id} failed (exit {code}); see {where}")
    if failed:
        task_id, code, where = failed[0]
        error = SegmentationError(f"task {task_id} failed with exit code {code} (log: {where}); rerun the same command to resume")
        error.exit_code = code if code not in (0, None) else 1
        raise error
    return {"tasks": finished, "seconds": round(time.perf_counter() - started, 2), "workers": workers}


def run_local(config: RunConfig, stages: Iterable[str] = STAGES, workers: int = 2, batch_size: int = DEFAULT_BATCH_SIZE,
              log: Callable[[str], None] | None = None, progress: str = "log") -> dict[str, Any]:
    """``autoseg run --workers N``: prepare the work folder here (``--force``
    clears it once), then execute ``plan(config)`` with ``workers`` processes.
    Task logs go to ``WORK/logs/``."""
    stages = list(stages)
    config = absolute_config(config)
    pipeline = Pipeline(config)
    pipeline.prepare(stages)  # checks, model folders, outputs, work folder (force: cleared once, here)
    graph = plan(dataclasses.replace(config, force=False), batch_size=batch_size, stages=stages)
    summary = execute(graph, workers, log=log, logs=pipeline.work / "logs")
    summary["work_dir"] = str(pipeline.work)
    summary["plan"] = {"tasks": len(graph["tasks"]), "batch_size": batch_size, "chunks": config.chunks}
    return summary
