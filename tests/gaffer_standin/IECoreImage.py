"""Test-only stand-in for IECoreImage.ImagePrimitive. Channel data are
IECore.FloatVectorData, rows from the top of the image down, as
GafferImage.ImageAlgo.image() returns them."""

import IECore
import imath


class ImagePrimitive(IECore.Object):

    def __init__(self, dataWindow=None, displayWindow=None):
        self.dataWindow = dataWindow if dataWindow is not None else imath.Box2i()
        self.displayWindow = displayWindow if displayWindow is not None else imath.Box2i(self.dataWindow.min(), self.dataWindow.max())
        self.__channels = {}

    def __getitem__(self, name):
        return self.__channels[name]

    def __setitem__(self, name, data):
        self.__channels[name] = data

    def __contains__(self, name):
        return name in self.__channels

    def keys(self):
        return list(self.__channels.keys())

    def channelNames(self):
        return IECore.StringVectorData(self.__channels.keys())

    def channelValid(self, name):
        if name not in self.__channels:
            return False
        size = self.dataWindow.size() + imath.V2i(1)
        return len(self.__channels[name]) == size.x * size.y

    def _hashContents(self, h):
        h.append(self.dataWindow)
        h.append(self.displayWindow)
        for name in sorted(self.__channels):
            h.append(name)
            self.__channels[name].hash(h)

    def copy(self):
        result = ImagePrimitive(self.dataWindow, self.displayWindow)
        for name, data in self.__channels.items():
            result[name] = data.copy()
        return result

    def __eq__(self, other):
        return (
            isinstance(other, ImagePrimitive) and self.dataWindow == other.dataWindow
            and self.displayWindow == other.displayWindow and self.__channels == other._ImagePrimitive__channels
        )

    __hash__ = None


IECore.registerRunTimeTyped(ImagePrimitive, "IECoreImage::ImagePrimitive")
