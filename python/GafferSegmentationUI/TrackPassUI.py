import Gaffer
import GafferSegmentation

from . import _Common
from . import _TrackingMetadata

__plugs = dict( _TrackingMetadata.parameters )
__plugs.update( {

	"in" : _Common.imageInput( "Every frame of `frameRange` is read." ),

	"masks" : {

		"description" :
		"""
		The stage-2 masks, from a Segment node ; pulled on the re-prompt
		frames.
		""",

		"nodule:type" : "GafferUI::StandardNodule",
		"plugValueWidget:type" : "",

	},

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

	plugs = __plugs

)
