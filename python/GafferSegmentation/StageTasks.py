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

import IECore

import Gaffer
import GafferDispatch

from . import _Stages

## Task nodes running the stages of `autoseg` on the work folder described
# by a WorkFolder's `settings` : each writes its results in the format
# `autoseg run` uses (docs/autoseg.md), so a farm retry resumes, and a shot
# can be started in Gaffer and finished by `autoseg` or the other way round.
#
# The dispatch graph (connect each node's `task` to the next one's
# `preTasks`, and dispatch WriteStage's `task` over the shot's frames) :
#
# ```
# DetectStage (per frame, batched) -> SegmentStage (per frame, batched)
#     -> TrackStage (one task per shot, or per chunk)
#     -> ReconcileStage (one task per shot)
#     -> WriteStage (per frame, batched)
# ```
#
# DetectStage, SegmentStage and WriteStage have a task per frame of the shot
# (frames outside it are no-ops) : `dispatcher.batchSize` groups them, so
# any dispatcher spreads the batches over machines. Stages 1 and 2 only do
# work on the frames tracking re-prompts on (others are skipped by the
# engine). TrackStage's task does not depend on the frame : one task per
# shot ; with `chunks` > 1 in the settings, one per chunk, named by the
# `segmentation:chunk` context variable that ReconcileStage sets when it asks
# for them. For frame `f`, ReconcileStage asks for the TrackStage tasks of
# the chunks that track `f`, and TrackStage for the SegmentStage task of `f`,
# so each chunk waits for the stage-2 batches of its own frames only, and
# a dispatch walks each frame's dependencies once.
#
# Dispatch the shot's whole frame range the first time (tracking needs
# stages 1-2 on all of it) ; later dispatches of part of it resume.
class _StageTask( GafferDispatch.TaskNode ) :

	_stage = None

	def __init__( self, name ) :

		GafferDispatch.TaskNode.__init__( self, name )

		self["settings"] = Gaffer.CompoundObjectPlug( defaultValue = IECore.CompoundObject() )

	def _shot( self ) :

		return _Stages.shot( self["settings"] )

	def _baseHash( self, context ) :

		h = GafferDispatch.TaskNode.hash( self, context )
		self["settings"].hash( h )
		return h

	def execute( self ) :

		self.executeSequence( [ Gaffer.Context.current().getFrame() ] )

	def requiresSequenceExecution( self ) :

		return False

	def _run( self, stage, frames = None, chunk = None ) :

		settings = self["settings"].getValue()
		pipeline = _Stages.pipeline( settings )
		summary = pipeline.run( [ stage ], frames = frames, chunk = chunk )
		result = summary["stages"].get( stage, {} )
		IECore.msg(
			IECore.Msg.Level.Info, self.relativeName( self.scriptNode() ) if self.scriptNode() else self.getName(),
			"{} {}: {}".format(
				stage, "chunk {}/{}".format( *chunk ) if chunk else _framesText( frames ),
				", ".join( "{} {}".format( k, v ) for k, v in sorted( result.items() ) if not isinstance( v, ( dict, list ) ) ),
			)
		)
		return result

## A task per frame of the shot : frames outside it are no-ops.
class _FrameStage( _StageTask ) :

	def hash( self, context ) :

		shot = self._shot()
		frame = int( round( context.getFrame() ) )
		if shot is None or frame not in shot.frameSet :
			return IECore.MurmurHash()
		h = self._baseHash( context )
		h.append( frame )
		return h

	def executeSequence( self, frames ) :

		shot = self._shot()
		if shot is None :
			return
		batch = [ int( round( f ) ) for f in frames if int( round( f ) ) in shot.frameSet ]
		if batch :
			self._run( self._stage, frames = batch )

## Stage 1 (GroundingDINO boxes) on a batch of frames, into `detect/<frame>.json`.
class DetectStage( _FrameStage ) :

	_stage = "detect"

	def __init__( self, name = "DetectStage" ) :

		_FrameStage.__init__( self, name )

## Stage 2 (SAM2 masks and the clean-up) on a batch of frames, into
# `segment/<frame>.npz` ; needs DetectStage's results for those frames.
class SegmentStage( _FrameStage ) :

	_stage = "segment"

	def __init__( self, name = "SegmentStage" ) :

		_FrameStage.__init__( self, name )

