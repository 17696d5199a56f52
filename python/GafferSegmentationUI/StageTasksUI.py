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

import Gaffer
import GafferSegmentation

from . import _Common

## Metadata for the farm nodes : WorkFolder, the stage task nodes,
# WorkFolderLayers and ShotList (see docs/gaffer.md, "Farm dispatch").

def __settingsInput() :

	return {
		"description" :
		"""
		The settings of the run, from a WorkFolder's `settings` : the plate,
		the prompt, the models, every parameter and the work folder the
		results go to.
		""",
		"nodule:type" : "GafferUI::StandardNodule",
		"plugValueWidget:type" : "",
	}

__workFolderPlugs = {
	"plate" : "The plate : an image sequence, `####` for the frame number. Empty : the stage tasks do nothing.",
	"frameRange" : "The shot's frames, e.g. `1001-1100` ; empty : the frames found on disk.",
	"prompt" : "What to find : phrases separated by commas, e.g. `person, car`.",
	"promptFile" : "An interactive prompt file (JSON, as the browser click tool writes) ; optional.",
	"outputDirectory" : "Where the ObjectId and Cryptomatte files go (`<name>.objectid.####.exr`, `<name>.crypto.####.exr`) ; the work folder is `.autoseg/<name>` inside it. Variables the context does not define are refused.",
	"name" : "The output file name stem ; empty : the plate's name.",
	"workDirectory" : "Where the stage results are kept ; empty : `outputDirectory/.autoseg/<name>`.",
	"objectId" : "Write ObjectId deep EXRs.",
	"cryptomatte" : "Write Cryptomatte EXRs.",
	"detectorModel" : "The GroundingDINO model folder (a name on SEGMENTATION_MODEL_PATHS or a path).",
	"sam2Model" : "The SAM2 model folder (a name on SEGMENTATION_MODEL_PATHS or a path).",
	"workingResolution" : "Longest side of the images the models see (autoseg's --max-size).",
	"colorSpace" : "How the plate is read : `auto`, `linear`, `srgb` or an OCIO colour space (autoseg's --colorspace).",
	"providers" : "ONNX Runtime providers, e.g. `cuda,cpu` ; `auto` : the best available.",
	"boxThreshold" : "GroundingDINO's box threshold ; at its default, the model's own.",
	"textThreshold" : "GroundingDINO's text threshold ; at its default, the model's own.",
	"discardSimilarity" : "Stage-2 clean-up : Sim at which a mask overlapping others is discarded (paper : 0.1).",
	"discardOverlaps" : "Stage-2 clean-up : how many overlapped masks discard a mask (paper : 2).",
	"mergeSimilarity" : "Stage-2 clean-up : Sim at which a mask is merged into the one it overlaps (paper : 0.6).",
	"detectFrames" : "`reprompt` : stages 1-2 run only where tracking re-prompts ; `all` : on every frame.",
	"window" : "Frames tracked from each re-prompt frame (s_T).",
	"repromptEvery" : "Re-prompt period (s_P).",
	"epsilon" : "Overwrite rule M_P + epsilon <= V_P.",
	"directMatchIoU" : "IoU at which a stage-2 mask is the same object as a layer.",
	"partialMatchSimilarity" : "Sim for partial matches (not given by the paper).",
	"backward" : "Run the backward tracking pass.",
	"cacheRule" : "How tracked frames enter the mask cache : `paper`, `recent` or `guarded`.",
	"chunks" : "Track the shot in this many overlapping chunks, each a task of its own (long shots over several machines) ; 1 : the whole shot in one task.",
	"chunkOverlap" : "Frames neighbouring chunks share at least ; 0 : one window.",
	"refineEdges" : "WriteStage refines each layer's edge at plate resolution, guided by the plate's pixels (autoseg's --refine-edges, on by default) ; off : the bilinear upsampling of the tracked masks. Changing it rewrites the mattes, not the tracking.",
	"refineBand" : "Half-width of the refined band around each edge, a fraction of the plate's longest side (autoseg's --refine-band).",
	"refineEps" : "The guided filter's regularisation : larger is smoother, closer to the bilinear matte (autoseg's --refine-eps).",
	"settings" : "The settings, for the stage task nodes and WorkFolderLayers.",
}

Gaffer.Metadata.registerNode(

	GafferSegmentation.WorkFolder,

	"description",
	"""
	The settings of an `autoseg` run for the stage task nodes : plate,
	prompt, models, parameters and where results go. The tasks keep their
	results in autoseg's work folder, so a farm retry resumes and a shot
	can be finished by `autoseg run` with the same settings.
	""",

	plugs = _Common.plugs( {
		name : { "description" : text } for name, text in __workFolderPlugs.items()
	} ),

)

Gaffer.Metadata.registerValue( GafferSegmentation.WorkFolder, "settings", "nodule:type", "GafferUI::StandardNodule" )

for __node, __description in (
	( GafferSegmentation.DetectStage, "Stage 1 (GroundingDINO boxes) on a batch of frames, into the work folder's `detect/`. One task per frame of the shot, grouped by `dispatcher.batchSize`." ),
	( GafferSegmentation.SegmentStage, "Stage 2 (SAM2 masks and the clean-up) on a batch of frames, into `segment/` ; put DetectStage in its preTasks." ),
	( GafferSegmentation.TrackStage, "Stage 3, the mask-cache tracking loop : one task per shot, or one per chunk when the settings have `chunks` > 1 ; put SegmentStage in its preTasks." ),
	( GafferSegmentation.ReconcileStage, "Merges the chunks' tracking into the shot's layers (names stable over the shot) ; one task per shot. Put TrackStage in its preTasks." ),
	( GafferSegmentation.WriteStage, "Writes the ObjectId and Cryptomatte files of a batch of frames ; put ReconcileStage in its preTasks and dispatch this over the shot's frames." ),
) :
	Gaffer.Metadata.registerNode(
		__node,
		"description", __description,
		plugs = _Common.plugs( { "settings" : __settingsInput() } ),
	)

Gaffer.Metadata.registerNode(

	GafferSegmentation.WorkFolderLayers,

	"description",
	"""
	Reads back the tracked layers the stage tasks wrote to a work folder :
	`layers` for the current frame (as Track's) and `out` for the Viewer.
	Increment `refreshCount` after a dispatch.
	""",

	plugs = _Common.plugs( {
		"settings" : __settingsInput(),
		"refreshCount" : { "description" : "Increment to read files that changed on disk." },
		"layers" : { "description" : "The tracked layers of the current frame (empty before tracking has finished)." },
		"out" : { "description" : "The layers in colour, for the Viewer." },
	} ),

)

Gaffer.Metadata.registerNode(

	GafferSegmentation.ShotList,

	"description",
	"""
	Dispatches its preTasks for every shot of a list, with the context
	variables `shot:name`, `shot:plate` and `shot:frames` and each frame of
	the shot : put `${shot:plate}` in a WorkFolder's `plate`, `${shot:frames}`
	in its `frameRange` and `${shot:name}` in its `outputDirectory`.
	""",

	plugs = _Common.plugs( {
		"shots" : {
			"description" :
			"""
			A text file, one shot per line : `PLATE [FRAMES] [NAME]`
			(whole-line `#` comments) ; or a folder : every image sequence
			in it and its subfolders.
			""",
			"plugValueWidget:type" : "GafferUI.FileSystemPathPlugValueWidget",
			"path:leaf" : True,
		},
	} ),

)
