"""Pick mattes from ObjectId or Cryptomatte files by layer name.

Layer names are paths, ``/<class>/<class>_NNNN``. Patterns follow Gaffer's
path matching (as in Gaffer's Cryptomatte node):

* a pattern selects every name it matches *and every name below a match*:
  ``/person/person_0003`` is one layer, ``/person`` is every person,
  ``/`` is everything;
* within one path component ``*`` matches any characters, ``?`` one
  character, ``[abc]`` / ``[!abc]`` a character set (never across ``/``):
  ``/person/*``, ``/car/car_00[0-4]?``, ``/*`` (everything);
* a ``...`` component matches any number of levels:
  ``/.../person_0003`` finds that layer whatever its class;
* a pattern without the leading ``/`` means the same as with it
  (``person`` == ``/person``).

Several patterns select the union of what each selects. As one string they
are separated by commas and/or white space; put a pattern that contains
spaces in double quotes. The matte of a selection is the "over" union of its
layers, ``1 - prod(1 - alpha)``: exactly what flattening only the selected
deep samples gives, and each layer's own alpha when one layer is selected.

The file format is detected from the file itself, so one call works on both
and gives the same mattes from an ObjectId file and a Cryptomatte file
written from the same layers.
"""

from __future__ import annotations

import fnmatch
import os
import re
from typing import Iterable, Sequence

import numpy as np

from ..core import errors
from . import exr_header as hdr

OBJECTID = "objectid"
CRYPTOMATTE = "cryptomatte"

_TOKEN_RE = re.compile(r'"([^"]*)"|([^\s,"]+)')


def parse_patterns(patterns: Sequence[str] | str | None) -> list[str]:
    """Patterns as a list: a string is split at commas and white space
    (double quotes keep a pattern with spaces together); the items of a
    sequence are taken as they are (only stripped). Empty items are dropped."""
    if patterns is None:
        return []
    if isinstance(patterns, str):
        found = []
        for quoted, bare in _TOKEN_RE.findall(patterns):
            token = quoted if quoted else bare
            if token.strip():
                found.append(token.strip())
        return found
    result = []
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise TypeError(f"matte patterns must be strings, got {pattern!r}")
        if pattern.strip():
            result.append(pattern.strip())
    return result


def _components(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def _match_prefix(pattern: Sequence[str], name: Sequence[str]) -> bool:
    """Whether ``pattern`` components match the whole of ``name`` or of one
    of its ancestors (a leading run of its components)."""
    if not pattern:
        return True
    head = pattern[0]
    if head == "...":
        return any(_match_prefix(pattern[1:], name[skip:]) for skip in range(len(name) + 1))
    if not name:
        return False
    return fnmatch.fnmatchcase(name[0], head) and _match_prefix(pattern[1:], name[1:])


def _matches_one(name: str, pattern: str) -> bool:
    return _match_prefix(_components(pattern), _components(name))


def matches(name: str, patterns: Sequence[str] | str) -> bool:
    """Whether layer ``name`` is selected by any of ``patterns``."""
    return any(_matches_one(name, pattern) for pattern in parse_patterns(patterns))


def select(names: Iterable[str], patterns: Sequence[str] | str) -> list[str]:
    """The ``names`` selected by ``patterns``, in their given order."""
    parsed = parse_patterns(patterns)
    return [name for name in names if any(_matches_one(name, p) for p in parsed)]


def detect_format(path: str | os.PathLike) -> str:
    """``"objectid"`` (a deep EXR) or ``"cryptomatte"`` (cryptomatte metadata)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise errors.OutputError(f"{path}: no such ID-matte file")
    try:
        header, _ = hdr.read_header(path)
    except (ValueError, OSError) as error:
        raise errors.OutputError(f"{path}: not a readable EXR file ({error})") from error
    if header.is_deep:
        return OBJECTID
    if header.strings("cryptomatte/"):
        return CRYPTOMATTE
    raise errors.OutputError(f"{path}: neither an ObjectId (deep) nor a Cryptomatte EXR file")


def layer_names(path: str | os.PathLike) -> list[str]:
    """The layer names in the file's manifest (reads the header only)."""
    if detect_format(path) == OBJECTID:
        from .objectid import objectid_layer_names

        return objectid_layer_names(path)
    from .cryptomatte import cryptomatte_layer_names

    return cryptomatte_layer_names(path)


def read_layers(path: str | os.PathLike, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Every layer's (H, W) float32 matte, whatever the file's format."""
    if detect_format(path) == OBJECTID:
        from .objectid import read_objectid

        return read_objectid(path, names)
    from .cryptomatte import read_cryptomatte

    return read_cryptomatte(path, names=names)


def union(mattes: Sequence[np.ndarray]) -> np.ndarray:
    """``1 - prod(1 - m)`` of the mattes (a single matte is returned as is)."""
    if len(mattes) == 1:
        return np.asarray(mattes[0], np.float32).copy()
    transmission = np.ones_like(np.asarray(mattes[0], np.float32))
    for matte in mattes:
        transmission *= 1.0 - np.clip(matte, 0.0, 1.0)
    return 1.0 - transmission


def extract_matte(path: str | os.PathLike, patterns: Sequence[str] | str) -> np.ndarray:
    """The (H, W) float32 matte of the layers that ``patterns`` select.

    No match gives an all-zero matte of the frame's size."""
    selected = select(layer_names(path), patterns)
    if not selected:
        return np.zeros(_frame_shape(path), np.float32)
    mattes = read_layers(path, selected)
    return union([mattes[name] for name in selected])


def _frame_shape(path: str | os.PathLike) -> tuple[int, int]:
    header, _ = hdr.read_header(os.fspath(path))
    x_min, y_min, x_max, y_max = header.data_window
    return (y_max - y_min + 1, x_max - x_min + 1)
