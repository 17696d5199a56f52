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

import numpy

import IECore

import Gaffer
import GafferTest
import GafferImage
import GafferSegmentation
import GafferSegmentationTest

from SegmentationCore.pipeline import interactive, metrics, tracking

class TrackTest( GafferSegmentationTest.SegmentationTestCase ) :

	def testConstruct( self ) :

		node = GafferSegmentation.Track()
		self.assertEqual( node.getName(), "Track" )
		# The paper's parameters, promoted from the internal passes.
		self.assertEqual( node["window"].getValue(), 20 )
		self.assertEqual( node["repromptEvery"].getValue(), 5 )
		self.assertAlmostEqual( node["epsilon"].getValue(), 0.1, places = 6 )
		self.assertAlmostEqual( node["directMatchIoU"].getValue(), 0.9, places = 6 )
		self.assertTrue( node["backward"].getValue() )
		self.assertEqual( node["frameRange"].defaultValue(), "${frameRange:start}-${frameRange:end}" )
		for name in GafferSegmentation.TrackPass.parameterNames :
			for passName in ( "__seed", "__forward", "__backward" ) :
				self.assertTrue( node[passName][name].getInput().isSame( node[name] ) )
		self.assertEqual( node["__seed"]["direction"].getValue(), "backward" )
		self.assertTrue( node["__seed"]["seed"].getValue() )
		self.assertEqual( node["__forward"]["direction"].getValue(), "forward" )
		self.assertFalse( node["__forward"]["seed"].getValue() )
		self.assertEqual( node["__backward"]["direction"].getValue(), "backward" )
		self.assertTrue( node["__forward"]["cache"].getInput().isSame( node["__seed"]["out"] ) )

	def __trackedScript( self, numFrames = 12, seed = 2 ) :

		pattern, shotFile, shot = self.writeShot( numFrames = numFrames, seed = seed )
		script = Gaffer.ScriptNode()
		script["frameRange"]["start"].setValue( self.firstFrame )
		script["frameRange"]["end"].setValue( self.firstFrame + numFrames - 1 )
		self.buildNetwork( script, pattern, shotFile )
		return script, shot, shotFile

	def __layersAt( self, script, frame, plug = None ) :

		with self.frameContext( script, frame ) :
			return self.layers( ( plug or script["track"]["layers"] ).getValue() )[1]

	def __evaluate( self, script, shot ) :

		return metrics.evaluate(
			self.frames( shot ),
			lambda frame : self.__layersAt( script, frame ),
			lambda frame : shot.gt_masks( frame, ( 180, 320 ) ),
		)

	def testLayersKeepTheirNames( self ) :

		script, shot, shotFile = self.__trackedScript()
		scores = self.__evaluate( script, shot )
		self.assertGreater( scores.j, 0.9 )
		self.assertEqual( scores.id_switches, 0 )
		self.assertEqual( scores.extra_layers, 0 )
		self.assertEqual( scores.layers_per_object, 1.0 )

		with self.frameContext( script, self.firstFrame + 5 ) :
			data = script["track"]["layers"].getValue()
		for name in data["names"] :
			self.assertRegex( name, r"^/person/person_\d{4}$" )
		self.assertEqual( data["imageSize"].value.x, 320 )

	def testShotIsTrackedOnce( self ) :

		script, shot, shotFile = self.__trackedScript()
		track = script["track"]
		with Gaffer.PerformanceMonitor() as monitor :
			for frame in ( 1004, 1001, 1011, 1004 ) :
				with self.frameContext( script, frame ) :
					track["layers"].getValue()

		for plug in ( track["__forward"]["out"], track["__backward"]["out"], track["__shot"] ) :
			self.assertEqual( monitor.plugStatistics( plug ).computeCount, 1, plug.fullName() )
		self.assertEqual( monitor.plugStatistics( track["layers"] ).computeCount, 3 )

		# Stages 1 and 2 only run on the re-prompt frames of the two passes.
		reprompts = tracking.stage2_frames( self.frames( shot ), tracking.TrackingParams() )
		self.assertEqual( len( reprompts ), 6 )
		self.assertEqual( monitor.plugStatistics( script["segment"]["masks"] ).computeCount, len( reprompts ) )
		self.assertEqual( monitor.plugStatistics( script["detect"]["detections"] ).computeCount, len( reprompts ) )

	def testShotHashDoesNotDependOnTheFrame( self ) :

		script, shot, shotFile = self.__trackedScript( numFrames = 6 )
		track = script["track"]
		hashes = set()
		layerHashes = set()
		for frame in self.frames( shot ) :
			with self.frameContext( script, frame ) :
				hashes.add( track["__shot"].hash() )
				layerHashes.add( track["layers"].hash() )
		self.assertEqual( len( hashes ), 1 )
		self.assertEqual( len( layerHashes ), len( self.frames( shot ) ) )

	def testHash( self ) :

		script, shot, shotFile = self.__trackedScript( numFrames = 6 )
		track = script["track"]
		context = self.frameContext( script, self.firstFrame + 2 )

		for name, value in [
			( "window", 10 ), ( "repromptEvery", 3 ), ( "epsilon", 0.2 ), ( "directMatchIoU", 0.8 ),
			( "partialMatchSimilarity", 0.4 ), ( "overlapSimilarity", 0.2 ), ( "maskThreshold", 0.4 ),
			( "minLayerArea", 100 ), ( "perClass", False ), ( "cacheRule", "recent" ), ( "backward", False ), ( "workingResolution", 200 ),
			( "colorSpace", "sRGB" ), ( "providers", "cpu" ), ( "frameRange", "1001-1004" ),
			( "promptFile", "/no/such/prompts.json" ), ( "refreshCount", 1 ),
		] :
			self.assertHashChanges( track["layers"], track[name], value, context )

		# Upstream changes reach the shot too.
		self.assertHashChanges( track["layers"], script["segment"]["mergeSimilarity"], 0.5, context )
		self.assertHashChanges( track["layers"], script["detect"]["prompt"], "car", context )

		# `minLayerArea` is applied after both passes : it leaves them alone.
		self.assertHashUnchanged( track["__forward"]["out"], track["backward"], False, context )

	def testDirtyPropagation( self ) :

		node = GafferSegmentation.Track()
		dirtied = GafferTest.CapturingSlot( node.plugDirtiedSignal() )
		node["window"].setValue( 10 )
		dirtiedPlugs = { x[0] for x in dirtied }
		for name in ( "layers", "__shot", "out" ) :
			self.assertIn( node[name], dirtiedPlugs )

	def testBackwardPass( self ) :

		script, shot, shotFile = self.__trackedScript()
		track = script["track"]
		withBackward = self.__evaluate( script, shot )

		track["backward"].setValue( False )
		with self.frameContext( script, self.firstFrame ) :
			self.assertEqual( track["__backward"]["out"].getValue(), track["__forward"]["out"].getValue() )
		forwardOnly = self.__evaluate( script, shot )

		# Objects are found at re-prompt frames only (every 5 frames) : the
		# backward pass finds them on the frames before.
		self.assertGreater( withBackward.j, forwardOnly.j )

	def __promptSet( self, shot, mode ) :

		keyframe = self.firstFrame + 3
		index = next( iter( shot.gt_masks( keyframe, ( 180, 320 ) ) ) )
		x, y = shot.centre_pixels( index, keyframe, ( 180, 320 ) )
		promptSet = interactive.PromptSet(
			( 320, 180 ),
			[ interactive.InteractiveObject( "person", "/person/hero", { keyframe : interactive.Keyframe( [ [ x, y ] ], [ 1 ] ) } ) ],
			mode,
		)
		return promptSet, index

	def __assertInteractiveOnly( self, script, shot, index ) :

		for frame in self.frames( shot ) :
			layers = self.__layersAt( script, frame )
			truth = shot.gt_masks( frame, ( 180, 320 ) ).get( index )
			if truth is None :
				continue
			self.assertEqual( list( layers.keys() ), [ "/person/hero" ] )
			self.assertGreater( self.iou( layers["/person/hero"], truth ), 0.9 )

	def testInteractivePromptFile( self ) :

		script, shot, shotFile = self.__trackedScript( numFrames = 8 )
		promptSet, index = self.__promptSet( shot, "only" )
		fileName = str( self.temporaryDirectory() / "prompts.json" )
		interactive.save_prompts( fileName, promptSet )

		script["track"]["promptFile"].setValue( fileName )
		self.__assertInteractiveOnly( script, shot, index )

		# Gaffer caches hashes per plug, context and dirty count, so an edit
		# of the file on disk is picked up once `refreshCount` is incremented,
		# as with ImageReader.
		with self.frameContext( script, self.firstFrame ) :
			h = script["track"]["layers"].hash()
		data = json.loads( open( fileName ).read() )
		data["objects"][0]["name"] = "/person/villain"
		with open( fileName, "w" ) as f :
			f.write( json.dumps( data ) )
		script["track"]["refreshCount"].setValue( script["track"]["refreshCount"].getValue() + 1 )
		with self.frameContext( script, self.firstFrame ) :
			self.assertNotEqual( script["track"]["layers"].hash(), h )
			self.assertIn( "/person/villain", list( script["track"]["layers"].getValue()["names"] ) + [ n for f in self.frames( shot ) for n in self.__layersAt( script, f ) ] )

	def testInteractivePromptsPlug( self ) :

		script, shot, shotFile = self.__trackedScript( numFrames = 8 )
		promptSet, index = self.__promptSet( shot, "only" )
		script["track"]["prompts"].setValue( GafferSegmentation.PromptAlgo.toData( promptSet ) )
		self.__assertInteractiveOnly( script, shot, index )

		# Combined with the automatic layers.
		promptSet.mode = "combine"
		script["track"]["prompts"].setValue( GafferSegmentation.PromptAlgo.toData( promptSet ) )
		names = set()
		for frame in self.frames( shot ) :
			names.update( self.__layersAt( script, frame ).keys() )
		self.assertIn( "/person/hero", names )
		self.assertGreater( len( names ), 1 )

		# Either a file or a value, not both.
		script["track"]["promptFile"].setValue( "/some/prompts.json" )
		with self.frameContext( script, self.firstFrame ) :
			with self.assertRaisesRegex( Gaffer.ProcessException, "either promptFile or prompts" ) :
				script["track"]["layers"].getValue()

	def testSeedPassPrecedesCombinedKeyframes( self ) :

		# As `autoseg` does (`tracking.pass_plan()`), keyframes combined with
		# automatic layers are first tracked back on their own, so that the
		# forward pass finds the clicked object in the cache on the frames
		# before its keyframe instead of starting a duplicate layer there.
		script, shot, shotFile = self.__trackedScript( numFrames = 8 )
		track = script["track"]
		# The backward pass would hide a duplicate on the first frames.
		track["backward"].setValue( False )
		promptSet, index = self.__promptSet( shot, "combine" )
		track["prompts"].setValue( GafferSegmentation.PromptAlgo.toData( promptSet ) )

		def heroFrames() :
			# The frames on which the clicked layer holds the object.
			result = set()
			for frame in self.frames( shot ) :
				truth = shot.gt_masks( frame, ( 180, 320 ) ).get( index )
				layers = self.__layersAt( script, frame )
				if truth is not None and "/person/hero" in layers and self.iou( layers["/person/hero"], truth ) > 0.9 :
					result.add( frame )
				for name, mask in layers.items() :
					if name != "/person/hero" and truth is not None :
						self.assertLess( self.iou( mask, truth ), 0.5, "duplicate layer {} on frame {}".format( name, frame ) )
			return result

		visible = { f for f in self.frames( shot ) if shot.gt_masks( f, ( 180, 320 ) ).get( index ) is not None }
		self.assertLess( min( visible ), promptSet.keyframes[0] )
		self.assertEqual( heroFrames(), visible )
		scores = self.__evaluate( script, shot )
		self.assertEqual( scores.layers_per_object, 1.0 )
		self.assertEqual( scores.extra_layers, 0 )

		# Without the seed pass (and with no backward pass) the frames before
		# the keyframe are missed.
		track["__seed"]["enabled"].setValue( False )
		self.assertEqual( heroFrames(), { f for f in visible if f >= promptSet.keyframes[0] } )

	def testSeedPassPassesThroughWithoutCombinedPrompts( self ) :

		script, shot, shotFile = self.__trackedScript( numFrames = 6 )
		track = script["track"]
		seed = track["__seed"]
		with self.frameContext( script, self.firstFrame ) :
			self.assertEqual( seed["out"].getValue(), seed["cache"].getValue() )

		promptSet, index = self.__promptSet( shot, "only" )
		track["prompts"].setValue( GafferSegmentation.PromptAlgo.toData( promptSet ) )
		with self.frameContext( script, self.firstFrame ) :
			self.assertEqual( seed["out"].getValue(), seed["cache"].getValue() )

		promptSet.mode = "combine"
		track["prompts"].setValue( GafferSegmentation.PromptAlgo.toData( promptSet ) )
		with self.frameContext( script, self.firstFrame ) :
			self.assertNotEqual( seed["out"].getValue(), seed["cache"].getValue() )

		# The seed pass tracks the keyframes alone : the automatic masks
		# do not reach it.
		context = self.frameContext( script, self.firstFrame )
		self.assertHashUnchanged( seed["out"], script["detect"]["prompt"], "car", context )
		self.assertHashChanges( track["__forward"]["out"], script["detect"]["prompt"], "car", context )

	def testRecentCacheRule( self ) :

		script, shot, shotFile = self.__trackedScript( numFrames = 8 )
		track = script["track"]
		self.assertEqual( track["cacheRule"].getValue(), "guarded" )
		track["cacheRule"].setValue( "paper" )
		paper = self.__evaluate( script, shot )
		with self.frameContext( script, self.firstFrame ) :
			forward = track["__forward"]["out"].getValue()
		# The paper's rule records no evidence ages.
		self.assertFalse( any( "ageIds" in forward["frames"][f] for f in forward["frames"].keys() ) )

		track["cacheRule"].setValue( "recent" )
		self.assertEqual( track["__backward"]["cacheRule"].getValue(), "recent" )
		with self.frameContext( script, self.firstFrame ) :
			forward = track["__forward"]["out"].getValue()
		# The ages reach the backward pass through the cache data, as they do
		# through `autoseg`'s work folder.
		entry = forward["frames"][str( self.firstFrame + 2 )]
		self.assertTrue( len( entry["ageIds"] ) )
		cache = GafferSegmentation._Algo.dataToCache( forward )
		self.assertEqual(
			cache.evidence_ages( self.firstFrame + 2 ),
			dict( zip( entry["ageIds"], entry["ageValues"] ) ),
		)
		# Without drift both rules find the objects.
		recent = self.__evaluate( script, shot )
		self.assertGreater( recent.j, 0.9 )
		self.assertGreater( paper.j, 0.9 )

		track["cacheRule"].setValue( "newest" )
		with self.frameContext( script, self.firstFrame ) :
			with self.assertRaisesRegex( Gaffer.ProcessException, "cache_rule must be one of 'paper', 'recent'" ) :
				track["layers"].getValue()

	def testGuardedCacheRule( self ) :

		script, shot, shotFile = self.__trackedScript( numFrames = 8 )
		track = script["track"]
		track["cacheRule"].setValue( "guarded" )
		self.assertEqual( track["__forward"]["cacheRule"].getValue(), "guarded" )
		self.assertEqual( track["__backward"]["cacheRule"].getValue(), "guarded" )
		with self.frameContext( script, self.firstFrame ) :
			forward = track["__forward"]["out"].getValue()
		# Like "recent", the guarded rule's evidence ages reach the backward
		# pass through the cache data.
		entry = forward["frames"][str( self.firstFrame + 2 )]
		self.assertTrue( len( entry["ageIds"] ) )
		# So does what each layer looks like (the rule's appearance evidence).
		cache = GafferSegmentation._Algo.dataToCache( forward )
		self.assertTrue( cache.layer_ids )
		self.assertTrue( all( cache.appearance( i ) is not None for i in cache.layer_ids ) )
		guarded = self.__evaluate( script, shot )
		self.assertGreater( guarded.j, 0.9 )

	def testPromptAlgoRoundTrip( self ) :

		promptSet = interactive.PromptSet(
			( 640, 360 ),
			[
				interactive.InteractiveObject(
					"car", None, {
						1001 : interactive.Keyframe( [ [ 10, 20 ], [ 30, 40 ] ], [ 1, 0 ], [ 5, 5, 50, 60 ] ),
						1005 : interactive.Keyframe( mask = numpy.eye( 8, dtype = numpy.float32 ) ),
					}
				)
			],
			"combine",
		)
		again = GafferSegmentation.PromptAlgo.fromData( GafferSegmentation.PromptAlgo.toData( promptSet ) )
		self.assertEqual( again.image_size, ( 640, 360 ) )
		self.assertEqual( again.mode, "combine" )
		keyframes = again.objects[0].keyframes
		numpy.testing.assert_array_equal( keyframes[1001].points, [ [ 10, 20 ], [ 30, 40 ] ] )
		numpy.testing.assert_array_equal( keyframes[1001].labels, [ 1, 0 ] )
		numpy.testing.assert_array_equal( keyframes[1001].box, [ 5, 5, 50, 60 ] )
		numpy.testing.assert_array_equal( keyframes[1005].mask, numpy.eye( 8 ) )
		self.assertIsNone( GafferSegmentation.PromptAlgo.fromData( IECore.CompoundObject() ) )

	def testFrameRangeError( self ) :

		script, shot, shotFile = self.__trackedScript( numFrames = 2 )
		script["track"]["frameRange"].setValue( "sometime" )
		with self.frameContext( script, self.firstFrame ) :
			with self.assertRaisesRegex( Gaffer.ProcessException, "not a frame range" ) :
				script["track"]["layers"].getValue()

	def testFrameRangeFollowsTheScript( self ) :

		script, shot, shotFile = self.__trackedScript( numFrames = 6 )
		script["frameRange"]["end"].setValue( self.firstFrame + 3 )
		with self.frameContext( script, self.firstFrame ) :
			shotData = script["track"]["__shot"].getValue()
		self.assertEqual( sorted( int( f ) for f in shotData["frames"].keys() ), list( range( self.firstFrame, self.firstFrame + 4 ) ) )

	def testPreview( self ) :

		script, shot, shotFile = self.__trackedScript( numFrames = 6 )
		with self.frameContext( script, self.firstFrame + 2 ) :
			names, layers = self.layers( script["track"]["layers"].getValue() )
			alpha = self.imageArray( script["track"]["out"], "A" )
		union = 1.0 - numpy.prod( [ 1.0 - m for m in layers.values() ], axis = 0 )
		numpy.testing.assert_allclose( alpha, union, atol = 1e-5 )

	def testPassThroughSharesTheInputHash( self ) :

		# A pass-through copies its input's hash (`ComputeNode.h`), so Gaffer's
		# cache holds the shot's cache data once, not once per pass.
		script, shot, shotFile = self.__trackedScript( numFrames = 4 )
		track = script["track"]
		track["backward"].setValue( False )
		with self.frameContext( script, self.firstFrame ) :
			# No interactive prompts : the seed pass passes the empty cache on.
			self.assertEqual( track["__seed"]["out"].hash(), track["__seed"]["cache"].hash() )
			# A disabled pass.
			self.assertEqual( track["__backward"]["out"].hash(), track["__backward"]["cache"].hash() )
			self.assertEqual( track["__backward"]["out"].hash(), track["__forward"]["out"].hash() )

	def testTrackPassHashesItsFrames( self ) :

		# The frames are hashed as `IECore.IntVectorData` : Cortex's
		# `MurmurHash.append()` takes no Python lists.
		script, shot, shotFile = self.__trackedScript( numFrames = 4 )
		track = script["track"]
		with self.frameContext( script, self.firstFrame ) :
			h = track["__forward"]["out"].hash()
			track["frameRange"].setValue( "{}-{}".format( self.firstFrame, self.firstFrame + 2 ) )
			self.assertNotEqual( track["__forward"]["out"].hash(), h )

	def testSerialisation( self ) :

		script = Gaffer.ScriptNode()
		script["track"] = GafferSegmentation.Track()
		script["track"]["window"].setValue( 10 )
		script["track"]["promptFile"].setValue( "/shots/sh010/prompts.json" )
		serialised = script.serialise()
		self.assertNotIn( "__forward", serialised )
		self.assertNotIn( "GafferML", serialised )

		script2 = Gaffer.ScriptNode()
		script2.execute( serialised )
		self.assertEqual( script2["track"]["window"].getValue(), 10 )
		self.assertEqual( script2["track"]["promptFile"].getValue(), "/shots/sh010/prompts.json" )
		self.assertEqual( script2["track"]["__backward"]["window"].getValue(), 10 )
		self.assertEqual( script2["track"].keys(), script["track"].keys() )

	def testQc( self ) :

		# The shot's QC summary (`pipeline.qc`), collected while the passes
		# track, and each frame's digest and flags on `layers`.
		script, shot, shotFile = self.__trackedScript( numFrames = 10 )
		track = script["track"]
		with self.frameContext( script, self.firstFrame ) :
			data = track["qc"].getValue()
			h = track["qc"].hash()
		with self.frameContext( script, self.firstFrame + 4 ) :
			self.assertEqual( track["qc"].hash(), h )
			layers = track["layers"].getValue()

		summary = json.loads( data["summary"].value )
		self.assertEqual( summary["format"], "autoseg-qc" )
		self.assertTrue( summary["live_data"] )
		self.assertEqual( summary["frames"], self.frames( shot ) )
		self.assertEqual( sorted( summary["layers"] ), sorted( layers["names"] ) )
		for name, layer in summary["layers"].items() :
			# The tracker's object scores, as the passes saw them.
			self.assertTrue( any( s is not None and s > 0 for s in layer["series"]["score"] ), name )
		self.assertEqual( list( data["flags"] ), [ f["text"] for f in summary["flags"] ] )
		self.assertEqual( len( data["flagFirstFrames"] ), len( summary["flags"] ) )

		digest = json.loads( layers["qc"].value )
		self.assertEqual( digest["frame"], self.firstFrame + 4 )
		self.assertEqual( digest["layers"], len( summary["layers"] ) )
		self.assertEqual(
			list( layers["qcFlags"] ),
			[ f["text"] for f in summary["flags"] if f["first"] <= self.firstFrame + 4 <= f["last"] ]
		)

	def testQcDirtiedWithTheShot( self ) :

		node = GafferSegmentation.Track()
		self.assertIn( node["qc"], node.affects( node["__shot"] ) )
		self.assertNotIn( node["qc"], node.affects( node["backward"] ) )

if __name__ == "__main__" :
	unittest.main()
