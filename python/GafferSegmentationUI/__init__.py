import os

__import__( "GafferSegmentation" )

from . import ModelPresets
from . import DetectUI
from . import SegmentUI
from . import TrackPassUI
from . import TrackUI
from . import ObjectIdWriterUI
from . import ObjectIdMatteUI

def autoSegmentReference() :

	"""The AutoSegment template : `references/AutoSegment.grf` next to the
	extension's `python/` folder (the repository's layout and the installed
	one are the same)."""

	return os.path.normpath( os.path.join( os.path.dirname( __file__ ), "..", "..", "references", "AutoSegment.grf" ) )

__import__( "IECore" ).loadConfig( "GAFFER_STARTUP_PATHS", subdirectory = "GafferSegmentationUI" )
