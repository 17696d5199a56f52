"""Prompt tokenisation for GroundingDINO, without torch or transformers.

Phrases (``["person", "red car"]``, see :func:`SegmentationCore.core.prompts.parse_text_prompt`)
become the caption ``"person . red car ."`` that the upstream demos feed the
model. The ``tokenizers`` package's WordPiece on the model folder's
``vocab.txt`` gives the same ids as the upstream BERT tokenizer (lower case,
accents stripped, CJK characters split) plus character offsets, from which

* each phrase's token span (``phrase_spans``),
* the block-diagonal text self-attention mask: tokens attend only within
  their phrase; a block runs from the token after one separator up to and
  including the next separator (``[CLS]``, ``.``, ``?``); ``[CLS]`` and
  ``[SEP]`` attend to themselves,
* position ids restarting at 0 in every block,
* token type ids (all 0) and the padding mask (all 1)

are derived exactly as GroundingDINO's ``generate_masks_with_special_tokens``
does in PyTorch.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import threading
from typing import Sequence

import numpy as np

from ...core.errors import ModelFolderError, PromptError

#: bert-base-uncased ids GroundingDINO treats as phrase separators.
DEFAULT_SPECIAL_IDS = {"[CLS]": 101, "[SEP]": 102, ".": 1012, "?": 1029}
MAX_TEXT_LEN = 256


@dataclasses.dataclass(frozen=True)
class TokenizedPrompt:
    """The text inputs of the GroundingDINO graph for one prompt (batch of 1)."""

    phrases: tuple[str, ...]
    caption: str
    tokens: tuple[str, ...]
    input_ids: np.ndarray  # (1, T) int64
    attention_mask: np.ndarray  # (1, T) int64, all ones
    position_ids: np.ndarray  # (1, T) int64
    text_self_attention_mask: np.ndarray  # (1, T, T) bool
    token_type_ids: np.ndarray  # (1, T) int64
    offsets: tuple[tuple[int, int], ...]  # character span of each token in ``caption``
    phrase_spans: tuple[tuple[int, int], ...]  # [start, end) token indices of each phrase

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[1])

    def feed(self, batch: int = 1) -> dict[str, np.ndarray]:
        """The graph's text inputs, repeated for ``batch`` images."""
        arrays = {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "position_ids": self.position_ids,
            "text_self_attention_mask": self.text_self_attention_mask,
            "token_type_ids": self.token_type_ids,
        }
        if batch == 1:
            return dict(arrays)
        return {name: np.repeat(array, batch, axis=0) for name, array in arrays.items()}


def caption_for(phrases: Sequence[str]) -> str:
    """``["person", "red car"]`` -> ``"person . red car ."``."""
    return " . ".join(phrases) + " ."


