"""Shared helpers for the exporters: checksums, versions, manifests.

Exporters are run as scripts (``python export/export_sam2.py``), so modules
in this folder import each other by plain module name.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import platform
import sys
import tempfile
from typing import Any

MANIFEST_FORMAT = 1  # keep equal to SegmentationCore.models.runtime.MANIFEST_FORMAT


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions(*names: str) -> dict[str, str]:
    """Installed versions of the named distributions (missing ones omitted)."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write JSON through a temporary file in the same folder, then rename."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as stream:
            json.dump(data, stream, indent=2, sort_keys=True)
            stream.write("\n")
        # mkstemp creates 0600; give the file the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise


def write_manifest(folder: str | os.PathLike, manifest: dict[str, Any]) -> pathlib.Path:
    """Write ``manifest.json`` (adds ``format`` and the exporting command line)."""
    manifest = dict(manifest)
    manifest.setdefault("format", MANIFEST_FORMAT)
    manifest.setdefault("command", " ".join([pathlib.Path(sys.argv[0]).name] + sys.argv[1:]))
    path = pathlib.Path(folder) / "manifest.json"
    write_json_atomic(path, manifest)
    return path
