from .SegmentationTestCase import SegmentationTestCase

from .DetectTest import DetectTest
from .SegmentTest import SegmentTest
from .TrackTest import TrackTest
from .ObjectIdWriterTest import ObjectIdWriterTest
from .ObjectIdMatteTest import ObjectIdMatteTest
from .AutoSegmentTest import AutoSegmentTest
from .ModuleTest import ModuleTest

if __name__ == "__main__" :
	import unittest
	unittest.main()
