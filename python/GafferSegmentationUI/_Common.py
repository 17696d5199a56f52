from . import ModelPresets

## Plug metadata shared by several nodes.

def imageInput( purpose ) :

	return {
		"description" :
		"""
		The plate, as Gaffer reads it (scene-linear unless `colorSpace` says
		otherwise). {}
		""".format( purpose ),
		"nodule:type" : "GafferUI::StandardNodule",
		"plugValueWidget:type" : "",
	}

def model( kind, what ) :

	result = dict( ModelPresets.plugMetadata( kind ) )
	result["description"] = """
	The {} model folder, as exported by `export/` : a path, or the name of a
	folder on `SEGMENTATION_MODEL_PATHS` or in the extension's `onnx_models/`.
	The presets list the exporters' default names and every folder of this
	kind found there. A path to a synthetic shot (`*.shot.json`) uses
	synthetic backends that answer from the shot's ground truth (tests,
	demos).
	""".format( what )
	result["layout:section"] = "Model"
	return result

workingResolution = {
	"description" :
	"""
	Frames are resized so that their longest side is at most this many
	pixels before they go to the models (the paper uses 1024) ; results
	come back at plate resolution where they leave the graph.
	""",
	"layout:section" : "Model",
	"nodule:type" : "",
}

def colorSpace() :

	result = dict( ModelPresets.colorSpaceMetadata )
	result["description"] = """
	How to read the input image. "Linear" (Gaffer's working space) is
	encoded with the sRGB transfer function for the models ; "sRGB" means
	the image is already display encoded.
	"""
	result["layout:section"] = "Model"
	return result

def providers() :

	result = dict( ModelPresets.providersMetadata )
	result["description"] = """
	ONNX Runtime execution providers, best first (e.g. "cuda,cpu").
	"auto" uses TensorRT, then CUDA, then the CPU, keeping those this
	ONNX Runtime build offers ; `SEGMENTATION_PROVIDERS` sets the default.
	"""
	result["layout:section"] = "Model"
	return result

previewOut = {
	"description" :
	"""
	A view of the layers for the Viewer : each layer in its own colour
	(stable per layer name), alpha the union of the layers, at working
	resolution.
	""",
	"nodule:type" : "GafferUI::StandardNodule",
	"plugValueWidget:type" : "",
}
