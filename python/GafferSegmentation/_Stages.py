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

import os
import re
import threading

import IECore

import Gaffer
import GafferDispatch

## Helpers shared by the stage task nodes (`StageTasks.py`), `WorkFolder`
# and `WorkFolderLayers` : the settings `WorkFolder` computes (a
# CompoundObject holding the fields of the engine's `RunConfig`) turned back
# into a `RunConfig` and a `Pipeline`, the shot's frames and its chunks.

## The context variable naming the chunk a TrackStage task tracks. The
# ReconcileStage sets it on the TrackStage tasks it asks for.
chunkVariable = "segmentation:chunk"

__lock = threading.Lock()
__shots = {}

def isEmpty( settings ) :

	return "plate" not in settings

def runConfig( settings ) :

	"""The engine's `RunConfig` for the settings of a WorkFolder."""

	from SegmentationCore.pipeline import refine, runner, stage2, tracking

	def value( name ) :
		return settings[name].value if name in settings else None

	def optional( name ) :
		v = value( name )
		return None if v in ( None, "" ) else v

	config = runner.RunConfig(
		plate = value( "plate" ),
		output = value( "output" ),
		prompt = optional( "prompt" ),
		frames = optional( "frames" ),
		sam2_model = optional( "sam2Model" ),
		detector_model = optional( "detectorModel" ),
		max_size = value( "maxSize" ),
		colorspace = value( "colorSpace" ),
		name = optional( "name" ),
		work_dir = optional( "workDir" ),
		prompts_file = optional( "promptsFile" ),
		providers = optional( "providers" ),
		box_threshold = optional( "boxThreshold" ),
		text_threshold = optional( "textThreshold" ),
		stage2 = stage2.Stage2Params(
			discard_sim = value( "discardSim" ), discard_min_others = value( "discardMinOthers" ),
			merge_sim = value( "mergeSim" ),
		),
		tracking = tracking.TrackingParams(
			window = value( "window" ), reprompt_every = value( "repromptEvery" ), epsilon = value( "epsilon" ),
			direct_match_iou = value( "directMatchIoU" ), partial_match_sim = value( "partialMatchSim" ),
			backward = value( "backward" ), cache_rule = value( "cacheRule" ),
		),
		detect_frames = value( "detectFrames" ),
		formats = tuple( value( "formats" ).split( "," ) ),
		synthetic = optional( "synthetic" ),
		chunks = value( "chunks" ),
		chunk_overlap = optional( "chunkOverlap" ),
	)
	# Settings made before edge refinement existed : autoseg's defaults.
	if "refineEdges" in settings :
		defaults = refine.RefineParams()
		config.refine_edges = bool( value( "refineEdges" ) )
		config.refine_params = refine.RefineParams(
			band = value( "refineBand" ) if "refineBand" in settings else defaults.band,
			eps = value( "refineEps" ) if "refineEps" in settings else defaults.eps,
		)
	return config

def pipeline( settings, log = None ) :

	"""A `Pipeline` for the settings ; cancellation of the current Gaffer
	context stops it between frames (and windows)."""

	from SegmentationCore.pipeline import runner

	canceller = Gaffer.Context.current().canceller()

	def progress( stage, done, total, detail ) :
		IECore.Canceller.check( canceller )

	return runner.Pipeline( runConfig( settings ), progress = progress, log = log or __log )

def __log( message ) :

	IECore.msg( IECore.Msg.Level.Info, "GafferSegmentation", message )

class Shot( object ) :

	"""What the task nodes' hashes and preTasks need of a shot, read once
	per distinct settings (a dispatch asks for every frame) : its frames and
	its chunks."""

	def __init__( self, settings ) :

		from SegmentationCore.pipeline import chunks as chunking
		from SegmentationCore import plates

		config = runConfig( settings )
		self.__config = config
		self.__plateSize = None
		sequence = plates.parse_sequence( config.plate, config.frames )
		self.frames = list( sequence.frames )
		name = config.name or sequence.name
		self.workDirectory = config.work_dir or os.path.join( config.output, ".autoseg", name )
		self.frameSet = set( self.frames )
		self.chunkCount = max( 1, int( config.chunks ) )
		if self.chunkCount > 1 :
			overlap = config.chunk_overlap if config.chunk_overlap is not None else config.tracking.window
			self.chunks = chunking.chunk_ranges( self.frames, self.chunkCount, int( overlap ), config.tracking.reprompt_every )
		else :
			self.chunks = []
		self.__tracking = {}
		self.__owner = {}
		for c in self.chunks :
			for f in c.frames :
				self.__tracking.setdefault( f, [] ).append( c.index )
			for f in c.owned :
				self.__owner[f] = c.index

	def plateSize( self ) :

		"""`( height, width )` of the mattes, as `autoseg` writes them."""

		if self.__plateSize is None :
			from SegmentationCore import plates
			sequence = plates.parse_sequence( self.__config.plate, self.__config.frames )
			source = plates.PlateFrameSource(
				sequence, self.__config.max_size, self.__config.colorspace, crop_to_display = self.__config.crop_to_display
			)
			self.__plateSize = tuple( source.plate_size )
		return self.__plateSize

	def chunksTracking( self, frame ) :

		"""The indices of the chunks that track `frame`."""

		return self.__tracking.get( frame, [] )

	def chunkOwning( self, frame ) :

		"""The index of the chunk whose pixels the reconciled shot takes on `frame`."""

		return self.__owner.get( frame )

def shot( settingsPlug ) :

	"""The `Shot` for the value of a settings plug in the current context,
	or None when the settings are empty (nothing to do)."""

	h = settingsPlug.hash()
	with __lock :
		if h in __shots :
			return __shots[h]
	settings = settingsPlug.getValue()
	result = None if isEmpty( settings ) else Shot( settings )
	with __lock :
		if len( __shots ) > 100 :
			__shots.clear()
		__shots[h] = result
	return result
