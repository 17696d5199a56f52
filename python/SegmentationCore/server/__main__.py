"""``python -m SegmentationCore.server --plates DIR``: the same as ``autoseg serve``."""

import sys

from . import main

sys.exit(main())
