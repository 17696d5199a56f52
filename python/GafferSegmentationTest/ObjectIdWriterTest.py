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
import os
import unittest

import numpy

import IECore

import Gaffer
import GafferDispatch
import GafferImage
import GafferSegmentation
import GafferSegmentationTest

from SegmentationCore.idmatte import cryptomatte, mattefilter
from SegmentationCore.pipeline import refine
from SegmentationCore import plates

class ObjectIdWriterTest( GafferSegmentationTest.SegmentationTestCase ) :

	def testConstruct( self ) :

		node = GafferSegmentation.ObjectIdWriter()
		self.assertEqual( node.getName(), "ObjectIdWriter" )
		self.assertEqual( node["fileName"].getValue(), "" )
		self.assertFalse( node["overwrite"].getValue() )
		self.assertEqual( node["cryptomatteLayer"].getValue(), "CryptoObject" )
		self.assertTrue( node["task"].requiresSequenceExecution() )
		# Edge refinement is on by default, with autoseg's settings.
		self.assertTrue( node["refineEdges"].getValue() )
		self.assertAlmostEqual( node["refineBand"].getValue(), refine.RefineParams().band, places = 6 )
		self.assertAlmostEqual( node["refineEps"].getValue(), refine.RefineParams().eps, places = 9 )
		self.assertEqual( node["colorSpace"].getValue(), "linear" )

	def __script( self, numFrames = 6 ) :

		pattern, shotFile, shot = self.writeShot( numFrames = numFrames )
		script = Gaffer.ScriptNode()
		script["frameRange"]["start"].setValue( self.firstFrame )
		script["frameRange"]["end"].setValue( self.firstFrame + numFrames - 1 )
		self.buildNetwork( script, pattern, shotFile )

		output = self.temporaryDirectory() / "output"
		script["writer"] = GafferSegmentation.ObjectIdWriter()
		script["writer"]["in"].setInput( script["track"]["layers"] )
		script["writer"]["plate"].setInput( script["reader"]["out"] )
		script["writer"]["fileName"].setValue( str( output / "objectId.####.exr" ) )
		script["writer"]["cryptomatteFileName"].setValue( str( output / "cryptomatte.####.exr" ) )

		script["dispatcher"] = GafferDispatch.LocalDispatcher( jobPool = GafferDispatch.LocalDispatcher.JobPool() )
		script["dispatcher"]["jobsDirectory"].setValue( str( self.temporaryDirectory() / "jobs" ) )
		script["dispatcher"]["tasks"][0].setInput( script["writer"]["task"] )
		script["dispatcher"]["framesMode"].setValue( GafferDispatch.Dispatcher.FramesMode.FullRange )
		return script, shot, output

	def __expectedLayers( self, script, frame, refineEdges ) :

		"""What the writer must write on `frame` : the engine's refinement of
		Track's layers guided by the plate (as `autoseg` makes it), or their
		bilinear upsampling."""

		with self.frameContext( script, frame ) :
			names, layers = self.layers( script["track"]["layers"].getValue() )
			plate = GafferSegmentation._Algo.imageToArray( GafferImage.ImageAlgo.image( script["reader"]["out"] ) )
		if not refineEdges :
			return names, layers, plates.upsample_masks( layers, plate.shape[:2] )
		guide = refine.guide_from_plate( plate, "linear" )
		return names, layers, refine.refine_layers( layers, plate.shape[:2], guide, refine.RefineParams(), depth_order = names )

	def testDispatchWritesTheFrameRange( self ) :

		script, shot, output = self.__script()
		with script.context() :
			script["dispatcher"]["task"].execute()

		allNames = set()
		rankSets = set()
		for frame in self.frames( shot ) :
			objectIdFile = str( output / "objectId.{}.exr".format( frame ) )
			cryptomatteFile = str( output / "cryptomatte.{}.exr".format( frame ) )
			self.assertTrue( os.path.isfile( objectIdFile ) )
			self.assertTrue( os.path.isfile( cryptomatteFile ) )

			names, working, layers = self.__expectedLayers( script, frame, refineEdges = True )

			# Both files name the same layers, and give each one the matte
			# Track made, refined at plate resolution as `autoseg` does.
			self.assertEqual( sorted( mattefilter.layer_names( objectIdFile ) ), sorted( names ) )
			self.assertEqual( sorted( mattefilter.layer_names( cryptomatteFile ) ), sorted( names ) )
			for name in names :
				numpy.testing.assert_allclose( mattefilter.extract_matte( objectIdFile, name ), layers[name], atol = 2e-3 )
				numpy.testing.assert_allclose( mattefilter.extract_matte( cryptomatteFile, name ), layers[name], atol = 2e-3 )

			allNames.update( names )
			rankSets.add( len( [ c for c in self.__channels( cryptomatteFile ) if c.startswith( "CryptoObject" ) and c.endswith( ".R" ) ] ) )

		# Names are stable through the shot : one per object.
		self.assertEqual( len( allNames ), len( shot.spec.objects ) )
		# The same number of rank sets on every frame.
		self.assertEqual( len( rankSets ), 1 )

	@staticmethod
	def __channels( fileName ) :

		import OpenImageIO
		image = OpenImageIO.ImageInput.open( fileName )
		try :
			return list( image.spec().channelnames )
		finally :
			image.close()

	def testRefineEdges( self ) :

		script, shot, output = self.__script( numFrames = 2 )
		script["writer"]["cryptomatteFileName"].setValue( "" )
		with script.context() :
			script["dispatcher"]["task"].execute()

		# Refinement off writes today's mattes : the bilinear upsampling.
		bilinearOutput = self.temporaryDirectory() / "bilinear"
		script["writer"]["refineEdges"].setValue( False )
		script["writer"]["fileName"].setValue( str( bilinearOutput / "objectId.####.exr" ) )
		with script.context() :
			script["dispatcher"]["task"].execute()

		params = refine.RefineParams()
		for frame in self.frames( shot ) :
			names, working, expected = self.__expectedLayers( script, frame, refineEdges = False )
			refinedFile = str( output / "objectId.{}.exr".format( frame ) )
			bilinearFile = str( bilinearOutput / "objectId.{}.exr".format( frame ) )
			refined = { n : mattefilter.extract_matte( refinedFile, n ) for n in names }
			bilinear = { n : mattefilter.extract_matte( bilinearFile, n ) for n in names }
			self.assertTrue( names )

			band = numpy.zeros( expected[names[0]].shape, bool )
			total = numpy.zeros( band.shape )
			differs = 0
			for name in names :
				numpy.testing.assert_allclose( bilinear[name], expected[name], atol = 2e-3 )
				band |= refine.edge_band( expected[name], params.pixels( band.shape )[0] )
				differs += numpy.count_nonzero( numpy.abs( refined[name] - bilinear[name] ) > 0.02 )
				total += refined[name]

			# Near the edges the refined mattes differ from the bilinear ones ;
			# far from every edge they are the same.
			self.assertGreater( differs, 20, "frame {}".format( frame ) )
			for name in names :
				numpy.testing.assert_array_equal( refined[name][~band], bilinear[name][~band] )
			# The coverages of a pixel sum to at most 1 (up to the file's half floats).
			self.assertLessEqual( total.max(), 1.0 + 1e-3 )

	def testRefineNeedsThePlate( self ) :

		script, shot, output = self.__script( numFrames = 1 )
		script["writer"]["plate"].setInput( None )
		with script.context() :
			with self.assertRaisesRegex( Exception, r"writer\.plate has no image.*refineEdges" ) :
				script["dispatcher"]["task"].execute()
		self.assertFalse( output.exists() and os.listdir( output ) )

		# Without refinement the plate is not needed.
		script["writer"]["refineEdges"].setValue( False )
		with script.context() :
			script["dispatcher"]["task"].execute()
		self.assertEqual( len( os.listdir( output ) ), 2 )

	def testRefinePlateSizeMustMatch( self ) :

		script, shot, output = self.__script( numFrames = 1 )
		smallPattern, smallShotFile, smallShot = self.writeShot( numFrames = 1, width = 160, height = 90, seed = 3 )
		script["smallPlate"] = GafferImage.ImageReader()
		script["smallPlate"]["fileName"].setValue( smallPattern )
		script["writer"]["plate"].setInput( script["smallPlate"]["out"] )
		with script.context() :
			with self.assertRaisesRegex( Exception, r"160x90.*320x180" ) :
				script["dispatcher"]["task"].execute()

	def testRefusesToOverwrite( self ) :

		script, shot, output = self.__script( numFrames = 3 )
		with script.context() :
			script["dispatcher"]["task"].execute()

		existing = output / "objectId.{}.exr".format( self.firstFrame + 1 )
		stamp = os.stat( existing ).st_mtime_ns
		with script.context() :
			with self.assertRaisesRegex( Exception, "already exists" ) :
				script["dispatcher"]["task"].execute()
		self.assertEqual( os.stat( existing ).st_mtime_ns, stamp )

		script["writer"]["overwrite"].setValue( True )
		with script.context() :
			script["dispatcher"]["task"].execute()
		self.assertNotEqual( os.stat( existing ).st_mtime_ns, stamp )

	def testExecuteOneFrame( self ) :

		script, shot, output = self.__script( numFrames = 3 )
		script["writer"]["cryptomatteFileName"].setValue( "" )
		with self.frameContext( script, self.firstFrame + 2 ) :
			script["writer"]["task"].execute()
		self.assertEqual( sorted( os.listdir( output ) ), [ "objectId.{}.exr".format( self.firstFrame + 2 ) ] )

	def testWritesTheQcDigest( self ) :

		# Track's QC digest of the frame goes into both headers, as `autoseg`
		# writes it, and nothing new appears under `cryptomatte/`.
		from SegmentationCore.idmatte import exr_header
		from SegmentationCore.pipeline import qc

		script, shot, output = self.__script( numFrames = 3 )
		script["writer"]["refineEdges"].setValue( False )
		frame = self.firstFrame + 1
		with self.frameContext( script, frame ) :
			script["writer"]["task"].execute()
			expected = script["track"]["layers"].getValue()["qc"].value
		for name in ( "objectId", "cryptomatte" ) :
			header, _ = exr_header.read_header( str( output / "{}.{}.exr".format( name, frame ) ) )
			self.assertEqual( header.value( qc.HEADER_ATTRIBUTE ), expected )
			self.assertEqual( json.loads( expected )["frame"], frame )
			for key in header.attributes :
				if key.startswith( "cryptomatte/" ) :
					self.assertIn( key.rsplit( "/", 1 )[-1], ( "name", "hash", "conversion", "manifest" ) )

	def testFixedRankSets( self ) :

		script, shot, output = self.__script( numFrames = 2 )
		script["writer"]["rankSets"].setValue( 5 )
		with script.context() :
			script["dispatcher"]["task"].execute()
		channels = self.__channels( str( output / "cryptomatte.{}.exr".format( self.firstFrame ) ) )
		self.assertEqual( len( [ c for c in channels if c.startswith( "CryptoObject" ) and c.endswith( ".R" ) ] ), 5 )

	def testHash( self ) :

		script, shot, output = self.__script( numFrames = 3 )
		writer = script["writer"]
		with self.frameContext( script, self.firstFrame ) :
			h1 = writer["task"].hash()
		with self.frameContext( script, self.firstFrame + 1 ) :
			self.assertNotEqual( writer["task"].hash(), h1 )

		for name, value in [
			( "fileName", "/tmp/other.####.exr" ), ( "cryptomatteFileName", "" ), ( "cryptomatteLayer", "uCryptoObject" ),
			( "extraAlphaChannels", True ), ( "rankSets", 4 ), ( "overwrite", True ),
			( "refineEdges", False ), ( "refineBand", 0.01 ), ( "refineEps", 1e-3 ), ( "colorSpace", "sRGB" ),
		] :
			original = writer[name].getValue()
			writer[name].setValue( value )
			with self.frameContext( script, self.firstFrame ) :
				self.assertNotEqual( writer["task"].hash(), h1, name )
			writer[name].setValue( original )

		# The plate's pixels guide the refinement.
		otherPattern, otherShotFile, otherShot = self.writeShot( numFrames = 3, seed = 3 )
		script["otherPlate"] = GafferImage.ImageReader()
		script["otherPlate"]["fileName"].setValue( otherPattern )
		writer["plate"].setInput( script["otherPlate"]["out"] )
		with self.frameContext( script, self.firstFrame ) :
			self.assertNotEqual( writer["task"].hash(), h1, "plate" )
		writer["plate"].setInput( script["reader"]["out"] )

		# Without refinement, the refinement's plugs do not matter.
		writer["refineEdges"].setValue( False )
		with self.frameContext( script, self.firstFrame ) :
			h2 = writer["task"].hash()
		writer["plate"].setInput( script["otherPlate"]["out"] )
		writer["refineBand"].setValue( 0.01 )
		writer["colorSpace"].setValue( "sRGB" )
		with self.frameContext( script, self.firstFrame ) :
			self.assertEqual( writer["task"].hash(), h2 )
		writer["plate"].setInput( script["reader"]["out"] )

		# Nothing to write, nothing to execute.
		writer["fileName"].setValue( "" )
		writer["cryptomatteFileName"].setValue( "" )
		with self.frameContext( script, self.firstFrame ) :
			self.assertEqual( writer["task"].hash(), IECore.MurmurHash() )

	def testFileNamesMustDifferPerFrame( self ) :

		script, shot, output = self.__script( numFrames = 2 )
		script["writer"]["fileName"].setValue( str( output / "objectId.exr" ) )
		with script.context() :
			with self.assertRaisesRegex( Exception, "####" ) :
				script["dispatcher"]["task"].execute()
		self.assertFalse( output.exists() and os.listdir( output ) )

	def testWritesSegmentMasks( self ) :

		# Stage 2 alone (no tracking) : layer names are per frame.
		script, shot, output = self.__script( numFrames = 1 )
		script["writer"]["in"].setInput( script["segment"]["masks"] )
		with script.context() :
			script["dispatcher"]["task"].execute()
		names = mattefilter.layer_names( str( output / "objectId.{}.exr".format( self.firstFrame ) ) )
		self.assertEqual( len( names ), len( shot.gt_masks( self.firstFrame ) ) )

if __name__ == "__main__" :
	unittest.main()
