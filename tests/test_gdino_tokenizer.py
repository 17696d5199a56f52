"""GroundingDINO prompt tokenisation in the engine (no torch) against upstream.

The engine tokenises with the ``tokenizers`` package; GroundingDINO was
trained with transformers' BERT tokenizer and builds its text masks with its
own PyTorch code. These tests check ids, offsets, phrase spans, the
block-diagonal self-attention mask and position ids against both, on the
random-weights vocabulary and (when ``GDINO_BERT_VOCAB`` points at it) the
real ``bert-base-uncased/vocab.txt``.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from gdino_vocab import write_random_vocab
from SegmentationCore.core.errors import ModelFolderError, PromptError
from SegmentationCore.models.groundingdino import PromptTokenizer, caption_for
from SegmentationCore.models.groundingdino.tokenizer import separator_blocks
from SegmentationCore.core.prompts import parse_text_prompt

PROMPTS = [
    "person",
    "person, car",
    "Person . RED Car .",
    "traffic light, stop sign; bicycle",
    "man's hat, dog-walker (left)",
    "Café au lait, naïve résumé",
    "Straße, Ærø",
    "人, 车 狗",
    "  spaced    out  ,\ttabs and   words",
    "emoji 🙂 face",
    "x2 cars 3, 24/7 #1",
    "¿que? no",
]


def _vocabularies(tmp_path_factory) -> list[pathlib.Path]:
    vocabs = [write_random_vocab(tmp_path_factory.mktemp("vocab") / "vocab.txt")]
    real = os.environ.get("GDINO_BERT_VOCAB")
    if real and pathlib.Path(real).is_file():
        vocabs.append(pathlib.Path(real))
    return vocabs


@pytest.fixture(scope="module")
def vocabs(tmp_path_factory):
    return _vocabularies(tmp_path_factory)


@pytest.fixture(scope="module")
def vocab(vocabs):
    return vocabs[0]


def _phrases(prompt):
    return [p.replace("?", " ").strip() for p in parse_text_prompt(prompt) if p.replace("?", " ").strip()]


# -- against transformers' BERT tokenizers -------------------------------


@pytest.mark.export
def test_ids_and_offsets_match_upstream_bert_tokenizers(vocabs):
    transformers = pytest.importorskip("transformers")
    for vocab in vocabs:
        slow = transformers.BertTokenizer(vocab_file=str(vocab), do_lower_case=True)
        fast = transformers.BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
        engine = PromptTokenizer(vocab)
        for prompt in PROMPTS:
            encoded = engine.encode(_phrases(prompt))
            expected_ids = slow(encoded.caption)["input_ids"]
            assert encoded.input_ids[0].tolist() == expected_ids, (vocab, prompt)
            fast_encoding = fast(encoded.caption, return_offsets_mapping=True)
            assert fast_encoding["input_ids"] == expected_ids
            assert list(encoded.offsets) == [tuple(o) for o in fast_encoding["offset_mapping"]], prompt
            assert encoded.token_type_ids[0].tolist() == fast_encoding["token_type_ids"]
            assert encoded.attention_mask[0].tolist() == fast_encoding["attention_mask"]


@pytest.mark.export
def test_text_masks_and_phrase_spans_match_groundingdino(vocabs):
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    bertwarper = pytest.importorskip("groundingdino.models.GroundingDINO.bertwarper")
    for vocab in vocabs:
        upstream = transformers.BertTokenizer(vocab_file=str(vocab), do_lower_case=True)
        special = upstream.convert_tokens_to_ids(["[CLS]", "[SEP]", ".", "?"])
        engine = PromptTokenizer(vocab)
        for prompt in PROMPTS[:-1]:  # the last one has '?', which upstream treats as a separator
            encoded = engine.encode(_phrases(prompt))
            tokenized = upstream([encoded.caption], return_tensors="pt")
            mask, positions, phrase_masks = bertwarper.generate_masks_with_special_tokens_and_transfer_map(
                tokenized, special, upstream
            )
            np.testing.assert_array_equal(encoded.text_self_attention_mask, mask.numpy(), err_msg=prompt)
            np.testing.assert_array_equal(encoded.position_ids, positions.numpy(), err_msg=prompt)
            upstream_spans = []
            for row in phrase_masks[0].numpy():
                indices = np.flatnonzero(row)
                upstream_spans.append((int(indices[0]), int(indices[-1]) + 1))
            assert list(encoded.phrase_spans) == upstream_spans, prompt


# -- engine behaviour --------------------------------------------------------


def test_caption_is_the_upstream_demo_form():
    assert caption_for(["person", "red car"]) == "person . red car ."
    assert caption_for(parse_text_prompt("person . red car .")) == "person . red car ."


def test_multi_class_phrase_mapping(vocab):
    engine = PromptTokenizer(vocab)
    encoded = engine.encode(["person", "red car", "traffic lights", "dog"])
    words = [" ".join(encoded.tokens[a:b]).replace(" ##", "") for a, b in encoded.phrase_spans]
    assert words == ["person", "red car", "traffic lights", "dog"]
    # every phrase span is followed by its '.' separator; spans do not overlap
    for start, end in encoded.phrase_spans:
        assert encoded.tokens[end] == "."
    assert encoded.tokens[0] == "[CLS]" and encoded.tokens[-1] == "[SEP]"
    # tokens attend within their own phrase (and its '.') only
    mask = encoded.text_self_attention_mask[0]
    a, b = encoded.phrase_spans[1]
    assert mask[a:b + 1, a:b + 1].all()
    assert not mask[a, : a].any() and not mask[a, b + 1 :].any()
    # position ids restart at every phrase
    assert [int(encoded.position_ids[0, s]) for s, _ in encoded.phrase_spans] == [0, 0, 0, 0]


def test_word_pieces_stay_inside_their_phrase(vocab):
    encoded = PromptTokenizer(vocab).encode(["stuntman", "x"])
    first, second = encoded.phrase_spans
    assert encoded.tokens[first[0]:first[1]] == ("stunt", "##man")
    assert encoded.tokens[second[0]:second[1]] == ("x",)


def test_separator_blocks_by_hand():
    # [CLS] a b . c . [SEP]
    ids = [101, 5, 6, 1012, 7, 1012, 102]
    mask, positions = separator_blocks(ids, [101, 102, 1012, 1029])
    expected = np.eye(7, dtype=bool)
    expected[1:4, 1:4] = True
    expected[4:6, 4:6] = True
    np.testing.assert_array_equal(mask, expected)
    assert positions.tolist() == [0, 0, 1, 2, 0, 1, 0]


def test_tokenisation_is_cached_per_prompt(vocab):
    engine = PromptTokenizer(vocab)
    assert engine.encode(["person", "car"]) is engine.encode(("person", "car"))
    assert engine.encode(["car", "person"]) is not engine.encode(["person", "car"])


def test_feed_repeats_for_a_batch(vocab):
    encoded = PromptTokenizer(vocab).encode(["person"])
    feed = encoded.feed(3)
    assert feed["input_ids"].shape == (3, encoded.length)
    assert feed["text_self_attention_mask"].shape == (3, encoded.length, encoded.length)
    assert feed["text_self_attention_mask"].dtype == bool and feed["input_ids"].dtype == np.int64


@pytest.mark.parametrize("phrases, match", [
    ([], "at least one phrase"),
    (["  "], "empty"),
    (["what?"], "separator"),
    (["a.b"], "separator"),
])
def test_bad_phrases_are_refused(vocab, phrases, match):
    with pytest.raises(PromptError, match=match):
        PromptTokenizer(vocab).encode(phrases)


def test_phrase_with_no_known_token_is_refused(vocab):
    with pytest.raises(PromptError, match="no tokens"):
        PromptTokenizer(vocab).encode(["person", "\u200b"])


def test_too_long_prompt_is_refused(vocab):
    engine = PromptTokenizer(vocab)
    phrases = [f"person {i}" for i in range(100)]
    with pytest.raises(PromptError, match="at most 256"):
        engine.encode(phrases)
    assert engine.encode(phrases[:50]).length <= 256


def test_vocabulary_with_wrong_special_ids_is_refused(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", ".", "?", "person"]) + "\n")
    with pytest.raises(ModelFolderError, match="does not belong to this model"):
        PromptTokenizer(vocab)
    with pytest.raises(ModelFolderError, match="missing"):
        PromptTokenizer(tmp_path / "absent.txt")


def test_engine_package_imports_neither_torch_nor_transformers():
    code = (
        "import sys; import SegmentationCore.models.groundingdino as g; "
        "bad = [m for m in ('torch', 'transformers', 'groundingdino') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    root = pathlib.Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(root / "python")})
    assert result.returncode == 0, result.stdout + result.stderr
