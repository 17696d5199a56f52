"""Test-only stand-in for GafferUITest.TestCase (no Qt here)."""

import GafferTest


class TestCase(GafferTest.TestCase):
    pass
