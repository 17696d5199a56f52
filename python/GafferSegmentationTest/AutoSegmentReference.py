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
import sys

import IECore
import imath

import Gaffer
import GafferImage
import GafferSegmentation
import GafferSegmentationUI

## Builds the AutoSegment template : a Box wiring
# ImageReader -> Detect -> Segment -> Track -> ObjectIdWriter with the
# paper's defaults, whose promoted plugs are all a shot needs (the plate
# and the prompt ; outputs default to the project's `segmentation` folder).
# `references/AutoSegment.grf` is this Box exported for reference :
#
# ```
# gaffer python python/GafferSegmentationTest/AutoSegmentReference.py references/AutoSegment.grf
# ```
#
# (or run with the test stand-in first on `PYTHONPATH`).

promotedPlugs = [
	# ( name on the Box, internal plug, layout section )
	( "plate", "Plate.fileName", "Settings" ),
	( "prompt", "Detect.prompt", "Settings" ),
	( "frameRange", "Track.frameRange", "Settings" ),
	( "objectIdFileName", "ObjectIdWriter.fileName", "Output" ),
	( "cryptomatteFileName", "ObjectIdWriter.cryptomatteFileName", "Output" ),
	( "overwrite", "ObjectIdWriter.overwrite", "Output" ),
	( "refineEdges", "ObjectIdWriter.refineEdges", "Output" ),
	( "detectorModel", "Detect.model", "Models" ),
	( "sam2Model", "Segment.model", "Models" ),
	( "workingResolution", "Detect.workingResolution", "Models" ),
	( "providers", "Detect.providers", "Models" ),
	( "boxThreshold", "Detect.boxThreshold", "Detection" ),
	( "discardSimilarity", "Segment.discardSimilarity", "Detection" ),
	( "mergeSimilarity", "Segment.mergeSimilarity", "Detection" ),
	( "window", "Track.window", "Tracking" ),
	( "repromptEvery", "Track.repromptEvery", "Tracking" ),
	( "epsilon", "Track.epsilon", "Tracking" ),
	( "directMatchIoU", "Track.directMatchIoU", "Tracking" ),
	( "backward", "Track.backward", "Tracking" ),
	( "cacheRule", "Track.cacheRule", "Tracking" ),
	( "promptFile", "Track.promptFile", "Interactive" ),
	( "out", "Track.out", None ),
	( "layers", "Track.layers", None ),
	( "task", "ObjectIdWriter.task", None ),
]

# Internal plugs that take their value from a Box plug promoted from another node.
sharedPlugs = [
	( "Segment.model", "sam2Model" ),
	( "Track.model", "sam2Model" ),
	( "Segment.workingResolution", "workingResolution" ),
	( "Track.workingResolution", "workingResolution" ),
	( "Segment.providers", "providers" ),
	( "Track.providers", "providers" ),
]

# Their presets are registered by GafferSegmentationUI.AutoSegmentUI.
modelPlugs = ( "detectorModel", "sam2Model" )

plateBrowserMetadata = [
	( "plugValueWidget:type", "GafferUI.FileSystemPathPlugValueWidget" ),
	( "path:leaf", True ),
	( "path:valid", True ),
	( "path:bookmarks", "image" ),
	( "fileSystemPath:extensions", "exr dpx tif tiff png jpg jpeg cin hdr" ),
	( "fileSystemPath:extensionsLabel", "Show only image files" ),
	( "fileSystemPath:includeSequences", True ),
]

outputDefaults = {
	"objectIdFileName" : "${project:rootDirectory}/segmentation/${script:name}/objectId.####.exr",
	"cryptomatteFileName" : "${project:rootDirectory}/segmentation/${script:name}/cryptomatte.####.exr",
}

