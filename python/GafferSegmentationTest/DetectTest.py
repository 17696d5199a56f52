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

import unittest

import numpy

import IECore
import imath

import Gaffer
import GafferTest
import GafferImage
import GafferSegmentation
import GafferSegmentationTest

from SegmentationCore.core import maskops

class DetectTest( GafferSegmentationTest.SegmentationTestCase ) :

	def testConstruct( self ) :

		node = GafferSegmentation.Detect()
		self.assertEqual( node.getName(), "Detect" )
		self.assertEqual( node["prompt"].getValue(), "person" )
		# FloatPlugs hold float32 : 0.35 reads back as 0.3499999940395355.
		self.assertAlmostEqual( node["boxThreshold"].getValue(), 0.35, places = 6 )
		self.assertAlmostEqual( node["textThreshold"].getValue(), 0.25, places = 6 )
		self.assertEqual( node["workingResolution"].getValue(), 1024 )
		self.assertEqual( node["detections"].direction(), Gaffer.Plug.Direction.Out )

	def testBoxesAreInImagePixels( self ) :

		pattern, shotFile, shot = self.writeShot( numFrames = 3 )
		script = Gaffer.ScriptNode()
		self.buildNetwork( script, pattern, shotFile, track = False )
		# Work at a lower resolution than the plate : boxes still come out
		# in plate pixels.
		script["detect"]["workingResolution"].setValue( 160 )

		for frame in self.frames( shot ) :
			with self.frameContext( script, frame ) :
				detections = script["detect"]["detections"].getValue()
			self.assertEqual( detections["imageSize"].value, imath.V2i( 320, 180 ) )
			boxes = numpy.array( list( detections["boxes"] ) ).reshape( -1, 4 )
			truth = shot.gt_masks( frame, ( 180, 320 ) )
			self.assertEqual( len( boxes ), len( truth ) )
			self.assertEqual( list( detections["labels"] ), [ "person" ] * len( truth ) )
			for mask in truth.values() :
				expected = maskops.bounding_box( mask )
				best = min( numpy.abs( boxes - expected ).max( axis = 1 ) )
				# Within two plate pixels per working pixel.
				self.assertLess( best, 5.0 )

	def testHash( self ) :

		pattern, shotFile, shot = self.writeShot( numFrames = 3 )
		script = Gaffer.ScriptNode()
		self.buildNetwork( script, pattern, shotFile, track = False )
		detect = script["detect"]
		context = self.frameContext( script, self.firstFrame )

		for name, value in [
			( "prompt", "person, car" ),
			( "boxThreshold", 0.5 ),
			( "textThreshold", 0.5 ),
			( "workingResolution", 256 ),
			( "colorSpace", "sRGB" ),
			( "providers", "cpu" ),
			( "model", shotFile + ".other.shot.json" ),
			( "refreshCount", 1 ),
		] :
			self.assertHashChanges( detect["detections"], detect[name], value, context )

		# Another plate (an existing one : hashing an ImageReader pointed at a
		# missing file raises in Gaffer).
		otherPattern = self.writeShot( numFrames = 3, seed = 3 )[0]
		self.assertHashChanges( detect["detections"], script["reader"]["fileName"], otherPattern, context, original = pattern )

		with context :
			h1 = detect["detections"].hash()
		with self.frameContext( script, self.firstFrame + 1 ) :
			h2 = detect["detections"].hash()
		self.assertNotEqual( h1, h2 )

	def testAffects( self ) :

		node = GafferSegmentation.Detect()
		for name in ( "prompt", "model", "boxThreshold", "textThreshold", "workingResolution", "colorSpace", "providers", "refreshCount" ) :
			self.assertIn( node["detections"], node.affects( node[name] ) )
		# `in` is a compound plug : Gaffer only asks `affects()` about leaf
		# plugs, and throws for others (`DependencyNode::affects()`).
		for name in ( "channelData", "dataWindow", "format" ) :
			self.assertIn( node["detections"], node.affects( node["in"][name] ) )
		with self.assertRaisesRegex( Exception, "non-leaf" ) :
			node.affects( node["in"] )

		dirtied = GafferTest.CapturingSlot( node.plugDirtiedSignal() )
		node["prompt"].setValue( "car" )
		self.assertIn( node["detections"], { x[0] for x in dirtied } )

	def testEmptyPromptIsAnError( self ) :

		pattern, shotFile, shot = self.writeShot( numFrames = 1 )
		script = Gaffer.ScriptNode()
		self.buildNetwork( script, pattern, shotFile, track = False )
		script["detect"]["prompt"].setValue( " , " )
		with self.frameContext( script, self.firstFrame ) :
			with self.assertRaisesRegex( Gaffer.ProcessException, "names nothing to find" ) :
				script["detect"]["detections"].getValue()

	def testMissingModelIsAnError( self ) :

		pattern, shotFile, shot = self.writeShot( numFrames = 1 )
		script = Gaffer.ScriptNode()
		self.buildNetwork( script, pattern, shotFile, track = False )
		script["detect"]["model"].setValue( str( self.temporaryDirectory() / "noSuchModel" ) )
		with self.frameContext( script, self.firstFrame ) :
			with self.assertRaisesRegex( Gaffer.ProcessException, "No model folder" ) :
				script["detect"]["detections"].getValue()

	def testNoInputIsAnError( self ) :

		node = GafferSegmentation.Detect()
		with self.assertRaisesRegex( Gaffer.ProcessException, "connect the plate to `in`" ) :
			node["detections"].getValue()

	def testHashCachePolicy( self ) :

		# `hash()` uses `ImageAlgo.imageHash()`, which spawns TBB tasks :
		# Gaffer requires a task-based hash cache policy for that.
		node = GafferSegmentation.Detect()
		self.assertEqual( node.hashCachePolicy( node["detections"] ), Gaffer.ValuePlug.CachePolicy.TaskCollaboration )
		self.assertEqual( node.computeCachePolicy( node["detections"] ), Gaffer.ValuePlug.CachePolicy.TaskCollaboration )

if __name__ == "__main__" :
	unittest.main()
