"""A SAM2 model folder: manifest, ONNX Runtime sessions, learned constants,
and the per-frame encoder features (through a shared :class:`FeatureCache`)."""

from __future__ import annotations

import hashlib
import os
import pathlib
import time
from typing import Any, Sequence

import numpy as np

from ...core.errors import ModelFolderError, PlateError
from .. import runtime
from .feature_cache import FeatureCache
from .preprocess import preprocess_image

GRAPH_ROLES = ("image_encoder", "mask_decoder", "memory_encoder", "memory_attention")
REQUIRED_SETTINGS = (
    "input_size", "hidden_dim", "mem_dim", "low_res_mask_size", "num_maskmem", "max_obj_ptrs_in_encoder",
    "max_cond_frames_in_attn", "memory_temporal_stride_for_eval", "use_obj_ptrs_in_encoder",
    "use_signed_tpos_enc_to_obj_ptrs", "only_obj_ptrs_in_the_past_for_eval", "directly_add_no_mem_embed",
    "multimask_output_in_sam", "multimask_output_for_tracking", "multimask_min_pt_num", "multimask_max_pt_num",
    "use_multimask_token_for_obj_ptr", "dynamic_multimask_via_stability", "dynamic_multimask_stability_delta",
    "dynamic_multimask_stability_thresh", "pred_obj_scores", "fixed_no_obj_ptr", "soft_no_obj_ptr",
    "use_mask_input_as_output_without_sam", "binarize_mask_from_pts_for_mem_enc", "no_obj_score",
    "mask_as_output_scale", "mask_as_output_bias", "prompt_logit_clamp", "mask_threshold",
)
FEATURE_NAMES = ("pix_feat", "high_res_feat0", "high_res_feat1")

_GRAPH_STATS: dict[str, dict[str, float]] = {}


def graph_stats(reset: bool = False) -> dict[str, dict[str, float]]:
    """Per graph role, in this process: ``calls``, ``seconds`` spent in ONNX
    Runtime and ``batch`` (objects or prompts summed over the calls).
    ``reset=True`` starts counting again (benchmarks)."""
    snapshot = {role: dict(values) for role, values in _GRAPH_STATS.items()}
    if reset:
        _GRAPH_STATS.clear()
    return snapshot


