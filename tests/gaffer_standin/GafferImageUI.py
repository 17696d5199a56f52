"""Test-only stand-in : the real GafferImageUI (Gaffer 1.5.16.5,
`python/GafferImageUI/*UI.py`) registers image node metadata ; nothing of it
is needed by GafferSegmentation's tests."""

import GafferUI  # noqa: F401
