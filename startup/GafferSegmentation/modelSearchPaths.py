import os

# Model folders are found by `SegmentationCore.runtime.find_model()` on
# `SEGMENTATION_MODEL_PATHS` (searched first, in order). This appends the
# extension's own `onnx_models/` folder as the fallback, so models installed
# with the extension (`scons install`) are found however the engine itself
# was installed (inside the extension, or with pip).

__extensionModels = os.path.normpath( os.path.join( os.path.dirname( __file__ ), "..", "..", "onnx_models" ) )
__paths = [ p for p in os.environ.get( "SEGMENTATION_MODEL_PATHS", "" ).split( os.pathsep ) if p ]
if os.path.isdir( __extensionModels ) and __extensionModels not in [ os.path.normpath( p ) for p in __paths ] :
	os.environ["SEGMENTATION_MODEL_PATHS"] = os.pathsep.join( __paths + [ __extensionModels ] )
