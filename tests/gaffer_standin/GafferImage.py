"""Test-only stand-in for the subset of GafferImage that GafferSegmentation
uses. An ImagePlug here carries a whole IECoreImage.ImagePrimitive (the real
one is tiled ; Python code only ever sees images through
`ImageAlgo.image()` / `ImageAlgo.imageHash()`, which this keeps).

Mirrors Gaffer 1.5.16.5 (GafferHQ/gaffer b933ecd1) :
* `ImagePlug` : `include/GafferImage/ImagePlug.h`, `src/GafferImage/ImagePlug.cpp`
  -- a compound plug with the eight children `viewNames`, `format`,
  `dataWindow`, `metadata`, `deep`, `sampleOffsets`, `channelNames`,
  `channelData` ; unconnected, an input has the default format (1920x1080)
  and no channels ;
* `ImageReader` : `src/GafferImage/ImageReader.cpp` (hashing a missing file
  raises, as OpenImageIOReader's hash opens it) ;
* `ImageAlgo.image()` / `imageHash()` : `include/GafferImage/ImageAlgo.inl`
  (they spawn TBB tasks, so the calling process needs the TaskCollaboration
  policy, `include/Gaffer/ValuePlug.h`).
"""

import os

import numpy

import IECore
import IECoreImage
import imath

import Gaffer
from Gaffer import _Core


class _ImageChildPlug(Gaffer.ValuePlug):
    """A child of an ImagePlug. The stand-in computes images whole, so these
    only exist for connections, dirtiness and `affects()`."""

    def _hash(self):
        raise IECore.Exception("%s : the stand-in computes images whole ; use ImageAlgo" % self.fullName())


def _defaultImage():
    # The default format of an unconnected input (`FormatPlug` default,
    # 1920x1080), an empty data window and no channels.
    return IECoreImage.ImagePrimitive(
        imath.Box2i(), imath.Box2i(imath.V2i(0, 0), imath.V2i(1919, 1079))
    )


class ImagePlug(_Core._TypedObjectPlug):

    ValueType = IECoreImage.ImagePrimitive
    _childNames = ("viewNames", "format", "dataWindow", "metadata", "deep", "sampleOffsets", "channelNames", "channelData")

    def __init__(self, name="ImagePlug", direction=Gaffer.Plug.Direction.In, flags=Gaffer.Plug.Flags.Default):
        _Core._TypedObjectPlug.__init__(self, name, direction, _defaultImage(), flags)
        for childName in self._childNames:
            self.addChild(_ImageChildPlug(childName, direction, flags))

    def acceptsChild(self, potentialChild):
        return isinstance(potentialChild, _ImageChildPlug) and len(self.children()) < len(self._childNames)

    def acceptsInput(self, input):
        return _Core._TypedObjectPlug.acceptsInput(self, input) and (input is None or isinstance(input, ImagePlug))

    def createCounterpart(self, name, direction):
        return ImagePlug(name, direction, self.getFlags())

    # The real ImagePlug is a compound plug without `defaultValue()`, so it
    # serialises as `GafferImage.ImagePlug( "in", ... )`.
    @property
    def defaultValue(self):
        raise AttributeError("defaultValue")

    def dataWindow(self):
        return self.getValue().dataWindow

    def channelNames(self):
        return self.getValue().channelNames()


class ImageNode(Gaffer.ComputeNode):

    def __init__(self, name="ImageNode"):
        Gaffer.ComputeNode.__init__(self, name)
        self.addChild(ImagePlug("out", Gaffer.Plug.Direction.Out))
        self.addChild(Gaffer.BoolPlug("enabled", defaultValue=True))

    def enabledPlug(self):
        return self["enabled"]


def _srgbToLinear(x):
    return numpy.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


class ImageReader(ImageNode):

    class MissingFrameMode:
        Error = 0
        Black = 1
        Hold = 2

    def __init__(self, name="ImageReader"):
        ImageNode.__init__(self, name)
        self.addChild(Gaffer.StringPlug("fileName"))
        self.addChild(Gaffer.IntPlug("refreshCount"))
        self.addChild(Gaffer.IntPlug("missingFrameMode", defaultValue=0, minValue=0, maxValue=2))
        self.addChild(Gaffer.StringPlug("colorSpace"))

    def affects(self, input):
        outputs = Gaffer.ComputeNode.affects(self, input)
        if input.parent() is self and input.getName() in ("fileName", "refreshCount", "missingFrameMode", "colorSpace", "enabled"):
            outputs.append(self["out"])
        return outputs

    def hash(self, output, context, h):
        fileName = self["fileName"].getValue()
        if fileName and self["enabled"].getValue() and not os.path.isfile(fileName):
            # OpenImageIOReader hashes `viewNames` by opening the file.
            raise IECore.Exception('OpenImageIOReader : Could not create ImageInput : Could not open file "%s"' % fileName)
        self["fileName"].hash(h)
        self["refreshCount"].hash(h)
        self["missingFrameMode"].hash(h)
        self["colorSpace"].hash(h)
        self["enabled"].hash(h)

    def compute(self, output, context):
        import OpenImageIO
        fileName = self["fileName"].getValue()
        if not self["enabled"].getValue() or not fileName:
            output.setValue(IECoreImage.ImagePrimitive())
            return
        if not os.path.isfile(fileName):
            raise IECore.Exception('Unable to open file "%s"' % fileName)
        image = OpenImageIO.ImageInput.open(fileName)
        if image is None:
            raise IECore.Exception('Unable to open file "%s" : %s' % (fileName, OpenImageIO.geterror()))
        try:
            spec = image.spec()
            pixels = image.read_image(format="float")
        finally:
            image.close()
        pixels = numpy.asarray(pixels, numpy.float32).reshape(spec.height, spec.width, spec.nchannels)
        names = list(spec.channelnames)
        linearise = spec.format.basetype in (OpenImageIO.UINT8, OpenImageIO.UINT16) and self["colorSpace"].getValue() != "linear"
        dataWindow = imath.Box2i(imath.V2i(spec.x, spec.y), imath.V2i(spec.x + spec.width - 1, spec.y + spec.height - 1))
        displayWindow = imath.Box2i(
            imath.V2i(spec.full_x, spec.full_y),
            imath.V2i(spec.full_x + spec.full_width - 1, spec.full_y + spec.full_height - 1),
        )
        result = IECoreImage.ImagePrimitive(dataWindow, displayWindow)
        for i, name in enumerate(names):
            channel = pixels[:, :, i]
            if linearise and name in ("R", "G", "B"):
                channel = _srgbToLinear(channel)
            data = IECore.FloatVectorData()
            data._array = numpy.ascontiguousarray(channel, numpy.float32).reshape(-1)
            result[name] = data
        output.setValue(result)


class ImageAlgo:

    @staticmethod
    def image(plug, viewName=None):
        _Core._requireTaskCollaboration("GafferImage.ImageAlgo.image()")
        return plug.getValue()

    @staticmethod
    def imageHash(plug, viewName=None):
        _Core._requireTaskCollaboration("GafferImage.ImageAlgo.imageHash()")
        return plug.hash()


for _cls, _typeName in (
    (ImagePlug, "GafferImage::ImagePlug"),
    (ImageNode, "GafferImage::ImageNode"),
    (ImageReader, "GafferImage::ImageReader"),
):
    IECore.registerRunTimeTyped(_cls, _typeName)
