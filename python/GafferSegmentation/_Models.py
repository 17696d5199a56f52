import os
import threading

## Backends for the nodes, loaded once per process and shared.
#
# A model plug holds a model folder : a path, or a folder name found on
# `SEGMENTATION_MODEL_PATHS` and then in the extension's `onnx_models/`
# (`SegmentationCore.runtime.find_model`). A path to a synthetic shot
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

	from SegmentationCore import runtime
	from SegmentationCore.groundingdino import load_detector

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

	from SegmentationCore import runtime
	from SegmentationCore.sam2 import load_sam2

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
		from SegmentationCore import runtime
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
