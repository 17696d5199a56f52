import unittest

import GafferUITest
import GafferImage
import GafferImageUI
import GafferDispatchUI
import GafferSegmentation
import GafferSegmentationUI

class DocumentationTest( GafferUITest.TestCase ) :

	def test( self ) :

		self.maxDiff = None
		self.assertNodesAreDocumented(
			GafferSegmentation,
			additionalTerminalPlugTypes = ( GafferImage.ImagePlug, )
		)

if __name__ == "__main__" :
	unittest.main()
