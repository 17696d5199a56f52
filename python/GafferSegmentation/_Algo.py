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

import collections
import json
import os
import zlib

import numpy

import IECore
import imath

import Gaffer
import GafferImage

from SegmentationCore.core import maskops
from SegmentationCore.core.errors import SegmentationError
from SegmentationCore import plates
from SegmentationCore.pipeline.mask_cache import MaskCache
from SegmentationCore.pipeline.stage2 import Stage2Result
from SegmentationCore.core.types import Detections

## Conversions between Gaffer / IECore types and the engine's numpy types,
# plus the FrameSource that feeds Gaffer images to the engine. Nothing here
# decides anything about segmentation : that is the engine's job.
#
# Arrays travel through plugs as `IECore.CompoundObject` values holding the
# dtype, the shape and the zlib-compressed bytes (an `IECore.UCharVectorData`).
# Masks are mostly zeros, so this is both small in the compute cache and
# quick to convert (IECore vectors are built element by element).

## \todo Use a zero-copy path if Cortex ever exposes the buffer protocol.
def packArray( array, level = 1 ) :

	array = numpy.ascontiguousarray( array )
	result = IECore.CompoundObject()
	result["dtype"] = IECore.StringData( str( array.dtype ) )
	result["shape"] = IECore.IntVectorData( [ int( s ) for s in array.shape ] )
	result["data"] = IECore.UCharVectorData( list( zlib.compress( array.tobytes(), level ) ) )
	return result

def unpackArray( data ) :

	dtype = numpy.dtype( data["dtype"].value )
	shape = tuple( data["shape"] )
	raw = zlib.decompress( data["data"].toString() )
	return numpy.frombuffer( raw, dtype = dtype ).reshape( shape ).copy()

def floatsToData( values ) :

	return IECore.FloatVectorData( [ float( v ) for v in numpy.asarray( values ).reshape( -1 ) ] )

def dataToFloats( data ) :

	return numpy.frombuffer( data.toString(), dtype = numpy.float32 ).copy()

def sizeToData( size ) :

	"""`( height, width )` to `IECore.V2iData( width, height )`."""

	return IECore.V2iData( imath.V2i( int( size[1] ), int( size[0] ) ) )

def dataToSize( data ) :

	"""`IECore.V2iData( width, height )` to `( height, width )`."""

	return ( int( data.value.y ), int( data.value.x ) )

# Images
# ======

def imageToArray( image ) :

	"""An `IECoreImage.ImagePrimitive` (as `GafferImage.ImageAlgo.image()`
	returns it) to a float32 `( H, W, 3 )` array covering the display
	window, rows from the top. Pixels outside the data window are black ;
	a single-channel image is repeated into RGB."""

	display = image.displayWindow
	data = image.dataWindow
	height = display.max().y - display.min().y + 1
	width = display.max().x - display.min().x + 1
	if width <= 0 or height <= 0 :
		raise ValueError( "the input image is empty : connect the plate to `in`" )

	names = list( image.keys() )
	rgb = [ n for n in ( "R", "G", "B" ) if n in names ]
	if not rgb :
		rgb = [ n for n in ( "Y", "A" ) if n in names ][:1] or names[:1]
	if not rgb :
		# An unconnected ImagePlug has the default format and no channels.
		raise ValueError( "the input image has no channels : connect the plate to `in`" )
	while len( rgb ) < 3 :
		rgb.append( rgb[-1] )

	result = numpy.zeros( ( height, width, 3 ), numpy.float32 )
	if data.isEmpty() :
		return result

	dataHeight = data.max().y - data.min().y + 1
	dataWidth = data.max().x - data.min().x + 1
	y0 = data.min().y - display.min().y
	x0 = data.min().x - display.min().x
	# Clip the data window to the display window.
	sy0, sx0 = max( 0, -y0 ), max( 0, -x0 )
	dy0, dx0 = max( 0, y0 ), max( 0, x0 )
	rows = min( dataHeight - sy0, height - dy0 )
	columns = min( dataWidth - sx0, width - dx0 )
	if rows <= 0 or columns <= 0 :
		return result

	for c, name in enumerate( rgb ) :
		channel = numpy.frombuffer( image[name].toString(), dtype = numpy.float32 ).reshape( dataHeight, dataWidth )
		result[dy0:dy0+rows, dx0:dx0+columns, c] = channel[sy0:sy0+rows, sx0:sx0+columns]

	return result

