__import__( "GafferSegmentation" )

from . import ModelPresets
from . import DetectUI
from . import SegmentUI
from . import TrackPassUI
from . import TrackUI
from . import ObjectIdWriterUI
from . import ObjectIdMatteUI

__import__( "IECore" ).loadConfig( "GAFFER_STARTUP_PATHS", subdirectory = "GafferSegmentationUI" )
