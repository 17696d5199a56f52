"""WordPiece vocabularies for GroundingDINO (no torch needed).

GroundingDINO hard-codes ``bert-base-uncased`` token ids: the tokenizer's
special tokens and the phrase separators ``.`` (1012) and ``?`` (1029).
:func:`write_random_vocab` writes a small vocabulary with that layout so a
random-weights model has a working, realistic tokenizer; :func:`check_vocab`
refuses a vocabulary that puts those tokens elsewhere.
"""

from __future__ import annotations

import os
import pathlib
import string

#: ids that ``bert-base-uncased`` uses and GroundingDINO relies on.
SPECIAL_IDS = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103, ".": 1012, "?": 1029}

# Words for the random-weights vocabulary: enough that prompts tokenise into
# real words and word pieces rather than [UNK].
_WORDS = (
    "the a an and of in on with at by to for from is are person people man woman men women child boy girl "
    "car cars truck bus bicycle bike motorcycle train boat plane airplane traffic light lights sign stop red "
    "green blue yellow white black dark big small left right front back dog cat horse bird cow sheep tree "
    "trees building house sky road street water face hand hands hair head shirt hat chair table cup bottle "
    "phone window door wall floor grass cloud smoke fire actor stunt double crowd"
).split()
_PIECES = "##s ##es ##ed ##ing ##er ##ers ##ly ##y ##man ##men ##light ##lights ##cycle ##ball".split()
# A few characters outside ASCII that survive lower-casing and accent stripping.
_OTHER_CHARACTERS = list("ßæøðþ¿¡°·人车狗")


def write_random_vocab(path: str | os.PathLike) -> pathlib.Path:
    """Write a WordPiece ``vocab.txt`` with ``bert-base-uncased``'s special ids.

    ``[PAD]``=0, ``[UNK]``=100, ``[CLS]``=101, ``[SEP]``=102, ``[MASK]``=103;
    printable ASCII (without upper case) from id 999 in code-point order as in
    ``bert-base-uncased``, so ``.``=1012 and ``?``=1029; then ``##`` pieces for
    letters and digits, a few non-ASCII characters, common words and suffixes.
    """
    tokens: list[str] = ["[PAD]"] + [f"[unused{i}]" for i in range(99)]
    tokens += ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += [f"[unused{i}]" for i in range(99, 99 + 999 - len(tokens))]
    tokens += sorted((c for c in string.printable[:94] if not c.isupper()), key=ord)
    tokens += ["##" + c for c in string.ascii_lowercase + string.digits]
    tokens += _OTHER_CHARACTERS + ["##" + c for c in "ßæøðþ"]
    for word in _WORDS + _PIECES:
        if word not in tokens:
            tokens.append(word)
    for token, index in SPECIAL_IDS.items():
        if tokens[index] != token:  # pragma: no cover - guards the layout above
            raise AssertionError(f"random vocabulary puts {token!r} at {tokens.index(token)}, not {index}")
    path = pathlib.Path(path)
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return path


def check_vocab(path: str | os.PathLike) -> list[str]:
    """The tokens of ``vocab.txt``; refuses a vocabulary whose special ids are
    not where GroundingDINO expects them (``bert-base-uncased`` layout)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"vocabulary {path} does not exist; see docs/groundingdino.md for bert-base-uncased/vocab.txt"
        )
    tokens = path.read_text(encoding="utf-8").splitlines()
    for token, index in SPECIAL_IDS.items():
        if index >= len(tokens) or tokens[index] != token:
            raise ValueError(
                f"{path}: token {token!r} must have id {index} (the bert-base-uncased layout GroundingDINO "
                "was trained with); is this bert-base-uncased's vocab.txt?"
            )
    return tokens