def workingImage( pixels, maxSize, colorSpace ) :

	"""The engine's model input made from `imageToArray()` pixels, read-only :
	`SegmentationCore.plates.to_working_image()`, the very function that
	`autoseg` uses on plates read from disk, so the nodes and the command
	line feed the models identical images."""

	# "linear", "sRGB" or any colour space of the OCIO config ( $OCIO, else
	# OpenImageIO's built-in one ), as `autoseg --colorspace`.
	try :
		result = plates.to_working_image( pixels, maxSize, colorSpace )
	except SegmentationError as e :
		raise ValueError( "colorSpace : {}".format( e ) )
	result.setflags( write = False )
	return result

class ImagePlugFrameSource( object ) :

	"""A `SegmentationCore.core.protocols.FrameSource` reading the frames of a
	`GafferImage.ImagePlug`, each in a copy of `context` with the frame set.

	The cache key of a frame is its image hash, so the engine's feature
	caches are shared by every node (and by repeated computes) that sees the
	same pixels. Only a few frames are held at once."""

	def __init__( self, plug, frameNumbers, maxSize, colorSpace, context, cacheFrames = 4 ) :

		self.__plug = plug
		self.__frames = [ int( f ) for f in frameNumbers ]
		if not self.__frames :
			raise ValueError( "no frames" )
		self.__context = Gaffer.Context( context )
		self.__maxSize = maxSize
		self.__colorSpace = colorSpace
		self.__cache = collections.OrderedDict()
		self.__cacheFrames = cacheFrames

		first = self.__read( self.__frames[0] )
		self.__plateSize = first.shape[:2]
		self.__size = plates.working_size( self.__plateSize, maxSize )
		self.__firstRaw = first

	@property
	def frame_numbers( self ) :

		return list( self.__frames )

	@property
	def size( self ) :

		return tuple( self.__size )

	@property
	def plateSize( self ) :

		return tuple( self.__plateSize )

	def cache_key( self, frame ) :

		with self.__frameContext( frame ) :
			h = GafferImage.ImageAlgo.imageHash( self.__plug )
		return frameCacheKey( h, self.__size, self.__colorSpace )

	def image( self, frame ) :

		frame = int( frame )
		cached = self.__cache.get( frame )
		if cached is not None :
			self.__cache.move_to_end( frame )
			return cached

		if frame not in self.__frames :
			raise KeyError( "frame {} is not in the frame range {}-{}".format( frame, self.__frames[0], self.__frames[-1] ) )

		if self.__firstRaw is not None and frame == self.__frames[0] :
			raw = self.__firstRaw
		else :
			raw = self.__read( frame )
		self.__firstRaw = None
		if raw.shape[:2] != self.__plateSize :
			raise ValueError(
				"frame {} is {}x{} but frame {} is {}x{} ; every frame of a shot must have one size".format(
					frame, raw.shape[1], raw.shape[0], self.__frames[0], self.__plateSize[1], self.__plateSize[0]
				)
			)

		result = workingImage( raw, self.__maxSize, self.__colorSpace )
		self.__cache[frame] = result
		while len( self.__cache ) > self.__cacheFrames :
			self.__cache.popitem( last = False )
		return result

	def __frameContext( self, frame ) :

		context = Gaffer.Context( self.__context )
		context.setFrame( frame )
		return context

	def __read( self, frame ) :

		IECore.Canceller.check( self.__context.canceller() )
		with self.__frameContext( frame ) :
			image = GafferImage.ImageAlgo.image( self.__plug )
		return imageToArray( image )

def frameCacheKey( imageHash, workingSize, colorSpace ) :

	"""Names the model input made from an image : its hash, the working size
	and the colour reading. Shared by every FrameSource here, so encoder
	features computed for one node are found by the others."""

	return "gaffer:{}|{}x{}|{}".format( imageHash.toString(), workingSize[1], workingSize[0], colorSpace )