class Sam2Model:
    """Everything loaded from one SAM2 model folder (see docs/sam2.md)."""

    def __init__(
        self,
        folder: str | os.PathLike,
        providers: str | Sequence[str] | None = None,
        threads: int | None = None,
        feature_cache: FeatureCache | None = None,
    ):
        self.folder = pathlib.Path(folder)
        self.manifest = runtime.load_manifest(self.folder, "sam2")
        self._validate()
        self.settings: dict[str, Any] = dict(self.manifest["settings"])
        self.input_size = int(self.manifest["input_size"])
        self.mean = np.asarray(self.manifest["image_mean"], np.float32)
        self.std = np.asarray(self.manifest["image_std"], np.float32)
        self.providers = runtime.resolve_providers(providers)
        self.threads = threads
        self.feature_cache = feature_cache if feature_cache is not None else FeatureCache()
        self.constants = self._load_constants()
        self.model_id = self._model_id()

    # ------------------------------------------------------------------ loading

    def _validate(self) -> None:
        manifest = self.manifest
        where = self.folder / runtime.MANIFEST_NAME
        files = manifest.get("files")
        if not isinstance(files, dict):
            raise ModelFolderError(f"{where} lists no files; re-export with export/export_sam2.py")
        missing = [role for role in GRAPH_ROLES + ("constants",) if role not in files]
        if missing:
            raise ModelFolderError(f"{where} lacks the {', '.join(missing)} file(s); re-export with export/export_sam2.py")
        for key in ("input_size", "image_mean", "image_std", "settings"):
            if key not in manifest:
                raise ModelFolderError(f"{where} has no {key!r}; re-export with export/export_sam2.py")
        settings = manifest["settings"]
        missing = [key for key in REQUIRED_SETTINGS if key not in settings]
        if missing:
            raise ModelFolderError(
                f"{where} lacks the settings {', '.join(missing)}; it was written by another exporter version. "
                "Re-export with export/export_sam2.py"
            )
        if not settings["directly_add_no_mem_embed"]:
            raise ModelFolderError(f"{where}: models without directly_add_no_mem_embed are not supported")
        if not settings["use_mask_input_as_output_without_sam"]:
            raise ModelFolderError(f"{where}: models without use_mask_input_as_output_without_sam are not supported")

    def _load_constants(self) -> dict[str, np.ndarray]:
        path = self.folder / self.manifest["files"]["constants"]
        try:
            with np.load(path, allow_pickle=False) as data:
                constants = {name: np.asarray(data[name], np.float32) for name in data.files}
        except (OSError, ValueError) as error:
            raise ModelFolderError(f"Cannot read {path}: {error}; re-export the model") from error
        needed = ["no_mem_embed"]
        if self.settings["use_obj_ptrs_in_encoder"]:
            needed += ["mask_downsample_weight", "mask_downsample_bias"]
            if self.settings["pred_obj_scores"]:
                needed.append("no_obj_ptr")
        missing = [name for name in needed if name not in constants]
        if missing:
            raise ModelFolderError(f"{path} lacks {', '.join(missing)}; re-export the model")
        return constants

    def _model_id(self) -> str:
        """Identifies the encoder weights in feature-cache keys."""
        digest = hashlib.sha256()
        digest.update((self.folder / runtime.MANIFEST_NAME).read_bytes())
        encoder = self.folder / self.manifest["files"]["image_encoder"]
        stat = encoder.stat()
        digest.update(f"{encoder.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
        return f"{self.manifest.get('model', 'sam2')}-{digest.hexdigest()[:16]}"

    # ------------------------------------------------------------------ graphs

    def session(self, role: str):
        path = self.folder / self.manifest["files"][role]
        return runtime.session(path, providers=self.providers, threads=self.threads)

    def run(self, role: str, **feeds: np.ndarray) -> list[np.ndarray]:
        """Run one graph; feeds the graph does not declare are ignored.
        Calls and seconds are added to :func:`graph_stats`."""
        session = self.session(role)
        names = {value.name for value in session.get_inputs()}
        started = time.perf_counter()
        outputs = session.run(None, {name: value for name, value in feeds.items() if name in names})
        stats = _GRAPH_STATS.setdefault(role, {"calls": 0, "seconds": 0.0, "batch": 0})
        stats["calls"] += 1
        stats["seconds"] += time.perf_counter() - started
        first = next(iter(feeds.values()), None)
        batch_input = feeds.get("memory", feeds.get("mask_logits", feeds.get("point_coords", first)))
        stats["batch"] += int(batch_input.shape[0]) if batch_input is not None and batch_input.ndim else 1
        return outputs

    def warm_up(self, roles: Sequence[str] = GRAPH_ROLES) -> None:
        """Create the sessions now (their first use is otherwise slower)."""
        for role in roles:
            self.session(role)

    # ------------------------------------------------------------------ features

    def features(self, frames, frame: int) -> dict[str, np.ndarray]:
        """The encoder features of one frame, computed at most once while cached:
        ``pix_feat`` (1, C, s, s), ``high_res_feat0``, ``high_res_feat1``."""
        key = f"{self.model_id}|{frames.cache_key(frame)}"

        def compute() -> dict[str, np.ndarray]:
            try:
                image = frames.image(frame)
            except KeyError as error:
                raise PlateError(str(error).strip("'\"")) from None
            tensor = preprocess_image(image, self.input_size, self.mean, self.std)
            outputs = self.run("image_encoder", image=tensor)
            return dict(zip(FEATURE_NAMES, outputs))

        return self.feature_cache.get_or_compute(key, compute)

    def image_embedding(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """``pix_feat + no_mem_embed``: the decoder input on frames without memory."""
        no_mem = self.constants["no_mem_embed"].reshape(1, -1, 1, 1)
        return (features["pix_feat"] + no_mem).astype(np.float32)

    # ------------------------------------------------------------------ helpers

    def use_multimask(self, is_init_cond_frame: bool, num_points: int) -> bool:
        """SAM2Base._use_multimask."""
        s = self.settings
        return bool(
            s["multimask_output_in_sam"]
            and (is_init_cond_frame or s["multimask_output_for_tracking"])
            and s["multimask_min_pt_num"] <= num_points <= s["multimask_max_pt_num"]
        )
