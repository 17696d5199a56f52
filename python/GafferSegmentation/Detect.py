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

from SegmentationCore.core.prompts import parse_text_prompt

from . import _Algo
from . import _Models

## Stage 1 : text-prompted boxes on the current frame (GroundingDINO).
class Detect( Gaffer.ComputeNode ) :

	def __init__( self, name = "Detect" ) :

		Gaffer.ComputeNode.__init__( self, name )

		self["in"] = GafferImage.ImagePlug()
		self["prompt"] = Gaffer.StringPlug( defaultValue = "person" )
		self["model"] = Gaffer.StringPlug( defaultValue = "groundingdino_swint" )
		self["boxThreshold"] = Gaffer.FloatPlug( defaultValue = 0.35, minValue = 0.0, maxValue = 1.0 )
		self["textThreshold"] = Gaffer.FloatPlug( defaultValue = 0.25, minValue = 0.0, maxValue = 1.0 )
		self["workingResolution"] = Gaffer.IntPlug( defaultValue = 1024, minValue = 32 )
		self["colorSpace"] = Gaffer.StringPlug( defaultValue = "linear" )
		self["providers"] = Gaffer.StringPlug( defaultValue = "auto" )
		# Gaffer caches hashes per plug, context and dirty count, so a
		# re-exported model is only seen once this is incremented (as with
		# ImageReader's `refreshCount`).
		self["refreshCount"] = Gaffer.IntPlug()

		self["detections"] = Gaffer.CompoundObjectPlug(
			direction = Gaffer.Plug.Direction.Out, defaultValue = IECore.CompoundObject()
		)

	__inputNames = ( "in", "prompt", "model", "boxThreshold", "textThreshold", "workingResolution", "colorSpace", "providers", "refreshCount" )

	def affects( self, input ) :

		outputs = Gaffer.ComputeNode.affects( self, input )
		if _Algo.affectedBy( self, input, self.__inputNames ) :
			outputs.append( self["detections"] )
		return outputs

	def hash( self, output, context, h ) :

		if output.isSame( self["detections"] ) :
			h.append( GafferImage.ImageAlgo.imageHash( self["in"] ) )
			for name in self.__inputNames[1:] :
				self[name].hash( h )
			_Models.modelHash( self["model"].getValue(), h )
			# Synthetic detectors answer by frame number.
			h.append( context.getFrame() )

	def compute( self, output, context ) :

		if not output.isSame( self["detections"] ) :
			return

		phrases = parse_text_prompt( self["prompt"].getValue() )
		# The input first : its errors are cheaper to find than loading a model.
		frames, imageSize = _Algo.readWorkingFrame(
			self["in"], self["workingResolution"].getValue(), self["colorSpace"].getValue(), context
		)
		detector = _Models.detector(
			self["model"].getValue(), self["providers"].getValue(),
			self["boxThreshold"].getValue(), self["textThreshold"].getValue()
		)
		detections = detector.detect( frames, frames.frame_numbers[0], phrases )
		output.setValue( _Algo.detectionsToData( detections, frames.size, imageSize, phrases ) )

	def computeCachePolicy( self, output ) :

		if output.isSame( self["detections"] ) :
			return Gaffer.ValuePlug.CachePolicy.TaskCollaboration
		# Python has no base `computeCachePolicy()` to call (see
		# `include/GafferBindings/ComputeNodeBinding.h`).
		return Gaffer.ValuePlug.CachePolicy.Default

	def hashCachePolicy( self, output ) :

		# `hash()` calls `ImageAlgo.imageHash()`, which spawns TBB tasks :
		# Gaffer requires a task-based policy for that (`ValuePlug.h`).
		if output.isSame( self["detections"] ) :
			return Gaffer.ValuePlug.CachePolicy.TaskCollaboration
		return Gaffer.ValuePlug.CachePolicy.Default

IECore.registerRunTimeTyped( Detect, typeName = "GafferSegmentation::Detect" )
