import IECore

import Gaffer
import GafferUI

# Node menu entries for GafferSegmentation, under /Segmentation. If the
# engine's dependencies (numpy, onnxruntime, OpenImageIO, OpenEXR, tokenizers)
# cannot be imported in Gaffer's Python, the menu is left out with a
# warning saying what to do (see docs/gaffer.md).

try :
	import GafferSegmentation
	import GafferSegmentationUI
except ImportError as e :
	IECore.msg(
		IECore.Msg.Level.Warning, "GafferSegmentation",
		"Not available : {}. Install the engine's Python dependencies where Gaffer's Python finds them (docs/gaffer.md).".format( e )
	)
else :

	__nodeMenu = GafferUI.NodeMenu.acquire( application )

	__nodeMenu.append( "/Segmentation/Detect", GafferSegmentation.Detect, searchText = "Detect" )
	__nodeMenu.append( "/Segmentation/Segment", GafferSegmentation.Segment, searchText = "Segment" )
	__nodeMenu.append( "/Segmentation/Track", GafferSegmentation.Track, searchText = "Track" )
	__nodeMenu.append( "/Segmentation/ObjectIdWriter", GafferSegmentation.ObjectIdWriter, searchText = "ObjectIdWriter" )
	__nodeMenu.append( "/Segmentation/ObjectIdMatte", GafferSegmentation.ObjectIdMatte, searchText = "ObjectIdMatte" )

	def __loadAutoSegment( node, menu ) :

		node.load( GafferSegmentationUI.autoSegmentReference() )

	__nodeMenu.append(
		"/Segmentation/AutoSegment", lambda : Gaffer.Reference( "AutoSegment" ),
		postCreator = __loadAutoSegment, searchText = "AutoSegment"
	)
