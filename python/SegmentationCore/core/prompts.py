"""Text prompts: parsing ``"person, car"`` / ``"person . car ."`` into phrases,
and turning phrases into the class part of layer names."""

from __future__ import annotations

import re

from .errors import PromptError

_SEPARATORS = re.compile(r"[,.;\n]+")
_NAME_UNSAFE = re.compile(r"[^0-9a-z_-]+")


def parse_text_prompt(prompt: str) -> list[str]:
    """Split a prompt into its phrases, in order, without duplicates.

    Phrases are separated by commas, full stops, semicolons or new lines;
    case and surrounding white space are dropped (GroundingDINO is
    case-insensitive). ``"Person, car . person"`` gives ``["person", "car"]``.
    """
    if not isinstance(prompt, str):
        raise PromptError(f"The prompt must be text, got {type(prompt).__name__}")
    phrases: list[str] = []
    for part in _SEPARATORS.split(prompt):
        phrase = " ".join(part.lower().split())
        if phrase and phrase not in phrases:
            phrases.append(phrase)
    if not phrases:
        raise PromptError(
            f"The prompt {prompt!r} names nothing to find; give one or more "
            "phrases separated by commas, e.g. \"person, car\""
        )
    return phrases


def class_name(phrase: str) -> str:
    """The class part of a layer name for a phrase: ``"red car"`` -> ``"red_car"``.

    Layer names must avoid the characters that Cryptomatte / ObjectId name
    filters treat specially (``* ? [ ] , " '`` and ``.``).
    """
    name = _NAME_UNSAFE.sub("_", " ".join(phrase.lower().split()).replace(" ", "_")).strip("_")
    if not name:
        raise PromptError(f"The phrase {phrase!r} gives no usable class name; use letters or digits")
    return name


def layer_name(phrase: str, index: int) -> str:
    """The stable name of a layer: ``/person/person_0003``."""
    cls = class_name(phrase)
    return f"/{cls}/{cls}_{index:04d}"
