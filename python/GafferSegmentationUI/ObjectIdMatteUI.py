import Gaffer
import GafferSegmentation

Gaffer.Metadata.registerNode(

	GafferSegmentation.ObjectIdMatte,

	"description",
	"""
	Picks mattes from an ObjectId or Cryptomatte file by layer name and
	outputs their union : the paper's mask-picking node. The file's format is
	detected ; both give the same matte.
	""",

	plugs = {

		"fileName" : {

			"description" :
			"""
			An ObjectId (deep) or Cryptomatte EXR ; `####` is replaced by the
			frame number.
			""",

			"plugValueWidget:type" : "GafferUI.FileSystemPathPlugValueWidget",
			"path:leaf" : True,
			"path:bookmarks" : "image",
			"fileSystemPath:extensions" : "exr",
			"fileSystemPath:extensionsLabel" : "Show only EXR files",
			"fileSystemPath:includeSequences" : True,
			"nodule:type" : "",

		},

		"names" : {

			"description" :
			"""
			The layers to pick, separated by spaces or commas : exact names
			(`/person/person_0003`), ancestors (`/person` picks every person)
			or globs (`/person/person_000[1-4]`, `*`).
			""",

			"nodule:type" : "",

		},

		"outputChannel" : {

			"description" :
			"""
			The channel of `out` that holds the matte.
			""",

			"nodule:type" : "",

		},

		"refreshCount" : {

			"description" :
			"""
			Increment to read the file again after it changed on disk.
			""",

			"plugValueWidget:type" : "GafferUI.RefreshPlugValueWidget",
			"layout:label" : "",
			"layout:accessory" : True,
			"nodule:type" : "",

		},

		"out" : {

			"description" :
			"""
			The matte, in `outputChannel`, at the file's resolution.
			""",

			"nodule:type" : "GafferUI::StandardNodule",
			"plugValueWidget:type" : "",

		},

		"layerNames" : {

			"description" :
			"""
			Every layer name in the file's manifest.
			""",

			"nodule:type" : "",
			"plugValueWidget:type" : "",

		},

	}

)
