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

import tempfile

import IECore

import Gaffer
import GafferImage

from SegmentationCore.pipeline import interactive, qc, tracking
from SegmentationCore.pipeline.mask_cache import MaskCache

from . import _Algo
from . import _Models
from . import PromptAlgo

## One pass of the mask-cache tracking loop over a shot, forward or
# backward, starting from the mask cache of a previous pass (`cache`).
#
# The pass runs the engine's steps window after window
# (`tracking.run_pass()` : match the stage-2 masks of the re-prompt frame
# against the cache, build the prompts, track a window, merge it into the
# cache). It is used inside Track, which chains a seed, a forward and a
# backward pass (the passes of `tracking.pass_plan()`) ; the windows are not separate nodes because every window would then
# copy the whole shot's cache through a plug.
#
# The output does not depend on the current frame : it is hashed and
# computed in a context whose frame is the first frame of `frameRange`, so
# it is computed once per shot and found in Gaffer's cache for every frame.
class TrackPass( Gaffer.ComputeNode ) :

	def __init__( self, name = "TrackPass" ) :

		Gaffer.ComputeNode.__init__( self, name )

		self["in"] = GafferImage.ImagePlug()
		self["masks"] = Gaffer.CompoundObjectPlug( defaultValue = IECore.CompoundObject() )
		self["cache"] = Gaffer.CompoundObjectPlug( defaultValue = IECore.CompoundObject() )
		self["enabled"] = Gaffer.BoolPlug( defaultValue = True )
		self["direction"] = Gaffer.StringPlug( defaultValue = tracking.FORWARD )
		self["seed"] = Gaffer.BoolPlug( defaultValue = False )
		self["frameRange"] = Gaffer.StringPlug( defaultValue = "${frameRange:start}-${frameRange:end}" )
		self["model"] = Gaffer.StringPlug( defaultValue = "sam2.1_hiera_l" )
		self["workingResolution"] = Gaffer.IntPlug( defaultValue = 1024, minValue = 32 )
		self["colorSpace"] = Gaffer.StringPlug( defaultValue = "linear" )
		self["providers"] = Gaffer.StringPlug( defaultValue = "auto" )

		defaults = tracking.TrackingParams()
		self["window"] = Gaffer.IntPlug( defaultValue = defaults.window, minValue = 1 )
		self["repromptEvery"] = Gaffer.IntPlug( defaultValue = defaults.reprompt_every, minValue = 1 )
		self["epsilon"] = Gaffer.FloatPlug( defaultValue = defaults.epsilon, minValue = 0.0, maxValue = 1.0 )
		self["directMatchIoU"] = Gaffer.FloatPlug( defaultValue = defaults.direct_match_iou, minValue = 0.0, maxValue = 1.0 )
		self["partialMatchSimilarity"] = Gaffer.FloatPlug( defaultValue = defaults.partial_match_sim, minValue = 0.0, maxValue = 1.0 )
		self["overlapSimilarity"] = Gaffer.FloatPlug( defaultValue = defaults.overlap_sim, minValue = 0.0, maxValue = 1.0 )
		self["maskThreshold"] = Gaffer.FloatPlug( defaultValue = defaults.mask_threshold, minValue = 0.0, maxValue = 1.0 )
		self["minLayerArea"] = Gaffer.IntPlug( defaultValue = defaults.min_layer_area, minValue = 0 )
		self["perClass"] = Gaffer.BoolPlug( defaultValue = defaults.per_class )
		self["cacheRule"] = Gaffer.StringPlug( defaultValue = defaults.cache_rule )

		self["promptFile"] = Gaffer.StringPlug()
		self["prompts"] = Gaffer.CompoundObjectPlug( defaultValue = IECore.CompoundObject() )
		# Gaffer caches hashes per plug, context and dirty count
		# (`src/Gaffer/ValuePlug.cpp`), so edits to files on disk (the prompt
		# file and its masks, a re-exported model) are only seen once this is
		# incremented, as with ImageReader's `refreshCount`.
		self["refreshCount"] = Gaffer.IntPlug()

		self["out"] = Gaffer.CompoundObjectPlug(
			direction = Gaffer.Plug.Direction.Out, defaultValue = IECore.CompoundObject()
		)

	parameterNames = (
		"frameRange", "model", "workingResolution", "colorSpace", "providers",
		"window", "repromptEvery", "epsilon", "directMatchIoU", "partialMatchSimilarity",
		"overlapSimilarity", "maskThreshold", "minLayerArea", "perClass",
		"cacheRule", "promptFile", "prompts", "refreshCount",
	)

	__inputNames = ( "in", "masks", "cache", "enabled", "direction", "seed" ) + parameterNames

	def affects( self, input ) :

		outputs = Gaffer.ComputeNode.affects( self, input )
		if _Algo.affectedBy( self, input, self.__inputNames ) :
			outputs.append( self["out"] )
		return outputs

	def hash( self, output, context, h ) :

		if not output.isSame( self["out"] ) :
			return

		if not self["enabled"].getValue() :
			# A pass-through shares the input's cache entry (`ComputeNode.h`).
			h.copyFrom( self["cache"].hash() )
			return

		seed = self["seed"].getValue()
		frames = self.__frames()
		with self.__shotContext( context, frames ) as shotContext :
			if seed and not self.__hasPrompts() :
				# A seed pass without prompts passes `cache` through.
				h.copyFrom( self["cache"].hash() )
				return
			h.append( self["direction"].getValue() )
			h.append( int( seed ) )
			# `MurmurHash.append()` takes scalars, strings, Imath types and
			# `*VectorData`, never a list (`MurmurHashBinding.cpp` in Cortex).
			h.append( IECore.IntVectorData( frames ) )
			for name in self.parameterNames :
				self[name].hash( h )
			_Models.modelHash( self["model"].getValue(), h )
			PromptAlgo.fileHash( self["promptFile"].getValue(), h )
			self["cache"].hash( h )
			for frame in frames :
				shotContext.setFrame( frame )
				h.append( GafferImage.ImageAlgo.imageHash( self["in"] ) )
				if not seed :
					self["masks"].hash( h )

	def compute( self, output, context ) :

		if not output.isSame( self["out"] ) :
			return

		if not self["enabled"].getValue() :
			output.setValue( self["cache"].getValue( _copy = False ) )
			return

		seed = self["seed"].getValue()
		frames = self.__frames()
		with self.__shotContext( context, frames ) as shotContext :

			promptSet = self.__promptSet()
			if seed and ( promptSet is None or promptSet.mode != "combine" ) :
				# Only keyframes combined with automatic layers need a seed
				# pass (see `tracking.pass_plan()`).
				output.setValue( self["cache"].getValue( _copy = False ) )
				return

			direction = self["direction"].getValue()
			if direction not in ( tracking.FORWARD, tracking.BACKWARD ) :
				raise ValueError( "direction must be \"forward\" or \"backward\", not \"{}\"".format( direction ) )
			params = self.__params()
			params.validate()

			segmenter, tracker = _Models.sam2( self["model"].getValue(), self["providers"].getValue() )
			source = _Algo.ImagePlugFrameSource(
				self["in"], frames, self["workingResolution"].getValue(), self["colorSpace"].getValue(), shotContext
			)
			# In "only" mode the interactive prompts are the only layers, and
			# a seed pass tracks the keyframes alone.
			useStage2 = not seed and not ( promptSet is not None and promptSet.mode == "only" )

			def stage2At( frame ) :
				frameContext = Gaffer.Context( shotContext )
				frameContext.setFrame( frame )
				with frameContext :
					data = self["masks"].getValue( _copy = False )
				return _Algo.dataToStage2( data, frame, source.size )

			def onWindow( index, count, matches, window ) :
				IECore.Canceller.check( context.canceller() )
				IECore.msg(
					IECore.Msg.Level.Info, self.relativeName( self.scriptNode() ) if self.scriptNode() else self.getName(),
					"{} window {}/{} at frame {} : {} layers".format( direction, index + 1, count, window.start_frame, len( window.objects ) )
				)

			with tempfile.TemporaryDirectory( prefix = "GafferSegmentationTrack" ) as directory :

				previous = self["cache"].getValue( _copy = False )
				if _Algo.isEmpty( previous ) :
					cache = MaskCache( source.size, directory )
				else :
					cache = _Algo.dataToCache( previous, directory )
					if cache.size != source.size :
						raise ValueError(
							"the previous pass tracked at {}x{} but this one works at {}x{} ; give both passes one working resolution".format(
								cache.size[1], cache.size[0], source.size[1], source.size[0]
							)
						)

				keyframes = {}
				if promptSet is not None :
					layerIds = interactive.register_layers( cache, promptSet )
					needsSegmenter = any( k.needs_segmenter for o in promptSet.objects for k in o.keyframes.values() )
					keyframes = interactive.keyframe_prompts(
						promptSet, layerIds, source, segmenter if needsSegmenter else None
					)

				# Quality data of every window (`pipeline.qc`), carried along
				# with the cache so Track can summarise all the passes.
				passName = "seed" if seed else direction
				recorder = qc.QcRecorder( cache, None, params.mask_threshold )

				def onWindowQc( index, count, matches, window ) :
					onWindow( index, count, matches, window )
					recorder.end_window( passName, index, matches, window )

				tracking.run_pass(
					tracker, source, cache, stage2At if useStage2 else None, params, direction,
					keyframes = keyframes, on_window = onWindowQc, on_frame = recorder.frame_hook( passName ),
				)

				records = _Algo.qcRecordsToData(
					recorder.records(), previous["qcRecords"] if "qcRecords" in previous else None, passName
				)
				output.setValue( _Algo.cacheToData( cache, source.plateSize, { "qcRecords" : records } ) )

	def computeCachePolicy( self, output ) :

		if output.isSame( self["out"] ) :
			return Gaffer.ValuePlug.CachePolicy.TaskCollaboration
		# Python has no base `computeCachePolicy()` to call : the binding only
		# offers `affects()`, `enabledPlug()` and `correspondingInput()`
		# (`include/GafferBindings/ComputeNodeBinding.h`).
		return Gaffer.ValuePlug.CachePolicy.Default

	def hashCachePolicy( self, output ) :

		# The hash visits every frame of the shot, with `ImageAlgo.imageHash()`
		# (TBB tasks) : a task-based policy is required.
		if output.isSame( self["out"] ) :
			return Gaffer.ValuePlug.CachePolicy.TaskCollaboration
		return Gaffer.ValuePlug.CachePolicy.Default

	def __frames( self ) :

		return _Algo.parseFrameRange( self["frameRange"].getValue(), "frameRange" )

	def __shotContext( self, context, frames ) :

		result = Gaffer.Context( context )
		result.setFrame( frames[0] )
		return result

	def __params( self ) :

		return tracking.TrackingParams(
			window = self["window"].getValue(),
			reprompt_every = self["repromptEvery"].getValue(),
			epsilon = self["epsilon"].getValue(),
			direct_match_iou = self["directMatchIoU"].getValue(),
			partial_match_sim = self["partialMatchSimilarity"].getValue(),
			overlap_sim = self["overlapSimilarity"].getValue(),
			mask_threshold = self["maskThreshold"].getValue(),
			min_layer_area = self["minLayerArea"].getValue(),
			per_class = self["perClass"].getValue(),
			cache_rule = self["cacheRule"].getValue(),
		)

	def __hasPrompts( self ) :

		return bool( self["promptFile"].getValue() ) or bool( len( self["prompts"].getValue( _copy = False ).keys() ) )

	def __promptSet( self ) :

		fileName = self["promptFile"].getValue()
		data = self["prompts"].getValue( _copy = False )
		if fileName and len( data.keys() ) :
			raise ValueError( "set either promptFile or prompts, not both" )
		if fileName :
			return interactive.load_prompts( fileName )
		return PromptAlgo.fromData( data, where = "prompts" )

IECore.registerRunTimeTyped( TrackPass, typeName = "GafferSegmentation::TrackPass" )
