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

from . import _Algo

try :
	import GafferML
except ImportError :
	GafferML = None

## Base class for the nodes with a Viewer-friendly `out` image.
#
# Python cannot compute image tiles in Gaffer, so, like Gaffer's own Python
# image nodes (GafferImage.BleedFill), these nodes are shells around an
# internal network :
#
# - with GafferML : Python computes a `GafferML.Tensor` ( [ 1, C, H, W ], row 0
#   at the top ) and the channel names, and an internal `GafferML.TensorToImage`
#   makes the image ;
# - without GafferML : Python writes the image to an EXR named after its hash
#   (in `$GAFFERSEGMENTATION_PREVIEW_DIR`, by default a folder in the system's
#   temporary directory) and an internal `GafferImage.ImageReader` reads it.
#
# Subclasses implement `_previewAffected( input )`, `_previewHash( context, h )`,
# `_preview( context )` -> `( channelNames, planes ( C, H, W ) float32 )` and
# `_previewChannelNames()`, and call `_setupImageShell()` at the end of
# their constructor.
class ImageShellNode( Gaffer.ComputeNode ) :

	def __init__( self, name ) :

		Gaffer.ComputeNode.__init__( self, name )

	def _setupImageShell( self, useGafferML = None ) :

		if useGafferML is None :
			useGafferML = GafferML is not None

		self["out"] = GafferImage.ImagePlug( direction = Gaffer.Plug.Direction.Out )

		if useGafferML :
			self["__previewTensor"] = GafferML.TensorPlug( direction = Gaffer.Plug.Direction.Out )
			self["__previewChannels"] = Gaffer.StringVectorDataPlug(
				direction = Gaffer.Plug.Direction.Out, defaultValue = IECore.StringVectorData()
			)
			self["__tensorToImage"] = GafferML.TensorToImage()
			self["__tensorToImage"]["tensor"].setInput( self["__previewTensor"] )
			self["__tensorToImage"]["channels"].setInput( self["__previewChannels"] )
			self["out"].setInput( self["__tensorToImage"]["out"] )
		else :
			self["__previewFileName"] = Gaffer.StringPlug( direction = Gaffer.Plug.Direction.Out )
			self["__previewReader"] = GafferImage.ImageReader()
			self["__previewReader"]["fileName"].setInput( self["__previewFileName"] )
			self["out"].setInput( self["__previewReader"]["out"] )

		# The internal network is made by the constructor, so none of it must
		# be serialised (a script saved where GafferML exists must still load
		# where it does not).
		for plug in [ self["out"] ] + self._previewPlugs() :
			plug.setFlags( Gaffer.Plug.Flags.Serialisable, False )

	def _previewPlugs( self ) :

		return [ self[n] for n in ( "__previewTensor", "__previewChannels", "__previewFileName" ) if n in self ]

	def usesGafferML( self ) :

		"""True if `out` is made by GafferML.TensorToImage, False if it is
		read back from a preview file."""

		return "__tensorToImage" in self

	def affects( self, input ) :

		outputs = Gaffer.ComputeNode.affects( self, input )
		if self._previewAffected( input ) :
			outputs.extend( self._previewPlugs() )
		return outputs

	def hash( self, output, context, h ) :

		if output.getName() == "__previewChannels" :
			IECore.StringVectorData( self._previewChannelNames() ).hash( h )
		elif output.getName() in ( "__previewTensor", "__previewFileName" ) :
			self._previewHash( context, h )

	def compute( self, output, context ) :

		if output.getName() == "__previewChannels" :
			output.setValue( IECore.StringVectorData( self._previewChannelNames() ) )
			return

		if output.getName() == "__previewTensor" :
			names, planes = self._preview( context )
			planes = numpy.ascontiguousarray( planes, numpy.float32 )
			output.setValue(
				GafferML.Tensor(
					IECore.FloatVectorData( planes.reshape( -1 ).tolist() ),
					[ 1 ] + list( planes.shape )
				)
			)
			return

		if output.getName() == "__previewFileName" :
			output.setValue( self.__writePreview( output.hash(), context ) )
			return

	def computeCachePolicy( self, output ) :

		if output.getName() in ( "__previewTensor", "__previewFileName" ) :
			return Gaffer.ValuePlug.CachePolicy.TaskCollaboration
		# There is no base `computeCachePolicy()` to call from Python : the
		# binding only offers `affects()`, `enabledPlug()` and
		# `correspondingInput()` (`include/GafferBindings/ComputeNodeBinding.h`).
		return Gaffer.ValuePlug.CachePolicy.Default

	def __writePreview( self, h, context ) :

		# Written by the engine's own EXR encoder : inside Gaffer, `import
		# OpenImageIO` gives Gaffer's module (whose version varies), and a
		# PyPI OpenEXR or OpenImageIO wheel would call into Gaffer's libraries.
		from SegmentationCore.idmatte import exr_header, flat_exr

		directory = _Algo.previewDirectory()
		fileName = os.path.join( directory, "{}.exr".format( h.toString() ) )
		if os.path.isfile( fileName ) :
			return fileName

		names, planes = self._preview( context )
		planes = numpy.ascontiguousarray( planes, numpy.float32 )
		os.makedirs( directory, exist_ok = True )
		data = flat_exr.encode_flat_scanline(
			[ flat_exr.FlatChannel( name, exr_header.PIXEL_FLOAT, plane ) for name, plane in zip( names, planes ) ]
		)
		temporary = os.path.join( directory, ".{}.{}.tmp.exr".format( h.toString(), os.getpid() ) )
		with open( temporary, "wb" ) as f :
			f.write( data )
		os.replace( temporary, fileName )
		return fileName

	# To be implemented by subclasses
	# ===============================

	def _previewAffected( self, input ) :

		raise NotImplementedError

	def _previewHash( self, context, h ) :

		raise NotImplementedError

	def _preview( self, context ) :

		raise NotImplementedError

	def _previewChannelNames( self ) :

		return [ "R", "G", "B", "A" ]
