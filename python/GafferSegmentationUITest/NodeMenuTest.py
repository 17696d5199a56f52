import os
import unittest

import IECore

import Gaffer
import GafferUI
import GafferUITest
import GafferSegmentation
import GafferSegmentationUI

class NodeMenuTest( GafferUITest.TestCase ) :

	def testMenuEntries( self ) :

		# Run the extension's gui startup files as `gaffer gui` does.
		startup = os.path.normpath( os.path.join( os.path.dirname( GafferSegmentation.__file__ ), "..", "..", "startup" ) )
		application = Gaffer.ApplicationRoot( "testApplication" )
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
