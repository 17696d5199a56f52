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

import json
import tempfile

import IECore

import Gaffer
import GafferImage

from SegmentationCore.pipeline import qc, tracking

from . import _Algo
from ._ImageShell import ImageShellNode
from .TrackPass import TrackPass

## Stage 3 : temporally consistent layers for a whole shot, from the
# stage-2 masks of Segment (and/or interactive prompts), with the paper's
# mask-cache tracking loop.
#
# Internal network :
#
# ```
# in, masks ──> __seed (TrackPass, backward, keyframes only) ──> __forward (TrackPass, forward)
#                                                                        │
#                                    __backward (TrackPass, backward) <──┘
#                                        │
#                       __tracked <──────┘
#                           │
#                           └──> __shot (layers compacted) ──> layers (current frame) ──> out (preview)
# ```
#
# These are the passes of `tracking.pass_plan()` : `__seed` only works
# when interactive keyframes combine with automatic layers (it tracks the
# clicked objects back from their keyframes, so the forward pass matches
# them instead of starting duplicates) and passes the empty cache through
# otherwise. The tracking parameters are plugs of `__forward`, promoted to
# this node and shared with the other passes. The passes' outputs and `__shot`
# do not depend on the current frame, so the shot is tracked once and every
# frame's `layers` is read from Gaffer's cache.
class Track( ImageShellNode ) :

	def __init__( self, name = "Track" ) :

		ImageShellNode.__init__( self, name )

		self["in"] = GafferImage.ImagePlug()
		self["masks"] = Gaffer.CompoundObjectPlug( defaultValue = IECore.CompoundObject() )

		self._setupImageShell()

		self["layers"] = Gaffer.CompoundObjectPlug(
			direction = Gaffer.Plug.Direction.Out, defaultValue = IECore.CompoundObject()
		)
		self["__shot"] = Gaffer.CompoundObjectPlug(
			direction = Gaffer.Plug.Direction.Out, defaultValue = IECore.CompoundObject(),
			flags = Gaffer.Plug.Flags.Default & ~Gaffer.Plug.Flags.Serialisable,
		)
		# The shot's QC summary (`pipeline.qc`) : per-layer series, events and
		# the ranked flags. Like `__shot`, it does not depend on the frame.
		self["qc"] = Gaffer.CompoundObjectPlug(
			direction = Gaffer.Plug.Direction.Out, defaultValue = IECore.CompoundObject()
		)

		# The passes of `tracking.pass_plan()`, as `autoseg` runs them.
		self["__seed"] = TrackPass()
		self["__seed"]["direction"].setValue( tracking.BACKWARD )
		self["__seed"]["seed"].setValue( True )
		self["__forward"] = TrackPass()
		self["__forward"]["direction"].setValue( tracking.FORWARD )
		self["__backward"] = TrackPass()
		self["__backward"]["direction"].setValue( tracking.BACKWARD )

		for passNode in ( self["__seed"], self["__forward"], self["__backward"] ) :
			passNode["in"].setInput( self["in"] )
			passNode["masks"].setInput( self["masks"] )

		for name in TrackPass.parameterNames :
			# Descriptions and presets are registered for Track itself (TrackUI),
			# so no metadata is promoted.
			Gaffer.PlugAlgo.promote( self["__forward"][name], excludeMetadata = "*" )
			self["__seed"][name].setInput( self[name] )
			self["__backward"][name].setInput( self[name] )

		self["backward"] = Gaffer.BoolPlug( defaultValue = True )
		self["__backward"]["enabled"].setInput( self["backward"] )
		self["__forward"]["cache"].setInput( self["__seed"]["out"] )
		self["__backward"]["cache"].setInput( self["__forward"]["out"] )

		# Brings the result of the internal network back to this node, so
		# that its dirtiness reaches `__shot` (Gaffer only asks a node's
		# `affects()` about that node's own plugs).
		self["__tracked"] = Gaffer.CompoundObjectPlug(
			defaultValue = IECore.CompoundObject(),
			flags = Gaffer.Plug.Flags.Default & ~Gaffer.Plug.Flags.Serialisable,
		)
		self["__tracked"].setInput( self["__backward"]["out"] )

	def affects( self, input ) :

		outputs = ImageShellNode.affects( self, input )
		if _Algo.affectedBy( self, input, ( "__tracked", "minLayerArea" ) ) :
			outputs.append( self["__shot"] )
		elif _Algo.affectedBy( self, input, ( "__shot", ) ) :
			outputs.append( self["layers"] )
			outputs.append( self["qc"] )
		return outputs

	def hash( self, output, context, h ) :

		if output.isSame( self["__shot"] ) :
			self["__tracked"].hash( h )
			self["minLayerArea"].hash( h )
		elif output.isSame( self["layers"] ) :
			self["__shot"].hash( h )
			h.append( int( round( context.getFrame() ) ) )
		elif output.isSame( self["qc"] ) :
			self["__shot"].hash( h )
		else :
			ImageShellNode.hash( self, output, context, h )

	def compute( self, output, context ) :

		if output.isSame( self["__shot"] ) :
			tracked = self["__tracked"].getValue( _copy = False )
			if _Algo.isEmpty( tracked ) :
				output.setValue( tracked )
				return
			with tempfile.TemporaryDirectory( prefix = "GafferSegmentationTrack" ) as directory :
				cache = _Algo.dataToCache( tracked, directory )
				cache.compact( min_area = self["minLayerArea"].getValue() )
				summary = qc.summarise(
					cache, _Algo.parseFrameRange( self["frameRange"].getValue(), "frameRange" ),
					_Algo.dataToQcRecords( tracked["qcRecords"] if "qcRecords" in tracked else None ),
					qc.QcThresholds( min_area = self["minLayerArea"].getValue() ), self["maskThreshold"].getValue(),
				)
				output.setValue( _Algo.cacheToData(
					cache, _Algo.dataImageSize( tracked ), { "qc" : IECore.StringData( json.dumps( summary ) ) }
				) )
		elif output.isSame( self["layers"] ) :
			shot = self["__shot"].getValue( _copy = False )
			if _Algo.isEmpty( shot ) :
				output.setValue( IECore.CompoundObject() )
				return
			output.setValue( _Algo.frameLayersToData( shot, int( round( context.getFrame() ) ) ) )
		elif output.isSame( self["qc"] ) :
			shot = self["__shot"].getValue( _copy = False )
			result = IECore.CompoundObject()
			if "qc" in shot :
				summary = json.loads( shot["qc"].value )
				result["summary"] = shot["qc"]
				result["flags"] = IECore.StringVectorData( [ f["text"] for f in summary["flags"] ] )
				result["flagLayers"] = IECore.StringVectorData( [ f["layer"] for f in summary["flags"] ] )
				result["flagKinds"] = IECore.StringVectorData( [ f["kind"] for f in summary["flags"] ] )
				result["flagFirstFrames"] = IECore.IntVectorData( [ f["first"] for f in summary["flags"] ] )
				result["flagLastFrames"] = IECore.IntVectorData( [ f["last"] for f in summary["flags"] ] )
				result["flagRanks"] = IECore.FloatVectorData( [ f["rank"] for f in summary["flags"] ] )
			output.setValue( result )
		else :
			ImageShellNode.compute( self, output, context )

	def computeCachePolicy( self, output ) :

		# Both may have to run the whole internal network, which pulls images
		# (TBB tasks) : other threads wanting the result must collaborate
		# rather than compute it again or block.
		if output.isSame( self["__shot"] ) or output.isSame( self["layers"] ) or output.isSame( self["qc"] ) :
			return Gaffer.ValuePlug.CachePolicy.TaskCollaboration
		return ImageShellNode.computeCachePolicy( self, output )

	def hashCachePolicy( self, output ) :

		# Hashing `__shot` may hash the whole internal network for the shot.
		if output.isSame( self["__shot"] ) :
			return Gaffer.ValuePlug.CachePolicy.TaskCollaboration
		return Gaffer.ValuePlug.CachePolicy.Default

	# Preview
	# =======

	def _previewAffected( self, input ) :

		return _Algo.affectedBy( self, input, ( "layers", ) )

	def _previewHash( self, context, h ) :

		self["layers"].hash( h )

	def _preview( self, context ) :

		return self._previewChannelNames(), _Algo.trackedLayersPreview(
			self["layers"].getValue( _copy = False ),
			"nothing tracked : connect a plate to `in` and Segment's masks to `masks`"
		)

IECore.registerRunTimeTyped( Track, typeName = "GafferSegmentation::Track" )