description = """
Automatic, temporally consistent instance mattes for a plate : detects the
objects named by `prompt` (GroundingDINO), segments them (SAM2 with the
paper's overlap clean-up), tracks them through the shot with the mask cache
(forward and backward passes) and writes ObjectId and Cryptomatte files.
Per shot, set `plate` and `prompt` (and the script's frame range) ;
dispatch `task` to write the files. `out` shows the layers in the Viewer.
Defaults are those of Merz & Fostier, DigiPro 2025.
"""

def __plug( box, path ) :

	node, plug = path.split( "." )
	return box[node][plug]

def build( parent, name = "AutoSegment" ) :

	box = Gaffer.Box( name )
	parent.addChild( box )

	box["Plate"] = GafferImage.ImageReader()
	box["Detect"] = GafferSegmentation.Detect()
	box["Segment"] = GafferSegmentation.Segment()
	box["Track"] = GafferSegmentation.Track()
	box["ObjectIdWriter"] = GafferSegmentation.ObjectIdWriter()

	box["Detect"]["in"].setInput( box["Plate"]["out"] )
	box["Segment"]["in"].setInput( box["Plate"]["out"] )
	box["Segment"]["detections"].setInput( box["Detect"]["detections"] )
	box["Track"]["in"].setInput( box["Plate"]["out"] )
	box["Track"]["masks"].setInput( box["Segment"]["masks"] )
	box["ObjectIdWriter"]["in"].setInput( box["Track"]["layers"] )
	# The plate's pixels guide the edge refinement.
	box["ObjectIdWriter"]["plate"].setInput( box["Plate"]["out"] )

	for plugName, path, section in promotedPlugs :
		# Promotion copies metadata values : the model presets (functions
		# that look for model folders each time) would be frozen in the file.
		# GafferSegmentationUI registers live ones for the Reference instead.
		exclude = "layout:* presetNames presetValues" if plugName in modelPlugs else "layout:*"
		plug = Gaffer.PlugAlgo.promoteWithName( __plug( box, path ), plugName, excludeMetadata = exclude )
		if section is not None :
			Gaffer.Metadata.registerValue( plug, "layout:section", section )

	Gaffer.Metadata.registerValue(
		box["plate"], "description",
		"""
		The plate : an image file sequence, `####` standing for the frame
		number (e.g. `/shots/sh010/plate/sh010_plate.####.exr`).
		"""
	)
	# What GafferImageUI registers for ImageReader's `fileName`, which a
	# promotion made without the UI loaded (`gaffer python`) does not copy.
	for key, value in plateBrowserMetadata :
		Gaffer.Metadata.registerValue( box["plate"], key, value )

	Gaffer.Metadata.registerValue(
		box["task"], "description",
		"""
		Dispatch this (with the shot's frame range) to track the shot and
		write the ObjectId and Cryptomatte files.
		"""
	)

	for path, plugName in sharedPlugs :
		__plug( box, path ).setInput( box[plugName] )

	for plugName, value in outputDefaults.items() :
		box[plugName].setValue( value )
		box[plugName].resetDefault()

	Gaffer.Metadata.registerValue( box, "description", description )

	# Positions in the Graph Editor, as the UI stores them.
	for nodeName, x, y in (
		( "Plate", 0, 24 ), ( "Detect", -10, 16 ), ( "Segment", 0, 8 ), ( "Track", 0, 0 ), ( "ObjectIdWriter", 0, -8 ),
	) :
		box[nodeName]["__uiPosition"] = Gaffer.V2fPlug(
			defaultValue = imath.V2f( 0, 0 ), flags = Gaffer.Plug.Flags.Default | Gaffer.Plug.Flags.Dynamic
		)
		box[nodeName]["__uiPosition"].setValue( imath.V2f( x, y ) )

	return box

def export( fileName ) :

	script = Gaffer.ScriptNode()
	box = build( script )
	box.exportForReference( fileName )
	return fileName

if __name__ == "__main__" :

	export( sys.argv[1] if len( sys.argv ) > 1 else os.path.join( "references", "AutoSegment.grf" ) )