class SingleFrameSource( object ) :

	"""A FrameSource of one frame that is already at working resolution."""

	def __init__( self, frame, image, imageHash, colorSpace ) :

		self.__frame = int( frame )
		self.__image = image
		self.__key = frameCacheKey( imageHash, image.shape[:2], colorSpace )

	@property
	def frame_numbers( self ) :

		return [ self.__frame ]

	@property
	def size( self ) :

		return tuple( self.__image.shape[:2] )

	def image( self, frame ) :

		if int( frame ) != self.__frame :
			raise KeyError( "frame {} is not available ; this source holds frame {}".format( frame, self.__frame ) )
		return self.__image

	def cache_key( self, frame ) :

		return self.__key

def readWorkingFrame( plug, maxSize, colorSpace, context ) :

	"""The current frame of an image plug as a `SingleFrameSource`, and the
	image's size `( height, width )`."""

	imageHash = GafferImage.ImageAlgo.imageHash( plug )
	image = imageToArray( GafferImage.ImageAlgo.image( plug ) )
	frame = int( round( context.getFrame() ) )
	working = workingImage( image, maxSize, colorSpace )
	return SingleFrameSource( frame, working, imageHash, colorSpace ), image.shape[:2]

def affectedBy( node, input, names ) :

	"""True if `input` is one of the named plugs of `node`, or a descendant of
	one (image plugs are compound plugs in Gaffer). Safe to call while the
	node is still being constructed."""

	plug = input
	while plug is not None and isinstance( plug, Gaffer.Plug ) :
		parent = plug.parent()
		if parent is not None and parent.isSame( node ) :
			return plug.getName() in names
		plug = parent
	return False

def parseFrameRange( text, plugName ) :

	"""Frames from `"1001-1100"` / `"1001-1010,1020"` ; errors name the plug."""

	try :
		frames = plates.parse_frames( text )
	except Exception as e :
		raise ValueError(
			"{} : \"{}\" is not a frame range ; use e.g. \"1001-1100\" ({})".format( plugName, text, e )
		) from e
	if not frames :
		raise ValueError( "{} : \"{}\" holds no frames".format( plugName, text ) )
	return sorted( set( frames ) )

# Detections
# ==========

def detectionsToData( detections, workingSize, imageSize, phrases ) :

	"""Boxes go out in image pixels (display window, origin top left, y down)."""

	scale = numpy.array(
		[ imageSize[1] / workingSize[1], imageSize[0] / workingSize[0] ] * 2, numpy.float32
	)
	result = IECore.CompoundObject()
	result["boxes"] = floatsToData( detections.boxes * scale )
	result["scores"] = floatsToData( detections.scores )
	result["labels"] = IECore.StringVectorData( detections.labels )
	result["phrases"] = IECore.StringVectorData( phrases )
	result["imageSize"] = sizeToData( imageSize )
	return result

def dataToDetections( data, workingSize ) :

	"""Detections in `workingSize` pixels ; an empty object gives none."""

	if "boxes" not in data :
		return Detections.empty()
	imageSize = dataToSize( data["imageSize"] )
	scale = numpy.array(
		[ workingSize[1] / imageSize[1], workingSize[0] / imageSize[0] ] * 2, numpy.float32
	)
	boxes = dataToFloats( data["boxes"] ).reshape( -1, 4 ) * scale
	return Detections( boxes, dataToFloats( data["scores"] ), list( data["labels"] ) )

# Stage 2 masks
# =============

def stage2ToData( result, imageSize ) :

	quantised = numpy.clip( numpy.rint( result.masks * 255 ), 0, 255 ).astype( numpy.uint8 )
	data = IECore.CompoundObject()
	data["masks"] = packArray( quantised )
	data["labels"] = IECore.StringVectorData( result.labels )
	data["scores"] = floatsToData( result.scores )
	data["sources"] = IECore.StringData( json.dumps( result.sources ) )
	data["decisions"] = IECore.StringData( json.dumps( [ d.to_dict() for d in result.decisions ] ) )
	data["size"] = sizeToData( result.masks.shape[1:] )
	data["imageSize"] = sizeToData( imageSize )
	return data

