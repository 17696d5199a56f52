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
import re

import IECore

import Gaffer
import GafferDispatch
import GafferImage

from SegmentationCore.idmatte import cryptomatte, objectid
from SegmentationCore.core import maskops
from SegmentationCore.core.errors import SegmentationError
from SegmentationCore.pipeline import qc, refine
from SegmentationCore import plates

from . import _Algo

## Writes the layers of each frame as ID mattes : an ObjectId deep EXR (the
# OpenEXR "Deep IDs" layout) and/or a Cryptomatte EXR.
#
# It requires sequence execution : Cryptomatte files must hold the same
# number of rank sets on every frame, which is known only once every frame's
# layers are, and tracking is done for the whole shot anyway.
#
# With `refineEdges` on (the default, as `autoseg run`), each layer's edge is
# refined at plate resolution, guided by the pixels of `plate` (the engine's
# `pipeline.refine` : a fast colour guided filter in a band around the
# layer's edge ; coverages still sum to at most 1 in every pixel). It is a
# plug of the writer rather than a node of its own because the refined
# mattes only exist at plate resolution : passed between nodes they would be
# a full-resolution float plane per layer, where `layers` holds the compact
# working-resolution maps. The plate is read frame by frame, when writing.
class ObjectIdWriter( GafferDispatch.TaskNode ) :

	def __init__( self, name = "ObjectIdWriter" ) :

		GafferDispatch.TaskNode.__init__( self, name )

		self["in"] = Gaffer.CompoundObjectPlug( defaultValue = IECore.CompoundObject() )
		# The names are substituted by `_fileName()`, which refuses variables
		# the context does not define.
		self["fileName"] = Gaffer.StringPlug( substitutions = IECore.StringAlgo.Substitutions.NoSubstitutions )
		self["cryptomatteFileName"] = Gaffer.StringPlug( substitutions = IECore.StringAlgo.Substitutions.NoSubstitutions )
		self["cryptomatteLayer"] = Gaffer.StringPlug( defaultValue = "CryptoObject" )
		self["extraAlphaChannels"] = Gaffer.BoolPlug( defaultValue = False )
		self["rankSets"] = Gaffer.IntPlug( defaultValue = 0, minValue = 0 )
		self["overwrite"] = Gaffer.BoolPlug( defaultValue = False )

		self["plate"] = GafferImage.ImagePlug()
		self["colorSpace"] = Gaffer.StringPlug( defaultValue = "linear" )
		self["refineEdges"] = Gaffer.BoolPlug( defaultValue = True )
		self["refineBand"] = Gaffer.FloatPlug( defaultValue = refine.RefineParams.band, minValue = 0.0001, maxValue = 0.25 )
		self["refineEps"] = Gaffer.FloatPlug( defaultValue = refine.RefineParams.eps, minValue = 1e-7 )

	def hash( self, context ) :

		fileName = _fileName( self["fileName"] )
		cryptomatteFileName = _fileName( self["cryptomatteFileName"] )
		if not fileName and not cryptomatteFileName :
			# Nothing to write : an empty hash tells dispatchers to skip us.
			return IECore.MurmurHash()

		h = GafferDispatch.TaskNode.hash( self, context )
		h.append( context.getFrame() )
		h.append( fileName )
		h.append( cryptomatteFileName )
		self["in"].hash( h )
		self["cryptomatteLayer"].hash( h )
		self["extraAlphaChannels"].hash( h )
		self["rankSets"].hash( h )
		self["overwrite"].hash( h )
		self["refineEdges"].hash( h )
		if self["refineEdges"].getValue() :
			h.append( GafferImage.ImageAlgo.imageHash( self["plate"] ) )
			self["colorSpace"].hash( h )
			self["refineBand"].hash( h )
			self["refineEps"].hash( h )
		return h

	def requiresSequenceExecution( self ) :

		return True

	def execute( self ) :

		self.executeSequence( [ Gaffer.Context.current().getFrame() ] )

	def executeSequence( self, frames ) :

		context = Gaffer.Context( Gaffer.Context.current() )
		with context :

			# Check every output before writing anything.
			outputs = {}
			for frame in frames :
				context.setFrame( frame )
				paths = [ p for p in ( _fileName( self["fileName"] ), _fileName( self["cryptomatteFileName"] ) ) if p ]
				if len( set( paths ) ) < len( paths ) :
					raise ValueError( "fileName and cryptomatteFileName are both \"{}\" ; give them different names".format( paths[0] ) )
				for path in paths :
					if path in outputs :
						raise ValueError(
							"frames {} and {} would both write \"{}\" ; put #### (the frame number) in the file names".format(
								outputs[path], int( frame ), path
							)
						)
					outputs[path] = int( frame )
					if not self["overwrite"].getValue() :
						_checkNew( path )

			rankSets = self["rankSets"].getValue()
			if rankSets == 0 and any( self.__cryptomatteFileName( context, f ) for f in frames ) :
				rankSets = cryptomatte.MIN_RANK_SETS
				for frame in frames :
					context.setFrame( frame )
					names, layers, imageSize = self.__layers()
					# Bilinear upsampling spreads a layer by at most one working
					# pixel, refinement by its band : the dilated layers bound
					# the overlaps at plate size.
					reach = 1
					if layers and imageSize is not None and self["refineEdges"].getValue() :
						workingSize = next( iter( layers.values() ) ).shape
						reach = self.__refineParams().reach( imageSize, workingSize )
					dilated = { n : maskops.dilate( m, reach ) for n, m in layers.items() }
					rankSets = max( rankSets, cryptomatte.required_rank_sets( dilated ) )

			for frame in frames :
				IECore.Canceller.check( context.canceller() )
				context.setFrame( frame )
				self.__writeFrame( rankSets )

	def __cryptomatteFileName( self, context, frame ) :

		frameContext = Gaffer.Context( context )
		frameContext.setFrame( frame )
		with frameContext :
			return _fileName( self["cryptomatteFileName"] )

	def __layers( self ) :

		data = self["in"].getValue( _copy = False )
		names, layers = _Algo.dataToLayers( data )
		return names, layers, _Algo.dataImageSize( data )

	def __refineParams( self ) :

		# The plugs are float32 : 6 significant digits give back the value
		# typed (0.008, as `autoseg --refine-band 0.008`).
		params = refine.RefineParams(
			band = float( "{:.6g}".format( self["refineBand"].getValue() ) ),
			eps = float( "{:.6g}".format( self["refineEps"].getValue() ) ),
		)
		try :
			params.validate()
		except SegmentationError as e :
			raise ValueError( "{} : {}".format( _nodeName( self ), e ) )
		return params

	def __guide( self, imageSize ) :

		"""The refinement's guide : the plate's pixels on the current frame,
		at plate resolution, as 8-bit sRGB (`refine.guide_from_plate()`, as
		`autoseg` makes it)."""

		frame = int( Gaffer.Context.current().getFrame() )
		name = _nodeName( self )
		if not len( self["plate"].channelNames() ) :
			raise ValueError(
				"{}.plate has no image on frame {} : refineEdges needs the plate's pixels ; connect the plate "
				"(the image Track reads) to `plate`, or turn refineEdges off".format( name, frame )
			)
		pixels = _Algo.imageToArray( GafferImage.ImageAlgo.image( self["plate"] ) )
		if tuple( pixels.shape[:2] ) != tuple( imageSize ) :
			raise ValueError(
				"{}.plate is {}x{} on frame {} but the layers were made from a {}x{} plate ; connect the same plate to `plate`".format(
					name, pixels.shape[1], pixels.shape[0], frame, imageSize[1], imageSize[0]
				)
			)
		try :
			return refine.guide_from_plate( pixels, self["colorSpace"].getValue() )
		except SegmentationError as e :
			raise ValueError( "{}.colorSpace : {}".format( name, e ) )

	def __writeFrame( self, rankSets ) :

		names, layers, imageSize = self.__layers()
		if imageSize is None :
			raise ValueError( "nothing to write on frame {} : connect Track's layers to `in`".format( int( Gaffer.Context.current().getFrame() ) ) )
		if self["refineEdges"].getValue() and layers :
			layers = refine.refine_layers(
				layers, imageSize, self.__guide( imageSize ), self.__refineParams(), depth_order = names
			)
		else :
			layers = plates.upsample_masks( layers, imageSize )
		overwrite = self["overwrite"].getValue()
		# Track's QC digest of this frame (`pipeline.qc`), as `autoseg` writes it.
		data = self["in"].getValue( _copy = False )
		metadata = { qc.HEADER_ATTRIBUTE : data["qc"].value } if "qc" in data else None

		fileName = _fileName( self["fileName"] )
		if fileName :
			_makeDirectory( fileName )
			objectid.write_objectid(
				fileName, layers, depth_order = names, overwrite = overwrite, shape = imageSize, metadata = metadata
			)

		cryptomatteFileName = _fileName( self["cryptomatteFileName"] )
		if cryptomatteFileName :
			_makeDirectory( cryptomatteFileName )
			cryptomatte.write_cryptomatte(
				cryptomatteFileName, layers,
				rank_sets = max( rankSets, cryptomatte.MIN_RANK_SETS ),
				layer_name = self["cryptomatteLayer"].getValue(),
				extra_alpha_channels = self["extraAlphaChannels"].getValue(),
				overwrite = overwrite, depth_order = names, shape = imageSize, metadata = metadata,
			)

