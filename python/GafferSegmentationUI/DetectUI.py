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

Gaffer.Metadata.registerNode(

	GafferSegmentation.Detect,

	"description",
	"""
	Stage 1 of the automatic pipeline : finds the objects named by a text
	prompt on the current frame with GroundingDINO, and outputs their boxes,
	scores and phrases. Connect `detections` to a Segment node.
	""",

	"layout:section:Settings:collapsed", False,

	plugs = _Common.plugs( {

		"in" : _Common.imageInput( "Objects are detected on the current frame." ),

		"prompt" : {

			"description" :
			"""
			What to find : one or more phrases separated by commas or full
			stops, e.g. "person" or "person, car". Each phrase becomes a
			class of layers (`/person/person_0001`, `/car/car_0001`).
			""",

			"nodule:type" : "",

		},

		"model" : _Common.model( "groundingdino", "GroundingDINO" ),

		"boxThreshold" : {

			"description" :
			"""
			Boxes whose best phrase score is below this are dropped
			(GroundingDINO's box threshold).
			""",

			"nodule:type" : "",

		},

		"textThreshold" : {

			"description" :
			"""
			Prompt words scoring below this do not count towards a box's
			phrase (GroundingDINO's text threshold).
			""",

			"nodule:type" : "",

		},

		"workingResolution" : _Common.workingResolution,
		"colorSpace" : _Common.colorSpace(),
		"providers" : _Common.providers(),
		"refreshCount" : _Common.refreshCount( "the model" ),

		"detections" : {

			"description" :
			"""
			The boxes of the current frame : a CompoundObject with `boxes`
			(x0, y0, x1, y1 per box, in image pixels from the top left),
			`scores`, `labels` (the phrase of each box), `phrases` and
			`imageSize`.
			""",

			"nodule:type" : "GafferUI::StandardNodule",
			"plugValueWidget:type" : "",

		},

	} )

)
