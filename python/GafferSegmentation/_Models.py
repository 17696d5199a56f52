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

import os
import threading

## Backends for the nodes, loaded once per process and shared.
#
# A model plug holds a model folder : a path, or a folder name found on
# `SEGMENTATION_MODEL_PATHS` and then in the extension's `onnx_models/`
# (`SegmentationCore.models.runtime.find_model`). A path to a synthetic shot
# (`*.shot.json`, written by `SyntheticShot.write_plate()`) instead gives
# the engine's synthetic backends, which answer from that shot's ground truth :
# the node tests and `autoseg demo` use them.

__lock = threading.RLock()
__loaded = {}

def isSynthetic( model ) :

	return model.endswith( ".shot.json" )

def __synthetic( model ) :

	from SegmentationCore import synthetic

	stamp = os.stat( model ).st_mtime_ns if os.path.isfile( model ) else None
	key = ( "synthetic", os.path.abspath( model ), stamp )
	with __lock :
		if key not in __loaded :
			if stamp is None :
				raise ValueError( "synthetic shot \"{}\" does not exist".format( model ) )
			spec = synthetic.ShotSpec.load( model )
			shot = synthetic.SyntheticShot( spec )
			__loaded[key] = synthetic.make_backends( shot, "none" )
		return __loaded[key]

def __providers( providers ) :

	return None if providers in ( "", "auto" ) else providers

def detector( model, providers = "auto", boxThreshold = None, textThreshold = None ) :

	if not model :
		raise ValueError( "no detector model : set it to a GroundingDINO model folder" )
	if isSynthetic( model ) :
		return __synthetic( model )[0]

	from SegmentationCore.models import runtime
	from SegmentationCore.models.groundingdino import load_detector

	folder = runtime.find_model( model )
	key = ( "detector", str( folder.resolve() ), providers, boxThreshold, textThreshold )
	with __lock :
		if key not in __loaded :
			__loaded[key] = load_detector(
				folder, providers = __providers( providers ),
				box_threshold = boxThreshold, text_threshold = textThreshold,
			)
		return __loaded[key]

def sam2( model, providers = "auto" ) :

	"""`( segmenter, tracker )`, sharing one feature cache."""

	if not model :
		raise ValueError( "no SAM2 model : set it to a SAM2 model folder" )
	if isSynthetic( model ) :
		return __synthetic( model )[1:]

	from SegmentationCore.models import runtime
	from SegmentationCore.models.sam2 import load_sam2

	folder = runtime.find_model( model )
	key = ( "sam2", str( folder.resolve() ), providers )
	with __lock :
		if key not in __loaded :
			__loaded[key] = load_sam2( folder, providers = __providers( providers ) )
		return __loaded[key]

def modelHash( model, h ) :

	"""Appends what identifies a model folder's contents to `h` : its path and
	the modification time of its manifest (or of the synthetic shot)."""

	h.append( model )
	if not model :
		return
	if isSynthetic( model ) :
		path = model
	else :
		from SegmentationCore.models import runtime
		try :
			path = os.path.join( str( runtime.find_model( model ) ), runtime.MANIFEST_NAME )
		except Exception :
			# Reported by `compute()` ; hash just the name.
			return
	try :
		h.append( os.stat( path ).st_mtime_ns )
	except OSError :
		pass

def clear() :

	"""Forgets every loaded backend (frees their memory)."""

	with __lock :
		__loaded.clear()
