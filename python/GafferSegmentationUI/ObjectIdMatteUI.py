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

	GafferSegmentation.ObjectIdMatte,

	"description",
	"""
	Picks mattes from an ObjectId or Cryptomatte file by layer name and
	outputs their union : the paper's mask-picking node. The file's format is
	detected ; both give the same matte.
	""",

	plugs = _Common.plugs( {

		"fileName" : _Common.exrFileName(
			"""
			An ObjectId (deep) or Cryptomatte EXR ; `####` is replaced by the
			frame number.
			"""
		),

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

	} )

)