def _nodeName( node ) :

	return node.relativeName( node.scriptNode() ) if node.scriptNode() else node.getName()

_variable = re.compile( r"\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_:]*)" )

def _fileName( plug ) :

	"""The value of a file name plug, substituted in the current context.
	A name using a variable the context does not define would otherwise
	silently lose that part (`${project:rootDirectory}/out.exr` becomes
	`/out.exr`) : Gaffer defines `project:*` only in the gui and dispatch
	apps (`startup/gui/project.py`), not in `gaffer execute`, `gaffer
	python` or pipeline scripts. Such names are refused."""

	value = plug.getValue()
	context = Gaffer.Context.current()
	missing = []
	for match in _variable.finditer( value ) :
		name = match.group( 1 ) or match.group( 2 )
		if name not in context and name not in os.environ and name not in missing :
			missing.append( name )
	if missing :
		raise ValueError(
			"{} : \"{}\" uses {} but this context does not define {} ; set {} to a full path, or add {} to the script's variables{}".format(
				plug.relativeName( plug.node() ), value,
				", ".join( "${{{}}}".format( n ) for n in missing ), "it" if len( missing ) == 1 else "them",
				plug.getName(), ", ".join( missing ),
				" (Gaffer sets project:* only in its gui and dispatch apps)" if any( n.startswith( "project:" ) for n in missing ) else "",
			)
		)
	return context.substitute( value )

def _checkNew( path ) :

	from SegmentationCore.core.errors import OutputError
	if os.path.lexists( path ) :
		raise OutputError(
			"{} already exists ; refusing to overwrite it (turn on `overwrite` to replace it)".format( path )
		)

def _makeDirectory( path ) :

	directory = os.path.dirname( path )
	if directory :
		os.makedirs( directory, exist_ok = True )

IECore.registerRunTimeTyped( ObjectIdWriter, typeName = "GafferSegmentation::ObjectIdWriter" )
