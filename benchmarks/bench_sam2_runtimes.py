#!/usr/bin/env python
"""SAM2 graphs under each CPU runtime variant: time and error per graph.

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_sam2_runtimes.py
    # OpenVINO lives in its own environment (it is not a project dependency):
    flock /tmp/heavy.lock /tmp/ov-venv/bin/python benchmarks/bench_sam2_runtimes.py --engine openvino \\
        --reference build/bench-runtimes/reference.npz

Every variant runs the *same* inputs through the same exported graphs
(tiny SAM2.1, random weights, 1024 input) and is compared with ONNX Runtime
fp32 at the default settings (max absolute error; that reference is itself
within 1e-5 of the ``sam2`` package, see the export's parity). Variants:

``ort``            ONNX Runtime CPU, all cores, shared arena (the default)
``ort-1thread``    the same on one thread (farm nodes running 2 tasks)
``ort-noarena``    no CPU memory arena
``ort-int8``       dynamic int8 quantisation of MatMul/Gemm weights
``openvino``       OpenVINO (``openvino`` wheel) on the plain-attention export
``openvino-bf16``  OpenVINO with ``INFERENCE_PRECISION_HINT=bf16`` (only
                   where the CPU reports BF16 in OPTIMIZATION_CAPABILITIES)

Prints a table; asserts nothing. Other work on the machine shows up in the
figures: compare variants within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "bench-runtimes"
ROLES = ("image_encoder", "mask_decoder", "memory_encoder", "memory_attention")


def feeds(role: str, objects: int = 1) -> dict[str, np.ndarray]:
    """Deterministic inputs: a tracked frame in the steady state (7 memories,
    16 object pointers) for ``objects`` objects."""
    rng = np.random.default_rng(7)
    s = 64
    if role == "image_encoder":
        return {"image": rng.normal(size=(1, 3, 1024, 1024)).astype(np.float32)}
    pix = rng.normal(size=(1, 256, s, s)).astype(np.float32)
    if role == "mask_decoder":
        return {
            "image_embed": pix,
            "high_res_feat0": rng.normal(size=(1, 32, 4 * s, 4 * s)).astype(np.float32),
            "high_res_feat1": rng.normal(size=(1, 64, 2 * s, 2 * s)).astype(np.float32),
            "point_coords": np.tile(np.array([[[0.0, 0.0]]], np.float32), (objects, 1, 1)),
            "point_labels": np.full((objects, 1), -1, np.int64),
            "mask_input": np.zeros((objects, 1, 4 * s, 4 * s), np.float32),
            "has_mask_input": np.zeros(objects, np.float32),
        }
    if role == "memory_encoder":
        return {
            "pix_feat": pix,
            "mask_logits": rng.normal(0, 5, size=(objects, 1, 4 * s, 4 * s)).astype(np.float32),
            "object_score_logits": np.ones((objects, 1), np.float32),
            "binarize": np.zeros(objects, np.float32),
        }
    return {
        "pix_feat": pix,
        "memory": rng.normal(size=(objects, 7, 64, s, s)).astype(np.float32),
        "memory_tpos": np.array([6, 5, 4, 3, 2, 1, 0], np.int64),
        "obj_ptrs": rng.normal(size=(objects, 16, 256)).astype(np.float32),
        "obj_ptr_tpos": np.array([16] + list(range(1, 16)), np.float32),
        "obj_ptr_tpos_max": np.array([15], np.float32),
    }


def cases(objects: int) -> list[tuple[str, str, int]]:
    rows = [("image_encoder", "image_encoder", 1), ("mask_decoder", "mask_decoder", 1),
            ("memory_encoder", "memory_encoder", 1), ("memory_attention", "memory_attention", 1)]
    if objects > 1:
        rows.append((f"memory_attention x{objects}", "memory_attention", objects))
    return rows


def timed(run, repeat: int) -> tuple[float, list[np.ndarray]]:
    outputs = run()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best, outputs


# ---------------------------------------------------------------------------- ONNX Runtime


def ort_variant(name: str, folder: pathlib.Path, threads: int):
    import onnxruntime as ort

    manifest = json.loads((folder / "manifest.json").read_text())

    def make(role: str):
        path = folder / manifest["files"][role]
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1 if name == "ort-1thread" else threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if name == "ort-noarena":
            options.enable_cpu_mem_arena = False
        if name == "ort-int8":
            path = quantised(path)
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}
        return lambda f: session.run(None, {k: v for k, v in f.items() if k in names})

    return make


def quantised(path: pathlib.Path) -> pathlib.Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = OUT / "int8" / f"{path.parent.name}-{path.name}"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        from onnx import TensorProto

        # DefaultTensorType: ONNX shape inference cannot type the outputs of
        # ONNX Runtime's contrib attention ops; they are float32
        quantize_dynamic(str(path), str(target), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"],
                         extra_options={"DefaultTensorType": TensorProto.FLOAT})
    return target


# ---------------------------------------------------------------------------- OpenVINO


def openvino_variant(name: str, folder: pathlib.Path, threads: int):
    import openvino as ov

    core = ov.Core()
    manifest = json.loads((folder / "manifest.json").read_text())
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    if name == "openvino-bf16":
        if "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            raise RuntimeError("this CPU has no bf16 support (OPTIMIZATION_CAPABILITIES lacks BF16)")
        config["INFERENCE_PRECISION_HINT"] = "bf16"
    else:
        config["INFERENCE_PRECISION_HINT"] = "f32"

    def make(role: str):
        compiled = core.compile_model(str(folder / manifest["files"][role]), "CPU", config)
        request = compiled.create_infer_request()
        names = {port.get_any_name() for port in compiled.inputs}

        def run(f):
            request.infer({k: v for k, v in f.items() if k in names})
            return [np.array(request.get_output_tensor(i).data) for i in range(len(compiled.outputs))]

        return run

    return make


# ---------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("ort", "openvino"), default="ort")
    parser.add_argument("--model", help="model folder (default: the tests' folded export)")
    parser.add_argument("--plain-model", help="plain-attention (unfused) folder for OpenVINO")
    parser.add_argument("--variants", help="comma-separated variants (default: all of the engine)")
    parser.add_argument("--objects", type=int, default=3, help="also time memory attention for this many objects")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--reference", default=str(OUT / "reference.npz"),
                        help="ORT fp32 outputs (written by the ort run, read by the openvino run)")
    parser.add_argument("--json", help="append the rows to this JSON-lines file")
    args = parser.parse_args()

    if args.engine == "ort":
        for sub in ("python", "export", "tests"):
            sys.path.insert(0, str(ROOT / sub))
        from fixtures_sam2 import export_cached

        folder = pathlib.Path(args.model) if args.model else export_cached()
        variants = (args.variants or "ort,ort-1thread,ort-noarena,ort-int8").split(",")
        factory = ort_variant
    else:
        if not args.plain_model:
            raise SystemExit("--engine openvino needs --plain-model (an export with --plain-attention)")
        folder = pathlib.Path(args.plain_model)
        variants = (args.variants or "openvino,openvino-bf16").split(",")
        factory = openvino_variant

    reference_path = pathlib.Path(args.reference)
    reference: dict[str, np.ndarray] = {}
    if reference_path.is_file():
        with np.load(reference_path) as data:
            reference = {k: data[k] for k in data.files}
    print(f"{args.engine}: {folder.name}, {args.threads} threads")
    print(f"{'variant':<15} {'graph':<22} {'s':>8} {'max err vs ORT fp32':>20}")
    rows = []
    for variant in variants:
        try:
            make = factory(variant, folder, args.threads)
        except Exception as error:  # noqa: BLE001 - a variant that cannot run is a result
            print(f"{variant:<15} (not run: {error})")
            continue
        sessions = {}
        for label, role, objects in cases(args.objects):
            try:
                if role not in sessions:
                    sessions[role] = make(role)
                f = feeds(role, objects)
                seconds, outputs = timed(lambda: sessions[role](f), args.repeat)
            except Exception as error:  # noqa: BLE001
                print(f"{variant:<15} {label:<22} (failed: {str(error).splitlines()[0][:90]})")
                continue
            key = label.replace(" ", "_")
            if args.engine == "ort" and variant == "ort":
                reference[key] = outputs[0]
            error = float(np.abs(outputs[0] - reference[key]).max()) if key in reference else float("nan")
            print(f"{variant:<15} {label:<22} {seconds:8.3f} {error:20.3g}", flush=True)
            rows.append({"variant": variant, "graph": label, "seconds": seconds, "max_err": error})
    if args.engine == "ort" and reference:
        reference_path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(reference_path, **reference)
    if args.json:
        with open(args.json, "a") as stream:
            for row in rows:
                stream.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
