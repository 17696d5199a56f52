"""Test-only stand-in for the subset of Cortex's IECore module that
GafferSegmentation and its tests use.

Mirrors Cortex 10.5.15 (the Cortex of Gaffer 1.5.16.5), ImageEngine/cortex
`src/IECorePython/*Binding.cpp`: MurmurHash from `MurmurHashBinding.cpp`
(`append` overloads, `copyFrom`), data types from `*DataBinding.cpp`,
`StringAlgo` from `StringAlgoBinding.cpp`, messages from
`MessageHandlerBinding.cpp`. Only what exists there, with those signatures.
"""

import enum
import hashlib
import os
import re
import struct
import sys
import threading
import traceback

import numpy

import imath

# ---------------------------------------------------------------------------
# Exceptions
# ---------------------------------------------------------------------------


class Exception(RuntimeError):  # noqa: A001 - mirrors IECore.Exception
    pass


class Cancelled(RuntimeError):
    pass


class Canceller:

    def __init__(self):
        self.__cancelled = False

    def cancel(self):
        self.__cancelled = True

    def cancelled(self):
        return self.__cancelled

    @staticmethod
    def check(canceller):
        if canceller is not None and canceller.cancelled():
            raise Cancelled("Cancelled")


# ---------------------------------------------------------------------------
# RunTimeTyped
# ---------------------------------------------------------------------------


class TypeId(int):
    values = {}


_nextTypeId = [300000]


class RefCounted:

    @staticmethod
    def collectGarbage():
        pass


class RunTimeTyped(RefCounted):

    @classmethod
    def staticTypeName(cls):
        return cls.__dict__.get("_typeName", cls.__name__)

    def typeName(self):
        return type(self).staticTypeName()

    @classmethod
    def staticTypeId(cls):
        return cls.__dict__.get("_typeId", TypeId(abs(hash(cls.__qualname__)) % 100000))

    def typeId(self):
        return type(self).staticTypeId()

    def isInstanceOf(self, typeNameOrId):
        for cls in type(self).__mro__:
            if not (isinstance(cls, type) and issubclass(cls, RunTimeTyped)):
                continue
            if typeNameOrId in (cls.staticTypeName(), cls.staticTypeId()):
                return True
        return False


def registerRunTimeTyped(typ, typeName=None):
    if typeName is None:
        typeName = typ.__name__
    if not any(issubclass(c, RunTimeTyped) for c in typ.__bases__):
        raise TypeError("registerRunTimeTyped : %s does not derive from RunTimeTyped" % typ)
    existing = getattr(TypeId, typeName, None)
    if existing is None:
        existing = TypeId(_nextTypeId[0])
        _nextTypeId[0] += 1
        setattr(TypeId, typeName, existing)
        TypeId.values[int(existing)] = existing
    typ._typeName = typeName
    typ._typeId = existing


# ---------------------------------------------------------------------------
# MurmurHash
# ---------------------------------------------------------------------------


class MurmurHash:
    """Same interface as IECore.MurmurHash ; the digest is computed with
    blake2b, which is all a stand-in needs (stable, order sensitive)."""

    def __init__(self, other=None):
        if isinstance(other, MurmurHash):
            self.__digest = other.__digest
        elif isinstance(other, str):
            self.__digest = bytes.fromhex(other)
        else:
            self.__digest = bytes(16)

    def append(self, value):
        # Cortex 10.5 `src/IECorePython/MurmurHashBinding.cpp` binds `append`
        # for float, double, int64, std::string, InternedString, the Imath
        # vector / colour / box / matrix / quat types, MurmurHash and the
        # `*VectorData` types only : no lists, tuples, numpy arrays or other
        # objects (Boost.Python raises ArgumentError, a TypeError).
        if not _appendable(value):
            raise TypeError(
                "Python argument types in\n    MurmurHash.append(MurmurHash, %s)\n"
                "did not match C++ signature" % type(value).__name__
            )
        return self._append(value)

    def _append(self, value):
        # Stand-in internals (vector data contents).
        h = hashlib.blake2b(self.__digest, digest_size=16)
        h.update(_hashBytes(value))
        self.__digest = h.digest()
        return self

    def copyFrom(self, other):
        # `.def( "copyFrom", &MurmurHash::operator= )` in MurmurHashBinding.cpp.
        if not isinstance(other, MurmurHash):
            raise TypeError("MurmurHash.copyFrom : expected an IECore.MurmurHash")
        self.__digest = other.__digest
        return self

    def toString(self):
        return self.__digest.hex()

    def h1(self):
        return struct.unpack("<Q", self.__digest[:8])[0]

    def h2(self):
        return struct.unpack("<Q", self.__digest[8:])[0]

    def copy(self):
        return MurmurHash(self)

    def __eq__(self, other):
        return isinstance(other, MurmurHash) and self.__digest == other.__digest

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self.__digest)

    def __str__(self):
        return self.toString()

    def __repr__(self):
        return 'IECore.MurmurHash( "%s" )' % self.toString()


