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

import json
import os

import IECore

## Presets for the model plugs : the model sizes the exporters make (their
# default folder names), plus every model folder of the right kind found on
# `SEGMENTATION_MODEL_PATHS` and in the extension's `onnx_models/`
# (`SegmentationCore.models.runtime.model_search_paths()`), looked up each time the
# presets are shown, so newly exported models appear without a restart.

__known = {
	"sam2" : [
		( "SAM2.1 Tiny", "sam2.1_hiera_t" ),
		( "SAM2.1 Small", "sam2.1_hiera_s" ),
		( "SAM2.1 Base+", "sam2.1_hiera_b+" ),
		( "SAM2.1 Large", "sam2.1_hiera_l" ),
	],
	"groundingdino" : [
		( "GroundingDINO Swin-T", "groundingdino_swint" ),
		( "GroundingDINO Swin-B", "groundingdino_swinb" ),
	],
}

def __searchPaths() :

	try :
		from SegmentationCore.models import runtime
		return [ str( p ) for p in runtime.model_search_paths() ]
	except Exception :
		return [ p for p in os.environ.get( "SEGMENTATION_MODEL_PATHS", "" ).split( os.pathsep ) if p ]

def presets( kind ) :

	"""`[ ( name, value ) ]` for a model kind (`"sam2"` or `"groundingdino"`)."""

	result = list( __known.get( kind, [] ) )
	values = { v for n, v in result }
	for root in __searchPaths() :
		try :
			folders = sorted( os.listdir( root ) )
		except OSError :
			continue
		for folder in folders :
			if folder in values :
				continue
			manifest = os.path.join( root, folder, "manifest.json" )
			try :
				with open( manifest, encoding = "utf-8" ) as f :
					if json.load( f ).get( "kind" ) != kind :
						continue
			except ( OSError, ValueError, AttributeError ) :
				continue
			result.append( ( folder, folder ) )
			values.add( folder )
	return result

def presetNames( kind ) :

	return lambda plug : IECore.StringVectorData( [ n for n, v in presets( kind ) ] )

def presetValues( kind ) :

	return lambda plug : IECore.StringVectorData( [ v for n, v in presets( kind ) ] )

def plugMetadata( kind ) :

	"""Metadata for a model plug : presets, plus a folder browser for a custom path."""

	return {
		"presetNames" : presetNames( kind ),
		"presetValues" : presetValues( kind ),
		"plugValueWidget:type" : "GafferUI.PresetsPlugValueWidget",
		"presetsPlugValueWidget:allowCustom" : True,
		"presetsPlugValueWidget:customWidgetType" : "GafferUI.FileSystemPathPlugValueWidget",
		"path:leaf" : False,
		"nodule:type" : "",
	}

providersMetadata = {
	"preset:Automatic" : "auto",
	"preset:CPU" : "cpu",
	"preset:CUDA" : "cuda,cpu",
	"preset:TensorRT" : "tensorrt,cuda,cpu",
	"plugValueWidget:type" : "GafferUI.PresetsPlugValueWidget",
	"presetsPlugValueWidget:allowCustom" : True,
	"nodule:type" : "",
}

colorSpaceMetadata = {
	"preset:Linear" : "linear",
	"preset:sRGB" : "sRGB",
	"preset:ACEScg" : "ACEScg",
	"preset:ACEScct" : "ACEScct",
	"plugValueWidget:type" : "GafferUI.PresetsPlugValueWidget",
	"presetsPlugValueWidget:allowCustom" : True,
	"nodule:type" : "",
}
