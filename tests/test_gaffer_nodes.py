"""The Gaffer node tests, run against the test-only Gaffer stand-in.

`python/GafferSegmentationTest` and `python/GafferSegmentationUITest` are
written for a real Gaffer (`gaffer test GafferSegmentationTest`, see
docs/gaffer.md). Gaffer cannot be installed here, so this puts
`tests/gaffer_standin` first on `sys.path` and lets pytest collect the same
unittest classes unchanged. Like `GAFFER_EXTENSION_PATHS` would, it puts the
extension's `startup/` on `GAFFER_STARTUP_PATHS` (`python/` is on `sys.path`
already, see conftest.py).
"""

import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
_STANDIN = str(ROOT / "tests" / "gaffer_standin")
if _STANDIN not in sys.path:
    sys.path.insert(0, _STANDIN)

_startup = [str(ROOT / "startup")] + [p for p in os.environ.get("GAFFER_STARTUP_PATHS", "").split(os.pathsep) if p]
os.environ["GAFFER_STARTUP_PATHS"] = os.pathsep.join(dict.fromkeys(_startup))

# Importing GafferSegmentation runs startup/GafferSegmentation, which adds the
# repository's onnx_models to SEGMENTATION_MODEL_PATHS ; keep the environment
# of the other tests of the session as it was.
_modelPaths = os.environ.get("SEGMENTATION_MODEL_PATHS")

from GafferSegmentationTest import *  # noqa: E402,F401,F403
from GafferSegmentationUITest import *  # noqa: E402,F401,F403

if _modelPaths is None:
    os.environ.pop("SEGMENTATION_MODEL_PATHS", None)
else:
    os.environ["SEGMENTATION_MODEL_PATHS"] = _modelPaths
