"""Confinement of every file the server touches to its configured roots.

The browser tools name shots and files by paths *relative to a root*
(the plate root, the output root, the bundled web folder). Anything that
could leave the root is refused before the file system is touched for
reading or writing:

* absolute paths, drive letters, NUL bytes, back slashes;
* ``..`` components (after the URL decoding the HTTP layer did once; a
  second, encoded level such as ``%2e%2e`` stays literal and is refused
  as a name with ``%``);
* paths whose *real* location (symbolic links resolved) is outside the
  real root, so a link inside the root pointing elsewhere is refused too.
"""

from __future__ import annotations

import os
import pathlib
import re

from ..core.errors import SegmentationError


class PathOutsideRootError(SegmentationError):
    """A requested path would leave its root (traversal, absolute path, link)."""

    exit_code = 2


_SAFE_COMPONENT = re.compile(r"^[^\x00-\x1f/\\%]+$")
_SAFE_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _is_within(path: pathlib.Path, root: pathlib.Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


class Root:
    """One folder the server may read (and, for the output root, write) under."""

    def __init__(self, path: str | os.PathLike, label: str):
        self.label = label
        self.path = pathlib.Path(path).expanduser().absolute()
        self.real = pathlib.Path(os.path.realpath(self.path))

    def __repr__(self) -> str:
        return f"Root({self.label}: {self.real})"

    def components(self, relative: str) -> list[str]:
        """Validated components of a root-relative path (``""`` is the root)."""
        if not isinstance(relative, str):
            raise PathOutsideRootError(f"{self.label} path must be text")
        if relative in ("", "."):
            return []
        if "\x00" in relative or "\\" in relative:
            raise PathOutsideRootError(f"{self.label} path {relative!r} holds a forbidden character")
        if relative.startswith("/") or re.match(r"^[A-Za-z]:", relative):
            raise PathOutsideRootError(f"{self.label} path {relative!r} must be relative to the {self.label} root")
        parts = [part for part in relative.split("/") if part not in ("", ".")]
        for part in parts:
            if part == ".." or not _SAFE_COMPONENT.match(part):
                raise PathOutsideRootError(f"{self.label} path {relative!r} leaves the {self.label} root or holds a forbidden name")
        return parts

    def resolve(self, relative: str, must_exist: bool = True) -> pathlib.Path:
        """The real path of ``relative`` under the root, or
        :class:`PathOutsideRootError` if it is not inside it.

        With ``must_exist=False`` (paths about to be written) the deepest
        existing ancestor must be inside the root and the rest of the path is
        checked by name only.
        """
        parts = self.components(relative)
        candidate = self.path.joinpath(*parts)
        if must_exist:
            if not candidate.exists():
                raise FileNotFoundError(f"{self.label} path {relative!r} does not exist")
            real = pathlib.Path(os.path.realpath(candidate))
        else:
            existing = candidate
            missing: list[str] = []
            while not existing.exists() and existing != self.path:
                missing.insert(0, existing.name)
                existing = existing.parent
            real = pathlib.Path(os.path.realpath(existing)).joinpath(*missing)
        if not _is_within(real, self.real):
            raise PathOutsideRootError(f"{self.label} path {relative!r} leads outside the {self.label} root")
        return real

    def relative(self, path: str | os.PathLike) -> str:
        """The root-relative, ``/``-separated name of a real path inside the root."""
        real = pathlib.Path(os.path.realpath(path))
        if not _is_within(real, self.real):
            raise PathOutsideRootError(f"{path} is outside the {self.label} root")
        return real.relative_to(self.real).as_posix()


def safe_file_name(name: str, what: str = "file name") -> str:
    """A plain file name (letters, digits, ``. _ -``; no folders) or an error."""
    if not isinstance(name, str) or not _SAFE_FILE_NAME.match(name) or ".." in name:
        raise PathOutsideRootError(
            f"{what} {name!r} is not allowed: use letters, digits, '.', '_' and '-' only, without folders"
        )
    return name