def _appendable(value):
    if isinstance(value, (bool, int)):
        return -(1 << 63) <= value < (1 << 63)
    if isinstance(value, (float, str, MurmurHash, imath._Vec, imath._Box)):
        return True
    return isinstance(value, (_VectorData, StringVectorData, _VecVectorData))


def _hashBytes(value):
    if isinstance(value, MurmurHash):
        return b"H" + bytes.fromhex(value.toString())
    if isinstance(value, bool):
        return b"b" + bytes([value])
    if isinstance(value, int):
        return b"i" + str(value).encode()
    if isinstance(value, float):
        return b"f" + struct.pack("<d", value)
    if isinstance(value, str):
        return b"s" + str(len(value)).encode() + b":" + value.encode("utf-8")
    if isinstance(value, bytes):
        return b"y" + str(len(value)).encode() + b":" + value
    if isinstance(value, Object):
        return b"o" + bytes.fromhex(value.hash().toString())
    if isinstance(value, (imath._Vec, imath._Box)):
        return b"m" + repr(value).encode()
    if isinstance(value, (list, tuple)):
        return b"l" + b"".join(_hashBytes(v) for v in value)
    if isinstance(value, numpy.ndarray):
        return b"a" + str(value.dtype).encode() + str(value.shape).encode() + value.tobytes()
    raise TypeError("MurmurHash.append : unsupported type %s" % type(value).__name__)


# ---------------------------------------------------------------------------
# Objects and Data
# ---------------------------------------------------------------------------


class Object(RunTimeTyped):

    def hash(self, h=None):
        result = MurmurHash()
        result.append(self.typeName())
        self._hashContents(result)
        if h is not None:
            h.append(result)
            return None
        return result

    def _hashContents(self, h):
        raise NotImplementedError

    def copy(self):
        raise NotImplementedError

    def isEqualTo(self, other):
        return self == other

    def __ne__(self, other):
        return not self == other

    def memoryUsage(self):
        return 0


class NullObject(Object):

    _default = None

    @staticmethod
    def defaultNullObject():
        if NullObject._default is None:
            NullObject._default = NullObject()
        return NullObject._default

    def _hashContents(self, h):
        pass

    def copy(self):
        return NullObject()

    def __eq__(self, other):
        return isinstance(other, NullObject)

    __hash__ = None


class Data(Object):
    pass


class _SimpleData(Data):

    _cast = staticmethod(lambda x: x)
    _defaultValue = None

    def __init__(self, value=None):
        self.value = self._cast(value if value is not None else self._defaultValue)

    def _hashContents(self, h):
        h.append(self.value)

    def copy(self):
        return type(self)(self.value)

    def __eq__(self, other):
        return type(self) is type(other) and self.value == other.value

    __hash__ = None

    def __repr__(self):
        return "IECore.%s( %s )" % (type(self).__name__, repr(self.value))

    def __str__(self):
        return str(self.value)


class BoolData(_SimpleData):
    _cast = staticmethod(bool)
    _defaultValue = False


class IntData(_SimpleData):
    _cast = staticmethod(int)
    _defaultValue = 0


class UIntData(_SimpleData):
    _cast = staticmethod(int)
    _defaultValue = 0


class FloatData(_SimpleData):
    _cast = staticmethod(float)
    _defaultValue = 0.0


class DoubleData(_SimpleData):
    _cast = staticmethod(float)
    _defaultValue = 0.0


class StringData(_SimpleData):
    _cast = staticmethod(str)
    _defaultValue = ""


class V2iData(_SimpleData):
    _cast = staticmethod(imath.V2i)
    _defaultValue = imath.V2i(0)


class V2fData(_SimpleData):
    _cast = staticmethod(imath.V2f)
    _defaultValue = imath.V2f(0)


class Box2iData(_SimpleData):
    _cast = staticmethod(imath.Box2i)
    _defaultValue = imath.Box2i()


