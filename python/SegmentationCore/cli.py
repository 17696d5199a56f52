"""``autoseg``: the command line (farm and container entry point).

    autoseg run PLATE --prompt "person" --models DIR --output OUT [options]
    autoseg demo --output DIR
    autoseg synth --output DIR [--frames N --size WxH --seed S]
    autoseg serve --plates DIR [--models DIR ...]   (browser tools)

See docs/autoseg.md. Errors a user can cause print one clear line naming
the file / frame / option at fault and exit with the code of their kind
(:mod:`SegmentationCore.core.errors`): 1 general, 2 bad command line, 3 model
folder, 4 plate, 5 prompt, 6 output; 70 means a bug (traceback printed),
130 an interrupt.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import subprocess
import sys
import time
import traceback
from typing import Sequence, TextIO

from . import __version__
from .core.errors import ModelFolderError, OutputError, SegmentationError

INTERNAL_ERROR = 70
INTERRUPTED = 130


# ---------------------------------------------------------------------------- progress


class ProgressReporter:
    """A progress bar with ETA on a terminal, plain log lines otherwise.

    ``mode``: ``auto`` (bar on a TTY), ``bar``, ``log`` or ``none``. The ETA
    uses the rate of the items computed in this process (skipped, already
    finished items of a resumed run do not count).
    """

    def __init__(self, stream: TextIO = sys.stderr, mode: str = "auto", log_every: float = 10.0):
        if mode == "auto":
            mode = "bar" if getattr(stream, "isatty", lambda: False)() else "log"
        self.stream = stream
        self.mode = mode
        self.log_every = log_every
        self._stage = None
        self._start = 0.0
        self._first_done = 0
        self._last_line = 0.0
        self._last_percent = -1

    def __call__(self, stage: str, done: int, total: int, detail: str = "") -> None:
        if self.mode == "none":
            return
        now = time.monotonic()
        if stage != self._stage:
            if self._stage is not None and self.mode == "bar":
                self.stream.write("\n")
            self._stage = stage
            self._start = now
            self._first_done = done
            self._last_line = 0.0
            self._last_percent = -1
        computed = done - self._first_done
        elapsed = now - self._start
        eta = None
        if computed > 0 and total > done:
            eta = elapsed / computed * (total - done)
        percent = int(100 * done / total) if total else 100
        eta_text = _duration(eta) if eta is not None else ("done" if done >= total else "--:--")
        if self.mode == "bar":
            width = 24
            filled = int(width * done / total) if total else width
            line = f"\r{stage:8s} [{'#' * filled}{'.' * (width - filled)}] {percent:3d}% {done}/{total} ETA {eta_text}  {detail[:40]:40s}"
            self.stream.write(line)
            if done >= total:
                self.stream.write("\n")
                self._stage = None
            self.stream.flush()
            return
        step = percent // 10
        if done >= total or step > self._last_percent or now - self._last_line >= self.log_every:
            self._last_percent = step
            self._last_line = now
            self.stream.write(f"autoseg: {stage} {done}/{total} ({percent}%) eta {eta_text} {detail}".rstrip() + "\n")
            self.stream.flush()


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# ---------------------------------------------------------------------------- parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} must lie between 0 and 1")
    return value


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a size as WIDTHxHEIGHT, e.g. 1920x1080") from None
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError(f"{text}: too small")
    return width, height


def _add_run_options(run: argparse.ArgumentParser, plates: str = "1") -> None:
    """The options of ``autoseg run`` (shared by ``autoseg plan``)."""
    if plates == "1":
        run.add_argument("plate", help="image sequence: plate.####.exr, plate.%%04d.exr, plate.1001-1100#.exr or plate.1001.exr")
    else:
        run.add_argument("plate", nargs="+", help="one or more image sequences (one shot each; see autoseg run)")
    run.add_argument("--output", "-o", required=True, help="folder for the ID-matte EXRs (created)")
    run.add_argument("--prompt", "-p", default=None, help='what to find, phrases separated by commas (default "person")')
    run.add_argument("--models", "-m", help="folder holding the exported model folders (or one model folder)")
    run.add_argument("--sam2", help="SAM2 model folder (overrides --models)")
    run.add_argument("--detector", help="GroundingDINO model folder (overrides --models)")
    run.add_argument("--frames", help="frame range, e.g. 1001-1100 (default: from the name or the files on disk)")
    run.add_argument("--max-size", type=_positive_int, default=1024, help="longest side of the working resolution (default 1024)")
    run.add_argument("--colorspace", default="auto",
                     help="the plate's colour space: auto (float files scene-linear Rec.709, integer files sRGB), "
                     "linear, srgb, or any colour space of the OCIO config ($OCIO, else OpenImageIO's built-in one), "
                     "e.g. ACEScg, ACEScct; see docs/plates.md")
    run.add_argument("--crop-to-display", action="store_true",
                     help="mattes cover the plate's display window (default: its data window, overscan included)")
    run.add_argument("--name", help="output name stem (default: the plate's name)")
    run.add_argument("--work-dir", help="where stage results are kept (default OUTPUT/.autoseg/NAME)")
    run.add_argument("--stage", default="all", help="detect, segment, track, reconcile, write or all; several separated by commas")
    run.add_argument("--batch", help="run the stage(s) only on these plate frames, e.g. 1001-1020 (farm batches; docs/farm.md)")
    run.add_argument("--chunks", type=_positive_int, default=1,
                     help="track the shot in this many overlapping chunks, reconciled afterwards (default 1: one loop)")
    run.add_argument("--chunk-overlap", type=_positive_int, help="frames neighbouring chunks share at least (default: --window)")
    run.add_argument("--chunk", help="with --stage track: track only chunk i/n (0-based i, n = --chunks)")
    run.add_argument("--workers", type=_positive_int, help="run the task graph of `autoseg plan` with this many local processes")
    run.add_argument("--batch-size", type=_positive_int, default=None, help="frames per detect/segment/write task with --workers (default 10)")
    run.add_argument("--force", action="store_true", help="redo the requested stages and overwrite existing results")
    run.add_argument("--prompts", help="interactive prompt file (JSON, see docs/pipeline.md)")
    run.add_argument("--providers", help="ONNX Runtime execution providers, e.g. cuda,cpu (default: best available)")
    run.add_argument("--threads", type=_positive_int, help="ONNX Runtime threads per session")
    run.add_argument("--box-threshold", type=_fraction, help="GroundingDINO box threshold (default from the model, 0.35)")
    run.add_argument("--text-threshold", type=_fraction, help="GroundingDINO text threshold (default from the model, 0.25)")
    run.add_argument("--max-detections", type=_positive_int, help="at most this many boxes per frame")
    run.add_argument("--detect-frames", choices=("reprompt", "all"), default="reprompt",
                     help="run stages 1-2 only where tracking re-prompts (default) or on every frame")
    run.add_argument("--formats", default="objectid,crypto", help="objectid, crypto or both (default both)")
    algo = run.add_argument_group("algorithm (paper defaults)")
    algo.add_argument("--discard-sim", type=_fraction, default=0.1, help="stage 2: discard a mask with Sim >= this against ...")
    algo.add_argument("--discard-min-others", type=_positive_int, default=2, help="... at least this many others (2)")
    algo.add_argument("--merge-sim", type=_fraction, default=0.6, help="stage 2: merge a mask with Sim >= this against exactly one other")
    algo.add_argument("--window", type=_positive_int, default=20, help="stage 3: frames per tracking window s_T (20)")
    algo.add_argument("--reprompt-every", type=_positive_int, default=5, help="stage 3: re-prompt every s_P frames (5)")
    algo.add_argument("--epsilon", type=_fraction, default=0.1, help="stage 3: overwrite a cache pixel where M_P + eps <= V_P (0.1)")
    algo.add_argument("--direct-iou", type=_fraction, default=0.9, help="stage 3: IoU of a direct match (0.9)")
    algo.add_argument("--partial-sim", type=_fraction, default=0.5, help="stage 3: Sim of a partial match (0.5)")
    algo.add_argument("--no-backward", action="store_true", help="skip the backward pass")
    algo.add_argument("--cache-rule", choices=("guarded", "paper", "recent"), default="guarded",
                      help="stage 3: how tracked frames enter the mask cache: 'guarded' (default): a layer's most "
                      "recently prompted evidence replaces older evidence (removes drift), one stage-2 mask per layer, "
                      "lost layers re-identified by position and appearance (keeps identities); 'paper': the paper's "
                      "epsilon rule; 'recent': guarded's merge without its identity guards (see docs/pipeline.md)")
    edges = run.add_argument_group("mattes")
    edges.add_argument("--refine-edges", action=argparse.BooleanOptionalAction, default=True,
                       help="refine each layer's edge at plate resolution, guided by the plate's pixels (default on; "
                       "--no-refine-edges writes the bilinear upsampling of the tracked masks; see docs/pipeline.md)")
    edges.add_argument("--refine-band", type=_fraction, default=0.008,
                       help="half-width of the refined band around each edge, as a fraction of the plate's longest side (0.008)")
    edges.add_argument("--refine-eps", type=float, default=3e-4,
                       help="guided filter regularisation: larger is smoother, closer to the bilinear matte (0.0003)")
    run.add_argument("--synthetic", help=argparse.SUPPRESS)  # a shot.json: synthetic backends (tests, benchmarks)
    run.add_argument("--synthetic-faults", default="none", help=argparse.SUPPRESS)
    run.add_argument("--progress", choices=("auto", "bar", "log", "none"), default="auto", help="progress display")
    run.add_argument("--summary", help="also write a JSON summary of the run to this file")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoseg",
        description="Automatic, temporally consistent instance mattes for image sequences "
        "(GroundingDINO -> SAM2 -> SAM2 tracking), written as ObjectId and Cryptomatte EXRs.",
    )
    parser.add_argument("--version", action="version", version=f"autoseg {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="segment a plate", description="Segment and track every instance of the prompt in a plate.")
    _add_run_options(run)

    plan = commands.add_parser("plan", help="print the task graph of a run as JSON (for farm submission)",
                               description="Print the task graph of `autoseg run` for one or more shots as JSON: "
                               "tasks, their autoseg commands, dependencies and suggested resources (docs/farm.md).")
    _add_run_options(plan, "+")

    demo = commands.add_parser("demo", help="run everything end to end on a generated plate",
                               description="Generate a plate, export small models with random weights "
                               "(first run only; needs the export packages), and run the pipeline.")
    demo.add_argument("--output", "-o", required=True, help="demo folder (plate, models and results go here)")
    demo.add_argument("--frames", type=_positive_int, default=8, help="plate length (default 8)")
    demo.add_argument("--size", type=_size, default=(512, 288), help="plate size WIDTHxHEIGHT (default 512x288)")
    demo.add_argument("--progress", choices=("auto", "bar", "log", "none"), default="auto")

    serve = commands.add_parser("serve", help="browser tools: prompt test bench and interactive clicks (localhost)",
                                description="Serve the prompt test bench and the interactive click tool on localhost.")
    try:
        from .server import add_arguments as add_serve_arguments
    except ImportError:  # pragma: no cover - the server ships with the engine
        add_serve_arguments = None
    if add_serve_arguments is not None:
        add_serve_arguments(serve)

    report = commands.add_parser("report", help="contact sheet and one-page QC summary of a finished run",
                                 description="Write a contact sheet (a frame every N with coloured, named layers; flagged "
                                 "frames framed in red) and a one-page summary (HTML + text) of a run in OUT (docs/review.md).")
    report.add_argument("output", metavar="OUT", help="the output folder given to autoseg run -o")
    report.add_argument("--name", help="which run in OUT (default: the only one)")
    report.add_argument("--work-dir", help="the run's work folder, if autoseg run was given --work-dir")
    report.add_argument("--every", type=_positive_int, help="a frame every N frames (default: at most 16 tiles)")
    report.add_argument("--report-dir", help="where to write (default: OUT/report)")
    report.add_argument("--format", choices=("jpg", "png"), default="jpg", help="contact sheet format (default jpg)")
    report.add_argument("--tile-width", type=_positive_int, default=360, help="tile width in pixels (default 360)")

    review = commands.add_parser("review", help="review page of a finished run (localhost): frames, flags, timeline",
                                 description="Serve the review page of the runs in OUT on localhost: scrub the layers over "
                                 "the plate, ranked flags, a timeline per layer, and the interactive tool one click away (docs/review.md).")
    review.add_argument("output", metavar="OUT", help="the output folder given to autoseg run -o")
    review.add_argument("--plates", help="plate root for the interactive tool (default: the folder of the run's plate)")
    review.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    review.add_argument("--port", type=int, default=8766, help="port (default 8766; 0 picks a free one)")
    review.add_argument("--models", action="append", nargs="+", default=[], metavar="DIR",
                        help="models of the interactive tool (default: the run's SAM2 export, or synthetic)")
    review.add_argument("--providers", help="ONNX Runtime execution providers for the interactive tool")
    review.add_argument("--max-size", type=int, default=1024, help="working resolution of the interactive tool (default 1024)")
    review.add_argument("--quiet", action="store_true", help="do not log every request")

    synth = commands.add_parser("synth", help="write a synthetic plate with known answers",
                                description="Write a generated plate (moving, occluding shapes) and its spec (NAME.shot.json).")
    synth.add_argument("--output", "-o", required=True, help="folder for the frames")
    synth.add_argument("--name", default="plate")
    synth.add_argument("--frames", type=_positive_int, default=48)
    synth.add_argument("--first-frame", type=int, default=1001)
    synth.add_argument("--size", type=_size, default=(1920, 1080))
    synth.add_argument("--objects", type=_positive_int, default=5)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--format", choices=("exr", "png"), default="exr")
    return parser


# ---------------------------------------------------------------------------- commands


def _stages(text: str) -> list[str]:
    from .pipeline.runner import STAGES

    parts = [p.strip().lower() for p in text.split(",") if p.strip()]
    if not parts or "all" in parts:
        return list(STAGES)
    unknown = [p for p in parts if p not in (*STAGES, "reconcile")]
    if unknown:
        raise SegmentationError(f"unknown --stage {', '.join(unknown)}; choose from {', '.join(STAGES)}, reconcile or all")
    return parts


def _run_config(args):
    from .pipeline.runner import RunConfig
    from .pipeline.stage2 import Stage2Params
    from .pipeline.refine import RefineParams
    from .pipeline.tracking import TrackingParams

    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    return RunConfig(
        plate=args.plate,
        output=args.output,
        prompt=args.prompt if args.prompt is not None else (None if args.prompts else "person"),
        frames=args.frames,
        models=args.models,
        sam2_model=args.sam2,
        detector_model=args.detector,
        max_size=args.max_size,
        colorspace=args.colorspace,
        crop_to_display=args.crop_to_display,
        name=args.name,
        work_dir=args.work_dir,
        prompts_file=args.prompts,
        providers=args.providers,
        threads=args.threads,
        box_threshold=args.box_threshold,
        text_threshold=args.text_threshold,
        max_detections=args.max_detections,
        stage2=Stage2Params(discard_sim=args.discard_sim, discard_min_others=args.discard_min_others, merge_sim=args.merge_sim),
        tracking=TrackingParams(
            window=args.window, reprompt_every=args.reprompt_every, epsilon=args.epsilon,
            direct_match_iou=args.direct_iou, partial_match_sim=args.partial_sim, backward=not args.no_backward,
            cache_rule=args.cache_rule,
        ),
        detect_frames=args.detect_frames,
        formats=formats,
        force=args.force,
        synthetic=args.synthetic,
        synthetic_faults=args.synthetic_faults,
        chunks=args.chunks,
        chunk_overlap=args.chunk_overlap,
        refine_edges=args.refine_edges,
        refine_params=RefineParams(band=args.refine_band, eps=args.refine_eps),
    )


def parse_frame_list(text: str) -> list[int]:
    """``"1001-1010,1015"`` -> the frame numbers (a ``--batch``)."""
    import re

    frames: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        match = re.fullmatch(r"(-?\d+)(?:-(-?\d+))?", part)
        if not match or (match.group(2) is not None and int(match.group(2)) < int(match.group(1))):
            raise SegmentationError(f"--batch {text!r}: give frames as A-B or A-B,C (e.g. 1001-1020)")
        first = int(match.group(1))
        frames.extend(range(first, int(match.group(2) or first) + 1))
    return frames


def command_run(args, out: TextIO, err: TextIO) -> int:
    from .pipeline.runner import Pipeline

    config = _run_config(args)
    stages = _stages(args.stage)
    if config.prompt is not None and args.prompts is None and config.prompt.strip() == "":
        from .core.prompts import parse_text_prompt

        parse_text_prompt(config.prompt)  # raises the PromptError with an example
    try:
        config.tracking.validate()
    except ValueError as error:
        raise SegmentationError(str(error)) from None
    reporter = ProgressReporter(err, args.progress)
    pipeline = Pipeline(config, progress=reporter, log=lambda m: err.write(f"autoseg: {m}\n"))
    started = time.perf_counter()
    chunk = None
    if args.chunk:
        from .pipeline.chunks import parse_chunk

        try:
            chunk = parse_chunk(args.chunk)
        except ValueError as error:
            raise SegmentationError(str(error)) from None
        if stages != ["track"]:
            raise SegmentationError("--chunk i/n goes with --stage track only")
    batch = parse_frame_list(args.batch) if args.batch else None
    if args.workers:
        if batch is not None or chunk is not None:
            raise SegmentationError("--workers runs the whole task graph; leave out --batch and --chunk")
        from .pipeline import farm

        summary = farm.run_local(config, stages, workers=args.workers, batch_size=args.batch_size or farm.DEFAULT_BATCH_SIZE,
                                 log=lambda m: err.write(f"autoseg: {m}\n"), progress=args.progress)
    else:
        summary = pipeline.run(stages, frames=batch, chunk=chunk)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    summary["frames"] = len(pipeline.sequence.frames)
    summary["output"] = str(pipeline.output)
    if "write" in stages:
        kinds = ", ".join(str(p.name).replace(f"{pipeline.sequence.frames[0]:04d}", "####") for p in pipeline.output_paths(pipeline.sequence.frames[0]))
        out.write(f"autoseg: wrote {kinds} in {pipeline.output} ({summary['seconds']} s)\n")
    else:
        out.write(f"autoseg: stages {', '.join(stages)} done in {summary['seconds']} s (results in {pipeline.work})\n")
    if args.summary:
        pathlib.Path(args.summary).write_text(json.dumps(summary, indent=1) + "\n")
    return 0


def command_plan(args, out: TextIO, err: TextIO) -> int:
    """``autoseg plan``: the task graph of the run (one shot per plate) as JSON on stdout."""
    import copy

    from .pipeline import farm

    if len(args.plate) > 1 and (args.name or args.work_dir):
        raise SegmentationError("--name and --work-dir name one shot; leave them out when planning several plates")
    if args.workers or args.batch or args.chunk:
        raise SegmentationError("autoseg plan takes no --workers, --batch or --chunk (the plan says which batches and chunks run)")
    configs = []
    for plate in args.plate:
        shot_args = copy.copy(args)
        shot_args.plate = plate
        config = _run_config(shot_args)
        try:
            config.tracking.validate()
        except ValueError as error:
            raise SegmentationError(str(error)) from None
        configs.append(config)
    graph = farm.plan(configs, batch_size=args.batch_size or farm.DEFAULT_BATCH_SIZE, stages=_stages(args.stage))
    text = json.dumps(graph, indent=1) + "\n"
    if args.summary:
        pathlib.Path(args.summary).write_text(text)
    out.write(text)
    return 0


def command_synth(args, out: TextIO, err: TextIO) -> int:
    from . import synthetic

    width, height = args.size
    spec = synthetic.generate_shot(
        seed=args.seed, num_frames=args.frames, width=width, height=height,
        num_objects=args.objects, first_frame=args.first_frame,
    )
    pattern = synthetic.SyntheticShot(spec).write_plate(args.output, args.name, args.format)
    out.write(f"autoseg: wrote {args.frames} frames {pattern} and {args.name}.shot.json\n")
    return 0


def command_report(args, out: TextIO, err: TextIO) -> int:
    from .pipeline import review

    run = review.open_run(args.output, args.name, args.work_dir)
    folder = pathlib.Path(args.report_dir) if args.report_dir else pathlib.Path(args.output) / "report"
    paths = review.write_report(run, folder, args.every, args.format, args.tile_width)
    flags = run.summary["flags"]
    out.write(f"autoseg: {run.name}: {len(run.summary['layers'])} layers, {len(flags)} flags\n")
    for flag in flags[:5]:
        out.write(f"  [{flag['rank']:.2f}] {flag['text']}\n")
    for kind, path in paths.items():
        out.write(f"autoseg: wrote {kind.replace('_', ' ')} {path}\n")
    return 0


def command_review(args, out: TextIO, err: TextIO) -> int:
    from .server.review import serve_review

    models = [item for group in args.models for item in group] or None
    serve_review(args.output, args.plates, args.host, args.port, models=models, providers=args.providers, max_size=args.max_size, quiet=args.quiet)
    return 0


def command_serve(args, out: TextIO, err: TextIO) -> int:
    from .server import run_from_arguments

    return run_from_arguments(args)


REPOSITORY = pathlib.Path(__file__).resolve().parents[2]
DEMO_MARKER = ".autoseg-demo"
DEMO_SEED = 7


def _export_models(models: pathlib.Path, size: tuple[int, int], err: TextIO) -> list[str]:
    """Export the demo's models (random weights) unless they exist; returns what was exported."""
    exports = {
        "sam2": ["export_sam2.py", "--config", "sam2.1_hiera_t", "--random-weights"],
        "groundingdino": ["export_groundingdino.py", "--random-weights", "--config", "tiny", "--sizes", f"{size[0]}x{size[1]}"],
    }
    needed = [kind for kind in exports if not (models / kind / "manifest.json").is_file()]
    if not needed:
        return []
    missing = [m for m in ("torch", "sam2", "groundingdino", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelFolderError(
            f"autoseg demo exports its models on the first run, which needs the export packages "
            f"({', '.join(missing)} missing): run scripts/setup.sh, or pip install '.[export]'; "
            f"or put exported model folders in {models}/sam2 and {models}/groundingdino"
        )
    export_dir = REPOSITORY / "export"
    if not (export_dir / "export_sam2.py").is_file():
        raise ModelFolderError(f"the exporters are not installed with this package (no {export_dir}); run the demo from a source checkout")
    for kind in needed:
        script, *options = exports[kind]
        command = [sys.executable, str(export_dir / script), *options, "--output", str(models / kind), "--force"]
        err.write(f"autoseg demo: exporting {kind} with random weights (first run only) ...\n")
        err.flush()
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, cwd=REPOSITORY)
        if result.returncode != 0:
            raise ModelFolderError(f"exporting {kind} failed ({' '.join(command)}):\n{result.stderr[-2000:]}")
        err.write(f"autoseg demo: exported {kind} in {time.perf_counter() - started:.0f} s\n")
    return needed


def _demo_prompts(spec, folder: pathlib.Path) -> pathlib.Path:
    """A prompt file for the demo plate: a mask of one shape and a click on another."""
    import numpy as np

    from . import synthetic
    from .pipeline import interactive

    shot = synthetic.SyntheticShot(spec)
    keyframe = spec.frame_numbers[0]  # the first frame: the seed pass has nothing to do
    visible = sorted(shot.gt_masks(keyframe).values(), key=lambda mask: -int((mask >= 0.5).sum()))
    objects = [interactive.InteractiveObject("person", None, {keyframe: interactive.Keyframe(mask=visible[0])})]
    if len(visible) > 1:
        click = np.argwhere(visible[1] >= 0.99).mean(axis=0)[::-1]
        objects.append(interactive.InteractiveObject("person", None, {keyframe: interactive.Keyframe(points=[click], labels=[1])}))
    prompt_set = interactive.PromptSet((spec.width, spec.height), objects)
    path = folder / "demo.prompts.json"
    interactive.save_prompts(path, prompt_set)
    return path


def command_demo(args, out: TextIO, err: TextIO) -> int:
    from . import synthetic
    from .pipeline import metrics
    from .pipeline.mask_cache import MaskCache
    from .pipeline.runner import Pipeline, RunConfig

    root = pathlib.Path(args.output)
    if root.exists() and any(root.iterdir()) and not (root / DEMO_MARKER).is_file():
        raise OutputError(f"{root} is not empty and is not an autoseg demo folder; choose a new folder for the demo")
    root.mkdir(parents=True, exist_ok=True)
    (root / DEMO_MARKER).write_text("autoseg demo folder: plate/, models/, output/, output-synthetic/\n")
    started = time.perf_counter()
    width, height = args.size
    spec = synthetic.generate_shot(seed=DEMO_SEED, num_frames=args.frames, width=width, height=height, num_objects=3)
    plate_dir = root / "plate"
    spec_file = plate_dir / "demo.shot.json"
    if not spec_file.is_file() or synthetic.ShotSpec.load(spec_file) != spec or not all(
        (plate_dir / f"demo.{f:04d}.exr").is_file() for f in spec.frame_numbers
    ):
        synthetic.SyntheticShot(spec).write_plate(plate_dir, "demo", "exr")
    plate = str(plate_dir / "demo.####.exr")
    exported = _export_models(root / "models", (width, height), err)
    out.write(
        "autoseg demo: NOTE the models have RANDOM, UNTRAINED weights. Every stage runs for real\n"
        "              (ONNX Runtime, mask cache, tracking, EXR writing) but the masks are meaningless.\n"
    )
    # Untrained models rarely give masks that survive the clean-up, so the
    # demo also hands the tracker two interactive objects: a mask "from
    # another tool" (the ground truth of one shape) and a click on another.
    prompts_file = _demo_prompts(spec, plate_dir)
    out.write(f"autoseg demo: interactive prompts {prompts_file} (a mask and a click on frame {spec.frame_numbers[0]})\n")
    reporter = ProgressReporter(err, args.progress)
    real = RunConfig(plate=plate, output=str(root / "output"), prompt="person", models=str(root / "models"),
                     max_detections=5, prompts_file=str(prompts_file), force=True)
    real_started = time.perf_counter()
    summary = Pipeline(real, progress=reporter).run()
    real_seconds = time.perf_counter() - real_started
    layers = summary["stages"]["track"]["layers"]
    out.write(f"autoseg demo: random-weight models: {layers} layers, {args.frames} frames in {real_seconds:.0f} s -> {root / 'output'}\n")

    # The same pipeline with backends that answer from the plate's ground truth
    # shows what the algorithm does with sensible detections and masks.
    check = RunConfig(plate=plate, output=str(root / "output-synthetic"), prompt="person", synthetic=str(spec_file),
                      synthetic_faults="faulty", force=True)
    pipeline = Pipeline(check, progress=ProgressReporter(err, "none"))
    pipeline.run()
    cache = MaskCache.load(pipeline.work / "track" / "cache")
    shot = synthetic.SyntheticShot(spec, size=pipeline.frames.size)
    scores = metrics.evaluate(shot.frame_numbers, cache.layers, shot.gt_masks)
    out.write(f"autoseg demo: synthetic backends with injected faults (ground truth known): {scores.line()} -> {root / 'output-synthetic'}\n")
    total = time.perf_counter() - started
    out.write(f"autoseg demo: done in {total:.0f} s ({'first run: exported ' + ', '.join(exported) if exported else 're-run: models reused'})\n")
    return 0


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    handlers = {"run": command_run, "plan": command_plan, "demo": command_demo, "synth": command_synth, "serve": command_serve,
                "report": command_report, "review": command_review}
    try:
        return handlers[args.command](args, out, err)
    except SegmentationError as error:
        err.write(f"\nautoseg: error: {error}\n" if getattr(err, "isatty", lambda: False)() else f"autoseg: error: {error}\n")
        return error.exit_code
    except KeyboardInterrupt:
        err.write("autoseg: interrupted; rerun the same command to resume\n")
        return INTERRUPTED
    except Exception:  # a bug: say so, with the traceback
        err.write("autoseg: internal error (please report it with this output):\n")
        err.write(traceback.format_exc())
        return INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
