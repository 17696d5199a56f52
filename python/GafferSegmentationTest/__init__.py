from .SegmentationTestCase import SegmentationTestCase

from .DetectTest import DetectTest
from .SegmentTest import SegmentTest
from .TrackTest import TrackTest

if __name__ == "__main__" :
	import unittest
	unittest.main()
