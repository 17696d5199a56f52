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
import unittest.mock

import numpy

import IECore

import Gaffer
import GafferImage
import GafferSegmentation
import GafferSegmentationTest

from SegmentationCore.idmatte import cryptomatte, objectid

class ObjectIdMatteTest( GafferSegmentationTest.SegmentationTestCase ) :

	def setUp( self ) :

		GafferSegmentationTest.SegmentationTestCase.setUp( self )

		# Three soft, overlapping layers in a 64 x 48 frame, on two frames.
		y, x = numpy.mgrid[0:48, 0:64].astype( numpy.float32 )
		def disc( cx, cy, r ) :
			return numpy.clip( r - numpy.hypot( x - cx, y - cy ), 0, 1 ).astype( numpy.float32 )
		self.layerSets = {
			1001 : {
				"/person/person_0001" : disc( 16, 20, 10 ),
				"/person/person_0002" : disc( 28, 24, 9 ),
				"/car/car_0001" : disc( 48, 30, 12 ),
			},
			1002 : {
				"/person/person_0001" : disc( 18, 20, 10 ),
				"/car/car_0001" : disc( 46, 30, 12 ),
			},
		}
		directory = self.temporaryDirectory() / "mattes"
		directory.mkdir()
		for frame, layers in self.layerSets.items() :
			objectid.write_objectid( directory / "shot.objectId.{}.exr".format( frame ), layers )
			cryptomatte.write_cryptomatte( directory / "shot.crypto.{}.exr".format( frame ), layers )
		self.objectIdFiles = str( directory / "shot.objectId.####.exr" )
		self.cryptomatteFiles = str( directory / "shot.crypto.####.exr" )

	def __context( self, frame ) :

		context = Gaffer.Context()
		context.setFrame( frame )
		return context

	def __union( self, frame, names ) :

		mattes = [ self.layerSets[frame][n] for n in names ]
		return 1.0 - numpy.prod( [ 1.0 - m for m in mattes ], axis = 0 )

	def testConstruct( self ) :

		node = GafferSegmentation.ObjectIdMatte()
		self.assertEqual( node.getName(), "ObjectIdMatte" )
		self.assertEqual( node["outputChannel"].getValue(), "A" )
		self.assertEqual( node["names"].getValue(), "" )

	def testPicksMattesByName( self ) :

		node = GafferSegmentation.ObjectIdMatte()
		for fileName in ( self.objectIdFiles, self.cryptomatteFiles ) :
			node["fileName"].setValue( fileName )
			for names, expected in [
				( "/person/person_0002", [ "/person/person_0002" ] ),
				( "/person", [ "/person/person_0001", "/person/person_0002" ] ),
				( "/person/*_0001, /car/car_0001", [ "/person/person_0001", "/car/car_0001" ] ),
				( "car", [ "/car/car_0001" ] ),
			] :
				node["names"].setValue( names )
				with self.__context( 1001 ) :
					matte = self.imageArray( node["out"], "A" )
				numpy.testing.assert_allclose( matte, self.__union( 1001, expected ), atol = 2e-3, err_msg = "{} {}".format( fileName, names ) )

	def testFollowsTheFrame( self ) :

		node = GafferSegmentation.ObjectIdMatte()
		node["fileName"].setValue( self.objectIdFiles )
		node["names"].setValue( "/person/person_0001" )
		for frame in ( 1001, 1002 ) :
			with self.__context( frame ) :
				numpy.testing.assert_allclose(
					self.imageArray( node["out"], "A" ), self.layerSets[frame]["/person/person_0001"], atol = 2e-3
				)

	def testNoMatchGivesAnEmptyMatte( self ) :

		node = GafferSegmentation.ObjectIdMatte()
		node["fileName"].setValue( self.cryptomatteFiles )
		node["names"].setValue( "/horse" )
		with self.__context( 1002 ) :
			matte = self.imageArray( node["out"], "A" )
		self.assertEqual( matte.shape, ( 48, 64 ) )
		self.assertEqual( matte.max(), 0.0 )

	def testLayerNames( self ) :

		node = GafferSegmentation.ObjectIdMatte()
		node["fileName"].setValue( self.objectIdFiles )
		with self.__context( 1001 ) :
			self.assertEqual( sorted( node["layerNames"].getValue() ), sorted( self.layerSets[1001] ) )
		with self.__context( 1002 ) :
			self.assertEqual( sorted( node["layerNames"].getValue() ), sorted( self.layerSets[1002] ) )

	def testOutputChannel( self ) :

		node = GafferSegmentation.ObjectIdMatte()
		node["fileName"].setValue( self.cryptomatteFiles )
		node["names"].setValue( "/car" )
		node["outputChannel"].setValue( "R" )
		with self.__context( 1001 ) :
			self.assertEqual( list( GafferImage.ImageAlgo.image( node["out"] ).keys() ), [ "R" ] )

	def testHash( self ) :

		node = GafferSegmentation.ObjectIdMatte()
		node["fileName"].setValue( self.objectIdFiles )
		node["names"].setValue( "/person" )
		preview = node._previewPlugs()[0]
		context = self.__context( 1001 )
		self.assertHashChanges( preview, node["fileName"], self.cryptomatteFiles, context, original = self.objectIdFiles )
		for name, value in [ ( "names", "/car" ), ( "outputChannel", "R" ), ( "refreshCount", 1 ) ] :
			self.assertHashChanges( preview, node[name], value, context )
		with context :
			h1 = preview.hash()
		with self.__context( 1002 ) :
			self.assertNotEqual( preview.hash(), h1 )

		# The choice of names does not change the file's list of names.
		self.assertHashUnchanged( node["layerNames"], node["names"], "/car", context )
		self.assertHashUnchanged( node["layerNames"], node["outputChannel"], "R", context )

	def testWithoutGafferML( self ) :

		with unittest.mock.patch.object( GafferSegmentation._ImageShell, "GafferML", None ) :
			node = GafferSegmentation.ObjectIdMatte()
		self.assertFalse( node.usesGafferML() )
		node["fileName"].setValue( self.objectIdFiles )
		node["names"].setValue( "/person/person_0002" )
		with self.__context( 1001 ) :
			numpy.testing.assert_allclose(
				self.imageArray( node["out"], "A" ), self.layerSets[1001]["/person/person_0002"], atol = 2e-3
			)

	def testMissingFileIsAnError( self ) :

		node = GafferSegmentation.ObjectIdMatte()
		node["fileName"].setValue( str( self.temporaryDirectory() / "nothing.####.exr" ) )
		with self.__context( 1001 ) :
			with self.assertRaisesRegex( Exception, "no such ID-matte file" ) :
				GafferImage.ImageAlgo.image( node["out"] )

if __name__ == "__main__" :
	unittest.main()
