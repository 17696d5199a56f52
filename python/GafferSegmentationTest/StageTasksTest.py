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

import json
import os

import numpy

import IECore

import Gaffer
import GafferDispatch
import GafferSegmentation
import GafferSegmentationTest

from SegmentationCore.idmatte import cryptomatte

## A dispatcher recording the batches Gaffer's Dispatcher builds (its
# `Batcher`, src/GafferDispatch/Dispatcher.cpp) and executing them as
# LocalDispatcher does : depth first, preTasks first, each batch once.
class _RecordingDispatcher( GafferDispatch.Dispatcher ) :

	def __init__( self, name = "RecordingDispatcher" ) :

		GafferDispatch.Dispatcher.__init__( self, name )
		self.batches = []

	def _doDispatch( self, rootBatch ) :

		self.batches = []

		# Python wrappers of one C++ batch are new objects on each call (and
		# their ids get reused) : batches are told apart by their blind data,
		# as LocalDispatcher does.
		def visit( batch ) :
			if "recording:index" in batch.blindData() :
				return batch.blindData()["recording:index"].value
			preTasks = [ visit( b ) for b in batch.preTasks() ]
			if batch.plug() is None :
				return None
			context = batch.context()
			record = {
				"node" : batch.node().getName(),
				"frames" : [ int( f ) for f in batch.frames() ],
				"chunk" : context.get( "segmentation:chunk", None ),
				"shot" : context.get( "shot:name", None ),
				"preTasks" : [ p for p in preTasks if p is not None ],
			}
			batch.blindData()["recording:index"] = IECore.IntData( len( self.batches ) )
			self.batches.append( record )
			batch.execute()
			return len( self.batches ) - 1

		for batch in rootBatch.preTasks() :
			visit( batch )

	def named( self, node, shot = None ) :

		return [ ( i, b ) for i, b in enumerate( self.batches ) if b["node"] == node and b["shot"] == shot ]

