"""Test-only stand-in : the real GafferImageUI registers image node metadata ;
nothing of it is needed by GafferSegmentation's tests."""

import GafferUI  # noqa: F401
