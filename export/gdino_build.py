"""Build GroundingDINO (package ``groundingdino-py``) without touching the hub.

* :data:`CONFIGS` names the architectures: the package's own ``SwinT`` /
  ``SwinB`` configs and ``tiny``, a reduced model (small Swin, two encoder and
  decoder layers, a two-layer BERT) built through the same code path, used by
  the tests and CI.
* The package fetches ``bert-base-uncased`` (tokenizer and language model)
  from the Hugging Face hub while it builds the model. :func:`build_model`
  swaps its two getters for local ones: a BERT configuration (the
  ``bert-base-uncased`` shape by default, or a ``config.json`` given by the
  user) and a local ``vocab.txt``. The BERT weights come from the
  GroundingDINO checkpoint, so nothing else is needed.
* :func:`gdino_vocab.write_random_vocab` (re-exported here) writes a small
  WordPiece vocabulary that keeps every id the model hard-codes where
  ``bert-base-uncased`` has it, so a random-weights model is the real
  architecture with a usable tokenizer.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
from typing import Any, Iterator

# Belt and braces: whatever happens below, never reach for the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

from gdino_vocab import SPECIAL_IDS, check_vocab, write_random_vocab  # noqa: E402,F401

#: The architectures this exporter knows. ``file`` is the package's config.
CONFIGS: dict[str, dict[str, Any]] = {
    "SwinT": {"file": "GroundingDINO_SwinT_OGC.py", "checkpoint": "groundingdino_swint_ogc.pth"},
    "SwinB": {"file": "GroundingDINO_SwinB_cfg.py", "checkpoint": "groundingdino_swinb_cogcoor.pth"},
    # Reduced model for tests / CI: same modules and code path, fewer and
    # smaller layers. hidden_dim stays 256 (the text position embedding is
    # hard-wired to 256 features).
    "tiny": {
        "file": "GroundingDINO_SwinT_OGC.py",
        "overrides": {"enc_layers": 2, "dec_layers": 2, "dim_feedforward": 256},
        "swin": {"embed_dim": 32, "depths": [2, 2, 2, 2], "num_heads": [1, 2, 4, 8], "window_size": 7},
        "bert": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128},
    },
}

# Layers that only matter in training: activation checkpointing.
_EXPORT_OVERRIDES = {"use_checkpoint": False, "use_transformer_ckpt": False}


def config_names() -> list[str]:
    return list(CONFIGS)


def bert_config(config_name: str, vocab_size: int | None = None, config_json: str | os.PathLike | None = None):
    """The BERT configuration: ``config_json`` if given, else ``bert-base-uncased``'s
    shape (transformers' ``BertConfig()`` defaults), shrunk for ``tiny``."""
    from transformers import BertConfig

    if config_json is not None:
        config = BertConfig.from_json_file(str(config_json))
    else:
        config = BertConfig(**CONFIGS[config_name].get("bert", {}))
        if vocab_size is not None and "bert" in CONFIGS[config_name]:
            config.vocab_size = vocab_size
    config._attn_implementation = "eager"
    return config


def model_args(config_name: str):
    """The package's SLConfig for ``config_name`` with export overrides applied."""
    import groundingdino
    from groundingdino.util.slconfig import SLConfig

    if config_name not in CONFIGS:
        raise ValueError(f"unknown config {config_name!r}; choose one of {', '.join(CONFIGS)}")
    entry = CONFIGS[config_name]
    path = pathlib.Path(groundingdino.__file__).parent / "config" / entry["file"]
    args = SLConfig.fromfile(str(path))
    for key, value in {**entry.get("overrides", {}), **_EXPORT_OVERRIDES}.items():
        setattr(args, key, value)
    args.device = "cpu"
    return args


@contextlib.contextmanager
def _local_text_encoder(vocab_path: pathlib.Path, config) -> Iterator[None]:
    """Make the package's tokenizer / language-model getters local."""
    from groundingdino.models.GroundingDINO import groundingdino as gd_module
    from groundingdino.util import get_tokenlizer
    from transformers import BertModel, BertTokenizer

    def tokenizer_getter(_name):
        return BertTokenizer(vocab_file=str(vocab_path), do_lower_case=True)

    def model_getter(_name):
        return BertModel(config, add_pooling_layer=True)

    saved = (get_tokenlizer.get_tokenlizer, get_tokenlizer.get_pretrained_language_model)
    get_tokenlizer.get_tokenlizer = tokenizer_getter
    get_tokenlizer.get_pretrained_language_model = model_getter
    assert gd_module.get_tokenlizer is get_tokenlizer
    try:
        yield
    finally:
        get_tokenlizer.get_tokenlizer, get_tokenlizer.get_pretrained_language_model = saved


@contextlib.contextmanager
def _small_swin(swin: dict[str, Any] | None) -> Iterator[None]:
    """For reduced configs: build the package's SwinTransformer with smaller dims."""
    if not swin:
        yield
        return
    from groundingdino.models.GroundingDINO.backbone import backbone as backbone_module
    from groundingdino.models.GroundingDINO.backbone.swin_transformer import SwinTransformer

    def build(_name, pretrain_img_size, **kw):
        return SwinTransformer(pretrain_img_size=pretrain_img_size, **{**swin, **kw})

    saved = backbone_module.build_swin_transformer
    backbone_module.build_swin_transformer = build
    try:
        yield
    finally:
        backbone_module.build_swin_transformer = saved


def build_model(
    config_name: str,
    vocab_path: str | os.PathLike,
    bert_config_json: str | os.PathLike | None = None,
    seed: int | None = 0,
) -> torch.nn.Module:
    """The GroundingDINO model in eval mode (random weights; load a checkpoint
    with :func:`load_checkpoint`)."""
    from groundingdino.models import build_model as package_build_model

    vocab_path = pathlib.Path(vocab_path)
    tokens = check_vocab(vocab_path)
    config = bert_config(config_name, len(tokens), bert_config_json)
    if len(tokens) > config.vocab_size:
        raise ValueError(f"{vocab_path} has {len(tokens)} tokens but the BERT config only {config.vocab_size}")
    if seed is not None:
        torch.manual_seed(seed)
    args = model_args(config_name)
    with _local_text_encoder(vocab_path, config), _small_swin(CONFIGS[config_name].get("swin")):
        model = package_build_model(args)
    model.eval()
    return model


#: Keys found in the official checkpoints that this model does not use.
IGNORED_CHECKPOINT_KEYS = {"label_enc.weight", "bert.embeddings.position_ids"}


def load_checkpoint(model: torch.nn.Module, path: str | os.PathLike) -> dict[str, list[str]]:
    """Load an official ``.pth`` (``{"model": state_dict}``) with
    ``torch.load(weights_only=True)``; every model parameter must be present."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; see docs/groundingdino.md for the download")
    try:
        # argparse.Namespace is plain data; some training checkpoints store one.
        with torch.serialization.safe_globals([argparse.Namespace]):
            checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(
            f"cannot load {path} with torch.load(weights_only=True): {error}. "
            "Only plain tensor checkpoints (the official groundingdino_*.pth) are accepted"
        ) from error
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds no state dict (expected a 'model' entry)")
    state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shape mismatches
        raise ValueError(
            f"{path} does not fit the {type(model).__name__} built here: {str(error)[:400]} ... "
            "Is --config right (SwinT for groundingdino_swint_ogc.pth, SwinB for groundingdino_swinb_cogcoor.pth)?"
        ) from None
    missing = sorted(result.missing_keys)
    unexpected = sorted(k for k in result.unexpected_keys if k not in IGNORED_CHECKPOINT_KEYS)
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ValueError(
            f"{path} does not fit this architecture: {len(missing)} parameters missing ({shown}). "
            "Is --config right (SwinT for groundingdino_swint_ogc.pth, SwinB for groundingdino_swinb_cogcoor.pth)?"
        )
    if unexpected:
        shown = ", ".join(unexpected[:5]) + (" ..." if len(unexpected) > 5 else "")
        raise ValueError(f"{path} has {len(unexpected)} parameters this architecture lacks ({shown}); wrong --config?")
    return {"missing": missing, "unexpected": sorted(result.unexpected_keys)}