## Stage 3 : the mask-cache tracking loop for the whole shot (`track/`), or
# for one chunk of it (`track/chunks/<i>/`) when the settings have
# `chunks` > 1. The chunk is the `segmentation:chunk` context variable,
# else the chunk owning the current frame.
class TrackStage( _StageTask ) :

	_stage = "track"

	def __init__( self, name = "TrackStage" ) :

		_StageTask.__init__( self, name )

	def __chunk( self, shot, context ) :

		if shot.chunkCount <= 1 :
			return None
		chunk = context.get( _Stages.chunkVariable, None )
		if chunk is None :
			chunk = shot.chunkOwning( int( round( context.getFrame() ) ) )
		return None if chunk is None else int( chunk )

	def hash( self, context ) :

		shot = self._shot()
		if shot is None :
			return IECore.MurmurHash()
		h = self._baseHash( context )
		if shot.chunkCount > 1 :
			chunk = self.__chunk( shot, context )
			if chunk is None :
				return IECore.MurmurHash()
			h.append( chunk )
		return h

	def preTasks( self, context ) :

		# SegmentStage for the current frame, without the chunk variable (so
		# stage-2 batches do not split by chunk).
		upstream = Gaffer.Context( context )
		upstream.remove( _Stages.chunkVariable )
		return [
			GafferDispatch.TaskNode.Task( p, upstream )
			for p in self["preTasks"].children() if p.getInput() is not None
		]

	def executeSequence( self, frames ) :

		shot = self._shot()
		if shot is None :
			return
		context = Gaffer.Context.current()
		if shot.chunkCount <= 1 :
			self._run( "track" )
			return
		for frame in frames :
			frameContext = Gaffer.Context( context )
			frameContext.setFrame( frame )
			chunk = self.__chunk( shot, frameContext )
			if chunk is not None :
				self._run( "track", chunk = ( chunk, shot.chunkCount ) )

## Merges the chunks' tracking into the shot's cache (`track/cache`), which
# WriteStage reads : layers matched across the overlaps, names stable over
# the shot. One task per shot ; with one chunk there is nothing to merge.
class ReconcileStage( _StageTask ) :

	_stage = "reconcile"

	def __init__( self, name = "ReconcileStage" ) :

		_StageTask.__init__( self, name )

	def hash( self, context ) :

		if self._shot() is None :
			return IECore.MurmurHash()
		return self._baseHash( context )

	def preTasks( self, context ) :

		# The TrackStage tasks of the chunks that track the current frame.
		shot = self._shot()
		inputs = [ p for p in self["preTasks"].children() if p.getInput() is not None ]
		if shot is None or shot.chunkCount <= 1 :
			return [ GafferDispatch.TaskNode.Task( p, context ) for p in inputs ]
		tasks = []
		for chunk in shot.chunksTracking( int( round( context.getFrame() ) ) ) :
			chunkContext = Gaffer.Context( context )
			chunkContext[_Stages.chunkVariable] = chunk
			tasks.extend( GafferDispatch.TaskNode.Task( p, chunkContext ) for p in inputs )
		return tasks

	def executeSequence( self, frames ) :

		shot = self._shot()
		if shot is None or shot.chunkCount <= 1 :
			return
		self._run( "reconcile" )

## Writes the ObjectId and Cryptomatte files of a batch of frames
# (`OUT/<name>.objectid.####.exr`, `OUT/<name>.crypto.####.exr`) from the
# tracked shot ; `write/<frame>.done` marks each.
class WriteStage( _FrameStage ) :

	_stage = "write"

	def __init__( self, name = "WriteStage" ) :

		_FrameStage.__init__( self, name )

def _framesText( frames ) :

	if not frames :
		return "all frames"
	return "frames " + str( IECore.frameListFromList( list( frames ) ) )

for _node in ( DetectStage, SegmentStage, TrackStage, ReconcileStage, WriteStage ) :
	IECore.registerRunTimeTyped( _node, typeName = "GafferSegmentation::{}".format( _node.__name__ ) )
