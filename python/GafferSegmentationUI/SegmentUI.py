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

	GafferSegmentation.Segment,

	"description",
	"""
	Stage 2 of the automatic pipeline : a SAM2 mask for every box of the
	current frame (one batched call), then the paper's clean-up with the
	similarity Sim(A, B) = |A ∩ B| / |A| : a mask overlapping at least two
	others is discarded as a false positive, and a mask overlapping exactly
	one other is merged into it. Connect `masks` to a Track node ; `out`
	shows the masks in the Viewer.
	""",

	plugs = _Common.plugs( {

		"in" : _Common.imageInput( "Masks are made on the current frame." ),

		"detections" : {

			"description" :
			"""
			The boxes to segment, from a Detect node.
			""",

			"nodule:type" : "GafferUI::StandardNodule",
			"plugValueWidget:type" : "",

		},

		"model" : _Common.model( "sam2", "SAM2" ),
		"workingResolution" : _Common.workingResolution,
		"colorSpace" : _Common.colorSpace(),
		"providers" : _Common.providers(),
		"refreshCount" : _Common.refreshCount( "the model" ),

		"discardSimilarity" : {

			"description" :
			"""
			A mask "overlaps" another when Sim(mask, other) reaches this
			(the paper : 0.1).
			""",

			"layout:section" : "Clean-up",
			"nodule:type" : "",

		},

		"discardOverlaps" : {

			"description" :
			"""
			A mask that overlaps at least this many other masks is
			discarded : it is a box spanning several objects (the paper : 2).
			""",

			"layout:section" : "Clean-up",
			"nodule:type" : "",

		},

		"mergeSimilarity" : {

			"description" :
			"""
			A mask with Sim(mask, other) at or above this against exactly one
			other mask is merged into it : a duplicate box on part of an
			object (the paper : 0.6).
			""",

			"layout:section" : "Clean-up",
			"nodule:type" : "",

		},

		"maskThreshold" : {

			"description" :
			"""
			Probability at which masks are binarised to measure their
			overlaps.
			""",

			"layout:section" : "Clean-up",
			"nodule:type" : "",

		},

		"perClass" : {

			"description" :
			"""
			Compare masks only with masks of the same phrase, so that a
			person in front of a car is not taken for a false positive. With a
			single phrase this is exactly the paper's rule.
			""",

			"layout:section" : "Clean-up",
			"nodule:type" : "",

		},

		"minArea" : {

			"description" :
			"""
			Masks smaller than this many pixels (at working resolution) are
			dropped as empty.
			""",

			"layout:section" : "Clean-up",
			"nodule:type" : "",

		},

		"out" : _Common.previewOut,

		"masks" : {

			"description" :
			"""
			The cleaned-up masks of the current frame, at working
			resolution : a CompoundObject with `masks` (a packed uint8 array
			N x H x W), `labels`, `scores`, `sources` (the detections each
			mask came from), `decisions`, `size` and `imageSize`. An
			ObjectIdWriter can write them directly (layer names are then only
			unique per frame) ; Track turns them into layers that keep their
			names through the shot.
			""",

			"nodule:type" : "GafferUI::StandardNodule",
			"plugValueWidget:type" : "",

		},

	} )

)
