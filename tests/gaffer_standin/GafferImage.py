"""Test-only stand-in for the subset of GafferImage that GafferSegmentation
uses. An ImagePlug here carries a whole IECoreImage.ImagePrimitive (the real
one is tiled ; Python code only ever sees images through
`ImageAlgo.image()` / `ImageAlgo.imageHash()`, which this keeps)."""

import os

import numpy

import IECore
import IECoreImage
import imath

import Gaffer
from Gaffer import _Core


class ImagePlug(_Core._TypedObjectPlug):

    ValueType = IECoreImage.ImagePrimitive

    def __init__(self, name="ImagePlug", direction=Gaffer.Plug.Direction.In, flags=Gaffer.Plug.Flags.Default):
        _Core._TypedObjectPlug.__init__(self, name, direction, IECoreImage.ImagePrimitive(), flags)

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
        return plug.getValue()

    @staticmethod
    def imageHash(plug, viewName=None):
        return plug.hash()


for _cls, _typeName in (
    (ImagePlug, "GafferImage::ImagePlug"),
    (ImageNode, "GafferImage::ImageNode"),
    (ImageReader, "GafferImage::ImageReader"),
):
    IECore.registerRunTimeTyped(_cls, _typeName)
