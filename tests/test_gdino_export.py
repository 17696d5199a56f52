"""GroundingDINO export: ONNX vs PyTorch parity (random weights, reduced
``tiny`` config), the model folder and manifest, checkpoints, the command line
and its error cases.

The full Swin-T export is measured by benchmarks/bench_groundingdino.py, not
here (about 1 min and 2-3 GB per size); ``tiny`` runs the same code path.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

pytestmark = [pytest.mark.export, pytest.mark.filterwarnings("ignore::FutureWarning")]
torch = pytest.importorskip("torch")
pytest.importorskip("groundingdino")
ort = pytest.importorskip("onnxruntime")

import export_groundingdino  # noqa: E402
import gdino_build  # noqa: E402
import gdino_parity  # noqa: E402
import gdino_wrapper  # noqa: E402
from SegmentationCore.models import runtime  # noqa: E402
from SegmentationCore.plates.arrays import ArrayFrameSource  # noqa: E402
from SegmentationCore.models.groundingdino import PromptTokenizer, detections_from_outputs, load_detector  # noqa: E402
from SegmentationCore.models.groundingdino.geometry import Letterbox  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
SMALL = "320x320"  # quickest graph for the export-behaviour tests


@pytest.fixture(scope="module")
def tiny_model(gdino_model_dir):
    """The PyTorch model the fixture folder was exported from (same seed)."""
    return gdino_build.build_model("tiny", gdino_model_dir / "vocab.txt", seed=0)


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def quiet(_message):
    pass


# -- the fixture's model folder ------------------------------------------


def test_manifest_describes_the_folder(gdino_model_dir):
    manifest = runtime.load_manifest(gdino_model_dir, "groundingdino")
    assert manifest["model"]["config"] == "tiny" and manifest["model"]["random_weights"] is True
    assert {(s["width"], s["height"]) for s in manifest["sizes"]} == {(512, 288), (288, 512), (320, 320)}
    for entry in manifest["sizes"]:
        assert (gdino_model_dir / entry["file"]).stat().st_size == entry["bytes"]
        parity = entry["parity"]
        assert 0 <= parity["logits"] < 1e-2 and 0 <= parity["boxes"] < 1e-3 and parity["queries"] == 900
    assert manifest["thresholds"] == {"box": 0.35, "text": 0.25}
    assert manifest["text"]["max_text_len"] == 256 and manifest["files"]["vocab"] == "vocab.txt"
    assert manifest["normalisation"]["mean"] == [0.485, 0.456, 0.406]
    assert manifest["opset"] == 16 and manifest["batch"] == "dynamic"
    assert {"torch", "groundingdino-py", "onnxruntime"} <= set(manifest["versions"])
    assert not list(gdino_model_dir.parent.glob(f".{gdino_model_dir.name}.partial-*"))


def test_graphs_share_one_weights_file(gdino_model_dir):
    """Weights are stored once for all sizes; each graph holds only its own constants."""
    import onnx

    manifest = runtime.load_manifest(gdino_model_dir, "groundingdino")
    weights = gdino_model_dir / manifest["files"]["weights"]
    assert weights.stat().st_size == manifest["weights_bytes"]
    parameters = manifest["model"]["parameters"] * 4
    assert 0.9 * parameters < weights.stat().st_size < 1.1 * parameters
    for entry in manifest["sizes"]:
        graph = onnx.load(str(gdino_model_dir / entry["file"]), load_external_data=False)
        external = [t for t in graph.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
        assert external and {d.value for t in external for d in t.external_data if d.key == "location"} == {weights.name}
        assert entry["bytes"] < 0.1 * weights.stat().st_size


@pytest.mark.parametrize("size", ["512x288", "288x512"])
def test_onnx_matches_pytorch_on_new_captions_and_image(gdino_model_dir, tiny_model, size):
    """Pre-top-k scores directly; logits/boxes slot by slot with the same top-900 selection."""
    width, height = (int(v) for v in size.split("x"))
    session = _session(gdino_model_dir / f"groundingdino_{size}.onnx")
    image = gdino_parity.synthetic_image(height, width, seed=7)
    captions = ["dog .", "Person . RED car . traffic light . dog . the big white building ."]
    result = gdino_parity.compare(tiny_model, session, height, width, captions=captions, image=image)
    assert result.proposal_scores < 1e-3
    assert result.logits < 1e-3
    assert result.boxes < 1e-4
    assert result.queries == 900
    # near-ties may swap a few of the 900 selected positions, but not many
    assert result.selection_differences <= 20


def test_batch_of_two_images_matches_pytorch(gdino_model_dir, tiny_model):
    session = _session(gdino_model_dir / "groundingdino_512x288.onnx")
    images = [gdino_parity.normalise(gdino_parity.synthetic_image(288, 512, seed=s)) for s in (1, 2)]
    text = gdino_parity.text_inputs(tiny_model, "person . car .")
    feed = {"image": np.concatenate(images), **{k: np.repeat(v, 2, 0) for k, v in text.items()}}
    logits, boxes, scores, indices = session.run(None, feed)
    for index, pixels in enumerate(images):
        with torch.no_grad(), gdino_wrapper.topk_control(torch.from_numpy(indices[index : index + 1])) as recorder:
            reference = tiny_model(torch.from_numpy(pixels), captions=["person . car ."])
        np.testing.assert_allclose(scores[index], recorder.scores[0].numpy(), atol=1e-3)
        np.testing.assert_allclose(logits[index], reference["pred_logits"][0, :, : logits.shape[2]].numpy(), atol=1e-3)
        np.testing.assert_allclose(boxes[index], reference["pred_boxes"][0].numpy(), atol=1e-4)


def test_engine_text_inputs_equal_the_package_ones(gdino_model_dir, tiny_model):
    engine = PromptTokenizer(gdino_model_dir / "vocab.txt")
    for phrases in (["person"], ["person", "red car", "traffic light"]):
        prompt = engine.encode(phrases)
        expected = gdino_parity.text_inputs(tiny_model, prompt.caption)
        for name, array in prompt.feed().items():
            np.testing.assert_array_equal(array, expected[name], err_msg=name)
            assert array.dtype == expected[name].dtype


def test_detector_end_to_end_matches_pytorch(gdino_model_dir, tiny_model):
    """Engine detector (tokeniser, preprocessing, ONNX, post-processing) vs
    the package's PyTorch forward through the same post-processing."""
    height, width = 288, 512
    image = gdino_parity.synthetic_image(height, width, seed=11)
    frames = ArrayFrameSource([image], first_frame=1)
    detector = load_detector(gdino_model_dir, providers="cpu", box_threshold=0.0, text_threshold=0.0, max_detections=1000)
    phrases = ["person", "red car"]
    detected = detector.detect(frames, 1, phrases)

    prompt = detector.tokenizer.encode(phrases)
    graph = detector.graph_for(frames.size)
    pixels = gdino_parity.normalise(image)
    indices = detector.session(graph).run(["proposal_indices"], {"image": pixels, **prompt.feed()})[0]
    with torch.no_grad(), gdino_wrapper.topk_control(torch.from_numpy(indices)):
        reference = tiny_model(torch.from_numpy(pixels), captions=[prompt.caption])
    expected = detections_from_outputs(
        reference["pred_logits"][0, :, : prompt.length].numpy(), reference["pred_boxes"][0].numpy(),
        prompt.phrases, prompt.phrase_spans, Letterbox.fit(frames.size, graph).to_frame, frames.size,
        detector.thresholds,
    )
    # no cap and no threshold: every query, so near-equal scores can only reorder
    assert len(detected) == len(expected) > 800
    order_d = np.lexsort((*detected.boxes.T[::-1], [phrases.index(l) for l in detected.labels]))
    order_e = np.lexsort((*expected.boxes.T[::-1], [phrases.index(l) for l in expected.labels]))
    assert [detected.labels[i] for i in order_d] == [expected.labels[i] for i in order_e]
    np.testing.assert_allclose(detected.boxes[order_d], expected.boxes[order_e], atol=0.05)
    np.testing.assert_allclose(detected.scores[order_d], expected.scores[order_e], atol=1e-4)


