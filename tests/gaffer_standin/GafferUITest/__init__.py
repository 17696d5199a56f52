"""Test-only stand-in for GafferUITest.TestCase (no Qt here)."""

import GafferTest
import GafferUI  # noqa: F401 - as the real GafferUITest, which needs GafferUI's metadata


class TestCase(GafferTest.TestCase):
    pass
