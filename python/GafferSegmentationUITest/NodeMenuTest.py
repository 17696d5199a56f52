##########################################################################
#
#  Copyright (c) 2026, GafferSegmentation contributors. All rights reserved.
#
#  Redistribution and use in source and binary forms, with or without
#  modification, are permitted provided that the following conditions are
#  met:
#
#      * Redistributions of source code must retain the above
#        copyright notice, this list of conditions and the following
#        disclaimer.
#
#      * Redistributions in binary form must reproduce the above
#        copyright notice, this list of conditions and the following
#        disclaimer in the documentation and/or other materials provided with
#        the distribution.
#
#      * Neither the name of the copyright holders nor the names of
#        any other contributors to this software may be used to endorse or
#        promote products derived from this software without specific prior
#        written permission.
#
#  THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS
#  IS" AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO,
#  THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR
#  PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT OWNER OR
#  CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL,
#  EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO,
#  PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR
#  PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON ANY THEORY OF
#  LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING
#  NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS
#  SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
#
##########################################################################

import os
import unittest

import IECore

import Gaffer
import GafferSegmentation
import GafferSegmentationUI

## GafferUI is not part of every Gaffer build (the minimal Gaffer CI uses
# has no UI) : these tests are skipped there.
try :
	import GafferUI
	import GafferUITest
except ImportError as e :
	GafferUITest = None
	_skipReason = "GafferUI is not available ({})".format( e )
else :
	_skipReason = ""

@unittest.skipIf( GafferUITest is None, _skipReason )
class NodeMenuTest( GafferUITest.TestCase if GafferUITest is not None else unittest.TestCase ) :

	def testMenuEntries( self ) :

		# Run the extension's gui startup files as `gaffer gui` does.
		startup = os.path.normpath( os.path.join( os.path.dirname( GafferSegmentation.__file__ ), "..", "..", "startup" ) )
		application = Gaffer.ApplicationRoot()
		IECore.loadConfig(
			IECore.SearchPath( [ startup ] ), { "application" : application },
			raiseExceptions = True, subdirectory = "gui"
		)

		definition = GafferUI.NodeMenu.acquire( application ).definition()
		for name in ( "Detect", "Segment", "Track", "ObjectIdWriter", "ObjectIdMatte", "AutoSegment" ) :
			item = definition.item( "/Segmentation/" + name )
			self.assertIsNotNone( item, name )
			self.assertEqual( item.searchText, name )

	def testAutoSegmentReference( self ) :

		fileName = GafferSegmentationUI.autoSegmentReference()
		self.assertTrue( os.path.isfile( fileName ) )

		script = Gaffer.ScriptNode()
		script["AutoSegment"] = Gaffer.Reference( "AutoSegment" )
		script["AutoSegment"].load( fileName )
		self.assertIn( "plate", script["AutoSegment"] )

	def testModelPresets( self ) :

		node = GafferSegmentation.Track()
		names = Gaffer.Metadata.value( node["model"], "presetNames" )
		values = Gaffer.Metadata.value( node["model"], "presetValues" )
		self.assertEqual( len( names ), len( values ) )
		self.assertIn( "sam2.1_hiera_l", list( values ) )

		detect = GafferSegmentation.Detect()
		self.assertIn( "groundingdino_swint", list( Gaffer.Metadata.value( detect["model"], "presetValues" ) ) )

	def testModelPresetsFindExportedFolders( self ) :

		root = self.temporaryDirectory() / "models"
		( root / "mySam" ).mkdir( parents = True )
		( root / "mySam" / "manifest.json" ).write_text( '{ "kind" : "sam2", "format" : 1 }' )
		( root / "myDetector" ).mkdir()
		( root / "myDetector" / "manifest.json" ).write_text( '{ "kind" : "groundingdino", "format" : 1 }' )

		previous = os.environ.get( "SEGMENTATION_MODEL_PATHS" )
		os.environ["SEGMENTATION_MODEL_PATHS"] = str( root ) + ( os.pathsep + previous if previous else "" )
		try :
			sam2 = [ v for n, v in GafferSegmentationUI.ModelPresets.presets( "sam2" ) ]
			detectors = [ v for n, v in GafferSegmentationUI.ModelPresets.presets( "groundingdino" ) ]
		finally :
			if previous is None :
				del os.environ["SEGMENTATION_MODEL_PATHS"]
			else :
				os.environ["SEGMENTATION_MODEL_PATHS"] = previous

		self.assertIn( "mySam", sam2 )
		self.assertNotIn( "myDetector", sam2 )
		self.assertIn( "myDetector", detectors )

if __name__ == "__main__" :
	unittest.main()
