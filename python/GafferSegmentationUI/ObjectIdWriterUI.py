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

	GafferSegmentation.ObjectIdWriter,

	"description",
	"""
	Writes the layers of every frame as ID mattes that Nuke and Gaffer read :
	an ObjectId file (deep EXR, the OpenEXR "Deep IDs" layout : per sample
	`A`, `id` = MurmurHash3 of the layer name and `Z`, with the `idManifest`)
	and/or a Cryptomatte file. Files are written atomically. Dispatch it
	over the shot's frame range : it executes all frames in one batch, so
	that every Cryptomatte file holds the same number of rank sets.
	""",

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

	} )

)
