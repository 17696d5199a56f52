"""SAM2 export: graphs vs PyTorch, manifest, checkpoint loading, CLI, errors."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from SegmentationCore.models import runtime

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXPORTER = ROOT / "export" / "export_sam2.py"

pytestmark = pytest.mark.export


def test_each_graph_matches_pytorch(sam2_model_dir):
    """Re-check the exported graphs against SAM2's own code paths."""
    import sam2_parity
    from sam2_reference import reference_model

    manifest = runtime.load_manifest(sam2_model_dir, "sam2")
    errors = sam2_parity.check_graphs(reference_model(), sam2_model_dir, manifest["files"], log=lambda m: None)
    assert set(errors) == {"image_encoder", "mask_decoder", "memory_encoder", "memory_attention"}
    for role, error in errors.items():
        assert error < 1e-4, (role, error)


def test_manifest(sam2_model_dir):
    manifest = runtime.load_manifest(sam2_model_dir, "sam2")
    assert manifest["kind"] == "sam2"
    assert manifest["model"] == "sam2.1_hiera_t"
    assert manifest["config"] == "configs/sam2.1/sam2.1_hiera_t.yaml"
    assert manifest["input_size"] == 1024
    assert manifest["image_mean"] == [0.485, 0.456, 0.406] and manifest["image_std"] == [0.229, 0.224, 0.225]
    assert manifest["random_weights"] is True and manifest["checkpoint_sha256"] is None
    assert set(manifest["files"]) == {"image_encoder", "mask_decoder", "memory_encoder", "memory_attention", "constants"}
    assert all((sam2_model_dir / name).is_file() for name in manifest["files"].values())
    settings = manifest["settings"]
    assert settings["num_maskmem"] == 7 and settings["max_obj_ptrs_in_encoder"] == 16
    assert settings["multimask_min_pt_num"] == 0 and settings["multimask_max_pt_num"] == 1
    assert settings["dynamic_multimask_via_stability"] is True
    assert settings["binarize_mask_from_pts_for_mem_enc"] is True
    assert manifest["versions"]["torch"] and manifest["versions"]["sam2"] == "1.1.0"
    assert set(manifest["parity"]) == {"image_encoder", "mask_decoder", "memory_encoder", "memory_attention"}
    assert max(manifest["parity"].values()) < 1e-4
    # the memory-attention file holds its tables once (non-persistent buffers would make it ~10x larger)
    assert (sam2_model_dir / "memory_attention.onnx").stat().st_size < 40e6


def _cross_attention_value_weights(model):
    return [layer.cross_attn_image.v_proj.weight.detach().numpy() for layer in model.memory_attention.layers]


def _holds_any(path, weights) -> bool:
    """Whether the ONNX file stores any of ``weights`` (or its transpose)."""
    import onnx
    from onnx import numpy_helper

    for initializer in onnx.load(str(path)).graph.initializer:
        array = numpy_helper.to_array(initializer)
        for weight in weights:
            for candidate in (weight, weight.T):
                if array.shape == candidate.shape and np.allclose(array, candidate, atol=0, rtol=0):
                    return True
    return False


def test_memory_attention_is_folded(tmp_path, sam2_model_dir):
    """The default export attends the 64-dim memories: the cross-attention
    value projections are folded into the output projections (not stored),
    while the plain variant (older folders, --memory-attention plain) keeps
    them; both match SAM2's own memory attention within 1e-4."""
    import sam2_graphs
    import sam2_parity
    from sam2_reference import reference_model

    model = reference_model()
    manifest = runtime.load_manifest(sam2_model_dir, "sam2")
    assert manifest["memory_attention_variant"] == "folded"
    values = _cross_attention_value_weights(model)
    assert not _holds_any(sam2_model_dir / "memory_attention.onnx", values)

    plain_dir = tmp_path / "plain"
    plain_dir.mkdir()
    for role, name in manifest["files"].items():
        if role != "memory_attention":
            (plain_dir / name).symlink_to(sam2_model_dir / name)
    sam2_graphs.export_graph(model, "memory_attention", plain_dir / "memory_attention.onnx", fused=True,
                             memory_attention_variant="plain")
    assert _holds_any(plain_dir / "memory_attention.onnx", values)
    errors = sam2_parity.check_graphs(model, plain_dir, manifest["files"], log=lambda m: None)
    assert errors["memory_attention"] < 1e-4, errors