def dataToStage2( data, frame, workingSize ) :

	"""A `Stage2Result` at `workingSize` (resampled if the masks were made
	at another resolution) ; `None` for an empty object (no stage 2)."""

	if "masks" not in data :
		return None
	masks = unpackArray( data["masks"] ).astype( numpy.float32 ) / 255.0
	if masks.shape[1:] != tuple( workingSize ) and len( masks ) :
		masks = numpy.clip( maskops.resize_bilinear( masks, workingSize ), 0.0, 1.0 )
	elif not len( masks ) :
		masks = numpy.zeros( ( 0, ) + tuple( workingSize ), numpy.float32 )
	return Stage2Result(
		frame = int( frame ),
		masks = masks,
		labels = list( data["labels"] ),
		scores = dataToFloats( data["scores"] ),
		sources = json.loads( data["sources"].value ),
		decisions = [],
	)

# Mask cache (a whole shot)
# =========================

def cacheToData( cache, imageSize, extra = None ) :

	result = IECore.CompoundObject()
	result["registry"] = IECore.StringData( json.dumps( cache.registry() ) )
	result["imageSize"] = sizeToData( imageSize )
	frames = IECore.CompoundObject()
	for frame in cache.frames :
		entry = IECore.CompoundObject()
		entry["ids"] = packArray( cache.id_map( frame ) )
		probabilities = cache.probability_map( frame )
		entry["probabilities"] = packArray(
			numpy.clip( numpy.rint( probabilities * 255 ), 0, 255 ).astype( numpy.uint8 )
		)
		# Evidence ages of the "recent" cache rule (none with the paper's).
		ages = cache.evidence_ages( frame )
		if ages :
			entry["ageIds"] = IECore.IntVectorData( sorted( ages ) )
			entry["ageValues"] = IECore.FloatVectorData( [ ages[i] for i in sorted( ages ) ] )
		frames[str( frame )] = entry
	result["frames"] = frames
	for key, value in ( extra or {} ).items() :
		result[key] = value
	return result

def dataToCache( data, directory = None ) :

	"""A `MaskCache` holding the data ; disk-backed in `directory` if given."""

	from SegmentationCore.pipeline.mask_cache import LayerInfo

	registry = json.loads( data["registry"].value )
	cache = MaskCache( tuple( registry["size"] ), directory, int( registry["probability_bits"] ) )
	cache.add_layers( LayerInfo.from_dict( item ) for item in registry["layers"] )
	# What each layer looks like (the "guarded" cache rule's appearance).
	cache.restore_appearance( registry.get( "appearance", {} ) )
	for frame, entry in data["frames"].items() :
		probabilities = unpackArray( entry["probabilities"] ).astype( numpy.float32 ) / 255.0
		ages = None
		if "ageIds" in entry :
			ages = dict( zip( entry["ageIds"], entry["ageValues"] ) )
		cache.set_frame( int( frame ), unpackArray( entry["ids"] ), probabilities, ages = ages )
	return cache

# Quality control
# ===============

def qcRecordsToData( records, previous = None, passName = "" ) :

	"""The `pipeline.qc` window records of a pass, after those of the previous
	passes (`previous`, as returned by this function)."""

	from SegmentationCore.pipeline import qc

	result = IECore.CompoundObject()
	for key, value in ( previous.items() if previous is not None else () ) :
		if not key.startswith( passName + "-" ) :
			result[key] = value
	for index, record in enumerate( records ) :
		entry = IECore.CompoundObject()
		for key, array in qc.pack_record( record ).items() :
			entry[key] = packArray( array )
		result["{}-{:05d}".format( passName, index )] = entry
	return result

def dataToQcRecords( data ) :

	from SegmentationCore.pipeline import qc

	if data is None :
		return []
	return [
		qc.unpack_record( { key : unpackArray( data[name][key] ) for key in ( "meta", "values", "shapes", "bits" ) } )
		for name in sorted( data.keys() )
	]

def isEmpty( data ) :

	return len( data.keys() ) == 0

# Layers (one frame)
# ==================