# -- exporting -------------------------------------------------------------


def test_building_the_model_never_touches_the_network(tmp_path, monkeypatch):
    """The package fetches bert-base-uncased from the hub unless its getters
    are replaced; any connection attempt fails this test."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    vocab = gdino_build.write_random_vocab(tmp_path / "vocab.txt")
    model = gdino_build.build_model("tiny", vocab)
    assert model.tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]", ".", "?"]) == [101, 102, 1012, 1029]
    assert model.specical_tokens == [101, 102, 1012, 1029]


def test_cli_config_names_match_the_builder():
    assert set(export_groundingdino.CONFIG_NAMES) == set(gdino_build.CONFIGS)


def test_export_refuses_to_clobber_and_replaces_with_force_from_a_checkpoint(tmp_path, gdino_model_dir):
    """A checkpoint in the official layout ("model", "module." prefixes, the
    extra keys the official files carry) loads with weights_only and gives a
    different graph from the seed-0 model; --force replaces a folder."""
    vocab = gdino_model_dir / "vocab.txt"
    other = gdino_build.build_model("tiny", vocab, seed=1)
    state = {f"module.{k}": v for k, v in other.state_dict().items()}
    state["module.label_enc.weight"] = torch.zeros(3, 4)
    checkpoint = tmp_path / "tiny.pth"
    torch.save({"model": state}, checkpoint)

    output = tmp_path / "model"
    output.mkdir()
    (output / "keep.txt").write_text("old")
    with pytest.raises(FileExistsError, match="--force"):
        export_groundingdino.export(output, config="tiny", checkpoint=checkpoint, vocab=vocab, sizes=SMALL, log=quiet)
    assert (output / "keep.txt").read_text() == "old"

    manifest = export_groundingdino.export(
        output, config="tiny", checkpoint=checkpoint, vocab=vocab, sizes=SMALL, force=True, log=quiet
    )
    assert not (output / "keep.txt").exists()
    assert manifest["model"]["random_weights"] is False
    assert manifest["model"]["checkpoint"] == "tiny.pth"
    assert manifest["model"]["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert json.loads((output / "manifest.json").read_text())["model"] == manifest["model"]
    assert (output / "vocab.txt").read_bytes() == vocab.read_bytes()
    assert not list(tmp_path.glob(".model.*"))

    feed = {"image": gdino_parity.normalise(gdino_parity.synthetic_image(320, 320)),
            **PromptTokenizer(vocab).encode(["person"]).feed()}
    loaded = _session(output / "groundingdino_320x320.onnx").run(["proposal_scores"], feed)[0]
    seed0 = _session(gdino_model_dir / "groundingdino_320x320.onnx").run(["proposal_scores"], feed)[0]
    assert np.abs(loaded - seed0).max() > 1e-2  # the checkpoint's weights are in the graph


def test_bad_checkpoints_are_refused(tmp_path, tiny_model):
    state = {k: v for k, v in tiny_model.state_dict().items() if not k.startswith("transformer.decoder.layers.1.")}
    partial = tmp_path / "partial.pth"
    torch.save({"model": state}, partial)
    with pytest.raises(ValueError, match="parameters missing.*--config"):
        gdino_build.load_checkpoint(tiny_model, partial)

    mismatched = tmp_path / "mismatched.pth"
    full = dict(tiny_model.state_dict())
    full["feat_map.weight"] = torch.zeros(3, 3)
    torch.save({"model": full}, mismatched)
    with pytest.raises(ValueError, match="does not fit"):
        gdino_build.load_checkpoint(tiny_model, mismatched)

    pickled = tmp_path / "pickled.pth"
    torch.save({"model": {}, "extra": ExoticObject()}, pickled)
    with pytest.raises(ValueError, match="weights_only"):
        gdino_build.load_checkpoint(tiny_model, pickled)


class ExoticObject:
    """Something torch.load(weights_only=True) must refuse to unpickle."""


def test_failed_parity_leaves_no_folder(tmp_path, monkeypatch):
    def fail(result, tolerance=None):
        raise RuntimeError("ONNX Runtime does not match PyTorch: simulated")

    monkeypatch.setattr(gdino_parity, "check", fail)
    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError, match="simulated"):
        export_groundingdino.export(fresh, config="tiny", random_weights=True, sizes=SMALL, log=quiet)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # neither the folder nor a partial one


def test_crash_during_force_export_keeps_the_old_folder(tmp_path, monkeypatch):
    def crash(model, width, height, path, opset=16):
        pathlib.Path(path).write_bytes(b"half a graph")
        raise KeyboardInterrupt

    monkeypatch.setattr(export_groundingdino, "export_graph", crash)
    old = tmp_path / "old"
    old.mkdir()
    (old / "manifest.json").write_text("{}")
    with pytest.raises(KeyboardInterrupt):
        export_groundingdino.export(old, config="tiny", random_weights=True, sizes=SMALL, force=True, log=quiet)
    assert (old / "manifest.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"random_weights": True, "sizes": "300x300"}, ValueError, "multiples of 32"),
    ({"random_weights": True, "sizes": "1024by576"}, ValueError, "WIDTHxHEIGHT"),
    ({"random_weights": True, "sizes": "320x320,320x320"}, ValueError, "repeat"),
    ({"random_weights": True, "config": "SwinL"}, ValueError, "SwinT, SwinB, tiny"),
    ({}, ValueError, "either --checkpoint"),
    ({"random_weights": True, "checkpoint": "x.pth"}, ValueError, "not both"),
    ({"checkpoint": "x.pth"}, ValueError, "--vocab is required"),
    ({"checkpoint": "absent.pth", "vocab": "vocab.txt"}, FileNotFoundError, "absent.pth"),
])
def test_export_argument_errors(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        export_groundingdino.export(tmp_path / "out", log=quiet, **kwargs)
    assert not (tmp_path / "out").exists()


def test_vocabulary_with_another_layout_is_refused(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n")
    checkpoint = tmp_path / "x.pth"
    checkpoint.write_bytes(b"")
    with pytest.raises(ValueError, match="must have id 100"):
        export_groundingdino.export(tmp_path / "out", checkpoint=checkpoint, vocab=vocab, log=quiet)


def test_command_line(tmp_path):
    output = tmp_path / "cli-model"
    command = [sys.executable, str(ROOT / "export" / "export_groundingdino.py"), "--random-weights",
               "--config", "tiny", "--sizes", SMALL, "--output", str(output)]
    first = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "parity max|ONNX-PyTorch|" in first.stdout
    manifest = runtime.load_manifest(output, "groundingdino")
    assert manifest["command"].startswith("export_groundingdino.py --random-weights")
    assert load_detector(output).graph_for((100, 100)).label == SMALL

    again = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr and "--force" in again.stderr
    bad = subprocess.run(command[:-4] + ["--sizes", "100x100", "--output", str(tmp_path / "x")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "multiples of 32" in bad.stderr
