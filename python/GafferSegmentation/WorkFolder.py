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

from . import _Stages
from .ObjectIdWriter import _fileName

## The settings of an `autoseg` run, for the stage task nodes (DetectStage,
# SegmentStage, TrackStage, ReconcileStage, WriteStage) and WorkFolderLayers :
# the plate, the prompt, the models, every parameter, and where the results
# go. Its `settings` output holds the fields of the engine's `RunConfig`, so
# the tasks keep their results in the work folder `autoseg` uses
# (`outputDirectory/.autoseg/<name>/` unless `workDirectory` is set) : a
# shot started in Gaffer can be finished by `autoseg run` with the same
# settings, and the other way round, and a farm retry resumes.
#
# The settings do not depend on the frame : `plate` keeps its `####`.
class WorkFolder( Gaffer.ComputeNode ) :

	# ( plug name, settings key, kind ) ; kind "float" rounds to 6 decimals
	# (plugs are float32 : 0.1 must reach run.json as autoseg writes it).
	__fields = [
		( "frameRange", "frames", "string" ),
		( "prompt", "prompt", "string" ),
		( "promptFile", "promptsFile", "string" ),
		( "name", "name", "string" ),
		( "workingResolution", "maxSize", "int" ),
		( "colorSpace", "colorSpace", "string" ),
		( "discardSimilarity", "discardSim", "float" ),
		( "discardOverlaps", "discardMinOthers", "int" ),
		( "mergeSimilarity", "mergeSim", "float" ),
		( "window", "window", "int" ),
		( "repromptEvery", "repromptEvery", "int" ),
		( "epsilon", "epsilon", "float" ),
		( "directMatchIoU", "directMatchIoU", "float" ),
		( "partialMatchSimilarity", "partialMatchSim", "float" ),
		( "backward", "backward", "bool" ),
		( "cacheRule", "cacheRule", "string" ),
		( "detectFrames", "detectFrames", "string" ),
		( "chunks", "chunks", "int" ),
		( "refineEdges", "refineEdges", "bool" ),
		( "refineBand", "refineBand", "float" ),
		( "refineEps", "refineEps", "float" ),
	]

	def __init__( self, name = "WorkFolder" ) :

		Gaffer.ComputeNode.__init__( self, name )

		noFrames = IECore.StringAlgo.Substitutions.AllSubstitutions & ~IECore.StringAlgo.Substitutions.FrameSubstitutions
		self["plate"] = Gaffer.StringPlug( substitutions = noFrames )
		self["frameRange"] = Gaffer.StringPlug( defaultValue = "${frameRange:start}-${frameRange:end}", substitutions = noFrames )
		self["prompt"] = Gaffer.StringPlug( defaultValue = "person" )
		self["promptFile"] = Gaffer.StringPlug( substitutions = noFrames )
		# Substituted by `_fileName()`, which refuses variables the context
		# does not define (`project:rootDirectory` outside the gui).
		self["outputDirectory"] = Gaffer.StringPlug( substitutions = IECore.StringAlgo.Substitutions.NoSubstitutions )
		self["name"] = Gaffer.StringPlug()
		self["workDirectory"] = Gaffer.StringPlug( substitutions = IECore.StringAlgo.Substitutions.NoSubstitutions )
		self["objectId"] = Gaffer.BoolPlug( defaultValue = True )
		self["cryptomatte"] = Gaffer.BoolPlug( defaultValue = True )

		self["detectorModel"] = Gaffer.StringPlug( defaultValue = "groundingdino_swint" )
		self["sam2Model"] = Gaffer.StringPlug( defaultValue = "sam2.1_hiera_l" )
		self["workingResolution"] = Gaffer.IntPlug( defaultValue = 1024, minValue = 64 )
		self["colorSpace"] = Gaffer.StringPlug( defaultValue = "auto" )
		self["providers"] = Gaffer.StringPlug( defaultValue = "auto" )

		self["boxThreshold"] = Gaffer.FloatPlug( defaultValue = 0.35, minValue = 0.0, maxValue = 1.0 )
		self["textThreshold"] = Gaffer.FloatPlug( defaultValue = 0.25, minValue = 0.0, maxValue = 1.0 )
		self["discardSimilarity"] = Gaffer.FloatPlug( defaultValue = 0.1, minValue = 0.0, maxValue = 1.0 )
		self["discardOverlaps"] = Gaffer.IntPlug( defaultValue = 2, minValue = 1 )
		self["mergeSimilarity"] = Gaffer.FloatPlug( defaultValue = 0.6, minValue = 0.0, maxValue = 1.0 )
		self["detectFrames"] = Gaffer.StringPlug( defaultValue = "reprompt" )

		self["window"] = Gaffer.IntPlug( defaultValue = 20, minValue = 1 )
		self["repromptEvery"] = Gaffer.IntPlug( defaultValue = 5, minValue = 1 )
		self["epsilon"] = Gaffer.FloatPlug( defaultValue = 0.1, minValue = 0.0 )
		self["directMatchIoU"] = Gaffer.FloatPlug( defaultValue = 0.9, minValue = 0.0, maxValue = 1.0 )
		self["partialMatchSimilarity"] = Gaffer.FloatPlug( defaultValue = 0.5, minValue = 0.0, maxValue = 1.0 )
		self["backward"] = Gaffer.BoolPlug( defaultValue = True )
		self["cacheRule"] = Gaffer.StringPlug( defaultValue = "guarded" )

		self["chunks"] = Gaffer.IntPlug( defaultValue = 1, minValue = 1 )
		self["chunkOverlap"] = Gaffer.IntPlug( defaultValue = 0, minValue = 0 )

		# WriteStage's edge refinement (`autoseg run --refine-edges`,
		# `--refine-band`, `--refine-eps`), as ObjectIdWriter's plugs.
		self["refineEdges"] = Gaffer.BoolPlug( defaultValue = True )
		self["refineBand"] = Gaffer.FloatPlug( defaultValue = 0.008, minValue = 0.0001, maxValue = 0.25 )
		self["refineEps"] = Gaffer.FloatPlug( defaultValue = 0.0003, minValue = 1e-6 )

		self["settings"] = Gaffer.CompoundObjectPlug(
			direction = Gaffer.Plug.Direction.Out, defaultValue = IECore.CompoundObject()
		)

	def affects( self, input ) :

		outputs = Gaffer.ComputeNode.affects( self, input )
		if input.parent().isSame( self ) and input.direction() == Gaffer.Plug.Direction.In and input.getName() != "user" :
			outputs.append( self["settings"] )
		return outputs

	def __inputs( self ) :

		return [ p for p in self.children( Gaffer.ValuePlug ) if p.direction() == Gaffer.Plug.Direction.In ]

	def hash( self, output, context, h ) :

		if output.isSame( self["settings"] ) :
			for plug in self.__inputs() :
				plug.hash( h )
			# `outputDirectory` and `workDirectory` are substituted by the
			# compute, not by the plugs.
			for name in ( "outputDirectory", "workDirectory" ) :
				h.append( _substituted( self[name] ) )

	def compute( self, output, context ) :

		if not output.isSame( self["settings"] ) :
			return

		result = IECore.CompoundObject()
		plate = self["plate"].getValue()
		if not plate :
			# Nothing to do : the stage tasks are no-ops.
			output.setValue( result )
			return

		outputDirectory = _fileName( self["outputDirectory"] )
		if not outputDirectory :
			raise ValueError( "{} : set outputDirectory (the mattes and the work folder go there)".format( self.relativeName( self.scriptNode() ) if self.scriptNode() else self.getName() ) )

		result["plate"] = IECore.StringData( plate )
		result["output"] = IECore.StringData( outputDirectory )
		result["workDir"] = IECore.StringData( _fileName( self["workDirectory"] ) )

		for plugName, key, kind in self.__fields :
			value = self[plugName].getValue()
			if kind == "float" :
				result[key] = IECore.DoubleData( round( value, 6 ) )
			elif kind == "int" :
				result[key] = IECore.IntData( value )
			elif kind == "bool" :
				result[key] = IECore.BoolData( value )
			else :
				result[key] = IECore.StringData( value )

		# Thresholds at their defaults are the model's own (what autoseg
		# passes without --box-threshold / --text-threshold).
		for plugName, key in ( ( "boxThreshold", "boxThreshold" ), ( "textThreshold", "textThreshold" ) ) :
			if not self[plugName].isSetToDefault() :
				result[key] = IECore.DoubleData( round( self[plugName].getValue(), 6 ) )

		if self["chunkOverlap"].getValue() > 0 :
			result["chunkOverlap"] = IECore.IntData( self["chunkOverlap"].getValue() )

		formats = [ f for f, plugName in ( ( "objectid", "objectId" ), ( "crypto", "cryptomatte" ) ) if self[plugName].getValue() ]
		if not formats :
			raise ValueError( "{} : turn on objectId and/or cryptomatte".format( self.getName() ) )
		result["formats"] = IECore.StringData( ",".join( formats ) )

		detectorModel = self["detectorModel"].getValue()
		sam2Model = self["sam2Model"].getValue()
		if sam2Model.endswith( ".shot.json" ) :
			# The engine's synthetic backends (tests, demos) answer from a
			# synthetic shot's ground truth ; both plugs name the same shot.
			result["synthetic"] = IECore.StringData( sam2Model )
		else :
			result["sam2Model"] = IECore.StringData( sam2Model )
			result["detectorModel"] = IECore.StringData( detectorModel )
		providers = self["providers"].getValue()
		if providers not in ( "", "auto" ) :
			result["providers"] = IECore.StringData( providers )

		output.setValue( result )

def _substituted( plug ) :

	try :
		return _fileName( plug )
	except ValueError as e :
		# Reported by `compute()`.
		return "error:" + str( e )

IECore.registerRunTimeTyped( WorkFolder, typeName = "GafferSegmentation::WorkFolder" )
