"""Shared pytest set-up.

* ``python/`` and ``export/`` are importable (the exporters are scripts).
* Model fixtures (exported once per test session, tiny/reduced configs with
  random weights) come from the ``fixtures_*`` plugins below.
* Screenshots and other artefacts a person may want to look at go to
  ``test-artifacts/`` in the repository root (git-ignored).
"""

import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
for sub in ("python", "export"):
    path = str(ROOT / sub)
    if path not in sys.path:
    	sys.path.insert(0, path)

pytest_plugins = ["fixtures_sam2", "fixtures_gdino"]


@pytest.fixture(scope="session")
def artifacts_dir() -> pathlib.Path:
    path = ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
