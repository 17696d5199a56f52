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

import imath

import Gaffer
import GafferSegmentation

## Builds the AutoSegmentFarm template : a Box wiring a WorkFolder to the
# stage task nodes, with batch sizes any dispatcher (Local, Tractor,
# OpenCue, Deadline) spreads over machines :
#
# ```
# DetectStage (10 frames a batch) -> SegmentStage (10) -> TrackStage (one per shot / chunk)
#     -> ReconcileStage (one per shot) -> WriteStage (10) = task
# WorkFolderLayers (reads the work folder back) = out, layers
# ```
#
# `references/AutoSegmentFarm.grf` is this Box exported for reference :
#
# ```
# gaffer python python/GafferSegmentationTest/AutoSegmentFarmReference.py references/AutoSegmentFarm.grf
# ```

stages = [ ( "DetectStage", 10 ), ( "SegmentStage", 10 ), ( "TrackStage", 1 ), ( "ReconcileStage", 1 ), ( "WriteStage", 10 ) ]

promotedPlugs = [
	( "plate", "Settings" ), ( "frameRange", "Settings" ), ( "prompt", "Settings" ), ( "promptFile", "Settings" ),
	( "outputDirectory", "Output" ), ( "name", "Output" ), ( "workDirectory", "Output" ),
	( "objectId", "Output" ), ( "cryptomatte", "Output" ), ( "refineEdges", "Output" ),
	( "detectorModel", "Models" ), ( "sam2Model", "Models" ), ( "workingResolution", "Models" ),
	( "colorSpace", "Models" ), ( "providers", "Models" ),
	( "boxThreshold", "Detection" ), ( "discardSimilarity", "Detection" ), ( "mergeSimilarity", "Detection" ),
	( "window", "Tracking" ), ( "repromptEvery", "Tracking" ), ( "epsilon", "Tracking" ),
	( "directMatchIoU", "Tracking" ), ( "backward", "Tracking" ), ( "cacheRule", "Tracking" ),
	( "chunks", "Farm" ), ( "chunkOverlap", "Farm" ),
]

outputDefault = "${project:rootDirectory}/segmentation/${script:name}"

description = """
Automatic instance mattes on a farm : the stages of `autoseg` as tasks
(detect and segment in batches of frames, tracking per shot or per chunk,
writing in batches), keeping their results in autoseg's work folder so a
retry resumes. Per shot set `plate`, `prompt`, `outputDirectory` and the
script's frame range ; dispatch `task` over the whole frame range. For long
shots set `chunks` to track them on several machines. For many shots,
connect `task` to a ShotList and use `${shot:plate}`, `${shot:frames}` and
`${shot:name}` here.
"""

def build( parent, name = "AutoSegmentFarm" ) :

	box = Gaffer.Box( name )
	parent.addChild( box )

	box["WorkFolder"] = GafferSegmentation.WorkFolder()
	previous = None
	for y, ( nodeName, batchSize ) in enumerate( stages ) :
		node = getattr( GafferSegmentation, nodeName )()
		box[nodeName] = node
		node["settings"].setInput( box["WorkFolder"]["settings"] )
		node["dispatcher"]["batchSize"].setValue( batchSize )
		if previous is not None :
			node["preTasks"][0].setInput( previous["task"] )
		previous = node
	box["Layers"] = GafferSegmentation.WorkFolderLayers()
	box["Layers"]["settings"].setInput( box["WorkFolder"]["settings"] )

	for plugName, section in promotedPlugs :
		plug = Gaffer.PlugAlgo.promoteWithName( box["WorkFolder"][plugName], plugName, excludeMetadata = "layout:*" )
		Gaffer.Metadata.registerValue( plug, "layout:section", section )
	for plugName, path in ( ( "refreshCount", "Layers.refreshCount" ), ( "out", "Layers.out" ), ( "layers", "Layers.layers" ), ( "task", "WriteStage.task" ) ) :
		nodeName, childName = path.split( "." )
		Gaffer.PlugAlgo.promoteWithName( box[nodeName][childName], plugName, excludeMetadata = "layout:*" )

	box["outputDirectory"].setValue( outputDefault )
	box["outputDirectory"].resetDefault()

	Gaffer.Metadata.registerValue( box, "description", description )

	for y, nodeName in enumerate( [ "WorkFolder" ] + [ s[0] for s in stages ] + [ "Layers" ] ) :
		box[nodeName]["__uiPosition"] = Gaffer.V2fPlug(
			defaultValue = imath.V2f( 0, 0 ), flags = Gaffer.Plug.Flags.Default | Gaffer.Plug.Flags.Dynamic
		)
		box[nodeName]["__uiPosition"].setValue( imath.V2f( 0 if nodeName != "Layers" else 15, 40 - 8 * y ) )

	return box

def export( fileName ) :

	script = Gaffer.ScriptNode()
	box = build( script )
	box.exportForReference( fileName )
	return fileName

if __name__ == "__main__" :

	export( sys.argv[1] if len( sys.argv ) > 1 else os.path.join( "references", "AutoSegmentFarm.grf" ) )
