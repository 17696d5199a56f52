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

import hashlib
import json
import os

import numpy

import IECore
import imath

from SegmentationCore.pipeline import interactive

from . import _Algo

## Interactive prompts as Gaffer values, for the `prompts` plug of Track.
#
# The value is an `IECore.CompoundObject` mirroring the prompt file of
# `SegmentationCore.pipeline.interactive` (the file the browser click tool writes) :
#
# ```
# {
#   "mode" : StringData( "combine" or "only" ),
#   "imageSize" : V2iData( width, height ),       # pixels the coordinates refer to
#   "objects" : CompoundObject( {
#     "0" : CompoundObject( {
#       "class" : StringData( "person" ),
#       "name" : StringData( "/person/person_0001" ),   # optional
#       "keyframes" : CompoundObject( {
#         "1001" : CompoundObject( {
#           "points" : V2fVectorData,  "labels" : IntVectorData,   # 1 positive, 0 negative
#           "box" : FloatVectorData( [ x0, y0, x1, y1 ] ),          # optional
#           "mask" : <packed array>,                                # optional, any resolution
#         } )
#       } )
#     } )
#   } )
# }
# ```

def toData( promptSet ) :

	"""A `SegmentationCore.pipeline.interactive.PromptSet` as a CompoundObject."""

	result = IECore.CompoundObject()
	result["mode"] = IECore.StringData( promptSet.mode )
	result["imageSize"] = IECore.V2iData( imath.V2i( int( promptSet.image_size[0] ), int( promptSet.image_size[1] ) ) )
	objects = IECore.CompoundObject()
	for index, obj in enumerate( promptSet.objects ) :
		item = IECore.CompoundObject()
		item["class"] = IECore.StringData( obj.phrase )
		if obj.name :
			item["name"] = IECore.StringData( obj.name )
		keyframes = IECore.CompoundObject()
		for frame, keyframe in sorted( obj.keyframes.items() ) :
			entry = IECore.CompoundObject()
			if keyframe.points is not None :
				entry["points"] = IECore.V2fVectorData( [ imath.V2f( float( x ), float( y ) ) for x, y in keyframe.points ] )
				entry["labels"] = IECore.IntVectorData( [ int( l ) for l in keyframe.labels ] )
			if keyframe.box is not None :
				entry["box"] = _Algo.floatsToData( keyframe.box )
			if keyframe.mask is not None :
				entry["mask"] = _Algo.packArray( numpy.asarray( keyframe.mask, numpy.float32 ) )
			keyframes[str( frame )] = entry
		item["keyframes"] = keyframes
		objects[str( index )] = item
	result["objects"] = objects
	return result

def fromData( data, where = "prompts" ) :

	"""The `PromptSet` of a CompoundObject made by `toData()` (or by hand) ;
	`None` for an empty object. Errors are `PromptError`s naming `where`."""

	if not len( data.keys() ) :
		return None

	from SegmentationCore.core.errors import PromptError

	try :
		size = data["imageSize"].value
		objects = []
		for key in sorted( data["objects"].keys(), key = lambda k : int( k ) if k.isdigit() else k ) :
			item = data["objects"][key]
			keyframes = {}
			for frameText, entry in item["keyframes"].items() :
				points = labels = box = mask = None
				if "points" in entry :
					points = numpy.array( [ [ p.x, p.y ] for p in entry["points"] ], numpy.float32 ).reshape( -1, 2 )
					labels = numpy.array( list( entry["labels"] ), numpy.int32 ) if "labels" in entry else None
				if "box" in entry :
					box = _Algo.dataToFloats( entry["box"] )
				if "mask" in entry :
					mask = _Algo.unpackArray( entry["mask"] ).astype( numpy.float32 )
				keyframes[int( frameText )] = interactive.Keyframe( points, labels, box, mask )
			objects.append(
				interactive.InteractiveObject(
					item["class"].value if "class" in item else "object",
					item["name"].value if "name" in item else None,
					keyframes,
				)
			)
		result = interactive.PromptSet( ( int( size.x ), int( size.y ) ), objects, data["mode"].value if "mode" in data else "combine" )
	except PromptError :
		raise
	except ( KeyError, TypeError, ValueError, AttributeError ) as e :
		raise PromptError( "{} : not a valid prompt object ({})".format( where, e ) ) from e

	if not objects :
		raise PromptError( "{} holds no objects".format( where ) )
	result.validate( where )
	return result

def fileHash( fileName, h ) :

	"""Appends what a prompt file's prompts depend on to `h` : the file's
	bytes, and the size and modification time of every mask it names."""

	h.append( fileName )
	if not fileName :
		return
	try :
		with open( fileName, "rb" ) as f :
			content = f.read()
	except OSError :
		# `Track` reports the missing file when it computes.
		h.append( "missing" )
		return
	h.append( hashlib.sha1( content ).hexdigest() )
	try :
		data = json.loads( content.decode( "utf-8" ) )
		for item in data.get( "objects" ) or [] :
			for entry in ( item.get( "keyframes" ) or {} ).values() :
				if entry.get( "mask" ) :
					path = os.path.join( os.path.dirname( fileName ), entry["mask"] )
					try :
						stat = os.stat( path )
						h.append( path )
						h.append( stat.st_mtime_ns )
						h.append( stat.st_size )
					except OSError :
						h.append( "missing:" + path )
	except ( ValueError, AttributeError, TypeError ) :
		pass
