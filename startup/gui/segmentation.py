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

	def __loadAutoSegmentFarm( node, menu ) :

		node.load( GafferSegmentationUI.autoSegmentFarmReference() )

	__nodeMenu.append(
		"/Segmentation/AutoSegmentFarm", lambda : Gaffer.Reference( "AutoSegmentFarm" ),
		postCreator = __loadAutoSegmentFarm, searchText = "AutoSegmentFarm"
	)
	for __name in ( "WorkFolder", "DetectStage", "SegmentStage", "TrackStage", "ReconcileStage", "WriteStage", "WorkFolderLayers", "ShotList" ) :
		__nodeMenu.append( "/Segmentation/Farm/" + __name, getattr( GafferSegmentation, __name ), searchText = __name )