class _VectorData(Data):
    """Numeric vector data held in a numpy array. Like the real binding, the
    constructor takes nothing, a size, or a Python list/iterable of
    elements ; numpy arrays are refused so that product code converts with
    `.tolist()`, the one form that is known to work with boost::python."""

    _dtype = numpy.float32
    _elementCast = staticmethod(float)

    def __init__(self, values=None):
        if values is None:
            self._array = numpy.zeros(0, self._dtype)
        elif isinstance(values, int) and not isinstance(values, bool):
            self._array = numpy.zeros(values, self._dtype)
        elif isinstance(values, numpy.ndarray):
            raise TypeError(
                "%s : pass a list (array.tolist()), not a numpy array ; the real IECore "
                "binding converts element by element" % type(self).__name__
            )
        elif isinstance(values, _VectorData):
            self._array = values._array.astype(self._dtype, copy=True)
        else:
            self._array = numpy.array([self._elementCast(v) for v in values], dtype=self._dtype)

    def __len__(self):
        return len(self._array)

    def size(self):
        return len(self._array)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)(self._array[index].tolist())
        if index < -len(self._array) or index >= len(self._array):
            raise IndexError("Index out of range")
        return self._elementCast(self._array[index])

    def __setitem__(self, index, value):
        self._array[index] = self._elementCast(value)

    def __iter__(self):
        return iter(self._array.tolist())

    def append(self, value):
        self._array = numpy.append(self._array, numpy.array([self._elementCast(value)], self._dtype))

    def extend(self, values):
        self._array = numpy.concatenate([self._array, numpy.array([self._elementCast(v) for v in values], self._dtype)])

    def toString(self):
        return self._array.tobytes()

    def _hashContents(self, h):
        h._append(self._array)

    def copy(self):
        result = type(self)()
        result._array = self._array.copy()
        return result

    def __eq__(self, other):
        return type(self) is type(other) and numpy.array_equal(self._array, other._array)

    __hash__ = None

    def __repr__(self):
        return "IECore.%s( [ %s ] )" % (type(self).__name__, ", ".join(repr(x) for x in self))

    def memoryUsage(self):
        return self._array.nbytes


class FloatVectorData(_VectorData):
    _dtype = numpy.float32
    _elementCast = staticmethod(float)


class DoubleVectorData(_VectorData):
    _dtype = numpy.float64
    _elementCast = staticmethod(float)


class HalfVectorData(_VectorData):
    _dtype = numpy.float16
    _elementCast = staticmethod(float)


class IntVectorData(_VectorData):
    _dtype = numpy.int32
    _elementCast = staticmethod(int)


class UIntVectorData(_VectorData):
    _dtype = numpy.uint32
    _elementCast = staticmethod(int)


class Int64VectorData(_VectorData):
    _dtype = numpy.int64
    _elementCast = staticmethod(int)


class UInt64VectorData(_VectorData):
    _dtype = numpy.uint64
    _elementCast = staticmethod(int)


class UShortVectorData(_VectorData):
    _dtype = numpy.uint16
    _elementCast = staticmethod(int)


class UCharVectorData(_VectorData):
    _dtype = numpy.uint8
    _elementCast = staticmethod(int)


class BoolVectorData(_VectorData):
    _dtype = numpy.bool_
    _elementCast = staticmethod(bool)


class StringVectorData(Data):

    def __init__(self, values=None):
        if isinstance(values, int):
            self._list = [""] * values
        else:
            self._list = [str(v) for v in (values or [])]

    def __len__(self):
        return len(self._list)

    def size(self):
        return len(self._list)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return StringVectorData(self._list[index])
        return self._list[index]

    def __setitem__(self, index, value):
        self._list[index] = str(value)

    def __iter__(self):
        return iter(list(self._list))

    def append(self, value):
        self._list.append(str(value))

    def extend(self, values):
        self._list.extend(str(v) for v in values)

    def _hashContents(self, h):
        h._append(list(self._list))

    def copy(self):
        return StringVectorData(self._list)

    def __eq__(self, other):
        return isinstance(other, StringVectorData) and self._list == other._list

    __hash__ = None

    def __repr__(self):
        return "IECore.StringVectorData( [ %s ] )" % ", ".join(repr(x) for x in self._list)


