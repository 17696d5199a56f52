"""The browser tools' local web server: the prompt test bench and interactive
click segmentation (``autoseg serve``).

>>> from SegmentationCore.server import serve
>>> serve("plates/", "out/", models=["onnx_models/sam2.1_hiera_t", "onnx_models/gdino_swint"])

Binds to 127.0.0.1 by default and serves only the bundled web pages, frames
under the plate root and results under the output root. See
docs/browser-tools.md.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from typing import Sequence

from ..core.errors import SegmentationError
from .app import ToolsApp, make_server
from .backends import Backends

DEFAULT_PORT = 8765


def default_output_root(plates_root: str | pathlib.Path) -> pathlib.Path:
    """``/shows/x/plates`` -> ``/shows/x/plates_autoseg`` (beside, never inside, the plates)."""
    plates = pathlib.Path(plates_root).expanduser().absolute()
    return plates.parent / f"{plates.name}_autoseg"


def create_server(
    plates_root: str | pathlib.Path,
    output_root: str | pathlib.Path | None = None,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    models: Sequence[str] | None = None,
    providers: str | Sequence[str] | None = None,
    max_size: int = 1024,
    synthetic_faults: str = "none",
    quiet: bool = False,
    frame_source_factory=None,
):
    """A ready-to-run server (``server.serve_forever()``); ``port=0`` picks a free port."""
    backends = Backends(models, providers=providers, synthetic_faults=synthetic_faults)
    app = ToolsApp(
        plates_root,
        output_root if output_root is not None else default_output_root(plates_root),
        backends,
        max_size=max_size,
        frame_source_factory=frame_source_factory,
    )
    server = make_server(app, host, port, quiet=quiet)
    server.app = app
    return server


def serve(plates_root, output_root=None, host: str = "127.0.0.1", port: int = DEFAULT_PORT, models=None, **options) -> None:
    """Run the server until interrupted (Ctrl+C)."""
    server = create_server(plates_root, output_root, host, port, models, **options)
    print(f"serve: plates {server.app.plates.real}, output {server.app.output.real}", file=sys.stderr)
    print(f"serve: prompt test bench   {server.url}bench", file=sys.stderr)
    print(f"serve: interactive tool    {server.url}interactive", file=sys.stderr)
    server.serve_until_interrupted("serve", "read the plates and write results")


def start_in_thread(*args, **kwargs):
    """Start a server in a daemon thread (tests, notebooks); returns the server.
    Stop it with ``server.shutdown(); server.server_close()``."""
    return create_server(*args, **kwargs).start_thread("segmentation-server")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` options (shared with ``autoseg serve``)."""
    parser.add_argument("--plates", required=True, help="folder holding the shots' image sequences (searched 4 levels deep)")
    parser.add_argument("--output", help="folder for prompts and ObjectId/Cryptomatte results (default: <plates>_autoseg beside the plate folder)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument(
        "--models", action="append", nargs="+", default=[], metavar="DIR",
        help="exported model folders (a SAM2 and/or a GroundingDINO export), or 'synthetic' for "
        "ground-truth backends on shots made by `autoseg synth`/`autoseg demo`",
    )
    parser.add_argument("--providers", help="ONNX Runtime execution providers, e.g. cuda,cpu (default: best available)")
    parser.add_argument("--max-size", type=int, default=1024, help="longest side of the working resolution (default 1024)")
    parser.add_argument("--synthetic-faults", default="none", help="fault preset of the synthetic backends: none or faulty")
    parser.add_argument("--quiet", action="store_true", help="do not log every request")


def run_from_arguments(args: argparse.Namespace) -> int:
    models = [item for group in args.models for item in group]
    serve(
        args.plates, args.output, args.host, args.port, models,
        providers=args.providers, max_size=args.max_size,
        synthetic_faults=args.synthetic_faults, quiet=args.quiet,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="autoseg serve",
        description="Browser tools: prompt test bench and interactive click segmentation, served on localhost.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_from_arguments(args)
    except SegmentationError as error:
        print(f"autoseg serve: error: {error}", file=sys.stderr)
        return error.exit_code


__all__ = ["create_server", "serve", "start_in_thread", "main", "add_arguments", "run_from_arguments", "default_output_root"]