class StageTasksTest( GafferSegmentationTest.SegmentationTestCase ) :

	def buildStages( self, script, batchSize = 5 ) :

		script["workFolder"] = GafferSegmentation.WorkFolder()
		previous = None
		for name in ( "DetectStage", "SegmentStage", "TrackStage", "ReconcileStage", "WriteStage" ) :
			node = getattr( GafferSegmentation, name )()
			script[name] = node
			node["settings"].setInput( script["workFolder"]["settings"] )
			if previous is not None :
				node["preTasks"][0].setInput( previous["task"] )
			previous = node
		for name in ( "DetectStage", "SegmentStage", "WriteStage" ) :
			script[name]["dispatcher"]["batchSize"].setValue( batchSize )
		return script["workFolder"]

	def setUpShot( self, script, numFrames, **kw ) :

		pattern, shotFile, shot = self.writeShot( numFrames = numFrames, width = 160, height = 90, **kw )
		workFolder = self.buildStages( script )
		workFolder["plate"].setValue( pattern )
		workFolder["detectorModel"].setValue( shotFile )
		workFolder["sam2Model"].setValue( shotFile )
		workFolder["outputDirectory"].setValue( str( self.temporaryDirectory() / "out" ) )
		script["frameRange"]["start"].setValue( self.firstFrame )
		script["frameRange"]["end"].setValue( self.firstFrame + numFrames - 1 )
		return pattern, shotFile, shot

	def dispatch( self, script, dispatcher = None ) :

		dispatcher = dispatcher or _RecordingDispatcher()
		dispatcher["jobsDirectory"].setValue( str( self.temporaryDirectory() / "jobs" ) )
		dispatcher["framesMode"].setValue( GafferDispatch.Dispatcher.FramesMode.FullRange )
		dispatcher["tasks"][0].setInput( script["WriteStage"]["task"] )
		with script.context() :
			dispatcher["task"].execute()
		return dispatcher

	def autosegRun( self, pattern, shotFile, output, **kw ) :

		from SegmentationCore.pipeline import runner
		config = runner.RunConfig( plate = pattern, output = output, synthetic = shotFile, **kw )
		runner.Pipeline( config ).run()

	def assertSameMattes( self, outputA, outputB, frames ) :

		for frame in frames :
			a = cryptomatte.read_cryptomatte( os.path.join( outputA, "plate.crypto.{}.exr".format( frame ) ) )
			b = cryptomatte.read_cryptomatte( os.path.join( outputB, "plate.crypto.{}.exr".format( frame ) ) )
			self.assertEqual( sorted( a ), sorted( b ), "frame {}".format( frame ) )
			for name in a :
				numpy.testing.assert_array_equal( a[name], b[name], "frame {} {}".format( frame, name ) )

	def testBatchesAndDependencies( self ) :

		script = Gaffer.ScriptNode()
		pattern, shotFile, shot = self.setUpShot( script, 12 )
		dispatcher = self.dispatch( script )
		frames = self.frames( shot )
		groups = [ frames[i:i+5] for i in range( 0, len( frames ), 5 ) ]

		detect = dispatcher.named( "DetectStage" )
		segment = dispatcher.named( "SegmentStage" )
		track = dispatcher.named( "TrackStage" )
		reconcile = dispatcher.named( "ReconcileStage" )
		write = dispatcher.named( "WriteStage" )
		self.assertEqual( [ b["frames"] for i, b in detect ], groups )
		self.assertEqual( [ b["frames"] for i, b in segment ], groups )
		self.assertEqual( [ b["frames"] for i, b in write ], groups )
		# Segment batch k waits for Detect batch k only.
		for ( i, s ), ( j, d ) in zip( segment, detect ) :
			self.assertEqual( s["preTasks"], [ j ] )
		# One tracking task for the shot, after every stage-2 batch ; one reconcile.
		self.assertEqual( len( track ), 1 )
		self.assertEqual( track[0][1]["frames"], [ frames[0] ] )
		self.assertEqual( sorted( track[0][1]["preTasks"] ), sorted( i for i, b in segment ) )
		self.assertEqual( len( reconcile ), 1 )
		self.assertEqual( reconcile[0][1]["preTasks"], [ track[0][0] ] )
		for i, w in write :
			self.assertEqual( w["preTasks"], [ reconcile[0][0] ] )

		# The work folder and mattes are autoseg's : a plain run gives the same.
		output = str( self.temporaryDirectory() / "out" )
		work = os.path.join( output, ".autoseg", "plate" )
		self.assertTrue( os.path.isfile( os.path.join( work, "run.json" ) ) )
		for frame in frames :
			self.assertTrue( os.path.isfile( os.path.join( work, "write", "{}.done".format( frame ) ) ) )
		reference = str( self.temporaryDirectory() / "autoseg" )
		self.autosegRun( pattern, shotFile, reference, frames = "{}-{}".format( frames[0], frames[-1] ) )
		self.assertSameMattes( output, reference, frames )

	def testChunkedLongShot( self ) :

		script = Gaffer.ScriptNode()
		pattern, shotFile, shot = self.setUpShot( script, 60, numObjects = 2 )
		script["workFolder"]["chunks"].setValue( 3 )
		dispatcher = self.dispatch( script )
		frames = self.frames( shot )

		from SegmentationCore.pipeline import chunks as chunking
		expected = chunking.chunk_ranges( frames, 3, 20, 5 )

		track = dispatcher.named( "TrackStage" )
		self.assertEqual( sorted( b["chunk"] for i, b in track ), [ 0, 1, 2 ] )
		segment = dict( dispatcher.named( "SegmentStage" ) )
		for i, b in track :
			chunk = expected[b["chunk"]]
			# Each chunk waits for the stage-2 batches holding its own frames only.
			needed = sorted( j for j, s in segment.items() if set( s["frames"] ) & set( chunk.frames ) )
			self.assertEqual( sorted( b["preTasks"] ), needed )
			self.assertEqual( len( b["frames"] ), 1 )
			self.assertIn( b["frames"][0], chunk.frames )
		reconcile = dispatcher.named( "ReconcileStage" )
		self.assertEqual( len( reconcile ), 1 )
		self.assertEqual( sorted( reconcile[0][1]["preTasks"] ), sorted( i for i, b in track ) )
		for i, w in dispatcher.named( "WriteStage" ) :
			self.assertEqual( w["preTasks"], [ reconcile[0][0] ] )

		# The same as `autoseg run --chunks 3`.
		output = str( self.temporaryDirectory() / "out" )
		work = os.path.join( output, ".autoseg", "plate", "track", "chunks" )
		self.assertEqual( sorted( os.listdir( work ) ), [ "0", "1", "2" ] )
		reference = str( self.temporaryDirectory() / "autoseg" )
		self.autosegRun( pattern, shotFile, reference, frames = "{}-{}".format( frames[0], frames[-1] ), chunks = 3 )
		self.assertSameMattes( output, reference, frames )

	def testThreeShotsInOneDispatch( self ) :

		script = Gaffer.ScriptNode()
		workFolder = self.buildStages( script, batchSize = 4 )
		lines = []
		lengths = { 2 : 8, 3 : 6, 4 : 10 }
		for seed, numFrames in lengths.items() :
			pattern, shotFile, shot = self.writeShot( numFrames = numFrames, width = 160, height = 90, seed = seed )
			lines.append( "{} {}-{} shot{}".format( pattern, self.firstFrame, self.firstFrame + numFrames - 1, seed ) )
		shotList = self.temporaryDirectory() / "shots.txt"
		shotList.write_text( "# plate frames name\n" + "\n".join( lines ) + "\n" )

		root = str( self.temporaryDirectory() )
		workFolder["plate"].setValue( "${shot:plate}" )
		workFolder["frameRange"].setValue( "${shot:frames}" )
		workFolder["detectorModel"].setValue( root + "/${shot:name}/plate.shot.json" )
		workFolder["sam2Model"].setValue( root + "/${shot:name}/plate.shot.json" )
		workFolder["outputDirectory"].setValue( root + "/out/${shot:name}" )

		script["shots"] = GafferSegmentation.ShotList()
		script["shots"]["shots"].setValue( str( shotList ) )
		script["shots"]["preTasks"][0].setInput( script["WriteStage"]["task"] )

		dispatcher = _RecordingDispatcher()
		dispatcher["jobsDirectory"].setValue( str( self.temporaryDirectory() / "jobs" ) )
		dispatcher["tasks"][0].setInput( script["shots"]["task"] )
		with script.context() :
			dispatcher["task"].execute()

		for seed, numFrames in lengths.items() :
			name = "shot{}".format( seed )
			frames = list( range( self.firstFrame, self.firstFrame + numFrames ) )
			groups = [ frames[i:i+4] for i in range( 0, numFrames, 4 ) ]
			for node in ( "DetectStage", "SegmentStage", "WriteStage" ) :
				self.assertEqual( [ b["frames"] for i, b in dispatcher.named( node, name ) ], groups, node )
			track = dispatcher.named( "TrackStage", name )
			self.assertEqual( len( track ), 1 )
			self.assertEqual(
				sorted( track[0][1]["preTasks"] ), sorted( i for i, b in dispatcher.named( "SegmentStage", name ) )
			)
			for frame in frames :
				self.assertTrue( os.path.isfile( os.path.join( root, "out", name, "plate.crypto.{}.exr".format( frame ) ) ) )
		# ShotList is a no-op : one batch without frames, after every write batch.
		shotList = dispatcher.named( "shots" )
		self.assertEqual( len( shotList ), 1 )
		self.assertEqual( shotList[0][1]["frames"], [] )
		writes = [ i for i, b in enumerate( dispatcher.batches ) if b["node"] == "WriteStage" ]
		self.assertEqual( sorted( shotList[0][1]["preTasks"] ), writes )
		self.assertEqual( len( dispatcher.batches ), 1 + sum( 3 * len( range( 0, n, 4 ) ) + 2 for n in lengths.values() ) )

	def testLocalDispatcherAndResume( self ) :

		script = Gaffer.ScriptNode()
		pattern, shotFile, shot = self.setUpShot( script, 10 )
		script["dispatcher"] = GafferDispatch.LocalDispatcher( jobPool = GafferDispatch.LocalDispatcher.JobPool() )
		self.dispatch( script, script["dispatcher"] )
		messages = [ m.message for m in script["dispatcher"].jobPool().jobs()[0].messages() ]
		self.assertIn( "Executing frames 1001-1005", messages )
		output = str( self.temporaryDirectory() / "out" )
		files = sorted( os.listdir( output ) )
		self.assertEqual( len( [ f for f in files if f.endswith( ".exr" ) ] ), 20 )

		# A farm retry after a kill : remove some results, dispatch again ;
		# only those are redone, and the mattes are identical.
		work = os.path.join( output, ".autoseg", "plate" )
		before = { f : open( os.path.join( output, f ), "rb" ).read() for f in files if f.endswith( ".exr" ) }
		os.remove( os.path.join( work, "write", "1003.done" ) )
		os.remove( os.path.join( output, "plate.crypto.1003.exr" ) )
		stamps = { f : os.stat( os.path.join( output, f ) ).st_mtime_ns for f in before if os.path.exists( os.path.join( output, f ) ) }
		self.dispatch( script, script["dispatcher"] )
		after = { f : open( os.path.join( output, f ), "rb" ).read() for f in before }
		self.assertEqual( after, before )
		changed = [ f for f in before if os.stat( os.path.join( output, f ) ).st_mtime_ns != stamps.get( f ) ]
		self.assertEqual( sorted( changed ), [ "plate.crypto.1003.exr", "plate.objectid.1003.exr" ] )

	def testCancellationStopsAStageAndTheRerunResumes( self ) :

		script = Gaffer.ScriptNode()
		pattern, shotFile, shot = self.setUpShot( script, 10 )
		frames = self.frames( shot )
		self.dispatch( script )
		output = str( self.temporaryDirectory() / "out" )
		work = os.path.join( output, ".autoseg", "plate" )
		before = { f : open( os.path.join( output, f ), "rb" ).read() for f in os.listdir( output ) if f.endswith( ".exr" ) }
		for f in before :
			os.remove( os.path.join( output, f ) )
		for f in os.listdir( os.path.join( work, "write" ) ) :
			if f.endswith( ".done" ) :
				os.remove( os.path.join( work, "write", f ) )

		# Cancelled while writing (Gaffer cancels a task through its
		# context's canceller ; the engine checks it between frames).
		canceller = IECore.Canceller()
		calls = []
		from SegmentationCore.pipeline import runner
		original = runner.Pipeline.__init__
		def init( pipeline, config, progress = None, log = None ) :
			def cancelling( stage, done, total, detail ) :
				calls.append( done )
				if done >= 3 :
					canceller.cancel()
				progress( stage, done, total, detail )
			original( pipeline, config, progress = cancelling, log = log )
		runner.Pipeline.__init__ = init
		try :
			context = Gaffer.Context( script.context(), canceller )
			context.setFrame( frames[0] )
			with context :
				with self.assertRaises( IECore.Cancelled ) :
					script["WriteStage"]["task"].executeSequence( frames )
		finally :
			runner.Pipeline.__init__ = original
		written = [ f for f in os.listdir( output ) if f.endswith( ".exr" ) ]
		self.assertTrue( 0 < len( written ) < len( before ) )

		# The rerun writes the rest ; the mattes are identical.
		with Gaffer.Context( script.context() ) as context :
			script["WriteStage"]["task"].executeSequence( frames )
		after = { f : open( os.path.join( output, f ), "rb" ).read() for f in before }
		self.assertEqual( after, before )

	def testHashes( self ) :

		script = Gaffer.ScriptNode()
		pattern, shotFile, shot = self.setUpShot( script, 6 )
		frames = self.frames( shot )
		with self.frameContext( script, frames[0] ) :
			first = { n : script[n]["task"].hash() for n in ( "DetectStage", "TrackStage", "WriteStage" ) }
		with self.frameContext( script, frames[1] ) :
			self.assertNotEqual( script["DetectStage"]["task"].hash(), first["DetectStage"] )
			self.assertNotEqual( script["WriteStage"]["task"].hash(), first["WriteStage"] )
			self.assertEqual( script["TrackStage"]["task"].hash(), first["TrackStage"] )
		# Frames outside the shot are no-ops.
		with self.frameContext( script, frames[-1] + 1 ) :
			self.assertEqual( script["WriteStage"]["task"].hash(), IECore.MurmurHash() )
		# No plate : nothing to do.
		script["workFolder"]["plate"].setValue( "" )
		with self.frameContext( script, frames[0] ) :
			for n in ( "DetectStage", "TrackStage", "WriteStage" ) :
				self.assertEqual( script[n]["task"].hash(), IECore.MurmurHash() )

	def testWorkFolderLayersReadsTheTrackedShot( self ) :

		script = Gaffer.ScriptNode()
		pattern, shotFile, shot = self.setUpShot( script, 8 )
		frames = self.frames( shot )
		script["layers"] = GafferSegmentation.WorkFolderLayers()
		script["layers"]["settings"].setInput( script["workFolder"]["settings"] )
		with self.frameContext( script, frames[2] ) :
			self.assertEqual( script["layers"]["layers"].getValue().keys(), [] )
		self.dispatch( script )
		script["layers"]["refreshCount"].setValue( 1 )
		with self.frameContext( script, frames[2] ) :
			names, layers = self.layers( script["layers"]["layers"].getValue() )
		self.assertTrue( names )
		for name in names :
			self.assertRegex( name, r"^/person/person_\d{4}$" )
		output = str( self.temporaryDirectory() / "out" )
		written = cryptomatte.read_cryptomatte( os.path.join( output, "plate.crypto.{}.exr".format( frames[2] ) ) )
		self.assertEqual( sorted( written ), sorted( names ) )

	def testSettingsAreAutosegs( self ) :

		script = Gaffer.ScriptNode()
		pattern, shotFile, shot = self.setUpShot( script, 4 )
		with script.context() :
			config = GafferSegmentation._Stages.runConfig( script["workFolder"]["settings"].getValue() )
		self.assertEqual( config.tracking.epsilon, 0.1 )
		self.assertEqual( config.stage2.discard_sim, 0.1 )
		self.assertIsNone( config.box_threshold )
		self.assertEqual( config.frames, "{}-{}".format( self.firstFrame, self.firstFrame + 3 ) )
		script["workFolder"]["outputDirectory"].setValue( "${project:rootDirectory}/mattes" )
		with script.context() :
			with self.assertRaisesRegex( Exception, "project:rootDirectory" ) :
				script["workFolder"]["settings"].getValue()

	def testRefineEdgesSetting( self ) :

		# WriteStage refines edges as `autoseg run` does (on by default) ;
		# WorkFolder's refineEdges off gives autoseg's --no-refine-edges.
		script = Gaffer.ScriptNode()
		pattern, shotFile, shot = self.setUpShot( script, 4 )
		with script.context() :
			config = GafferSegmentation._Stages.runConfig( script["workFolder"]["settings"].getValue() )
		from SegmentationCore.pipeline import refine
		self.assertTrue( config.refine_edges )
		self.assertEqual( config.refine_params, refine.RefineParams() )

		script["workFolder"]["refineBand"].setValue( 0.012 )
		script["workFolder"]["refineEps"].setValue( 0.001 )
		with script.context() :
			config = GafferSegmentation._Stages.runConfig( script["workFolder"]["settings"].getValue() )
		self.assertEqual( config.refine_params, refine.RefineParams( band = 0.012, eps = 0.001 ) )
		script["workFolder"]["refineBand"].setToDefault()
		script["workFolder"]["refineEps"].setToDefault()

		script["workFolder"]["refineEdges"].setValue( False )
		self.dispatch( script )
		frames = self.frames( shot )
		output = str( self.temporaryDirectory() / "out" )
		with open( os.path.join( output, ".autoseg", "plate", "write", "settings.json" ) ) as f :
			self.assertFalse( json.load( f )["refine_edges"] )
		bilinear = str( self.temporaryDirectory() / "bilinear" )
		self.autosegRun( pattern, shotFile, bilinear, frames = "{}-{}".format( frames[0], frames[-1] ), refine_edges = False )
		self.assertSameMattes( output, bilinear, frames )
		refined = str( self.temporaryDirectory() / "refined" )
		self.autosegRun( pattern, shotFile, refined, frames = "{}-{}".format( frames[0], frames[-1] ) )
		with self.assertRaises( AssertionError ) :
			self.assertSameMattes( output, refined, frames )

	def testShotListFromAFolder( self ) :

		for seed in ( 5, 6 ) :
			self.writeShot( numFrames = 3, width = 64, height = 36, seed = seed )
		from GafferSegmentation.ShotList import readShotList
		shots = readShotList( str( self.temporaryDirectory() ) )
		self.assertEqual( [ s[0] for s in shots ], [ "shot5", "shot6" ] )
		self.assertEqual( shots[0][2], [ 1001, 1002, 1003 ] )

	def testFarmTemplate( self ) :

		import GafferSegmentationUI
		from . import AutoSegmentFarmReference

		script = Gaffer.ScriptNode()
		script["reference"] = Gaffer.Reference()
		script["reference"].load( GafferSegmentationUI.autoSegmentFarmReference() )
		reference = script["reference"]
		for name, section in AutoSegmentFarmReference.promotedPlugs :
			self.assertIn( name, reference )
		for nodeName, batchSize in AutoSegmentFarmReference.stages :
			self.assertEqual( reference[nodeName]["dispatcher"]["batchSize"].getValue(), batchSize )

		pattern, shotFile, shot = self.writeShot( numFrames = 12, width = 160, height = 90 )
		reference["plate"].setValue( pattern )
		reference["detectorModel"].setValue( shotFile )
		reference["sam2Model"].setValue( shotFile )
		reference["outputDirectory"].setValue( str( self.temporaryDirectory() / "out" ) )
		script["frameRange"]["start"].setValue( self.firstFrame )
		script["frameRange"]["end"].setValue( self.firstFrame + 11 )

		dispatcher = _RecordingDispatcher()
		dispatcher["jobsDirectory"].setValue( str( self.temporaryDirectory() / "jobs" ) )
		dispatcher["framesMode"].setValue( GafferDispatch.Dispatcher.FramesMode.FullRange )
		dispatcher["tasks"][0].setInput( reference["task"] )
		with script.context() :
			dispatcher["task"].execute()
		frames = self.frames( shot )
		tens = [ frames[:10], frames[10:] ]
		for node in ( "DetectStage", "SegmentStage", "WriteStage" ) :
			self.assertEqual( [ b["frames"] for i, b in dispatcher.named( node ) ], tens )
		self.assertEqual( len( dispatcher.named( "TrackStage" ) ), 1 )
		with self.frameContext( script, frames[3] ) :
			names, layers = self.layers( reference["layers"].getValue() )
		self.assertTrue( names )

if __name__ == "__main__" :
	import unittest
	unittest.main()
