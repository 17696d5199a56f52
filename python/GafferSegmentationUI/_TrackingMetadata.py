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

from . import _Common

## Metadata for the tracking parameters, shared by Track and TrackPass.

def __parameter( description, section = "Tracking" ) :

	return { "description" : description, "layout:section" : section, "nodule:type" : "" }

parameters = {

	"frameRange" : dict(
		__parameter(
			"""
			The frames of the shot, e.g. "1001-1100" (a list such as
			"1001-1050,1060-1100" works too). The default follows the
			script's frame range.
			""",
			"Settings"
		)
	),

	"model" : _Common.model( "sam2", "SAM2" ),
	"workingResolution" : _Common.workingResolution,
	"colorSpace" : _Common.colorSpace(),
	"refreshCount" : _Common.refreshCount( "the model, `promptFile` and the masks it names" ),
	"providers" : _Common.providers(),

	"window" : __parameter(
		"""
		Frames tracked from each re-prompt frame, s_T in the paper (20).
		"""
	),

	"repromptEvery" : __parameter(
		"""
		Frames between re-prompts, s_P in the paper (5) : every this many
		frames the stage-2 masks are matched against the mask cache and a
		new window is tracked. Must not exceed `window`.
		"""
	),

	"epsilon" : __parameter(
		"""
		The overwrite rule of the mask cache : a new prediction takes a
		pixel only where the cached probability + epsilon <= the new
		probability (the paper : 0.1).
		"""
	),

	"directMatchIoU" : __parameter(
		"""
		A stage-2 mask with at least this IoU against a cache layer is a
		direct match and re-prompts that layer (the paper : 0.9).
		"""
	),

	"partialMatchSimilarity" : __parameter(
		"""
		A stage-2 mask that is mostly part of one cache layer (or contains
		most of it) by this similarity keeps that layer's identity and
		prompts it with their union. The paper gives no value ; 0.5.
		"""
	),

	"overlapSimilarity" : __parameter(
		"""
		Sim(stage-2 mask, layer) at which a stage-2 mask overlaps a layer ;
		a mask overlapping more than one layer is discarded (0.1).
		"""
	),

	"maskThreshold" : __parameter(
		"""
		Probability at which masks are binarised for IoU and similarity.
		"""
	),

	"minLayerArea" : __parameter(
		"""
		Layers smaller than this many pixels (at working resolution) are not
		prompted, and layers never larger than this are dropped at the end.
		"""
	),

	"perClass" : __parameter(
		"""
		Match stage-2 masks only against layers of the same phrase.
		"""
	),

	"cacheRule" : dict(
		__parameter(
			"""
			How tracked frames enter the mask cache. "guarded" (the default,
			not in the paper) : the evidence nearest in time to a stage-2 or
			interactive prompt wins and a layer's fresher prediction releases
			its older pixels, so drift is undone and the backward pass
			repairs it; at re-prompts a layer keeps one stage-2 mask, other
			layers' fresh masks stay out of its prompt, and a lost object is
			re-identified with its layer by position and by appearance (the
			plate's colours under its masks). "paper" : the paper's rule, a
			prediction takes a pixel only where the cached probability +
			epsilon <= the new one, so pixels are never taken back.
			"recent" : guarded's merge without its identity guards. On
			generated shots with every fault (forward + backward), guarded
			beats paper on J&F, ID switches and layers per object in every
			world measured. See docs/pipeline.md.
			"""
		),
		**{
			"preset:Paper" : "paper",
			"preset:Recent" : "recent",
			"preset:Guarded" : "guarded",
			"plugValueWidget:type" : "GafferUI.PresetsPlugValueWidget",
		}
	),

	"promptFile" : {

		"description" :
		"""
		Interactive prompts : a prompt file (JSON) with positive/negative
		clicks, boxes and/or masks on keyframes, as written by the browser
		click tool (`autoseg serve`) or `SegmentationCore.pipeline.interactive.save_prompts()`.
		Each object becomes a layer, prompted on its keyframes, alone ("only"
		mode) or on top of the automatic layers ("combine" mode).
		""",

		"layout:section" : "Interactive",
		"plugValueWidget:type" : "GafferUI.FileSystemPathPlugValueWidget",
		"path:leaf" : True,
		"path:valid" : True,
		"fileSystemPath:extensions" : "json",
		"fileSystemPath:extensionsLabel" : "Show only prompt files",
		"nodule:type" : "",

	},

	"prompts" : {

		"description" :
		"""
		Interactive prompts as a value instead of a file (see
		`GafferSegmentation.PromptAlgo` for the layout) ; may be connected.
		Use either this or `promptFile`.
		""",

		"layout:section" : "Interactive",
		"plugValueWidget:type" : "",
		"nodule:type" : "",

	},

}

## Metadata for the inputs, shared by Track and TrackPass.

inputs = {

	"in" : _Common.imageInput( "Every frame of `frameRange` is read." ),

	"masks" : {

		"description" :
		"""
		The stage-2 masks, from a Segment node ; pulled on the re-prompt
		frames only (every `repromptEvery` frames of each pass, plus
		keyframes).
		""",

		"nodule:type" : "GafferUI::StandardNodule",
		"plugValueWidget:type" : "",

	},

}
