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

import IECore

import Gaffer
import GafferDispatch

## Dispatches its preTasks once per shot of a list : for every shot, for
# every frame of the shot, a task in a context holding
#
# - `shot:name`   the shot's name (the plate's name before the frame number,
#                 or the name given in the list) ;
# - `shot:plate`  the plate sequence, `####` for the frame number ;
# - `shot:frames` its frame range, e.g. `1001-1100` ;
#
# and that frame. Use them in the settings of what it dispatches (the
# AutoSegment template's `plate` = `${shot:plate}`, `frameRange` =
# `${shot:frames}`, `outputDirectory` = `/jobs/mattes/${shot:name}`) and
# dispatch ShotList's `task` with any frame range (the frames come from the
# shots) : each shot's tasks are batched on their own, so every dispatcher
# spreads all the shots at once.
#
# `shots` is a text file or a folder :
#
# - a text file : one shot per line, `PLATE [FRAMES] [NAME]` separated by
#   whitespace (`#` starts a comment) ; without FRAMES, the frames found on
#   disk ;
# - a folder : every image sequence in it and in its subfolders (one
#   level) ; a sequence alone in a subfolder is named after the subfolder.
#
# Like Gaffer's Wedge it does nothing itself (its hash is empty).
class ShotList( GafferDispatch.TaskNode ) :

	def __init__( self, name = "ShotList" ) :

		GafferDispatch.TaskNode.__init__( self, name )

		self["shots"] = Gaffer.StringPlug()

	def hash( self, context ) :

		return IECore.MurmurHash()

	def shots( self ) :

		"""`[ ( name, plate, frames ) ]` for the list in the current context."""

		return readShotList( self["shots"].getValue() )

	def preTasks( self, context ) :

		inputs = [ p for p in self["preTasks"].children() if p.getInput() is not None ]
		if not inputs :
			return []
		tasks = []
		with context :
			shots = self.shots()
		for name, plate, frames in shots :
			shotContext = Gaffer.Context( context )
			shotContext["shot:name"] = name
			shotContext["shot:plate"] = plate
			shotContext["shot:frames"] = str( IECore.frameListFromList( frames ) )
			for frame in frames :
				frameContext = Gaffer.Context( shotContext )
				frameContext.setFrame( frame )
				tasks.extend( GafferDispatch.TaskNode.Task( p, frameContext ) for p in inputs )
		return tasks

_frameRange = re.compile( r"^-?\d+(-(-?\d+)(x\d+)?)?(,-?\d+(-(-?\d+)(x\d+)?)?)*$" )
_numbered = re.compile( r"^(.*?)(\d+)(\.[A-Za-z][A-Za-z0-9]*)$" )
_imageExtensions = { ".exr", ".dpx", ".tif", ".tiff", ".png", ".jpg", ".jpeg", ".cin", ".hdr" }

def readShotList( path ) :

	"""The shots of a shot-list file or folder (see ShotList)."""

	from SegmentationCore import plates

	if not path :
		return []
	if os.path.isdir( path ) :
		return _folderShots( path )
	if not os.path.isfile( path ) :
		raise ValueError( "ShotList : \"{}\" is neither a shot-list file nor a folder".format( path ) )

	shots = []
	names = {}
	with open( path, encoding = "utf-8" ) as f :
		for lineNumber, line in enumerate( f, 1 ) :
			# Only whole lines are comments : plates hold `#` for the frame.
			line = line.strip()
			if not line or line.startswith( "#" ) :
				continue
			fields = line.split()
			plate, frames, name = fields[0], None, None
			for field in fields[1:] :
				if frames is None and _frameRange.match( field ) :
					frames = field
				elif name is None :
					name = field
				else :
					raise ValueError( "{}:{} : expected `PLATE [FRAMES] [NAME]`, got \"{}\"".format( path, lineNumber, line ) )
			if not os.path.isabs( plate ) :
				plate = os.path.join( os.path.dirname( os.path.abspath( path ) ), plate )
			try :
				sequence = plates.parse_sequence( plate, frames )
			except Exception as e :
				raise ValueError( "{}:{} : {}".format( path, lineNumber, e ) ) from e
			name = name or sequence.name
			if name in names :
				raise ValueError( "{}:{} : shot name \"{}\" is also on line {} ; give one a NAME".format( path, lineNumber, name, names[name] ) )
			names[name] = lineNumber
			shots.append( ( name, sequence.pattern, list( sequence.frames ) ) )
	return shots

def _folderShots( folder ) :

	from SegmentationCore import plates

	sequences = {}
	directories = [ folder ] + sorted(
		os.path.join( folder, d ) for d in os.listdir( folder ) if os.path.isdir( os.path.join( folder, d ) ) and not d.startswith( "." )
	)
	for directory in directories :
		for fileName in sorted( os.listdir( directory ) ) :
			match = _numbered.match( fileName )
			if not match or match.group( 3 ).lower() not in _imageExtensions :
				continue
			key = ( directory, match.group( 1 ), len( match.group( 2 ) ), match.group( 3 ) )
			sequences.setdefault( key, [] ).append( int( match.group( 2 ) ) )

	# Names : a sequence at the top is named after the plate, one alone in
	# a subfolder after the subfolder, several in a subfolder `folder_plate`.
	perDirectory = {}
	for key in sequences :
		perDirectory[key[0]] = perDirectory.get( key[0], 0 ) + 1

	shots = []
	names = {}
	for ( directory, prefix, padding, suffix ), frames in sorted( sequences.items() ) :
		pattern = os.path.join( directory, prefix + "#" * padding + suffix )
		sequence = plates.parse_sequence( pattern, ",".join( str( f ) for f in sorted( frames ) ) )
		if directory == folder :
			name = sequence.name
		elif perDirectory[directory] == 1 :
			name = os.path.basename( directory )
		else :
			name = "{}_{}".format( os.path.basename( directory ), sequence.name )
		if name in names :
			raise ValueError( "ShotList : \"{}\" and \"{}\" would both be shot \"{}\" ; list the shots in a text file with names".format( names[name], pattern, name ) )
		names[name] = pattern
		shots.append( ( name, sequence.pattern, list( sequence.frames ) ) )
	return shots

IECore.registerRunTimeTyped( ShotList, typeName = "GafferSegmentation::ShotList" )
