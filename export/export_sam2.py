#!/usr/bin/env python
"""Export SAM2 / SAM2.1 (hiera t, s, b+, l) to ONNX graphs + manifest.json.

    python export/export_sam2.py --config sam2.1_hiera_t --checkpoint sam2.1_hiera_tiny.pt --output onnx_models/sam2.1_hiera_t
    python export/export_sam2.py --config sam2.1_hiera_t --random-weights --output /tmp/sam2-test

The model folder receives ``image_encoder.onnx``, ``mask_decoder.onnx``,
``memory_encoder.onnx``, ``memory_attention.onnx``, ``constants.npz`` (small
learned vectors the engine applies in numpy) and ``manifest.json``. Every
graph is checked against SAM2's own PyTorch code on the same inputs and the
max absolute error is recorded under ``parity`` in the manifest.

The folder is assembled in a temporary sibling and renamed into place at the
end, so an interrupted export never leaves a folder that looks complete. An
existing non-empty folder is only replaced with ``--force``.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import sys
import tempfile
import time
from typing import Callable

HERE = pathlib.Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import export_common  # noqa: E402
import sam2_model  # noqa: E402

MANIFEST_KIND = "sam2"
CONSTANTS_FILE = "constants.npz"
DEFAULT_PARITY_LIMIT = 1e-3


class ExportError(RuntimeError):
    """The export cannot be done as asked (message says why and what to do)."""


def _check_output(output: pathlib.Path, force: bool) -> None:
    if output.exists() and not output.is_dir():
        raise ExportError(f"{output} exists and is not a folder; choose another --output")
    if output.is_dir() and any(output.iterdir()) and not force:
        raise ExportError(f"{output} already holds files; pass --force to replace it or choose another --output")


def _replace_folder(staging: pathlib.Path, output: pathlib.Path) -> None:
    """Move the finished staging folder to ``output`` (replacing it)."""
    if output.exists():
        trash = pathlib.Path(tempfile.mkdtemp(prefix=f".{output.name}.old-", dir=output.parent))
        os.replace(output, trash / output.name)
        os.replace(staging, output)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(staging, output)


def export(
    config: str,
    output: str | os.PathLike,
    checkpoint: str | os.PathLike | None = None,
    random_weights: bool = False,
    seed: int = 0,
    force: bool = False,
    verify: bool = True,
    parity_limit: float = DEFAULT_PARITY_LIMIT,
    fused_roles: tuple[str, ...] | None = None,
    memory_attention_variant: str | None = None,
    log: Callable[[str], None] = print,
) -> pathlib.Path:
    """Export one SAM2 config into the model folder ``output``; returns it.

    Exactly one of ``checkpoint`` (official ``.pt`` file) or
    ``random_weights=True`` (the config's random initialisation from
    ``seed``, for tests) must be given. ``fused_roles`` names the graphs
    whose attention becomes ONNX Runtime's fused MultiHeadAttention kernel
    (default: all graphs with attention; ``()`` for plain ONNX ops).
    ``memory_attention_variant`` is ``"folded"`` (default: exact algebraic
    savings, see :mod:`sam2_wrappers`) or ``"plain"`` (the earlier graph).
    """
    import numpy as np

    if (checkpoint is None) == (not random_weights):
        raise ExportError("give either --checkpoint PATH (official SAM2 .pt file) or --random-weights")
    name, config_path = sam2_model.resolve_config(config)
    output = pathlib.Path(output).expanduser().absolute()
    _check_output(output, force)
    checkpoint_sha = None
    if checkpoint is not None:
        checkpoint = pathlib.Path(checkpoint).expanduser()
        if not checkpoint.is_file():
            raise ExportError(f"Checkpoint {checkpoint} does not exist; download it from the SAM2 release page (see docs/sam2.md)")
        checkpoint_sha = export_common.sha256_of(checkpoint)

    started = time.time()
    log(f"Building {name} ({config_path}) {'from ' + str(checkpoint) if checkpoint else f'with random weights (seed {seed})'}")
    try:
        model = sam2_model.build_model(config_path, checkpoint=checkpoint, seed=seed)
    except (ValueError, FileNotFoundError) as error:
        raise ExportError(str(error)) from error

    import sam2_graphs
    import sam2_parity

    variant = memory_attention_variant or sam2_graphs.DEFAULT_MEMORY_ATTENTION_VARIANT
    if variant not in sam2_graphs.MEMORY_ATTENTION_VARIANTS:
        raise ExportError(f"unknown memory-attention variant {variant!r}; choose from {list(sam2_graphs.MEMORY_ATTENTION_VARIANTS)}")
    fused_roles = tuple(sam2_graphs.DEFAULT_FUSED_ROLES if fused_roles is None else fused_roles)
    unknown = [role for role in fused_roles if role not in sam2_graphs.GRAPH_FILES]
    if unknown:
        raise ExportError(f"unknown graph(s) {unknown} for fused attention; choose from {list(sam2_graphs.GRAPH_FILES)}")

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{output.name}.partial-", dir=output.parent))
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private; a model folder is not
        files = {}
        for role, filename in sam2_graphs.GRAPH_FILES.items():
            t0 = time.time()
            sam2_graphs.export_graph(
                model, role, staging / filename, fused=role in fused_roles, memory_attention_variant=variant
            )
            files[role] = filename
            log(f"  exported {filename} ({(staging / filename).stat().st_size / 1e6:.1f} MB, {time.time() - t0:.1f} s)")
        constants = sam2_model.model_constants(model)
        with open(staging / CONSTANTS_FILE, "wb") as stream:
            np.savez(stream, **constants)
        files["constants"] = CONSTANTS_FILE

        parity = {}
        if verify:
            log("Checking ONNX Runtime against PyTorch")
            parity = sam2_parity.check_graphs(model, staging, files, log=log)
            bad = {role: err for role, err in parity.items() if not err <= parity_limit}
            if bad:
                raise ExportError(
                    f"ONNX Runtime differs from PyTorch by more than {parity_limit:g}: {bad}; "
                    "the export is not usable (report this with the versions printed above)"
                )

        settings = sam2_model.model_settings(model)
        manifest = {
            "kind": MANIFEST_KIND,
            "model": name,
            "config": config_path,
            "input_size": settings["input_size"],
            "image_mean": [0.485, 0.456, 0.406],
            "image_std": [0.229, 0.224, 0.225],
            "image_value_range": [0.0, 1.0],
            "mask_threshold": settings["mask_threshold"],
            "settings": settings,
            "files": files,
            "checkpoint": str(checkpoint.name) if checkpoint else None,
            "checkpoint_sha256": checkpoint_sha,
            "random_weights": bool(random_weights),
            "seed": int(seed) if random_weights else None,
            "opset": sam2_graphs.OPSET,
            "fused_attention": list(fused_roles),
            "memory_attention_variant": variant,
            "versions": export_common.package_versions("torch", "sam2", "onnx", "onnxruntime", "numpy"),
            "parity": parity,
            "parity_inputs": "synthetic image; SAM2 code paths (forward_image, prompt encoder + predict_masks, "
            "_encode_new_memory, _prepare_memory_conditioned_features)",
            "export_seconds": round(time.time() - started, 1),
        }
        manifest_path = export_common.write_manifest(staging, manifest)
        os.chmod(manifest_path, 0o666 & ~umask)
        _replace_folder(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log(f"Wrote {output} in {time.time() - started:.0f} s")
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Export SAM2 / SAM2.1 to ONNX (image encoder, mask decoder, memory encoder, memory attention).",
    )
    parser.add_argument("--config", required=True,
                        help="SAM2 config: sam2.1_hiera_t|s|b+|l or sam2_hiera_t|s|b+|l (aliases tiny, small, base_plus, large)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="official SAM2 checkpoint (.pt), loaded with torch.load(weights_only=True)")
    source.add_argument("--random-weights", action="store_true", help="random initialisation (tests; masks are meaningless)")
    parser.add_argument("--output", help="model folder to write (default: onnx_models/<config>[-random])")
    parser.add_argument("--seed", type=int, default=0, help="seed of --random-weights (default 0)")
    parser.add_argument("--force", action="store_true", help="replace an existing non-empty output folder")
    parser.add_argument("--plain-attention", action="store_true",
                        help="export attention as plain ONNX ops (for TensorRT) instead of ONNX Runtime's fused kernel")
    parser.add_argument("--memory-attention", choices=("folded", "plain"), default="folded",
                        help="memory-attention graph: 'folded' (default; exact v_proj/out_proj folding, about 1.5x "
                        "faster on CPU) or 'plain' (the graph before issue 13, for comparison)")
    parser.add_argument("--skip-parity", action="store_true", help="do not compare ONNX Runtime with PyTorch")
    parser.add_argument("--parity-limit", type=float, default=DEFAULT_PARITY_LIMIT,
                        help=f"fail if any graph differs from PyTorch by more than this (default {DEFAULT_PARITY_LIMIT:g})")
    args = parser.parse_args(argv)

    output = args.output
    if output is None:
        try:
            name, _ = sam2_model.resolve_config(args.config)
        except sam2_model.ConfigError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        output = HERE.parent / "onnx_models" / (name + ("-random" if args.random_weights else ""))
    try:
        export(
            args.config,
            output,
            checkpoint=args.checkpoint,
            random_weights=args.random_weights,
            seed=args.seed,
            force=args.force,
            verify=not args.skip_parity,
            parity_limit=args.parity_limit,
            fused_roles=() if args.plain_attention else None,
            memory_attention_variant=args.memory_attention,
        )
    except (ExportError, sam2_model.ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