def separator_blocks(input_ids: np.ndarray, separator_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Block-diagonal self-attention mask ``(T, T)`` bool and position ids ``(T,)``
    for one token sequence, following GroundingDINO's rule (see module doc)."""
    ids = np.asarray(input_ids).reshape(-1)
    count = len(ids)
    mask = np.eye(count, dtype=bool)
    positions = np.zeros(count, dtype=np.int64)
    previous = 0
    for column in np.flatnonzero(np.isin(ids, list(separator_ids))):
        if column == 0 or column == count - 1:
            mask[column, column] = True
            positions[column] = 0
        else:
            mask[previous + 1 : column + 1, previous + 1 : column + 1] = True
            positions[previous + 1 : column + 1] = np.arange(column - previous)
        previous = column
    return mask, positions


class PromptTokenizer:
    """WordPiece tokenizer on a model folder's ``vocab.txt``; caches per prompt."""

    def __init__(
        self,
        vocab_path: str | os.PathLike,
        special_ids: dict[str, int] | None = None,
        max_length: int = MAX_TEXT_LEN,
        lowercase: bool = True,
    ):
        try:
            from tokenizers import BertWordPieceTokenizer
            from tokenizers.models import WordPiece
        except ImportError as error:  # pragma: no cover - depends on installation
            raise ModelFolderError("the 'tokenizers' package is missing: pip install tokenizers") from error
        self.vocab_path = pathlib.Path(vocab_path)
        if not self.vocab_path.is_file():
            raise ModelFolderError(f"GroundingDINO vocabulary {self.vocab_path} is missing; re-run the export")
        self.special_ids = dict(special_ids or DEFAULT_SPECIAL_IDS)
        self.max_length = int(max_length)
        try:
            vocabulary = WordPiece.read_file(str(self.vocab_path))
        except Exception as error:
            raise ModelFolderError(f"cannot read GroundingDINO vocabulary {self.vocab_path}: {error}") from error
        self._tokenizer = BertWordPieceTokenizer(vocabulary, lowercase=lowercase)
        for token, expected in self.special_ids.items():
            actual = self._tokenizer.token_to_id(token)
            if actual != expected:
                raise ModelFolderError(
                    f"{self.vocab_path}: token {token!r} has id {actual}, the model expects {expected}; "
                    "the vocabulary does not belong to this model, re-run the export"
                )
        self._separators = sorted(self.special_ids.values())
        self._cache: dict[tuple[str, ...], TokenizedPrompt] = {}
        self._lock = threading.Lock()

    def encode(self, phrases: Sequence[str]) -> TokenizedPrompt:
        """Tokenise phrases (already split; see ``parse_text_prompt``). Cached."""
        key = tuple(str(p) for p in phrases)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        result = self._encode(key)
        with self._lock:
            self._cache[key] = result
        return result

    def _encode(self, phrases: tuple[str, ...]) -> TokenizedPrompt:
        if not phrases:
            raise PromptError("GroundingDINO needs at least one phrase to look for, e.g. \"person\"")
        cleaned = []
        for phrase in phrases:
            text = " ".join(phrase.split())
            if not text:
                raise PromptError(f"The phrase {phrase!r} is empty; give words such as \"person\"")
            for separator in (".", "?"):
                if separator in text:
                    raise PromptError(
                        f"The phrase {phrase!r} contains {separator!r}, which GroundingDINO reads as a phrase "
                        "separator; remove it, and separate phrases with commas"
                    )
            cleaned.append(text)
        caption = caption_for(cleaned)
        encoding = self._tokenizer.encode(caption)
        ids = np.asarray(encoding.ids, dtype=np.int64)
        if len(ids) > self.max_length:
            raise PromptError(
                f"The prompt {caption!r} is {len(ids)} tokens long; GroundingDINO reads at most "
                f"{self.max_length}. Use fewer or shorter phrases"
            )
        offsets = tuple((int(a), int(b)) for a, b in encoding.offsets)
        spans = self._phrase_spans(cleaned, ids, offsets)
        mask, positions = separator_blocks(ids, self._separators)
        return TokenizedPrompt(
            phrases=tuple(cleaned),
            caption=caption,
            tokens=tuple(encoding.tokens),
            input_ids=ids[None],
            attention_mask=np.ones((1, len(ids)), np.int64),
            position_ids=positions[None],
            text_self_attention_mask=mask[None],
            token_type_ids=np.zeros((1, len(ids)), np.int64),
            offsets=offsets,
            phrase_spans=spans,
        )

    def _phrase_spans(self, phrases: list[str], ids: np.ndarray, offsets) -> tuple[tuple[int, int], ...]:
        """Token index range of every phrase: the non-separator tokens whose
        characters lie inside the phrase in the caption."""
        spans = []
        start_char = 0
        special = np.isin(ids, self._separators)
        for phrase in phrases:
            end_char = start_char + len(phrase)
            inside = [
                i for i, (a, b) in enumerate(offsets)
                if not special[i] and b > a and a >= start_char and b <= end_char
            ]
            if not inside:
                raise PromptError(
                    f"The phrase {phrase!r} gives no tokens the model knows; use letters or digits"
                )
            spans.append((inside[0], inside[-1] + 1))
            start_char = end_char + len(" . ")
        return tuple(spans)
