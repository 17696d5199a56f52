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

from . import ModelPresets

## Per-plug metadata for `Gaffer.Metadata.registerNode( ..., plugs = ... )`.
# The metadata below is written as dicts, which are easier to share and
# extend ; Gaffer 1.5 takes each plug's metadata only as a flat
# `[ key, value, key, value, ... ]` list (`registerNode()` in
# `src/GafferModule/MetadataBinding.cpp` indexes it ; dicts are accepted
# only from Gaffer 1.6.3), so every node's `plugs` goes through this.
def plugs( metadata ) :

	result = {}
	for plugPath, values in metadata.items() :
		if isinstance( values, dict ) :
			values = [ x for item in values.items() for x in item ]
		result[plugPath] = list( values )
	return result

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

def exrFileName( description ) :

	return {
		"description" : description,
		"plugValueWidget:type" : "GafferUI.FileSystemPathPlugValueWidget",
		"path:leaf" : True,
		"path:bookmarks" : "image",
		"fileSystemPath:extensions" : "exr",
		"fileSystemPath:extensionsLabel" : "Show only EXR files",
		"fileSystemPath:includeSequences" : True,
		"nodule:type" : "",
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
	the image is already display encoded ; any other name is a colour
	space of the OCIO config ( $OCIO, else OpenImageIO's built-in one ),
	e.g. "ACEScg" or "ACEScct", converted to the models' input exactly as
	`autoseg --colorspace` does.
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

def refreshCount( what ) :

	return {
		"description" :
		"""
		May be incremented to make the node read {} again after it changed
		on disk ; otherwise Gaffer's cache may keep the old result (as with
		ImageReader's `refreshCount`).
		""".format( what ),
		"plugValueWidget:type" : "GafferUI.RefreshPlugValueWidget",
		"layout:section" : "Model",
		"nodule:type" : "",
	}

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
