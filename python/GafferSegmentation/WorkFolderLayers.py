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

from . import _Algo
from . import _Stages
from ._ImageShell import ImageShellNode

## Reads back what the stage tasks wrote to a work folder : the tracked
# layers of the current frame (`track/cache`, after TrackStage, or
# ReconcileStage for a chunked shot), in the format of Track's `layers`
# (so ObjectIdWriter, ObjectIdMatte's users and the Viewer take them), and
# `out`, the layers in colour for the Viewer. Before tracking has finished
# `layers` is empty.
#
# The results are files : increment `refreshCount` after a dispatch (as with
# ImageReader) to see new ones.
class WorkFolderLayers( ImageShellNode ) :

	def __init__( self, name = "WorkFolderLayers" ) :

		ImageShellNode.__init__( self, name )

		self["settings"] = Gaffer.CompoundObjectPlug( defaultValue = IECore.CompoundObject() )
		self["refreshCount"] = Gaffer.IntPlug( defaultValue = 0 )

		self._setupImageShell()

		self["layers"] = Gaffer.CompoundObjectPlug(
			direction = Gaffer.Plug.Direction.Out, defaultValue = IECore.CompoundObject()
		)

	def affects( self, input ) :

		outputs = ImageShellNode.affects( self, input )
		if input.isSame( self["settings"] ) or input.isSame( self["refreshCount"] ) :
			outputs.append( self["layers"] )
		return outputs

	def hash( self, output, context, h ) :

		if output.isSame( self["layers"] ) :
			self["settings"].hash( h )
			self["refreshCount"].hash( h )
			h.append( int( round( context.getFrame() ) ) )
			shot = _Stages.shot( self["settings"] )
			if shot is not None :
				state = os.path.join( shot.workDirectory, "track", "state.json" )
				h.append( os.stat( state ).st_mtime_ns if os.path.isfile( state ) else 0 )
		else :
			ImageShellNode.hash( self, output, context, h )

	def compute( self, output, context ) :

		if output.isSame( self["layers"] ) :
			output.setValue( self.__layers( int( round( context.getFrame() ) ) ) )
		else :
			ImageShellNode.compute( self, output, context )

	def __layers( self, frame ) :

		from SegmentationCore.pipeline.mask_cache import MaskCache

		shot = _Stages.shot( self["settings"] )
		if shot is None or frame not in shot.frameSet :
			return IECore.CompoundObject()
		track = os.path.join( shot.workDirectory, "track" )
		state = os.path.join( track, "state.json" )
		if not os.path.isfile( state ) :
			return IECore.CompoundObject()
		with open( state ) as f :
			if not json.load( f ).get( "complete" ) :
				return IECore.CompoundObject()

		cache = MaskCache.load( os.path.join( track, "cache" ), max_resident = 2 )
		ids = cache.id_map( frame )
		probabilities = numpy.clip( numpy.rint( cache.probability_map( frame ) * 255 ), 0, 255 ).astype( numpy.uint8 )
		names = cache.names()
		present = set( numpy.unique( ids ).tolist() ) - { 0 }
		layerIds = [ i for i in sorted( names ) if i in present ]

		result = IECore.CompoundObject()
		result["imageSize"] = _Algo.sizeToData( shot.plateSize() )
		result["names"] = IECore.StringVectorData( [ names[i] for i in layerIds ] )
		result["layerIds"] = IECore.IntVectorData( layerIds )
		result["ids"] = _Algo.packArray( ids )
		result["probabilities"] = _Algo.packArray( probabilities )
		return result

	# Preview
	# =======

	def _previewAffected( self, input ) :

		return _Algo.affectedBy( self, input, ( "layers", ) )

	def _previewHash( self, context, h ) :

		self["layers"].hash( h )

	def _preview( self, context ) :

		return self._previewChannelNames(), _Algo.trackedLayersPreview(
			self["layers"].getValue( _copy = False ),
			"nothing tracked in the work folder yet : dispatch the stage tasks, then increment refreshCount"
		)

IECore.registerRunTimeTyped( WorkFolderLayers, typeName = "GafferSegmentation::WorkFolderLayers" )
