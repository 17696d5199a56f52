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

import json
import unittest
import unittest.mock

import numpy

import IECore
import imath

import Gaffer
import GafferTest
import GafferImage
import GafferSegmentation
import GafferSegmentationTest

from SegmentationCore import plates

class SegmentTest( GafferSegmentationTest.SegmentationTestCase ) :

	def testConstruct( self ) :

		node = GafferSegmentation.Segment()
		self.assertEqual( node.getName(), "Segment" )
		# The paper's clean-up thresholds.
		# FloatPlugs hold float32.
		self.assertAlmostEqual( node["discardSimilarity"].getValue(), 0.1, places = 6 )
		self.assertEqual( node["discardOverlaps"].getValue(), 2 )
		self.assertAlmostEqual( node["mergeSimilarity"].getValue(), 0.6, places = 6 )
		self.assertIsInstance( node["out"], GafferImage.ImagePlug )
		self.assertFalse( node["out"].getFlags( Gaffer.Plug.Flags.Serialisable ) )

	def testMasksMatchGroundTruth( self ) :

		pattern, shotFile, shot = self.writeShot( numFrames = 2 )
		script = Gaffer.ScriptNode()
		self.buildNetwork( script, pattern, shotFile, track = False )

		for frame in self.frames( shot ) :
			with self.frameContext( script, frame ) :
				data = script["segment"]["masks"].getValue()
			masks = self.unpack( data["masks"] ).astype( numpy.float32 ) / 255
			truth = list( shot.gt_masks( frame, ( 180, 320 ) ).values() )
			self.assertEqual( data["size"].value, imath.V2i( 320, 180 ) )
			self.assertEqual( len( masks ), len( truth ) )
			for mask in truth :
				self.assertGreater( max( self.iou( mask, m ) for m in masks ), 0.95 )
			names, layers = self.layers( data )
			self.assertEqual( names, [ "/person/person_{:04d}".format( i + 1 ) for i in range( len( truth ) ) ] )

	def testCleanUpParametersReachTheEngine( self ) :

		pattern, shotFile, shot = self.writeShot( numFrames = 1 )
		script = Gaffer.ScriptNode()
		self.buildNetwork( script, pattern, shotFile, track = False )

		count = len( shot.gt_masks( self.firstFrame ) )
		self.assertGreaterEqual( count, 2 )
		with self.frameContext( script, self.firstFrame ) :
			self.assertEqual( len( script["segment"]["masks"].getValue()["labels"] ), count )
			# Every mask "overlaps" every other at similarity 0, so with one
			# overlap enough to discard, every mask is discarded.
			script["segment"]["discardSimilarity"].setValue( 0.0 )
			script["segment"]["discardOverlaps"].setValue( 1 )
			data = script["segment"]["masks"].getValue()
			self.assertEqual( len( data["labels"] ), 0 )
			self.assertEqual( [ d["action"] for d in json.loads( data["decisions"].value ) ], [ "discarded" ] * count )

	def testHash( self ) :

		pattern, shotFile, shot = self.writeShot( numFrames = 2 )
		script = Gaffer.ScriptNode()
		self.buildNetwork( script, pattern, shotFile, track = False )
		segment = script["segment"]
		context = self.frameContext( script, self.firstFrame )

		for name, value in [
			( "discardSimilarity", 0.2 ), ( "discardOverlaps", 3 ), ( "mergeSimilarity", 0.5 ),
			( "maskThreshold", 0.6 ), ( "perClass", False ), ( "minArea", 10 ), ( "workingResolution", 100 ),
			( "colorSpace", "sRGB" ), ( "providers", "cpu" ), ( "refreshCount", 1 ),
		] :
			self.assertHashChanges( segment["masks"], segment[name], value, context )
			# Segment's settings do not reach back to Detect.
			self.assertHashUnchanged( script["detect"]["detections"], segment[name], value, context )

		self.assertHashChanges( segment["masks"], script["detect"]["prompt"], "car", context )

		with context :
			h1 = segment["masks"].hash()
		with self.frameContext( script, self.firstFrame + 1 ) :
			self.assertNotEqual( segment["masks"].hash(), h1 )

	def testAffects( self ) :

		node = GafferSegmentation.Segment()
		dirtied = GafferTest.CapturingSlot( node.plugDirtiedSignal() )
		node["mergeSimilarity"].setValue( 0.5 )
		dirtiedPlugs = { x[0] for x in dirtied }
		self.assertIn( node["masks"], dirtiedPlugs )
		self.assertIn( node["out"], dirtiedPlugs )

	@unittest.skipIf( GafferSegmentation._ImageShell.GafferML is None, "GafferML is not available" )
	def testPreviewWithGafferML( self ) :

		self.__assertPreview( useGafferML = True )

	def testPreviewWithoutGafferML( self ) :

		self.__assertPreview( useGafferML = False )

	def __assertPreview( self, useGafferML ) :

		pattern, shotFile, shot = self.writeShot( numFrames = 1 )
		script = Gaffer.ScriptNode()
		if useGafferML :
			self.buildNetwork( script, pattern, shotFile, track = False )
		else :
			with unittest.mock.patch.object( GafferSegmentation._ImageShell, "GafferML", None ) :
				self.buildNetwork( script, pattern, shotFile, track = False )
		self.assertEqual( script["segment"].usesGafferML(), useGafferML )

		script["segment"]["workingResolution"].setValue( 200 )
		with self.frameContext( script, self.firstFrame ) :
			names, layers = self.layers( script["segment"]["masks"].getValue() )
			alpha = self.imageArray( script["segment"]["out"], "A" )
			image = GafferImage.ImageAlgo.image( script["segment"]["out"] )

		self.assertEqual( sorted( image.keys() ), [ "A", "B", "G", "R" ] )
		self.assertEqual( alpha.shape, plates.working_size( ( 180, 320 ), 200 ) )
		union = 1.0 - numpy.prod( [ 1.0 - m for m in layers.values() ], axis = 0 )
		numpy.testing.assert_allclose( alpha, union, atol = 1e-5 )
		# Rows run from the top : the masks' orientation is kept.
		self.assertGreater( self.iou( alpha, union ), 0.99 )

	def testPreviewsAgree( self ) :

		if GafferSegmentation._ImageShell.GafferML is None :
			self.skipTest( "GafferML is not available" )

		pattern, shotFile, shot = self.writeShot( numFrames = 1 )
		script = Gaffer.ScriptNode()
		self.buildNetwork( script, pattern, shotFile, track = False )
		with unittest.mock.patch.object( GafferSegmentation._ImageShell, "GafferML", None ) :
			script["fallback"] = GafferSegmentation.Segment()
		script["fallback"]["in"].setInput( script["reader"]["out"] )
		script["fallback"]["detections"].setInput( script["detect"]["detections"] )
		script["fallback"]["model"].setValue( shotFile )

		with self.frameContext( script, self.firstFrame ) :
			for channel in "RGBA" :
				numpy.testing.assert_allclose(
					self.imageArray( script["segment"]["out"], channel ),
					self.imageArray( script["fallback"]["out"], channel ),
					atol = 1e-6
				)

	def testSerialisation( self ) :

		script = Gaffer.ScriptNode()
		script["segment"] = GafferSegmentation.Segment()
		script["segment"]["mergeSimilarity"].setValue( 0.7 )
		serialised = script.serialise()
		self.assertNotIn( "GafferML", serialised )
		self.assertNotIn( "__", serialised.replace( "__children", "" ) )

		script2 = Gaffer.ScriptNode()
		script2.execute( serialised )
		self.assertAlmostEqual( script2["segment"]["mergeSimilarity"].getValue(), 0.7, places = 6 )
		self.assertEqual( script2["segment"].keys(), script["segment"].keys() )

	def testModelInputMatchesAutoseg( self ) :

		# The nodes and `autoseg` must feed the models the same pixels for the
		# same plate : Gaffer's reading, then `plates.to_working_image()`.
		pattern, shotFile, shot = self.writeShot( numFrames = 2 )
		script = Gaffer.ScriptNode()
		script["reader"] = GafferImage.ImageReader()
		script["reader"]["fileName"].setValue( pattern )

		for frame in self.frames( shot ) :
			context = self.frameContext( script, frame )
			with context :
				source, size = GafferSegmentation._Algo.readWorkingFrame( script["reader"]["out"], 128, "linear", context )
			self.assertEqual( size, ( 180, 320 ) )
			expected = plates.PlateFrameSource( plates.parse_sequence( pattern ), max_size = 128 ).image( frame )
			self.assertEqual( source.size, expected.shape[:2] )
			numpy.testing.assert_allclose( source.image( frame ), expected, atol = 1e-5 )

	def testHashCachePolicy( self ) :

		# `hash()` uses `ImageAlgo.imageHash()` (TBB tasks) : Gaffer requires
		# a task-based policy. The preview's policies must not call a base
		# class method : Python has none (`ComputeNodeBinding.h`).
		node = GafferSegmentation.Segment()
		self.assertEqual( node.hashCachePolicy( node["masks"] ), Gaffer.ValuePlug.CachePolicy.TaskCollaboration )
		for plug in [ node["masks"] ] + node._previewPlugs() :
			node.computeCachePolicy( plug )
			node.hashCachePolicy( plug )

if __name__ == "__main__" :
	unittest.main()