def test_checkpoint_through_the_cli(tmp_path, sam2_model_dir):
    """A state dict in the official layout {"model": ...} exported by the CLI in a subprocess."""
    import torch

    import sam2_model
    from export_common import sha256_of

    _, config_path = sam2_model.resolve_config("sam2.1_hiera_t")
    model = sam2_model.build_model(config_path, seed=7)
    checkpoint = tmp_path / "sam2.1_hiera_tiny.pt"
    torch.save({"model": model.state_dict()}, checkpoint)
    output = tmp_path / "exported"
    completed = subprocess.run(
        [sys.executable, str(EXPORTER), "--config", "sam2.1_hiera_tiny", "--checkpoint", str(checkpoint), "--output", str(output)],
        capture_output=True, text=True, timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    manifest = runtime.load_manifest(output, "sam2")
    assert manifest["checkpoint_sha256"] == sha256_of(checkpoint)
    assert manifest["checkpoint"] == checkpoint.name and manifest["random_weights"] is False
    assert max(manifest["parity"].values()) < 1e-4
    assert "--checkpoint" in manifest["command"]

    # the exported weights are the checkpoint's, not the random ones of the fixture
    import onnxruntime as ort
    from sam2_parity import normalise, synthetic_image

    image = normalise(synthetic_image(1024, seed=2))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    ours = ort.InferenceSession(str(output / "image_encoder.onnx"), options, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model.forward_image(image)["backbone_fpn"][2].numpy()
    got = ours.run(None, {"image": image.numpy()})[0]
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    fixture = ort.InferenceSession(str(sam2_model_dir / "image_encoder.onnx"), options, providers=["CPUExecutionProvider"])
    assert np.abs(fixture.run(None, {"image": image.numpy()})[0] - expected).max() > 1e-2

    # an existing non-empty folder is not replaced without --force
    again = subprocess.run(
        [sys.executable, str(EXPORTER), "--config", "sam2.1_hiera_t", "--checkpoint", str(checkpoint), "--output", str(output)],
        capture_output=True, text=True, timeout=300,
    )
    assert again.returncode == 2 and "--force" in again.stderr


def test_bad_checkpoints(tmp_path):
    import torch

    import export_sam2

    wrong_layout = tmp_path / "wrong.pt"
    torch.save({"state_dict": {}}, wrong_layout)
    with pytest.raises(export_sam2.ExportError, match="official SAM2 layout"):
        export_sam2.export("sam2.1_hiera_t", tmp_path / "a", checkpoint=wrong_layout, log=lambda m: None)
    other_config = tmp_path / "other.pt"
    torch.save({"model": {"image_encoder.trunk.pos_embed": torch.zeros(1)}}, other_config)
    with pytest.raises(export_sam2.ExportError, match="does not match this config"):
        export_sam2.export("sam2.1_hiera_t", tmp_path / "b", checkpoint=other_config, log=lambda m: None)
    with pytest.raises(export_sam2.ExportError, match="does not exist"):
        export_sam2.export("sam2.1_hiera_t", tmp_path / "c", checkpoint=tmp_path / "missing.pt", log=lambda m: None)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir()), "no staging folder left behind"


def test_cli_errors(tmp_path):
    bad = subprocess.run(
        [sys.executable, str(EXPORTER), "--config", "sam3_hiera_xl", "--random-weights", "--output", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=300,
    )
    assert bad.returncode == 2 and "Unknown SAM2 config" in bad.stderr and "sam2.1_hiera_t" in bad.stderr
    neither = subprocess.run([sys.executable, str(EXPORTER), "--config", "sam2.1_hiera_t"], capture_output=True, text=True, timeout=300)
    assert neither.returncode != 0 and "--checkpoint" in neither.stderr
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("keep me")
    refused = subprocess.run(
        [sys.executable, str(EXPORTER), "--config", "sam2.1_hiera_t", "--random-weights", "--output", str(occupied)],
        capture_output=True, text=True, timeout=300,
    )
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert (occupied / "notes.txt").read_text() == "keep me"


def test_config_names():
    import sam2_model

    assert sam2_model.resolve_config("sam2.1_hiera_b+") == ("sam2.1_hiera_b+", "configs/sam2.1/sam2.1_hiera_b+.yaml")
    assert sam2_model.resolve_config("sam2.1_hiera_base_plus")[0] == "sam2.1_hiera_b+"
    assert sam2_model.resolve_config("sam2_hiera_large")[0] == "sam2_hiera_l"
    assert sam2_model.resolve_config("configs/sam2/sam2_hiera_s.yaml")[0] == "sam2_hiera_s"
    with pytest.raises(sam2_model.ConfigError):
        sam2_model.resolve_config("sam2.1_hiera_huge")


def test_interrupted_export_leaves_no_model_folder(tmp_path, monkeypatch):
    import export_sam2
    import sam2_graphs

    calls = []

    def failing(model, role, path, **kwargs):
        calls.append(role)
        path.write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(sam2_graphs, "export_graph", failing)
    output = tmp_path / "model"
    with pytest.raises(KeyboardInterrupt):
        export_sam2.export("sam2.1_hiera_t", output, random_weights=True, log=lambda m: None)
    assert calls and not output.exists()
    assert list(tmp_path.iterdir()) == []