def frameLayersToData( shotData, frame ) :

	"""One frame of a shot as layers : the cache maps of that frame plus the
	names of the layers present on it, front to back (registry order)."""

	registry = json.loads( shotData["registry"].value )
	result = IECore.CompoundObject()
	result["imageSize"] = shotData["imageSize"]
	size = tuple( registry["size"] )
	entry = shotData["frames"].get( str( int( frame ) ) ) if "frames" in shotData else None
	if entry is None :
		ids = numpy.zeros( size, numpy.uint16 )
		probabilities = numpy.zeros( size, numpy.uint8 )
	else :
		ids = unpackArray( entry["ids"] )
		probabilities = unpackArray( entry["probabilities"] )
	present = set( numpy.unique( ids ).tolist() ) - { 0 }
	layers = [ item for item in registry["layers"] if item["id"] in present ]
	result["names"] = IECore.StringVectorData( [ item["name"] for item in layers ] )
	result["layerIds"] = IECore.IntVectorData( [ int( item["id"] ) for item in layers ] )
	result["ids"] = packArray( ids )
	result["probabilities"] = packArray( probabilities )
	if "qc" in shotData :
		# The QC digest of this frame, for ObjectIdWriter's headers, and the
		# flags that cover it.
		from SegmentationCore.pipeline import qc

		summary = json.loads( shotData["qc"].value )
		result["qc"] = IECore.StringData( qc.header_summary( summary, int( frame ) ) )
		result["qcFlags"] = IECore.StringVectorData(
			[ f["text"] for f in summary["flags"] if f["first"] <= int( frame ) <= f["last"] ]
		)
	return result

def dataToLayers( data ) :

	"""`( names, { name : ( H, W ) float32 probability } )` at the
	resolution the data was made at, from either a frame of layers (Track)
	or stage-2 masks (Segment, named `/<class>/<class>_NNNN` per frame)."""

	if "ids" in data :
		ids = unpackArray( data["ids"] )
		probabilities = unpackArray( data["probabilities"] ).astype( numpy.float32 ) / 255.0
		names = list( data["names"] )
		layers = {}
		for name, layerId in zip( names, data["layerIds"] ) :
			layers[name] = numpy.where( ids == layerId, probabilities, 0.0 ).astype( numpy.float32 )
		return names, layers

	if "masks" in data :
		from SegmentationCore.core.prompts import layer_name
		masks = unpackArray( data["masks"] ).astype( numpy.float32 ) / 255.0
		counters = {}
		names = []
		layers = {}
		for label, mask in zip( data["labels"], masks ) :
			counters[label] = counters.get( label, 0 ) + 1
			name = layer_name( label, counters[label] )
			names.append( name )
			layers[name] = mask
		return names, layers

	return [], {}

def dataImageSize( data ) :

	return dataToSize( data["imageSize"] ) if "imageSize" in data else None

# Previews
# ========

def layerColour( name ) :

	"""A stable, saturated colour per layer name."""

	import colorsys
	h = zlib.crc32( name.encode( "utf-8" ) )
	return colorsys.hsv_to_rgb( ( h % 360 ) / 360.0, 0.55 + 0.4 * ( ( h >> 9 ) % 100 ) / 100.0, 0.95 )

def trackedLayersPreview( data, emptyMessage ) :

	"""The preview planes of tracked layers data (Track's or a work folder's
	`layers`) ; `emptyMessage` is raised when nothing has been tracked."""

	if "ids" not in data :
		raise RuntimeError( emptyMessage )
	names, layers = dataToLayers( data )
	return layersPreview( names, layers, unpackArray( data["ids"] ).shape )

def layersPreview( names, layers, size ) :

	"""RGBA planes `( 4, H, W )` : each layer in its colour, front to back."""

	rgba = numpy.zeros( ( 4, ) + tuple( size ), numpy.float32 )
	transmission = numpy.ones( size, numpy.float32 )
	for name in names :
		alpha = numpy.clip( layers[name], 0.0, 1.0 ) * transmission
		for c, value in enumerate( layerColour( name ) ) :
			rgba[c] += alpha * value
		rgba[3] += alpha
		transmission *= 1.0 - numpy.clip( layers[name], 0.0, 1.0 )
	return rgba

def previewDirectory() :

	return os.environ.get(
		"GAFFERSEGMENTATION_PREVIEW_DIR",
		os.path.join( __import__( "tempfile" ).gettempdir(), "GafferSegmentationPreview" )
	)