class _VecVectorData(Data):
    """Vectors of imath vectors, stored as an (N, k) numpy array."""

    _vecType = imath.V2f
    _dtype = numpy.float32

    def __init__(self, values=None):
        k = self._vecType._size
        if isinstance(values, numpy.ndarray):
            raise TypeError("%s : pass a list of %s" % (type(self).__name__, self._vecType.__name__))
        values = list(values or [])
        self._array = numpy.array([list(v) for v in values], self._dtype).reshape(-1, k)

    def __len__(self):
        return len(self._array)

    def __getitem__(self, index):
        return self._vecType(*self._array[index].tolist())

    def __iter__(self):
        return (self._vecType(*row) for row in self._array.tolist())

    def append(self, value):
        self._array = numpy.concatenate([self._array, numpy.array([list(value)], self._dtype)])

    def toString(self):
        return self._array.tobytes()

    def _hashContents(self, h):
        h._append(self._array)

    def copy(self):
        return type(self)([list(v) for v in self])

    def __eq__(self, other):
        return type(self) is type(other) and numpy.array_equal(self._array, other._array)

    __hash__ = None

    def __repr__(self):
        return "IECore.%s( [ %s ] )" % (type(self).__name__, ", ".join(repr(v) for v in self))


class V2fVectorData(_VecVectorData):
    _vecType = imath.V2f
    _dtype = numpy.float32


class V2iVectorData(_VecVectorData):
    _vecType = imath.V2i
    _dtype = numpy.int32


class _Compound(Data):

    _memberType = Object

    def __init__(self, members=None):
        self._members = {}
        for key, value in (members or {}).items():
            self[key] = value

    def __getitem__(self, key):
        return self._members[key]

    def __setitem__(self, key, value):
        if not isinstance(value, self._memberType):
            value = _toData(value)
        self._members[str(key)] = value

    def __delitem__(self, key):
        del self._members[key]

    def __contains__(self, key):
        return key in self._members

    def __len__(self):
        return len(self._members)

    def __iter__(self):
        return iter(list(self._members))

    def keys(self):
        return list(self._members.keys())

    def values(self):
        return list(self._members.values())

    def items(self):
        return list(self._members.items())

    def get(self, key, defaultValue=None):
        return self._members.get(key, defaultValue)

    def update(self, other):
        for key, value in other.items():
            self[key] = value

    def _hashContents(self, h):
        for key in sorted(self._members):
            h.append(key)
            self._members[key].hash(h)

    def copy(self):
        return type(self)({k: v.copy() for k, v in self._members.items()})

    def __eq__(self, other):
        return type(self) is type(other) and self._members == other._members

    __hash__ = None

    def __repr__(self):
        return "IECore.%s( { %s } )" % (
            type(self).__name__, ", ".join("%r : %r" % (k, v) for k, v in self._members.items())
        )


class CompoundObject(_Compound):
    _memberType = Object


class CompoundData(_Compound):
    _memberType = Data


class ObjectVector(Object):

    def __init__(self, members=None):
        self._list = list(members or [])

    def __getitem__(self, i):
        return self._list[i]

    def __len__(self):
        return len(self._list)

    def append(self, o):
        self._list.append(o)

    def _hashContents(self, h):
        for o in self._list:
            o.hash(h)

    def copy(self):
        return ObjectVector([o.copy() for o in self._list])

    def __eq__(self, other):
        return isinstance(other, ObjectVector) and self._list == other._list

    __hash__ = None


def _toData(value):
    if isinstance(value, bool):
        return BoolData(value)
    if isinstance(value, int):
        return IntData(value)
    if isinstance(value, float):
        return FloatData(value)
    if isinstance(value, str):
        return StringData(value)
    if isinstance(value, imath.V2i):
        return V2iData(value)
    if isinstance(value, imath.V2f):
        return V2fData(value)
    if isinstance(value, imath.Box2i):
        return Box2iData(value)
    raise TypeError("Cannot convert %s to IECore.Data" % type(value).__name__)


def dataToPython(data):
    if isinstance(data, _SimpleData):
        return data.value
    return data


def repr(value):  # noqa: A001 - mirrors IECore.repr
    import builtins
    if isinstance(value, (imath._Vec, imath._Box, Data)):
        return builtins.repr(value)
    if isinstance(value, str):
        return builtins.repr(value)
    return builtins.repr(value)


# ---------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------


