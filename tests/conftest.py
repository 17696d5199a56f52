"""Shared pytest set-up.

* ``python/`` and ``export/`` are importable (the exporters are scripts).
* Model fixtures (exported once per test session, tiny/reduced configs with
  random weights) come from the ``fixtures_*`` plugins below.
* Screenshots and other artefacts a person may want to look at go to
  ``test-artifacts/`` in the repository root (git-ignored).
"""

import os
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


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright (the browser-tool and
    review-page tests); skipped, saying what to install, where it is missing."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
