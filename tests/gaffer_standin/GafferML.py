"""Test-only stand-in for GafferML's Tensor, TensorPlug and TensorToImage,
following src/GafferML/{Tensor,TensorToImage}.cpp : a [ ..., C, H, W ]
(or interleaved [ ..., H, W, C ]) float/half tensor becomes an image whose
channels are named by `channels`, tensor row 0 at the top of the image."""

import math

import numpy

import IECore
import IECoreImage
import imath

import Gaffer
import GafferImage
from Gaffer import _Core


class Tensor(IECore.Object):

    class ElementType:
        Undefined = 0
        Float = 1
        Float16 = 10

    def __init__(self, data=None, shape=None):
        self.__data = data
        if data is None:
            self.__shape = None
            return
        if not isinstance(data, (IECore._VectorData, IECore.StringVectorData)):
            raise RuntimeError("Unsupported data type `%s`" % data.typeName())
        if shape is None:
            shape = [len(data)]
        shape = [int(s) for s in shape]
        expected = int(numpy.prod(shape)) if shape else 1
        if expected != len(data):
            raise RuntimeError("not enough space: expected %d, got %d" % (expected, len(data)))
        self.__shape = shape

    def asData(self):
        return self.__data.copy() if self.__data is not None else None

    def shape(self):
        if self.__data is None:
            raise RuntimeError("Null tensor")
        return list(self.__shape)

    def _array(self):
        if self.__data is None:
            raise RuntimeError("Empty tensor")
        return self.__data._array.reshape(self.__shape)

    def __getitem__(self, index):
        if not isinstance(index, tuple):
            index = (index,)
        return self._array()[index].item()

    def _hashContents(self, h):
        if self.__data is not None:
            h._append(list(self.__shape))
            self.__data.hash(h)

    def copy(self):
        result = Tensor()
        result._Tensor__data = self.__data
        result._Tensor__shape = self.__shape
        return result

    def __eq__(self, other):
        return isinstance(other, Tensor) and self.__shape == other._Tensor__shape and self.__data == other._Tensor__data

    __hash__ = None

    def __repr__(self):
        if self.__data is None:
            return "GafferML.Tensor()"
        return "<GafferML._GafferML.Tensor object at %s>" % hex(id(self))

    def memoryUsage(self):
        return self.__data.memoryUsage() if self.__data is not None else 0


class TensorPlug(_Core._TypedObjectPlug):

    ValueType = Tensor

    def __init__(self, name="TensorPlug", direction=Gaffer.Plug.Direction.In, defaultValue=None, flags=Gaffer.Plug.Flags.Default):
        _Core._TypedObjectPlug.__init__(self, name, direction, defaultValue if defaultValue is not None else Tensor(), flags)


class TensorToImage(GafferImage.ImageNode):

    def __init__(self, name="TensorToImage"):
        GafferImage.ImageNode.__init__(self, name)
        self.addChild(TensorPlug("tensor"))
        self.addChild(Gaffer.StringVectorDataPlug("channels", defaultValue=IECore.StringVectorData(["R", "G", "B"])))
        self.addChild(Gaffer.BoolPlug("interleavedChannels"))

    def affects(self, input):
        outputs = Gaffer.ComputeNode.affects(self, input)
        if input.parent() is self and input.getName() in ("tensor", "channels", "interleavedChannels", "enabled"):
            outputs.append(self["out"])
        return outputs

    def hash(self, output, context, h):
        self["tensor"].hash(h)
        self["channels"].hash(h)
        self["interleavedChannels"].hash(h)

    def compute(self, output, context):
        tensor = self["tensor"].getValue()
        channels = list(self["channels"].getValue())
        interleaved = self["interleavedChannels"].getValue()
        array = tensor._array()
        if array.dtype not in (numpy.float32, numpy.float16):
            raise RuntimeError('Unsupported tensor data type "%s"' % array.dtype)
        shape = array.shape
        if len(shape) < 3:
            raise RuntimeError("Expected tensor with at least 3 dimensions")
        for d in range(len(shape) - 3):
            if shape[d] != 1:
                raise RuntimeError("Expected %d dimensional tensor to have size 1 in dimension %d" % (len(shape), d))
        array = array.reshape(shape[-3:])
        if interleaved:
            height, width, numChannels = array.shape
            planes = [array[:, :, c] for c in range(numChannels)]
        else:
            numChannels, height, width = array.shape
            planes = [array[c] for c in range(numChannels)]
        window = imath.Box2i(imath.V2i(0), imath.V2i(width - 1, height - 1))
        image = IECoreImage.ImagePrimitive(window, window)
        for name in sorted({c for c in channels if c}):
            index = channels.index(name)
            if index >= numChannels:
                raise RuntimeError('Channel "%s" out of range' % name)
            data = IECore.FloatVectorData()
            data._array = numpy.ascontiguousarray(planes[index], numpy.float32).reshape(-1)
            image[name] = data
        output.setValue(image)


for _cls, _typeName in (
    (Tensor, "GafferML::Tensor"),
    (TensorPlug, "GafferML::TensorPlug"),
    (TensorToImage, "GafferML::TensorToImage"),
):
    IECore.registerRunTimeTyped(_cls, _typeName)
