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

def _refinementColorSpace() :

	result = _Common.colorSpace()
	result["description"] = """
	How to read `plate` for the refinement's guide : set it as Track's
	`colorSpace`. "Linear" (Gaffer's working space) is encoded with the
	sRGB transfer function ; "sRGB" means the image is already display
	encoded ; any other name is a colour space of the OCIO config,
	converted as `autoseg --colorspace` does.
	"""
	result["layout:section"] = "Refinement"
	result["layout:activator"] = "refineEdgesOn"
	return result

Gaffer.Metadata.registerNode(

	GafferSegmentation.ObjectIdWriter,

	"description",
	"""
	Writes the layers of every frame as ID mattes that Nuke and Gaffer read :
	an ObjectId file (deep EXR, the OpenEXR "Deep IDs" layout : per sample
	`A`, `id` = MurmurHash3 of the layer name and `Z`, with the `idManifest`)
	and/or a Cryptomatte file. Files are written atomically. Dispatch it
	over the shot's frame range : it executes all frames in one batch, so
	that every Cryptomatte file holds the same number of rank sets.

	With `refineEdges` on (the default), each layer's edge is refined at
	plate resolution, guided by the pixels of `plate` : connect the plate
	Track reads to it.
	""",

	"layout:activator:refineEdgesOn", lambda node : node["refineEdges"].getValue(),

	plugs = _Common.plugs( {

		"in" : {

			"description" :
			"""
			The layers to write : Track's `layers` (or Segment's `masks`,
			whose layer names are only unique per frame).
			""",

			"nodule:type" : "GafferUI::StandardNodule",
			"plugValueWidget:type" : "",

		},

		"fileName" : _Common.exrFileName(
			"""
			The ObjectId file of each frame ; `####` (or `${frame}`) is
			replaced by the frame number. Empty to write none.
			"""
		),

		"cryptomatteFileName" : _Common.exrFileName(
			"""
			The Cryptomatte file of each frame ; `####` is replaced by the
			frame number. Empty to write none.
			"""
		),

		"cryptomatteLayer" : {

			"description" :
			"""
			The Cryptomatte layer name (channels `<layer>00.R` ...).
			""",

			"layout:section" : "Cryptomatte",
			"nodule:type" : "",

		},

		"extraAlphaChannels" : {

			"description" :
			"""
			Also write one alpha channel per layer in the Cryptomatte file
			(`matte_person__person_0001.A`), for direct use with Shuffle.
			""",

			"layout:section" : "Cryptomatte",
			"nodule:type" : "",

		},

		"rankSets" : {

			"description" :
			"""
			RGBA rank sets in every Cryptomatte file. 0 (the default) uses
			enough for the densest pixel of the frames being written (at
			least 3).
			""",

			"layout:section" : "Cryptomatte",
			"nodule:type" : "",

		},

		"overwrite" : {

			"description" :
			"""
			Replace files that already exist. Off by default : nothing is
			written if any output file exists.
			""",

			"nodule:type" : "",

		},

		"plate" : _Common.imageInput(
			"""
			Its pixels guide `refineEdges` : connect the image Track reads.
			It must have the size of the plate the layers were made from.
			Not read when refineEdges is off.
			"""
		),

		"colorSpace" : _refinementColorSpace(),

		"refineEdges" : {

			"description" :
			"""
			Refine each layer's edge at plate resolution, guided by the
			plate's pixels (a fast colour guided filter in a band around
			the edge, as `autoseg run --refine-edges`) : hair, fingers and
			motion blur get soft, plate-accurate edges instead of the
			blobby bilinear upsampling of the working-resolution masks.
			Pixels far from every edge keep the bilinear matte, and the
			coverages of a pixel still sum to at most 1. Off writes the
			bilinear upsampling (`autoseg --no-refine-edges`).
			""",

			"layout:section" : "Refinement",
			"nodule:type" : "",

		},

		"refineBand" : {

			"description" :
			"""
			Half-width of the refined band around each edge, as a fraction
			of the plate's longest side (0.008 : 15 pixels at 1080p, 33 at
			4K), as `autoseg --refine-band`.
			""",

			"layout:section" : "Refinement",
			"nodule:type" : "",
			"layout:activator" : "refineEdgesOn",

		},

		"refineEps" : {

			"description" :
			"""
			The guided filter's regularisation, as `autoseg --refine-eps` :
			larger is smoother, closer to the bilinear matte and less
			sensitive to grain.
			""",

			"layout:section" : "Refinement",
			"nodule:type" : "",
			"layout:activator" : "refineEdgesOn",

		},

	} )

)
