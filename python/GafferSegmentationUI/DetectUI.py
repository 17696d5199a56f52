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

	plugs = {

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

	}

)
