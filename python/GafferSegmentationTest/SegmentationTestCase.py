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

import numpy

import IECore

import Gaffer
import GafferImage
import GafferTest
import GafferSegmentation

from SegmentationCore import synthetic

## Base class for the node tests : writes a synthetic shot to disk (plate
# EXRs plus the shot description), and builds node networks whose models
# are that shot's synthetic backends, which answer from its ground truth.
# Nothing here depends on the test stand-in : these tests run unchanged in
# `gaffer test GafferSegmentationTest`.
class SegmentationTestCase( GafferTest.TestCase ) :

	firstFrame = 1001

	def setUp( self ) :

		GafferTest.TestCase.setUp( self )

		# Previews written by nodes without GafferML go to the test's folder.
		self.__previousPreviewDirectory = os.environ.get( "GAFFERSEGMENTATION_PREVIEW_DIR" )
		os.environ["GAFFERSEGMENTATION_PREVIEW_DIR"] = str( self.temporaryDirectory() / "previews" )

	def tearDown( self ) :

		if self.__previousPreviewDirectory is None :
			os.environ.pop( "GAFFERSEGMENTATION_PREVIEW_DIR", None )
		else :
			os.environ["GAFFERSEGMENTATION_PREVIEW_DIR"] = self.__previousPreviewDirectory

		GafferTest.TestCase.tearDown( self )

	def writeShot( self, numFrames = 10, width = 320, height = 180, numObjects = 3, seed = 2, labels = ( "person", ) ) :

		"""Writes a synthetic shot ; returns `( platePattern, shotFile, shot )`.
		The shot file is what the model plugs take to use synthetic backends."""

		spec = synthetic.generate_shot(
			seed = seed, num_frames = numFrames, width = width, height = height,
			num_objects = numObjects, labels = labels, first_frame = self.firstFrame,
		)
		shot = synthetic.SyntheticShot( spec )
		directory = self.temporaryDirectory() / "shot{}".format( seed )
		pattern = shot.write_plate( directory )
		return pattern, str( directory / "plate.shot.json" ), shot

	def frames( self, shot ) :

		return list( shot.frame_numbers )

	def frameContext( self, script, frame ) :

		context = Gaffer.Context( script.context() )
		context.setFrame( frame )
		return context

	def buildNetwork( self, script, pattern, shotFile, track = True ) :

		"""ImageReader -> Detect -> Segment (-> Track) in `script`."""

		script["reader"] = GafferImage.ImageReader()
		script["reader"]["fileName"].setValue( pattern )

		script["detect"] = GafferSegmentation.Detect()
		script["detect"]["in"].setInput( script["reader"]["out"] )
		script["detect"]["model"].setValue( shotFile )

		script["segment"] = GafferSegmentation.Segment()
		script["segment"]["in"].setInput( script["reader"]["out"] )
		script["segment"]["detections"].setInput( script["detect"]["detections"] )
		script["segment"]["model"].setValue( shotFile )

		if track :
			script["track"] = GafferSegmentation.Track()
			script["track"]["in"].setInput( script["reader"]["out"] )
			script["track"]["masks"].setInput( script["segment"]["masks"] )
			script["track"]["model"].setValue( shotFile )

	@staticmethod
	def unpack( data ) :

		"""The numpy array of a packed array (see GafferSegmentation._Algo)."""

		return GafferSegmentation._Algo.unpackArray( data )

	@staticmethod
	def layers( data ) :

		"""`( names, { name : mask } )` of a Track `layers` / Segment `masks` value."""

		return GafferSegmentation._Algo.dataToLayers( data )

	@staticmethod
	def iou( a, b ) :

		a = numpy.asarray( a ) >= 0.5
		b = numpy.asarray( b ) >= 0.5
		union = numpy.count_nonzero( a | b )
		return numpy.count_nonzero( a & b ) / union if union else 1.0

	def imageArray( self, plug, channel ) :

		"""One channel of an image plug as an `( H, W )` array, rows from the top."""

		image = GafferImage.ImageAlgo.image( plug )
		size = image.dataWindow.size()
		return numpy.frombuffer( image[channel].toString(), dtype = numpy.float32 ).reshape( size.y + 1, size.x + 1 )

	## Asserts that setting `plug` to `value` changes the hash of `output` in
	# `context`, then restores `plug` : to its default if it was at it, else to
	# `original` (give it for string values with substitutions such as `####`,
	# which `getValue()` returns substituted).
	def assertHashChanges( self, output, plug, value, context = None, original = None ) :

		self.__assertHash( output, plug, value, context, original, changes = True )

	def assertHashUnchanged( self, output, plug, value, context = None, original = None ) :

		self.__assertHash( output, plug, value, context, original, changes = False )

	def __assertHash( self, output, plug, value, context, original, changes ) :

		context = context or Gaffer.Context.current()
		with context :
			before = output.hash()
			if original is None :
				original = plug.getValue()
		wasDefault = plug.isSetToDefault()
		plug.setValue( value )
		try :
			with context :
				if changes :
					self.assertNotEqual( output.hash(), before, "{} not affected by {}".format( output.fullName(), plug.fullName() ) )
				else :
					self.assertEqual( output.hash(), before, "{} affected by {}".format( output.fullName(), plug.fullName() ) )
		finally :
			if wasDefault :
				plug.setToDefault()
			else :
				plug.setValue( original )