class MessageHandler:

    class Level(enum.IntEnum):
        Error = 0
        Warning = 1
        Info = 2
        Debug = 3
        Invalid = 4

    __default = None
    __local = threading.local()

    def handle(self, level, context, message):
        raise NotImplementedError

    @staticmethod
    def setDefaultHandler(handler):
        MessageHandler._MessageHandler__default = handler

    @staticmethod
    def getDefaultHandler():
        if MessageHandler._MessageHandler__default is None:
            MessageHandler._MessageHandler__default = StandardErrorMessageHandler()
        return MessageHandler._MessageHandler__default

    @staticmethod
    def currentHandler():
        stack = getattr(MessageHandler._MessageHandler__local, "stack", None)
        if stack:
            return stack[-1]
        return MessageHandler.getDefaultHandler()

    def __enter__(self):
        local = MessageHandler._MessageHandler__local
        if not hasattr(local, "stack"):
            local.stack = []
        local.stack.append(self)
        return self

    def __exit__(self, *args):
        MessageHandler._MessageHandler__local.stack.pop()

    @staticmethod
    def levelAsString(level):
        return {0: "ERROR", 1: "WARNING", 2: "INFO", 3: "DEBUG"}.get(int(level), "INVALID")

    @staticmethod
    def output(level, context, message):
        MessageHandler.currentHandler().handle(MessageHandler.Level(level), context, message)


Msg = MessageHandler


def msg(level, context, message):
    MessageHandler.output(level, context, message)


class StandardErrorMessageHandler(MessageHandler):

    def __init__(self):
        self.__level = MessageHandler.Level.Warning

    def handle(self, level, context, message):
        if level <= self.__level:
            sys.stderr.write("%s : %s : %s\n" % (MessageHandler.levelAsString(level), context, message))


class CapturingMessageHandler(MessageHandler):

    class Message:

        def __init__(self, level, context, message):
            self.level = level
            self.context = context
            self.message = message

        def __repr__(self):
            return "Message( %s, %r, %r )" % (MessageHandler.levelAsString(self.level), self.context, self.message)

    def __init__(self):
        self.messages = []

    def handle(self, level, context, message):
        self.messages.append(CapturingMessageHandler.Message(level, context, message))


class CompoundMessageHandler(MessageHandler):

    def __init__(self):
        self.__handlers = []

    def addHandler(self, handler):
        self.__handlers.append(handler)

    def removeHandler(self, handler):
        self.__handlers.remove(handler)

    def handle(self, level, context, message):
        for handler in self.__handlers:
            handler.handle(level, context, message)


class LevelFilteredMessageHandler(MessageHandler):

    def __init__(self, handler, level):
        self.__handler = handler
        self.__level = level

    def handle(self, level, context, message):
        if level <= self.__level:
            self.__handler.handle(level, context, message)


class IgnoredExceptions:

    def __init__(self, *exceptionTypes):
        self.__types = exceptionTypes

    def __enter__(self):
        return self

    def __exit__(self, type, value, tb):
        return type is not None and issubclass(type, self.__types)


# ---------------------------------------------------------------------------
# StringAlgo, FrameList, SearchPath, loadConfig
# ---------------------------------------------------------------------------


class StringAlgo:

    class Substitutions(enum.IntFlag):
        NoSubstitutions = 0
        FrameSubstitutions = 1
        VariableSubstitutions = 2
        EscapeSubstitutions = 4
        TildeSubstitutions = 8
        AllSubstitutions = 15

    _variable = re.compile(r"\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_:]*)")
    _frame = re.compile(r"#+")

    @staticmethod
    def hasSubstitutions(string):
        return any(c in string for c in "$#~\\")

    @staticmethod
    def substitute(string, variables, substitutions=Substitutions.AllSubstitutions):
        S = StringAlgo.Substitutions
        if substitutions & S.TildeSubstitutions and string.startswith("~"):
            string = os.path.expanduser("~") + string[1:]

        def variable(match):
            name = match.group(1) or match.group(2)
            value = variables.get(name)
            if value is None:
                return ""
            if isinstance(value, float) and value == int(value):
                value = int(value)
            return str(value)

        def frame(match):
            value = variables.get("frame", 0)
            return "%0*d" % (len(match.group(0)), int(round(value)))

        result = []
        i = 0
        chunks = re.split(r"(\\.)", string) if substitutions & S.EscapeSubstitutions else [string]
        for chunk in chunks:
            if substitutions & S.EscapeSubstitutions and len(chunk) == 2 and chunk.startswith("\\"):
                result.append(chunk[1])
                continue
            if substitutions & S.VariableSubstitutions:
                chunk = StringAlgo._variable.sub(variable, chunk)
            if substitutions & S.FrameSubstitutions:
                chunk = StringAlgo._frame.sub(frame, chunk)
            result.append(chunk)
            i += 1
        return "".join(result)


