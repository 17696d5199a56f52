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
from . import _TrackingMetadata

__plugs = dict( _TrackingMetadata.parameters )
__plugs.update( _TrackingMetadata.inputs )
__plugs.update( {

	"backward" : {

		"description" :
		"""
		After the forward pass, run the backward pass from the last frame,
		which finds objects before the frame they were first detected on
		(the paper does).
		""",

		"layout:section" : "Tracking",
		"nodule:type" : "",

	},

	"out" : _Common.previewOut,

	"layers" : {

		"description" :
		"""
		The layers of the current frame, named `/<class>/<class>_NNNN` with
		the same name on every frame : a CompoundObject with `names` (front
		to back), `layerIds`, `ids` and `probabilities` (the mask-cache
		maps, packed arrays at working resolution) and `imageSize`. Connect
		it to an ObjectIdWriter. The whole shot is tracked the first time
		any frame is asked for ; the other frames come from Gaffer's cache.
		""",

		"nodule:type" : "GafferUI::StandardNodule",
		"plugValueWidget:type" : "",

	},

	"qc" : {

		"description" :
		"""
		Quality control of the tracked shot (see docs/review.md) : `summary`
		(the QC summary JSON that `autoseg` writes to `qc.json` : per-layer
		area, tracker object score and predicted IoU, stage-2 agreement,
		forward/backward disagreement, events) and the ranked flags, most
		likely to need an artist first : `flags` (the reasons, e.g.
		"/person/person_0004: lost on 1032-1036 (object score < 0)"),
		`flagLayers`, `flagKinds`, `flagFirstFrames`, `flagLastFrames` and
		`flagRanks`. Each frame's `layers` also carries `qcFlags` (the flags
		covering it) and `qc` (the digest ObjectIdWriter writes to the
		`autoseg/qc` header attribute).
		""",

		"nodule:type" : "",
		"plugValueWidget:type" : "",

	},

} )

Gaffer.Metadata.registerNode(

	GafferSegmentation.Track,

	"description",
	"""
	Stage 3 of the automatic pipeline : tracks the stage-2 masks through the
	whole shot with SAM2 and the paper's mask cache, so that every object
	keeps one layer name on every frame. A forward pass re-prompts every
	`repromptEvery` frames and tracks `window` frames from there ; the
	backward pass does the same from the last frame. Interactive prompts
	(clicks or masks on keyframes) seed layers of their own.
	""",

	plugs = _Common.plugs( __plugs )

)
