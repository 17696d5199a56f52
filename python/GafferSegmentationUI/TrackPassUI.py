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

	"cache" : {

		"description" :
		"""
		The mask cache left by a previous pass (the `out` of another
		TrackPass) ; empty to start from nothing.
		""",

		"nodule:type" : "GafferUI::StandardNodule",
		"plugValueWidget:type" : "",

	},

	"enabled" : {

		"description" :
		"""
		When off, `cache` is passed through untouched.
		""",

		"layout:section" : "Node",
		"nodule:type" : "",

	},

	"direction" : {

		"description" :
		"""
		Which way the pass walks the shot : "forward" from the first frame,
		or "backward" from the last.
		""",

		"preset:Forward" : "forward",
		"preset:Backward" : "backward",
		"plugValueWidget:type" : "GafferUI.PresetsPlugValueWidget",
		"nodule:type" : "",

	},

	"seed" : {

		"description" :
		"""
		Makes this a seed pass : it tracks the interactive keyframes alone
		(the `masks` are not used), and only when the prompts combine with
		automatic layers ; otherwise `cache` is passed through. Run before
		the forward pass, it puts the clicked objects into the cache on the
		frames before their keyframes, so the forward pass matches them
		instead of starting duplicate layers (`autoseg` does the same).
		""",

		"layout:section" : "Node",
		"nodule:type" : "",

	},

	"out" : {

		"description" :
		"""
		The mask cache after this pass : the layer registry and, per frame,
		the layer-id and probability maps (packed arrays). It does not
		depend on the current frame.
		""",

		"nodule:type" : "GafferUI::StandardNodule",
		"plugValueWidget:type" : "",

	},

} )

Gaffer.Metadata.registerNode(

	GafferSegmentation.TrackPass,

	"description",
	"""
	One pass of the paper's mask-cache tracking loop, forward or backward :
	window after window it matches the stage-2 masks of the re-prompt frame
	against the cache, builds the prompts and tracks the window with SAM2,
	merging every tracked frame into the cache with the epsilon rule. Track
	chains two of these ; use Track unless building a custom loop.
	""",

	plugs = _Common.plugs( __plugs )

)
