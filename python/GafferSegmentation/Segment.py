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

import IECore

import Gaffer
import GafferImage

from SegmentationCore.pipeline import stage2

from . import _Algo
from . import _Models
from ._ImageShell import ImageShellNode

## Stage 2 : a SAM2 mask per detected box on the current frame, then the
# paper's clean-up (discard masks overlapping several others, merge
# duplicates).
class Segment( ImageShellNode ) :

	def __init__( self, name = "Segment" ) :

		ImageShellNode.__init__( self, name )

		self["in"] = GafferImage.ImagePlug()
		self["detections"] = Gaffer.CompoundObjectPlug( defaultValue = IECore.CompoundObject() )
		self["model"] = Gaffer.StringPlug( defaultValue = "sam2.1_hiera_l" )
		self["workingResolution"] = Gaffer.IntPlug( defaultValue = 1024, minValue = 32 )
		self["colorSpace"] = Gaffer.StringPlug( defaultValue = "linear" )
		self["providers"] = Gaffer.StringPlug( defaultValue = "auto" )

		defaults = stage2.Stage2Params()
		self["discardSimilarity"] = Gaffer.FloatPlug( defaultValue = defaults.discard_sim, minValue = 0.0, maxValue = 1.0 )
		self["discardOverlaps"] = Gaffer.IntPlug( defaultValue = defaults.discard_min_others, minValue = 1 )
		self["mergeSimilarity"] = Gaffer.FloatPlug( defaultValue = defaults.merge_sim, minValue = 0.0, maxValue = 1.0 )
		self["maskThreshold"] = Gaffer.FloatPlug( defaultValue = defaults.mask_threshold, minValue = 0.0, maxValue = 1.0 )
		self["perClass"] = Gaffer.BoolPlug( defaultValue = defaults.per_class )
		self["minArea"] = Gaffer.IntPlug( defaultValue = defaults.min_area, minValue = 0 )
		# Gaffer caches hashes per plug, context and dirty count, so a
		# re-exported model is only seen once this is incremented (as with
		# ImageReader's `refreshCount`).
		self["refreshCount"] = Gaffer.IntPlug()

		self._setupImageShell()

		self["masks"] = Gaffer.CompoundObjectPlug(
			direction = Gaffer.Plug.Direction.Out, defaultValue = IECore.CompoundObject()
		)

	__inputNames = (
		"in", "detections", "model", "workingResolution", "colorSpace", "providers",
		"discardSimilarity", "discardOverlaps", "mergeSimilarity", "maskThreshold", "perClass", "minArea",
		"refreshCount",
	)

	def affects( self, input ) :

		outputs = ImageShellNode.affects( self, input )
		if _Algo.affectedBy( self, input, self.__inputNames ) :
			outputs.append( self["masks"] )
		return outputs

	def hash( self, output, context, h ) :

		if output.isSame( self["masks"] ) :
			h.append( GafferImage.ImageAlgo.imageHash( self["in"] ) )
			for name in self.__inputNames[1:] :
				self[name].hash( h )
			_Models.modelHash( self["model"].getValue(), h )
			h.append( context.getFrame() )
		else :
			ImageShellNode.hash( self, output, context, h )

	def compute( self, output, context ) :

		if not output.isSame( self["masks"] ) :
			ImageShellNode.compute( self, output, context )
			return

		frames, imageSize = _Algo.readWorkingFrame(
			self["in"], self["workingResolution"].getValue(), self["colorSpace"].getValue(), context
		)
		segmenter, tracker = _Models.sam2( self["model"].getValue(), self["providers"].getValue() )
		detections = _Algo.dataToDetections( self["detections"].getValue(), frames.size )
		result = stage2.segment_frame(
			segmenter, frames, frames.frame_numbers[0], detections, self.__params()
		)
		output.setValue( _Algo.stage2ToData( result, imageSize ) )

	def computeCachePolicy( self, output ) :

		if output.isSame( self["masks"] ) :
			return Gaffer.ValuePlug.CachePolicy.TaskCollaboration
		return ImageShellNode.computeCachePolicy( self, output )

	def hashCachePolicy( self, output ) :

		# `hash()` calls `ImageAlgo.imageHash()`, which spawns TBB tasks :
		# Gaffer requires a task-based policy for that (`ValuePlug.h`).
		if output.isSame( self["masks"] ) :
			return Gaffer.ValuePlug.CachePolicy.TaskCollaboration
		return Gaffer.ValuePlug.CachePolicy.Default

	def __params( self ) :

		return stage2.Stage2Params(
			discard_sim = self["discardSimilarity"].getValue(),
			discard_min_others = self["discardOverlaps"].getValue(),
			merge_sim = self["mergeSimilarity"].getValue(),
			mask_threshold = self["maskThreshold"].getValue(),
			per_class = self["perClass"].getValue(),
			min_area = self["minArea"].getValue(),
		)

	# Preview
	# =======

	def _previewAffected( self, input ) :

		return _Algo.affectedBy( self, input, ( "masks", ) )

	def _previewHash( self, context, h ) :

		self["masks"].hash( h )

	def _preview( self, context ) :

		data = self["masks"].getValue()
		names, layers = _Algo.dataToLayers( data )
		if "size" not in data :
			raise RuntimeError( "no masks to show : connect an image and detections" )
		return self._previewChannelNames(), _Algo.layersPreview( names, layers, _Algo.dataToSize( data["size"] ) )

IECore.registerRunTimeTyped( Segment, typeName = "GafferSegmentation::Segment" )
