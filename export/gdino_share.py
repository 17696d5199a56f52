"""One weights file for all the graphs of a model folder.

The graphs of different input sizes differ only in small size-specific
constants (kept inside each graph); every weight tensor is the same. This
moves each distinct large initializer once into a shared ONNX external-data
file next to the graphs, and points every graph at it by offset, so three
Swin-T sizes take ~0.66 GB instead of ~2 GB on disk. ONNX Runtime resolves
the file relative to the graph, so a graph and the weights file must stay in
the same folder.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from typing import Sequence

#: Initializers smaller than this stay inside the graph.
MIN_SHARED_BYTES = 1024
#: Tensors start on page boundaries (lets ONNX Runtime map them directly).
ALIGNMENT = 4096


def share_weights(graphs: Sequence[str | os.PathLike], weights_name: str) -> dict[str, int]:
    """Rewrite ``graphs`` (self-contained ``.onnx`` files in one folder) to keep
    their large initializers in ``weights_name`` in that folder, each distinct
    tensor stored once. Returns byte counts."""
    import onnx
    from onnx.external_data_helper import set_external_data

    graphs = [pathlib.Path(g) for g in graphs]
    folders = {g.parent for g in graphs}
    if len(folders) != 1:
        raise ValueError(f"graphs must share one folder, got {sorted(map(str, folders))}")
    weights_path = graphs[0].parent / weights_name
    offsets: dict[tuple, tuple[int, int]] = {}
    stats = {"tensors": 0, "shared_references": 0}
    with open(weights_path, "wb") as weights:
        for graph in graphs:
            model = onnx.load(str(graph), load_external_data=True)
            for tensor in model.graph.initializer:
                if tensor.data_location == onnx.TensorProto.EXTERNAL or not tensor.HasField("raw_data"):
                    continue
                raw = tensor.raw_data
                if len(raw) < MIN_SHARED_BYTES:
                    continue
                key = (tensor.data_type, tuple(tensor.dims), hashlib.sha256(raw).hexdigest())
                if key in offsets:
                    stats["shared_references"] += 1
                else:
                    position = weights.tell()
                    padding = -position % ALIGNMENT
                    weights.write(b"\0" * padding)
                    offsets[key] = (position + padding, len(raw))
                    weights.write(raw)
                    stats["tensors"] += 1
                offset, length = offsets[key]
                set_external_data(tensor, location=weights_name, offset=offset, length=length)
                tensor.ClearField("raw_data")
            # Serialise directly: onnx.save_model would try to (re)write external data.
            temporary = graph.with_name(graph.name + ".tmp")
            temporary.write_bytes(model.SerializeToString())
            os.replace(temporary, graph)
            del model
    stats["weights_bytes"] = weights_path.stat().st_size
    return stats
