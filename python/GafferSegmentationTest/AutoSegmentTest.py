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
import GafferDispatch
import GafferImage
import GafferSegmentation
import GafferSegmentationTest

from SegmentationCore.idmatte import mattefilter

from . import AutoSegmentReference

class AutoSegmentTest( GafferSegmentationTest.SegmentationTestCase ) :

	## The template : `references/` next to `python/`, in the repository and
	# in an installed extension alike.
	fileName = os.path.normpath(
		os.path.join( os.path.dirname( GafferSegmentation.__file__ ), "..", "..", "references", "AutoSegment.grf" )
	)

	def __load( self, script ) :

		script["AutoSegment"] = Gaffer.Reference()
		script["AutoSegment"].load( self.fileName )
		return script["AutoSegment"]

	def testLoads( self ) :

		script = Gaffer.ScriptNode()
		reference = self.__load( script )

		for name, path, section in AutoSegmentReference.promotedPlugs :
			self.assertIn( name, reference )

		# The paper's defaults.
		self.assertEqual( reference["prompt"].getValue(), "person" )
		self.assertEqual( reference["window"].getValue(), 20 )
		self.assertEqual( reference["repromptEvery"].getValue(), 5 )
		self.assertAlmostEqual( reference["epsilon"].getValue(), 0.1, places = 6 )
		self.assertAlmostEqual( reference["directMatchIoU"].getValue(), 0.9, places = 6 )
		self.assertAlmostEqual( reference["discardSimilarity"].getValue(), 0.1, places = 6 )
		self.assertAlmostEqual( reference["mergeSimilarity"].getValue(), 0.6, places = 6 )
		self.assertEqual( reference["workingResolution"].getValue(), 1024 )
		self.assertTrue( reference["backward"].getValue() )
		self.assertEqual( reference["frameRange"].defaultValue(), "${frameRange:start}-${frameRange:end}" )
		self.assertEqual( reference["objectIdFileName"].defaultValue(), AutoSegmentReference.outputDefaults["objectIdFileName"] )

		# The chain.
		self.assertTrue( reference["Detect"]["in"].getInput().isSame( reference["Plate"]["out"] ) )
		self.assertTrue( reference["Segment"]["detections"].getInput().isSame( reference["Detect"]["detections"] ) )
		self.assertTrue( reference["Track"]["masks"].getInput().isSame( reference["Segment"]["masks"] ) )
		self.assertTrue( reference["ObjectIdWriter"]["in"].getInput().isSame( reference["Track"]["layers"] ) )
		self.assertTrue( reference["ObjectIdWriter"]["plate"].getInput().isSame( reference["Plate"]["out"] ) )
		self.assertTrue( reference["refineEdges"].getValue() )
		self.assertTrue( reference["task"].source().isSame( reference["ObjectIdWriter"]["task"] ) )
		self.assertTrue( reference["Track"]["model"].getInput().isSame( reference["sam2Model"] ) )

		self.assertTrue( Gaffer.Metadata.value( reference["plate"], "description" ) )
		self.assertTrue( Gaffer.Metadata.value( reference, "description" ) )

	def testMatchesItsBuilder( self ) :

		# `references/AutoSegment.grf` must be regenerated when the builder or
		# the nodes change (see AutoSegmentReference.py).
		script = Gaffer.ScriptNode()
		reference = self.__load( script )
		box = AutoSegmentReference.build( script, "Built" )

		def plugs( node ) :
			return {
				p.getName() : ( type( p ).__name__, p.direction(), p.defaultValue() if hasattr( p, "defaultValue" ) else None )
				for p in node.children( Gaffer.Plug ) if p.getName() not in ( "user", ) and not p.getName().startswith( "__" )
			}

		def connections( node ) :
			result = set()
			for child in node.children( Gaffer.Node ) :
				for plug in Gaffer.Plug.RecursiveRange( child ) :
					if plug.getInput() is not None :
						result.add( ( plug.relativeName( node ), plug.getInput().relativeName( node ) ) )
			return result

		self.assertEqual( plugs( reference ), plugs( box ) )
		self.assertEqual( connections( reference ), connections( box ) )
		self.assertEqual( sorted( reference.keys() ), sorted( box.keys() ) )

	def testRunsEndToEnd( self ) :

		pattern, shotFile, shot = self.writeShot( numFrames = 8 )
		script = Gaffer.ScriptNode()
		script["frameRange"]["start"].setValue( self.firstFrame )
		script["frameRange"]["end"].setValue( self.firstFrame + 7 )
		reference = self.__load( script )

		# What changes per shot ...
		reference["plate"].setValue( pattern )
		reference["prompt"].setValue( "person" )
		# ... and what these tests change : synthetic models, and outputs in
		# the test's folder.
		reference["detectorModel"].setValue( shotFile )
		reference["sam2Model"].setValue( shotFile )
		output = self.temporaryDirectory() / "output"
		reference["objectIdFileName"].setValue( str( output / "shot.objectId.####.exr" ) )
		reference["cryptomatteFileName"].setValue( str( output / "shot.crypto.####.exr" ) )

		script["dispatcher"] = GafferDispatch.LocalDispatcher( jobPool = GafferDispatch.LocalDispatcher.JobPool() )
		script["dispatcher"]["jobsDirectory"].setValue( str( self.temporaryDirectory() / "jobs" ) )
		script["dispatcher"]["framesMode"].setValue( GafferDispatch.Dispatcher.FramesMode.FullRange )
		script["dispatcher"]["tasks"][0].setInput( reference["task"] )
		with script.context() :
			script["dispatcher"]["task"].execute()

		names = set()
		for frame in self.frames( shot ) :
			objectIdFile = str( output / "shot.objectId.{}.exr".format( frame ) )
			cryptomatteFile = str( output / "shot.crypto.{}.exr".format( frame ) )
			frameNames = mattefilter.layer_names( objectIdFile )
			self.assertEqual( sorted( frameNames ), sorted( mattefilter.layer_names( cryptomatteFile ) ) )
			truth = shot.gt_masks( frame )
			self.assertEqual( len( frameNames ), len( truth ) )
			for mask in truth.values() :
				# Every object is one layer of the file.
				self.assertGreater( max( self.iou( mattefilter.extract_matte( objectIdFile, n ), mask ) for n in frameNames ), 0.9 )
			names.update( frameNames )

		# One name per object for the whole shot.
		self.assertEqual( len( names ), len( shot.spec.objects ) )

		# The preview shows the layers.
		with self.frameContext( script, self.firstFrame + 3 ) :
			self.assertEqual( sorted( GafferImage.ImageAlgo.image( reference["out"] ).keys() ), [ "A", "B", "G", "R" ] )

	def testReferenceUIMetadata( self ) :

		# A Reference loaded in a real Gaffer gets a file browser for the
		# plate and live model presets : model folders exported after the
		# template was written appear in the menus.
		import GafferSegmentationUI

		script = Gaffer.ScriptNode()
		reference = self.__load( script )
		self.assertEqual( Gaffer.Metadata.value( reference["plate"], "plugValueWidget:type" ), "GafferUI.FileSystemPathPlugValueWidget" )
		self.assertTrue( Gaffer.Metadata.value( reference["plate"], "fileSystemPath:includeSequences" ) )

		models = self.temporaryDirectory() / "models"
		os.makedirs( str( models / "mySam2" ) )
		with open( str( models / "mySam2" / "manifest.json" ), "w" ) as f :
			f.write( '{ "kind" : "sam2" }' )
		previous = os.environ.get( "SEGMENTATION_MODEL_PATHS" )
		os.environ["SEGMENTATION_MODEL_PATHS"] = str( models )
		try :
			self.assertIn( "mySam2", list( Gaffer.Metadata.value( reference["sam2Model"], "presetValues" ) ) )
			self.assertIn( "sam2.1_hiera_l", list( Gaffer.Metadata.value( reference["sam2Model"], "presetValues" ) ) )
			self.assertIn( "groundingdino_swint", list( Gaffer.Metadata.value( reference["detectorModel"], "presetValues" ) ) )
		finally :
			if previous is None :
				os.environ.pop( "SEGMENTATION_MODEL_PATHS", None )
			else :
				os.environ["SEGMENTATION_MODEL_PATHS"] = previous

	def testSavedScriptKeepsShotSettings( self ) :

		script = Gaffer.ScriptNode()
		reference = self.__load( script )
		reference["plate"].setValue( "/shots/sh010/plate.####.exr" )
		reference["prompt"].setValue( "person, car" )

		serialised = script.serialise()
		self.assertIn( ".load(", serialised )
		self.assertNotIn( "GafferSegmentation.Track(", serialised )

		script2 = Gaffer.ScriptNode()
		script2.execute( serialised )
		# Outside a compute, Gaffer returns the value unsubstituted.
		self.assertEqual( script2["AutoSegment"]["plate"].getValue(), "/shots/sh010/plate.####.exr" )
		self.assertEqual( script2["AutoSegment"]["prompt"].getValue(), "person, car" )
		self.assertEqual( script2["AutoSegment"]["Detect"]["prompt"].getValue(), "person, car" )

if __name__ == "__main__" :
	unittest.main()
