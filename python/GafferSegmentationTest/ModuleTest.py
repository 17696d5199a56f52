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

import GafferTest
import GafferSegmentation

class ModuleTest( GafferTest.TestCase ) :

	def testNamespacing( self ) :

		self.assertTypeNamesArePrefixed( GafferSegmentation )
		self.assertDefaultNamesAreCorrect( GafferSegmentation )
		self.assertNodesConstructWithDefaultValues( GafferSegmentation )

	def testDoesNotImportUI( self ) :

		# The nodes must work in `gaffer execute` and on the farm, where no UI
		# modules are loaded.
		self.assertModuleDoesNotImportUI( "GafferSegmentation" )

	def testStartupConfig( self ) :

		# startup/GafferSegmentation appends the extension's `onnx_models` to
		# the model search path, after the user's own paths, once.
		root = os.path.normpath( os.path.join( os.path.dirname( GafferSegmentation.__file__ ), "..", ".." ) )
		startupPaths = [ os.path.normpath( p ) for p in os.environ.get( "GAFFER_STARTUP_PATHS", "" ).split( os.pathsep ) if p ]
		if os.path.join( root, "startup" ) not in startupPaths :
			self.skipTest( "the extension was not loaded through GAFFER_EXTENSION_PATHS" )
		models = os.path.join( root, "onnx_models" )
		if not os.path.isdir( models ) :
			self.skipTest( "no onnx_models folder in the extension" )

		userModels = str( self.temporaryDirectory() / "myModels" )
		previous = os.environ.get( "SEGMENTATION_MODEL_PATHS" )
		os.environ["SEGMENTATION_MODEL_PATHS"] = userModels
		try :
			for i in range( 2 ) :
				IECore.loadConfig( "GAFFER_STARTUP_PATHS", subdirectory = "GafferSegmentation", raiseExceptions = True )
				self.assertEqual(
					[ os.path.normpath( p ) for p in os.environ["SEGMENTATION_MODEL_PATHS"].split( os.pathsep ) ],
					[ os.path.normpath( userModels ), models ]
				)
		finally :
			if previous is None :
				os.environ.pop( "SEGMENTATION_MODEL_PATHS", None )
			else :
				os.environ["SEGMENTATION_MODEL_PATHS"] = previous

if __name__ == "__main__" :
	unittest.main()
