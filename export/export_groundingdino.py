#!/usr/bin/env python
"""Export GroundingDINO (``groundingdino-py``) to ONNX: one graph per input size.

Official weights (see docs/groundingdino.md for the downloads)::

    python export/export_groundingdino.py --config SwinT \\
        --checkpoint groundingdino_swint_ogc.pth \\
        --vocab bert-base-uncased/vocab.txt \\
        --output onnx_models/groundingdino_swint

Random weights (testing; no download at all)::

    python export/export_groundingdino.py --random-weights --output /tmp/gdino

The model folder holds ``groundingdino_<W>x<H>.onnx`` per size (small: the
weights, identical for every size, live once in ``groundingdino.onnx.data``
next to them), ``vocab.txt`` and ``manifest.json``.

Image size is baked into each graph (Swin padding,
window masks, deformable-attention level shapes are constants), so the
engine picks the graph whose aspect matches the plate; the text length and
the batch size stay dynamic. Every graph is checked against PyTorch and the
errors are written to the manifest; the folder appears only when complete.
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import shutil
import sys
import tempfile
import time
from typing import Callable, Sequence

import export_common
import gdino_vocab

KIND = "groundingdino"
OPSET = 16
#: 16:9 landscape at 1024 (the engine's working resolution), its portrait
#: twin, and square. Width x height; both multiples of 32.
DEFAULT_SIZES = ((1024, 576), (576, 1024), (800, 800))
BOX_THRESHOLD = 0.35
TEXT_THRESHOLD = 0.25
MAX_TEXT_LEN = 256
SIZE_MULTIPLE = 32
VOCAB_NAME = "vocab.txt"
WEIGHTS_NAME = "groundingdino.onnx.data"  # shared by every graph of the folder
CONFIG_NAMES = ("SwinT", "SwinB", "tiny")  # keep equal to gdino_build.CONFIGS


def parse_sizes(text: str | Sequence) -> list[tuple[int, int]]:
    """``"1024x576,576x1024"`` -> ``[(1024, 576), (576, 1024)]`` (width x height)."""
    if not isinstance(text, str):
        return [(int(w), int(h)) for w, h in text]
    sizes = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        try:
            width, height = (int(v) for v in part.split("x"))
        except ValueError:
            raise ValueError(f"size {part!r} is not WIDTHxHEIGHT, e.g. 1024x576") from None
        sizes.append((width, height))
    if not sizes:
        raise ValueError("no sizes given; e.g. --sizes 1024x576,576x1024,800x800")
    return sizes


def check_sizes(sizes: Sequence[tuple[int, int]]) -> None:
    for width, height in sizes:
        if width <= 0 or height <= 0 or width % SIZE_MULTIPLE or height % SIZE_MULTIPLE:
            raise ValueError(
                f"size {width}x{height}: width and height must be positive multiples of {SIZE_MULTIPLE} "
                f"(e.g. 1024x576 for 16:9)"
            )
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"sizes {sizes} repeat a size")


def graph_name(width: int, height: int) -> str:
    return f"groundingdino_{width}x{height}.onnx"


def export_graph(model, width: int, height: int, path: str | os.PathLike, opset: int = OPSET) -> None:
    """Trace the wrapper at one image size with the legacy exporter."""
    import torch

    import gdino_parity
    import gdino_wrapper

    graph = gdino_wrapper.GroundingDinoGraph(model).eval()
    text = gdino_parity.text_inputs(model, gdino_parity.DEFAULT_CAPTIONS[-1])
    image = torch.from_numpy(gdino_parity.normalise(gdino_parity.synthetic_image(height, width)))
    inputs = (image, *(torch.from_numpy(text[name]) for name in gdino_wrapper.INPUT_NAMES[1:]))
    tokens = {0: "batch", 1: "tokens"}
    dynamic_axes = {
        "image": {0: "batch"},
        "input_ids": tokens,
        "attention_mask": tokens,
        "position_ids": tokens,
        "token_type_ids": tokens,
        "text_self_attention_mask": {0: "batch", 1: "tokens", 2: "tokens"},
        "logits": {0: "batch", 2: "tokens"},
        "boxes": {0: "batch"},
        "proposal_scores": {0: "batch"},
        "proposal_indices": {0: "batch"},
    }
    import warnings

    with torch.no_grad(), gdino_wrapper.batch_friendly_swin(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings: the sizes are meant to be constants
        torch.onnx.export(
            graph,
            inputs,
            str(path),
            input_names=gdino_wrapper.INPUT_NAMES,
            output_names=gdino_wrapper.OUTPUT_NAMES,
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            dynamo=False,
            do_constant_folding=True,
        )


def _ort_session(path: pathlib.Path, threads: int | None = None):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _prepare_output(output: pathlib.Path, force: bool) -> None:
    if output.exists() and not force:
        raise FileExistsError(f"{output} already exists; choose another --output or pass --force to replace it")
    if output.exists() and not output.is_dir():
        raise FileExistsError(f"{output} exists and is not a folder")
    output.parent.mkdir(parents=True, exist_ok=True)


def _publish(staging: pathlib.Path, output: pathlib.Path) -> None:
    """Move the finished folder into place (replacing an old one only now)."""
    old = None
    if output.exists():
        old = output.with_name(f".{output.name}.old-{os.getpid()}")
        os.replace(output, old)
    os.replace(staging, output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export(
    output: str | os.PathLike,
    config: str = "SwinT",
    checkpoint: str | os.PathLike | None = None,
    vocab: str | os.PathLike | None = None,
    bert_config: str | os.PathLike | None = None,
    random_weights: bool = False,
    sizes: str | Sequence[tuple[int, int]] = DEFAULT_SIZES,
    force: bool = False,
    seed: int = 0,
    threads: int | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Export a model folder; returns the manifest. See the module doc."""
    output = pathlib.Path(output).expanduser().absolute()
    sizes = parse_sizes(sizes)
    check_sizes(sizes)
    if config not in CONFIG_NAMES:
        raise ValueError(f"unknown --config {config!r}; choose one of {', '.join(CONFIG_NAMES)}")
    if random_weights == (checkpoint is not None):
        raise ValueError("give either --checkpoint (official weights) or --random-weights, not both or neither")
    if checkpoint is not None and vocab is None:
        raise ValueError(
            "--vocab is required with --checkpoint: the bert-base-uncased vocab.txt (see docs/groundingdino.md)"
        )
    if checkpoint is not None and not pathlib.Path(checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint {checkpoint} does not exist; see docs/groundingdino.md for the download")
    if vocab is not None:
        gdino_vocab.check_vocab(vocab)
    _prepare_output(output, force)

    import gdino_build
    import gdino_parity
    import gdino_share
    import gdino_wrapper

    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{output.name}.partial-", dir=output.parent))
    try:
        vocab_path = staging / VOCAB_NAME
        if vocab is not None:
            shutil.copyfile(vocab, vocab_path)
        else:
            gdino_vocab.write_random_vocab(vocab_path)

        started = time.perf_counter()
        model = gdino_build.build_model(config, vocab_path, bert_config, seed=seed)
        model_info = {"config": config, "random_weights": bool(random_weights)}
        if checkpoint is not None:
            log(f"loading {checkpoint}")
            gdino_build.load_checkpoint(model, checkpoint)
            model_info["checkpoint"] = pathlib.Path(checkpoint).name
            model_info["checkpoint_sha256"] = export_common.sha256_of(checkpoint)
        else:
            model_info["seed"] = seed
        model_info["parameters"] = int(sum(p.numel() for p in model.parameters()))
        log(f"built GroundingDINO {config} ({model_info['parameters'] / 1e6:.1f} M parameters) "
            f"in {time.perf_counter() - started:.1f} s")

        names = [graph_name(width, height) for width, height in sizes]
        for (width, height), name in zip(sizes, names):
            started = time.perf_counter()
            export_graph(model, width, height, staging / name)
            log(f"{name}: traced in {time.perf_counter() - started:.1f} s, "
                f"{(staging / name).stat().st_size / 2**20:.0f} MiB")
        started = time.perf_counter()
        shared = gdino_share.share_weights([staging / name for name in names], WEIGHTS_NAME)
        log(f"{WEIGHTS_NAME}: {shared['tensors']} weight tensors, {shared['weights_bytes'] / 2**20:.0f} MiB, "
            f"shared by {len(names)} graph(s) ({time.perf_counter() - started:.1f} s)")

        # Parity of the files as shipped (small graphs + shared weights).
        entries = []
        files = {"vocab": VOCAB_NAME, "weights": WEIGHTS_NAME}
        parity = {}
        for (width, height), name in zip(sizes, names):
            started = time.perf_counter()
            session = _ort_session(staging / name, threads)
            result = gdino_parity.compare(model, session, height, width)
            del session
            gdino_parity.check(result)
            key = f"{width}x{height}"
            parity[key] = result.as_dict()
            files[f"graph_{key}"] = name
            entries.append({
                "width": width,
                "height": height,
                "file": name,
                "bytes": (staging / name).stat().st_size,
                "parity": result.as_dict(),
            })
            log(f"{name}: parity max|ONNX-PyTorch| logits {result.logits:.2e} boxes {result.boxes:.2e} "
                f"proposal scores {result.proposal_scores:.2e}, top-{result.queries} selection differences "
                f"{result.selection_differences} ({time.perf_counter() - started:.1f} s)")

        manifest = {
            "kind": KIND,
            "model": model_info,
            "sizes": entries,
            "files": files,
            "inputs": list(gdino_wrapper.INPUT_NAMES),
            "outputs": list(gdino_wrapper.OUTPUT_NAMES),
            "batch": "dynamic",
            "opset": OPSET,
            "normalisation": {
                "colour": "sRGB",
                "range": [0.0, 1.0],
                "mean": list(gdino_parity.IMAGENET_MEAN),
                "std": list(gdino_parity.IMAGENET_STD),
                "layout": "NCHW",
            },
            "thresholds": {"box": BOX_THRESHOLD, "text": TEXT_THRESHOLD},
            "text": {
                "vocab": VOCAB_NAME,
                "lowercase": True,
                "max_text_len": MAX_TEXT_LEN,
                "special_token_ids": {t: gdino_vocab.SPECIAL_IDS[t] for t in ("[CLS]", "[SEP]", ".", "?")},
            },
            "num_queries": int(model.num_queries),
            "weights_bytes": shared["weights_bytes"],
            "parity": parity,
            "versions": export_common.package_versions(
                "torch", "groundingdino-py", "transformers", "onnx", "onnxruntime", "numpy"
            ),
            "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        manifest_path = export_common.write_manifest(staging, manifest)
        del model
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp / mkstemp made these private
        os.chmod(manifest_path, 0o666 & ~umask)
        _publish(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log(f"wrote {output}")
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", required=True, help="model folder to create (refused if it exists, see --force)")
    parser.add_argument("--config", default="SwinT", choices=CONFIG_NAMES,
                        help="architecture: SwinT (groundingdino_swint_ogc.pth), SwinB "
                             "(groundingdino_swinb_cogcoor.pth) or tiny (reduced, tests only)")
    weights = parser.add_mutually_exclusive_group(required=True)
    weights.add_argument("--checkpoint", help="official GroundingDINO .pth")
    weights.add_argument("--random-weights", action="store_true",
                         help="random weights and a locally written vocabulary (for testing)")
    parser.add_argument("--vocab", help="bert-base-uncased vocab.txt (required with --checkpoint)")
    parser.add_argument("--bert-config", help="bert-base-uncased config.json (default: its built-in shape)")
    parser.add_argument("--sizes", default=",".join(f"{w}x{h}" for w, h in DEFAULT_SIZES),
                        help="input sizes WIDTHxHEIGHT, comma-separated, multiples of 32 (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="replace an existing --output folder")
    parser.add_argument("--seed", type=int, default=0, help="seed for --random-weights")
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads for the parity check")
    args = parser.parse_args(argv)
    import warnings

    # The package and transformers warn about deprecations on every call.
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message="torch.meshgrid")
    try:
        export(
            args.output,
            config=args.config,
            checkpoint=args.checkpoint,
            vocab=args.vocab,
            bert_config=args.bert_config,
            random_weights=args.random_weights,
            sizes=args.sizes,
            force=args.force,
            seed=args.seed,
            threads=args.threads,
        )
    except (ValueError, FileExistsError, FileNotFoundError, RuntimeError) as error:
        print(f"export_groundingdino: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
