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

from SegmentationCore.idmatte import mattefilter

from . import _Algo
from ._ImageShell import ImageShellNode

## Picks mattes from an ObjectId or Cryptomatte file by layer name : the
# paper's mask-picking node. `names` selects layers by exact name
# (`/person/person_0003`), by ancestor (`/person`) or by glob (`/person/*`) ;
# the output is their union.
class ObjectIdMatte( ImageShellNode ) :

	def __init__( self, name = "ObjectIdMatte" ) :

		ImageShellNode.__init__( self, name )

		self["fileName"] = Gaffer.StringPlug()
		self["names"] = Gaffer.StringPlug()
		self["outputChannel"] = Gaffer.StringPlug( defaultValue = "A" )
		self["refreshCount"] = Gaffer.IntPlug()

		self._setupImageShell()

		self["layerNames"] = Gaffer.StringVectorDataPlug(
			direction = Gaffer.Plug.Direction.Out, defaultValue = IECore.StringVectorData()
		)

	def affects( self, input ) :

		outputs = ImageShellNode.affects( self, input )
		if _Algo.affectedBy( self, input, ( "fileName", "refreshCount" ) ) :
			outputs.append( self["layerNames"] )
		return outputs

	def hash( self, output, context, h ) :

		if output.isSame( self["layerNames"] ) :
			self.__fileHash( h )
		else :
			ImageShellNode.hash( self, output, context, h )

	def compute( self, output, context ) :

		if output.isSame( self["layerNames"] ) :
			fileName = self["fileName"].getValue()
			names = mattefilter.layer_names( fileName ) if fileName else []
			output.setValue( IECore.StringVectorData( names ) )
		else :
			ImageShellNode.compute( self, output, context )

	def __fileHash( self, h ) :

		fileName = self["fileName"].getValue()
		h.append( fileName )
		self["refreshCount"].hash( h )
		try :
			h.append( os.stat( fileName ).st_mtime_ns )
		except OSError :
			pass

	# Preview : the matte itself
	# ==========================

	def _previewAffected( self, input ) :

		return _Algo.affectedBy( self, input, ( "fileName", "names", "outputChannel", "refreshCount" ) )

	def _previewHash( self, context, h ) :

		self.__fileHash( h )
		self["names"].hash( h )
		self["outputChannel"].hash( h )

	def _previewChannelNames( self ) :

		return [ self["outputChannel"].getValue() or "A" ]

	def _preview( self, context ) :

		fileName = self["fileName"].getValue()
		if not fileName :
			raise ValueError( "no file : set fileName to an ObjectId or Cryptomatte EXR" )
		matte = mattefilter.extract_matte( fileName, self["names"].getValue() )
		return self._previewChannelNames(), numpy.asarray( matte, numpy.float32 )[None]

IECore.registerRunTimeTyped( ObjectIdMatte, typeName = "GafferSegmentation::ObjectIdMatte" )
