__import__( "Gaffer" )
__import__( "GafferImage" )
__import__( "GafferDispatch" )

from .Detect import Detect
from .Segment import Segment
from .TrackPass import TrackPass
from .Track import Track
from .ObjectIdWriter import ObjectIdWriter
from .ObjectIdMatte import ObjectIdMatte
from . import PromptAlgo

__import__( "IECore" ).loadConfig( "GAFFER_STARTUP_PATHS", subdirectory = "GafferSegmentation" )