class FrameList:

    def __init__(self, frames):
        self.__frames = list(frames)

    def asList(self):
        return list(self.__frames)

    @staticmethod
    def parse(text):
        frames = []
        for part in [p.strip() for p in str(text).split(",") if p.strip()]:
            match = re.fullmatch(r"(-?\d+)(?:-(-?\d+)(?:x(\d+))?)?", part)
            if not match:
                raise Exception('"%s" is not a valid frame list' % text)
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) is not None else start
            step = int(match.group(3) or 1)
            frames.extend(range(start, end + 1, step))
        return FrameList(frames)

    def __str__(self):
        return ",".join(str(f) for f in self.__frames)


class _CompactFrameList(FrameList):
    """What Cortex's `frameListFromList()` returns prints runs compactly
    (`1001-1005,1010`), as LocalDispatcher's messages show."""

    def __str__(self):
        frames = self.asList()
        parts = []
        i = 0
        while i < len(frames):
            j = i
            while j + 1 < len(frames) and frames[j + 1] == frames[j] + 1:
                j += 1
            parts.append(str(frames[i]) if i == j else "%d-%d" % (frames[i], frames[j]))
            i = j + 1
        return ",".join(parts)


def frameListFromList(frames):
    return _CompactFrameList([int(f) for f in frames])


class SearchPath:

    def __init__(self, paths=""):
        if isinstance(paths, str):
            paths = [p for p in paths.split(os.pathsep) if p]
        self.paths = list(paths)

    def find(self, fileName):
        for path in self.paths:
            candidate = os.path.join(path, fileName)
            if os.path.exists(candidate):
                return candidate
        return ""


def loadConfig(searchPaths, contextDict={}, raiseExceptions=False, subdirectory=""):
    if isinstance(searchPaths, str):
        searchPaths = SearchPath(os.environ.get(searchPaths, ""))
    paths = list(searchPaths.paths)
    paths.reverse()
    visited = set()
    for path in paths:
        if path in visited:
            continue
        visited.add(path)
        for dirPath, dirNames, fileNames in os.walk(os.path.join(path, subdirectory)):
            dirNames.sort()
            for fileName in sorted(fileNames):
                if not re.search(r"^[^~].*\.py$", fileName):
                    continue
                fullFileName = os.path.abspath(os.path.join(dirPath, fileName))
                fileContextDict = dict(contextDict)
                fileContextDict["__file__"] = fullFileName
                try:
                    with open(fullFileName, encoding="utf-8") as f:
                        exec(compile(f.read(), fullFileName, "exec"), fileContextDict, fileContextDict)
                except BaseException as e:  # noqa: B902 - mirrors Cortex
                    if raiseExceptions:
                        raise
                    msg(Msg.Level.Error, "IECore.loadConfig", 'Error executing file "%s" - "%s".\n %s' % (
                        fullFileName, e, traceback.format_exc()
                    ))


class LRUCache:

    def __init__(self, getter, maxCost=1000):
        self.__getter = getter
        self.__values = {}

    def get(self, key):
        if key not in self.__values:
            self.__values[key] = self.__getter(key)[0]
        return self.__values[key]

    def clear(self):
        self.__values.clear()


# ---------------------------------------------------------------------------
# Menus (IECore/MenuDefinition.py, MenuItemDefinition.py)
# ---------------------------------------------------------------------------


class MenuItemDefinition:

    def __init__(self, **kw):
        self.command = kw.pop("command", None)
        self.searchText = kw.pop("searchText", "")
        for key, value in kw.items():
            setattr(self, key, value)


class MenuDefinition:

    def __init__(self, items=None):
        self.__items = list(items or [])

    def append(self, path, item):
        if isinstance(item, dict):
            item = MenuItemDefinition(**item)
        self.remove(path, raiseIfMissing=False)
        self.__items.append((path, item))

    def remove(self, path, raiseIfMissing=True):
        for i, (p, item) in enumerate(self.__items):
            if p == path:
                del self.__items[i]
                return
        if raiseIfMissing:
            raise KeyError(path)

    def items(self):
        return list(self.__items)

    def size(self):
        return len(self.__items)

    def item(self, searchPath):
        for path, item in self.__items:
            if path == searchPath:
                return item
        return None
