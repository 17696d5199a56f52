"""GraphComponent, plugs, nodes, processes and the compute cache.

Semantics follow Gaffer (src/Gaffer/{GraphComponent,Plug,ValuePlug,
ComputeNode,DependencyNode}.cpp) for everything GafferSegmentation relies on:

* `ValuePlug.hash()` of a computed output = ComputeNode base hash (type name
  and plug path) followed by the node's `hash()` override ; a plug with an
  input hashes as its input ; a static plug hashes its value.
* `getValue()` of a computed output looks the result up in a global cache
  keyed by that hash (unless the node's `computeCachePolicy()` is
  `Uncached`), so two contexts giving the same hash share one compute.
* During `compute()` only the plug being computed is settable.
* Changing a value or an input emits `plugDirtiedSignal()` for the plug,
  its ancestors and descendants, everything downstream of it, and the
  outputs `affects()` names, recursively.
"""

import enum
import fnmatch

import numpy
import re
import threading
import time

import IECore
import imath

from ._Context import Context
from ._Signals import Signal

# ---------------------------------------------------------------------------
# Processes, monitors and the cache
# ---------------------------------------------------------------------------


class ProcessException(RuntimeError):

    def __init__(self, plug, message):
        RuntimeError.__init__(self, message)
        self.__plug = plug

    def plug(self):
        return self.__plug

    def processType(self):
        return "computeNode:compute"


class _Process:

    def __init__(self, kind, plug, context, policy=None):
        self.kind = kind
        self.plug = plug
        self.context = context
        self.policy = policy
        self.value = None
        self.valueSet = False


_processLocal = threading.local()


def _processStack():
    if not hasattr(_processLocal, "stack"):
        _processLocal.stack = []
    return _processLocal.stack


def _currentProcess():
    stack = _processStack()
    return stack[-1] if stack else None


_computeCache = {}
_monitors = []


class PerformanceMonitor:

    class Statistics:

        def __init__(self):
            self.hashCount = 0
            self.computeCount = 0
            self.hashDuration = 0
            self.computeDuration = 0

    def __init__(self):
        self.__statistics = {}

    def __enter__(self):
        _monitors.append(self)
        return self

    def __exit__(self, *args):
        _monitors.remove(self)

    def _record(self, plug, kind, duration):
        statistics = self.__statistics.setdefault(plug, PerformanceMonitor.Statistics())
        if kind == "hash":
            statistics.hashCount += 1
            statistics.hashDuration += duration
        else:
            statistics.computeCount += 1
            statistics.computeDuration += duration

    def plugStatistics(self, plug):
        return self.__statistics.get(plug, PerformanceMonitor.Statistics())

    def allStatistics(self):
        return dict(self.__statistics)


def _record(plug, kind, duration):
    for monitor in _monitors:
        monitor._record(plug, kind, duration)


def _wrapException(plug, error):
    if isinstance(error, (ProcessException, IECore.Cancelled)):
        return error
    script = plug.ancestor(ScriptNode)
    name = plug.relativeName(script) if script is not None else plug.fullName()
    result = ProcessException(plug, "%s : %s" % (name, error))
    result.__cause__ = error
    return result


# ---------------------------------------------------------------------------
# GraphComponent
# ---------------------------------------------------------------------------

_validName = re.compile(r"^[A-Za-z_:][A-Za-z_0-9:]*$")


class GraphComponent(IECore.RunTimeTyped):

    def __init__(self, name=None):
        if name is None:
            name = type(self).staticTypeName().rpartition(":")[2]
        if not _validName.match(name):
            raise IECore.Exception('Invalid name "%s"' % name)
        self.__name = name
        self.__parent = None
        self.__children = []
        self.__signals = {}

    # Signals

    def _signal(self, name):
        if name not in self.__signals:
            self.__signals[name] = Signal()
        return self.__signals[name]

    def childAddedSignal(self):
        return self._signal("childAdded")

    def childRemovedSignal(self):
        return self._signal("childRemoved")

    def nameChangedSignal(self):
        return self._signal("nameChanged")

    # Names

    def getName(self):
        return self.__name

    def setName(self, name):
        if not _validName.match(name):
            raise IECore.Exception('Invalid name "%s"' % name)
        if name == self.__name:
            return name
        if self.__parent is not None:
            name = self.__parent._uniqueName(name, self)
        self.__name = name
        self.nameChangedSignal()(self)
        return name

    def _uniqueName(self, name, child):
        existing = {c.getName() for c in self.__children if c is not child}
        if name not in existing:
            return name
        base = name.rstrip("0123456789")
        i = 1
        while "%s%d" % (base, i) in existing:
            i += 1
        return "%s%d" % (base, i)

    def fullName(self):
        names = []
        g = self
        while g is not None:
            names.append(g.getName())
            g = g.parent()
        return ".".join(reversed(names))

    def relativeName(self, ancestor):
        names = []
        g = self
        while g is not None and g is not ancestor:
            names.append(g.getName())
            g = g.parent()
        if ancestor is not None and g is None:
            raise IECore.Exception("Not an ancestor")
        return ".".join(reversed(names))

    # Hierarchy

    def acceptsChild(self, potentialChild):
        return True

    def acceptsParent(self, potentialParent):
        return True

    def addChild(self, child):
        if child.__parent is self:
            return
        if not self.acceptsChild(child) or not child.acceptsParent(self):
            raise IECore.Exception(
                '"%s" rejects child "%s"' % (self.fullName(), child.getName())
            )
        oldParent = child.__parent
        if oldParent is not None:
            oldParent._removeChildInternal(child, emit=True)
        child.__name = self._uniqueName(child.__name, child)
        self.__children.append(child)
        child.__parent = self
        child._parentChanged(oldParent)
        self.childAddedSignal()(self, child)

    def _removeChildInternal(self, child, emit):
        self.__children.remove(child)
        child.__parent = None
        child._parentChanged(self)
        if emit:
            self.childRemovedSignal()(self, child)

    def removeChild(self, child):
        if child.__parent is not self:
            raise IECore.Exception("Object is not a child")
        self._removeChildInternal(child, emit=True)

    def _parentChanged(self, oldParent):
        pass

    def parent(self):
        return self.__parent

    def ancestor(self, type_):
        g = self.__parent
        while g is not None:
            if isinstance(g, type_):
                return g
            g = g.parent()
        return None

    def isAncestorOf(self, other):
        g = other.parent()
        while g is not None:
            if g is self:
                return True
            g = g.parent()
        return False

    def children(self, type_=None):
        if type_ is None:
            return tuple(self.__children)
        return tuple(c for c in self.__children if isinstance(c, type_))

    def getChild(self, name):
        if isinstance(name, int):
            return self.__children[name]
        for c in self.__children:
            if c.__name == name:
                return c
        return None

    def descendant(self, path):
        g = self
        for name in path.split("."):
            if not name:
                continue
            g = g.getChild(name) if g is not None else None
        return g

    def isSame(self, other):
        return self is other

    def __getitem__(self, key):
        if isinstance(key, int):
            return self.__children[key]
        child = self.getChild(key)
        if child is None:
            raise KeyError("'%s' is not a child of '%s'" % (key, self.getName()))
        return child

    def __setitem__(self, key, child):
        existing = self.getChild(key)
        if existing is child:
            return
        if existing is not None:
            self.removeChild(existing)
        if child.__parent is not None:
            child.__parent._removeChildInternal(child, emit=True)
        child.__name = key
        self.addChild(child)

    def __delitem__(self, key):
        self.removeChild(self[key])

    def __contains__(self, key):
        if isinstance(key, GraphComponent):
            return key.__parent is self
        return self.getChild(key) is not None

    def __len__(self):
        return len(self.__children)

    def __iter__(self):
        return iter(tuple(self.__children))

    def __bool__(self):
        return True

    def keys(self):
        return [c.getName() for c in self.__children]

    def values(self):
        return list(self.__children)

    def items(self):
        return [(c.getName(), c) for c in self.__children]

    def __repr__(self):
        from ._Serialisation import Serialisation
        return '%s( "%s" )' % (Serialisation.classPath(self), self.getName())


# ---------------------------------------------------------------------------
# Plugs
# ---------------------------------------------------------------------------


class _PlugRange:

    def __init__(self, plugType, recursive, direction):
        self.__type = plugType
        self.__recursive = recursive
        self.__direction = direction

    def __call__(self, parent):
        result = []

        def walk(g):
            for c in g.children(Plug):
                if isinstance(c, self.__type) and (self.__direction is None or c.direction() == self.__direction):
                    result.append(c)
                if self.__recursive:
                    walk(c)

        walk(parent)
        return result


class _RangeDescriptor:

    def __init__(self, recursive, direction=None):
        self.__recursive = recursive
        self.__direction = direction

    def __get__(self, instance, owner):
        direction = None if self.__direction is None else owner.Direction[self.__direction]
        return _PlugRange(owner, self.__recursive, direction)


class Plug(GraphComponent):

    class Direction(enum.IntEnum):
        Invalid = 0
        In = 1
        Out = 2

    class Flags(enum.IntFlag):
        None_ = 0
        Dynamic = 1
        Serialisable = 2
        AcceptsInputs = 4
        Cacheable = 8
        AcceptsDependencyCycles = 16
        Default = 14
        All = 31

    Range = _RangeDescriptor(False)
    RecursiveRange = _RangeDescriptor(True)
    InputRange = _RangeDescriptor(False, "In")
    OutputRange = _RangeDescriptor(False, "Out")
    RecursiveInputRange = _RangeDescriptor(True, "In")
    RecursiveOutputRange = _RangeDescriptor(True, "Out")

    def __init__(self, name=None, direction=Direction.In, flags=Flags.Default):
        GraphComponent.__init__(self, name)
        self.__direction = Plug.Direction(direction)
        self.__flags = int(flags)
        self.__input = None
        self.__outputs = []

    def node(self):
        return self.ancestor(Node)

    def direction(self):
        return self.__direction

    def getFlags(self, flags=None):
        if flags is None:
            return Plug.Flags(self.__flags)
        return (self.__flags & int(flags)) == int(flags)

    def setFlags(self, flags, enable=None):
        if enable is None:
            self.__flags = int(flags)
        elif enable:
            self.__flags |= int(flags)
        else:
            self.__flags &= ~int(flags)

    def acceptsChild(self, potentialChild):
        return isinstance(potentialChild, Plug) and potentialChild.direction() == self.direction()

    def acceptsParent(self, potentialParent):
        return isinstance(potentialParent, (Plug, Node))

    # Connections

    def acceptsInput(self, input):
        if not self.getFlags(Plug.Flags.AcceptsInputs):
            return False
        if input is None:
            return True
        if input is self:
            return False
        if len(input.children()) != len(self.children()):
            return False
        for c, ic in zip(self.children(), input.children()):
            if not c.acceptsInput(ic):
                return False
        node = self.node()
        if node is not None and not node.acceptsInput(self, input):
            return False
        return True

    def getInput(self):
        return self.__input

    def setInput(self, input):
        self._setInput(input, setChildInputs=True, updateParentInput=True)

    def _setInput(self, input, setChildInputs, updateParentInput):
        if input is self.__input:
            return
        if input is not None and not self.acceptsInput(input):
            raise IECore.Exception(
                'Plug "%s" rejects input "%s".' % (self.fullName(), input.fullName())
            )
        if self.__input is not None:
            self.__input.__outputs.remove(self)
        self.__input = input
        if input is not None:
            input.__outputs.append(self)
        if setChildInputs:
            if input is None:
                for c in self.children(Plug):
                    c._setInput(None, setChildInputs=True, updateParentInput=False)
            else:
                for c, ic in zip(self.children(Plug), input.children(Plug)):
                    c._setInput(ic, setChildInputs=True, updateParentInput=False)
        parent = self.parent()
        if updateParentInput:
            if isinstance(parent, Plug) and parent.getInput() is not None and input is None:
                parent._setInput(None, setChildInputs=False, updateParentInput=True)
        if isinstance(parent, ArrayPlug):
            parent._childInputChanged()
        node = self.node()
        if node is not None:
            node.plugInputChangedSignal()(self)
        _propagateDirtiness(self)

    def outputs(self):
        return tuple(self.__outputs)

    def removeOutputs(self):
        for o in list(self.__outputs):
            o.setInput(None)

    def source(self):
        p = self
        while p.__input is not None:
            p = p.__input
        return p

    def createCounterpart(self, name, direction):
        result = type(self)(name, direction, self.getFlags())
        for c in self.children(Plug):
            result.addChild(c.createCounterpart(c.getName(), direction))
        return result

    def _parentChanged(self, oldParent):
        if self.parent() is None:
            # Removed from its node : break all connections.
            for p in [self] + Plug.RecursiveRange(self):
                p._setInput(None, setChildInputs=False, updateParentInput=False)
                for o in list(p.__outputs):
                    o._setInput(None, setChildInputs=False, updateParentInput=False)

    def __repr__(self):
        from ._Serialisation import PlugSerialiser
        return PlugSerialiser.repr(self)


def _propagateDirtiness(plug):
    dirty = []
    seen = set()

    def visit(p):
        if id(p) in seen:
            return
        seen.add(id(p))
        dirty.append(p)
        for c in Plug.RecursiveRange(p):
            visit(c)
        parent = p.parent()
        while isinstance(parent, Plug):
            if id(parent) not in seen:
                seen.add(id(parent))
                dirty.append(parent)
            parent = parent.parent()
        for o in p.outputs():
            visit(o)
        node = p.node()
        # Only leaf plugs are passed to `affects()` (src/Gaffer/Plug.cpp,
        # `propagateDirtinessAtLeaves()`).
        if isinstance(node, DependencyNode) and p.parent() is not None and not len(p.children(Plug)):
            for affected in node.affects(p):
                visit(affected)

    visit(plug)
    for p in dirty:
        node = p.node()
        if node is not None:
            p._dirtyCount = getattr(p, "_dirtyCount", 0) + 1
            node.plugDirtiedSignal()(p)


class ValuePlug(Plug):

    class CachePolicy(enum.IntEnum):
        Uncached = 0
        TaskCollaboration = 1
        Default = 2

    class HashCacheMode(enum.IntEnum):
        Standard = 0
        Checked = 1
        Legacy = 2

    def __init__(self, name=None, direction=Plug.Direction.In, flags=Plug.Flags.Default):
        Plug.__init__(self, name, direction, flags)

    @staticmethod
    def clearCache():
        _computeCache.clear()

    @staticmethod
    def clearHashCache(now=False):
        _hashCache.clear()

    @staticmethod
    def cacheMemoryUsage():
        return 0

    @staticmethod
    def getCacheMemoryLimit():
        return 1024 ** 3

    @staticmethod
    def setCacheMemoryLimit(bytes):
        pass

    def acceptsChild(self, potentialChild):
        return isinstance(potentialChild, ValuePlug) and Plug.acceptsChild(self, potentialChild)

    def acceptsInput(self, input):
        if not Plug.acceptsInput(self, input):
            return False
        if input is None:
            return True
        return isinstance(input, ValuePlug)

    def _isComputed(self):
        if self.getInput() is not None or self.direction() != Plug.Direction.Out:
            return False
        return isinstance(self.node(), ComputeNode)

    def settable(self):
        if self.getInput() is not None:
            return False
        process = _currentProcess()
        if process is not None and process.kind == "compute":
            return process.plug is self
        return not self._isComputed()

    # Hashing

    def hash(self, h=None):
        result = self._hash()
        if h is not None:
            h.append(result)
            return None
        return result

    def _hash(self):
        input = self.getInput()
        if input is not None:
            return input._hash()
        if self._isComputed():
            return _computedHash(self)
        return self._staticHash()

    def _staticHash(self):
        h = IECore.MurmurHash()
        for c in self.children(ValuePlug):
            h.append(c._hash())
        return h

    def defaultHash(self):
        h = IECore.MurmurHash()
        for c in self.children(ValuePlug):
            h.append(c.defaultHash())
        return h

    def isSetToDefault(self):
        return all(c.isSetToDefault() for c in self.children(ValuePlug))

    def setToDefault(self):
        for c in self.children(ValuePlug):
            c.setToDefault()

    def resetDefault(self):
        for c in self.children(ValuePlug):
            c.resetDefault()

    def setFrom(self, other):
        for c, o in zip(self.children(ValuePlug), other.children(ValuePlug)):
            c.setFrom(o)

    def createCounterpart(self, name, direction):
        result = ValuePlug(name, direction, self.getFlags())
        for c in self.children(Plug):
            result.addChild(c.createCounterpart(c.getName(), direction))
        return result


def _baseHash(node, plug, h):
    # `ComputeNode::hash()` : the type name, then the path of the plug. The
    # Python binding adds it before calling a Python `hash()` override
    # (`include/GafferBindings/ComputeNodeBinding.h`).
    h.append(node.typeName())
    g = plug
    while g is not None and g is not node:
        h.append(g.getName())
        g = g.parent()


def _cachePolicy(node, method, plug):
    # `ComputeNodeWrapper` calls a Python override if there is one, else the
    # C++ base, which Python cannot call (`ComputeNodeBinding.h`).
    override = getattr(node, method, None)
    if override is not None:
        return ValuePlug.CachePolicy(override(plug))
    if method == "computeCachePolicy" and not plug.getFlags(Plug.Flags.Cacheable):
        return ValuePlug.CachePolicy.Uncached
    return ValuePlug.CachePolicy.Default


# Hashes are cached per plug, context and dirty count, as in
# `src/Gaffer/ValuePlug.cpp` (`HashCacheKey`) : a hash that depends on
# something other than plugs and the context (a file on disk) is not
# recomputed until the plug is dirtied.
_hashCache = {}


def _computedHash(plug):
    node = plug.node()
    context = Context.current()
    policy = _cachePolicy(node, "hashCachePolicy", plug)
    key = (id(plug), context.hash().toString())
    if policy != ValuePlug.CachePolicy.Uncached:
        cached = _hashCache.get(key)
        if cached is not None and cached[0] is plug and cached[1] == getattr(plug, "_dirtyCount", 0):
            return cached[2].copy()
    start = time.perf_counter()
    process = _Process("hash", plug, context, policy)
    stack = _processStack()
    stack.append(process)
    try:
        h = IECore.MurmurHash()
        _baseHash(node, plug, h)
        override = getattr(node, "hash", None)
        if override is not None:
            override(plug, context, h)
    except Exception as e:
        raise _wrapException(plug, e) from e
    finally:
        stack.pop()
    _record(plug, "hash", time.perf_counter() - start)
    if policy != ValuePlug.CachePolicy.Uncached:
        _hashCache[key] = (plug, getattr(plug, "_dirtyCount", 0), h.copy())
    return h


def _computedValue(plug):
    node = plug.node()
    context = Context.current()
    h = plug._hash()
    policy = _cachePolicy(node, "computeCachePolicy", plug)
    if policy != ValuePlug.CachePolicy.Uncached and h in _computeCache:
        return _computeCache[h]
    start = time.perf_counter()
    process = _Process("compute", plug, context, policy)
    stack = _processStack()
    stack.append(process)
    try:
        compute = getattr(node, "compute", None)
        if compute is None:
            raise IECore.Exception("%s : no compute() for this plug" % plug.fullName())
        compute(plug, context)
    except Exception as e:
        raise _wrapException(plug, e) from e
    finally:
        stack.pop()
    _record(plug, "compute", time.perf_counter() - start)
    if not process.valueSet:
        raise ProcessException(plug, "%s : Compute did not set plug value." % plug.fullName())
    if policy != ValuePlug.CachePolicy.Uncached:
        _computeCache[h] = process.value
    return process.value


class _LeafValuePlug(ValuePlug):
    """A ValuePlug holding one value (Gaffer's TypedPlug / NumericPlug / TypedObjectPlug)."""

    def _toStorage(self, value):
        return value

    def _fromStorage(self, value):
        return value

    def _storageHash(self, value):
        raise NotImplementedError

    def _fromInput(self, input, value):
        return value

    def _rawValue(self):
        input = self.getInput()
        if input is not None:
            return self._fromInput(input, input._rawValue())
        if self._isComputed():
            return _computedValue(self)
        return self._value

    def getValue(self, _precomputedHash=None):
        return self._fromStorage(self._rawValue())

    def setValue(self, value):
        value = self._toStorage(value)
        process = _currentProcess()
        if process is not None and process.kind == "compute" and process.plug is self:
            process.value = value
            process.valueSet = True
            return
        if not self.settable():
            raise IECore.Exception('Cannot set value for plug "%s"' % self.fullName())
        if self._equal(self._value, value):
            return
        self._value = value
        node = self.node()
        _propagateDirtiness(self)
        if node is not None:
            node.plugSetSignal()(self)

    def _equal(self, a, b):
        return type(a) is type(b) and a == b

    def defaultValue(self):
        return self._fromStorage(self._defaultValue)

    def _staticHash(self):
        return self._storageHash(self._value)

    def defaultHash(self):
        return self._storageHash(self._defaultValue)

    def isSetToDefault(self):
        source = self.source()
        if source is self:
            return self._equal(self._value, self._defaultValue)
        if source._isComputed() or not isinstance(source, _LeafValuePlug):
            return False
        return self._equal(self._fromInput(source, source._value), self._defaultValue)

    def setToDefault(self):
        if self.getInput() is None:
            self.setValue(self._fromStorage(self._defaultValue))

    def resetDefault(self):
        # The stored value, before any substitutions (ValuePlug::resetDefault).
        self._defaultValue = self._toStorage(self._rawValue())

    def setFrom(self, other):
        self.setValue(other.getValue())


class _NumericPlug(_LeafValuePlug):

    _cast = float
    _lowest = -3.4028234663852886e38
    _highest = 3.4028234663852886e38

    def __init__(self, name=None, direction=Plug.Direction.In, defaultValue=None, minValue=None,
                 maxValue=None, flags=Plug.Flags.Default):
        ValuePlug.__init__(self, name, direction, flags)
        self._min = self._cast(minValue) if minValue is not None else self._lowest
        self._max = self._cast(maxValue) if maxValue is not None else self._highest
        self._defaultValue = self._toStorage(defaultValue if defaultValue is not None else self._cast(0))
        self._value = self._defaultValue

    def _toStorage(self, value):
        value = self._cast(value)
        if not isinstance(self, BoolPlug):
            value = min(max(value, self._min), self._max)
        return value

    def _fromInput(self, input, value):
        return self._cast(value)

    def _storageHash(self, value):
        return self._dataType(value).hash()

    def hasMinValue(self):
        return self._min != self._lowest

    def hasMaxValue(self):
        return self._max != self._highest

    def minValue(self):
        return self._min

    def maxValue(self):
        return self._max

    def acceptsInput(self, input):
        if not ValuePlug.acceptsInput(self, input):
            return False
        return input is None or isinstance(input, _NumericPlug)

    def createCounterpart(self, name, direction):
        return type(self)(
            name, direction, self.defaultValue(),
            self._min if self.hasMinValue() else None,
            self._max if self.hasMaxValue() else None,
            self.getFlags()
        )


def _float32(value):
    # FloatPlug holds a C++ float (`include/Gaffer/NumericPlug.h`) : 0.35
    # reads back as 0.3499999940395355.
    return float(numpy.float32(value))


class FloatPlug(_NumericPlug):
    _cast = staticmethod(_float32)
    _dataType = IECore.FloatData
    ValueType = float


class IntPlug(_NumericPlug):
    _cast = int
    _lowest = -(2 ** 31)
    _highest = 2 ** 31 - 1
    _dataType = IECore.IntData
    ValueType = int


class BoolPlug(_NumericPlug):
    _cast = bool
    _lowest = False
    _highest = True
    _dataType = IECore.BoolData
    ValueType = bool

    def __init__(self, name=None, direction=Plug.Direction.In, defaultValue=False, flags=Plug.Flags.Default):
        _NumericPlug.__init__(self, name, direction, defaultValue, None, None, flags)

    def hasMinValue(self):
        return False

    def hasMaxValue(self):
        return False

    def createCounterpart(self, name, direction):
        return BoolPlug(name, direction, self.defaultValue(), self.getFlags())


class StringPlug(_LeafValuePlug):

    ValueType = str

    def __init__(self, name=None, direction=Plug.Direction.In, defaultValue="", flags=Plug.Flags.Default,
                 substitutions=IECore.StringAlgo.Substitutions.AllSubstitutions):
        ValuePlug.__init__(self, name, direction, flags)
        self._defaultValue = str(defaultValue)
        self._value = self._defaultValue
        self.__substitutions = IECore.StringAlgo.Substitutions(substitutions)

    def substitutions(self):
        return self.__substitutions

    def _toStorage(self, value):
        return str(value)

    def getValue(self, _precomputedHash=None):
        # `StringPlug::getValue()` (src/Gaffer/StringPlug.cpp) substitutes only
        # for an input plug read inside a process (a compute, hash or task) :
        # a direct `getValue()` returns `####` and `${...}` as they are.
        value = self._rawValue()
        if (
            self.__substitutions and self.direction() == Plug.Direction.In
            and _currentProcess() is not None and IECore.StringAlgo.hasSubstitutions(value)
        ):
            value = Context.current().substitute(value, self.__substitutions)
        return value

    def _storageHash(self, value):
        return IECore.StringData(value).hash()

    def _hash(self):
        source = self.source()
        if isinstance(source, StringPlug) and not source._isComputed():
            value = source._value
            if self.__substitutions and IECore.StringAlgo.hasSubstitutions(value):
                return IECore.StringData(Context.current().substitute(value, self.__substitutions)).hash()
        return _LeafValuePlug._hash(self)

    def acceptsInput(self, input):
        if not ValuePlug.acceptsInput(self, input):
            return False
        return input is None or isinstance(input, StringPlug)

    def createCounterpart(self, name, direction):
        return StringPlug(name, direction, self._defaultValue, self.getFlags(), self.__substitutions)

    def setFrom(self, other):
        self.setValue(other._rawValue() if other.getInput() is None else other.getValue())


class _CompoundNumericPlug(ValuePlug):
    """V2iPlug, V2fPlug, Color4fPlug ... : children x, y (, z ...)."""

    _childNames = "xy"
    _childType = FloatPlug
    _valueType = imath.V2f

    def __init__(self, name=None, direction=Plug.Direction.In, defaultValue=None, minValue=None,
                 maxValue=None, flags=Plug.Flags.Default):
        ValuePlug.__init__(self, name, direction, flags)
        defaultValue = self._valueType(defaultValue if defaultValue is not None else 0)
        # Children made by the constructor are never Dynamic : the plug's
        # constructor recreates them.
        childFlags = int(flags) & ~int(Plug.Flags.Dynamic)
        for i, childName in enumerate(self._childNames):
            self.addChild(self._childType(
                childName, direction, defaultValue[i],
                None if minValue is None else self._valueType(minValue)[i],
                None if maxValue is None else self._valueType(maxValue)[i],
                childFlags
            ))

    def getValue(self, _precomputedHash=None):
        return self._valueType(*[c.getValue() for c in self.children()])

    def setValue(self, value):
        value = self._valueType(value)
        for i, c in enumerate(self.children()):
            c.setValue(value[i])

    def defaultValue(self):
        return self._valueType(*[c.defaultValue() for c in self.children()])

    def hasMinValue(self):
        return self.children()[0].hasMinValue()

    def hasMaxValue(self):
        return self.children()[0].hasMaxValue()

    def minValue(self):
        return self._valueType(*[c.minValue() for c in self.children()])

    def maxValue(self):
        return self._valueType(*[c.maxValue() for c in self.children()])

    def createCounterpart(self, name, direction):
        return type(self)(
            name, direction, self.defaultValue(),
            self.minValue() if self.hasMinValue() else None,
            self.maxValue() if self.hasMaxValue() else None,
            self.getFlags()
        )


class V2iPlug(_CompoundNumericPlug):
    _childNames = "xy"
    _childType = IntPlug
    _valueType = imath.V2i


class V2fPlug(_CompoundNumericPlug):
    _childNames = "xy"
    _childType = FloatPlug
    _valueType = imath.V2f


class Color4fPlug(_CompoundNumericPlug):
    _childNames = "rgba"
    _childType = FloatPlug
    _valueType = imath.Color4f


class _TypedObjectPlug(_LeafValuePlug):

    ValueType = IECore.Object

    def __init__(self, name=None, direction=Plug.Direction.In, defaultValue=None, flags=Plug.Flags.Default):
        ValuePlug.__init__(self, name, direction, flags)
        if defaultValue is None:
            if self.ValueType is IECore.Object:
                raise ValueError("Default value must not be None.")
            defaultValue = self.ValueType()
        if not isinstance(defaultValue, self.ValueType):
            raise TypeError("%s : default value must be a %s" % (type(self).__name__, self.ValueType.__name__))
        self._defaultValue = defaultValue.copy()
        self._value = self._defaultValue

    def _toStorage(self, value):
        if value is None:
            raise ValueError("Value must not be None.")
        if not isinstance(value, self.ValueType):
            raise TypeError("%s.setValue : expected a %s, got %s" % (
                type(self).__name__, self.ValueType.__name__, type(value).__name__
            ))
        return value.copy()

    def _fromStorage(self, value):
        return value.copy()

    def getValue(self, _precomputedHash=None, _copy=True):
        value = self._rawValue()
        return value.copy() if _copy else value

    def defaultValue(self, _copy=True):
        return self._defaultValue.copy() if _copy else self._defaultValue

    def _equal(self, a, b):
        return a.isEqualTo(b)

    def _storageHash(self, value):
        return value.hash()

    def acceptsInput(self, input):
        if not ValuePlug.acceptsInput(self, input):
            return False
        return input is None or isinstance(input, type(self)) or isinstance(self, type(input))

    def createCounterpart(self, name, direction):
        return type(self)(name, direction, self._defaultValue, self.getFlags())


def _typedObjectPlug(name, valueType):
    cls = type(name, (_TypedObjectPlug,), {"ValueType": valueType})
    cls.__module__ = __name__
    return cls


ObjectPlug = _typedObjectPlug("ObjectPlug", IECore.Object)
CompoundObjectPlug = _typedObjectPlug("CompoundObjectPlug", IECore.CompoundObject)
AtomicCompoundDataPlug = _typedObjectPlug("AtomicCompoundDataPlug", IECore.CompoundData)
StringVectorDataPlug = _typedObjectPlug("StringVectorDataPlug", IECore.StringVectorData)
IntVectorDataPlug = _typedObjectPlug("IntVectorDataPlug", IECore.IntVectorData)
FloatVectorDataPlug = _typedObjectPlug("FloatVectorDataPlug", IECore.FloatVectorData)
BoolVectorDataPlug = _typedObjectPlug("BoolVectorDataPlug", IECore.BoolVectorData)
V2fVectorDataPlug = _typedObjectPlug("V2fVectorDataPlug", IECore.V2fVectorData)


class ArrayPlug(Plug):
    """Gaffer.ArrayPlug : a plug whose children are copies of `element`,
    growing when its last child receives an input."""

    def __init__(self, name=None, direction=Plug.Direction.In, element=None, minSize=1, maxSize=2 ** 31 - 1,
                 flags=Plug.Flags.Default, resizeWhenInputsChange=True):
        Plug.__init__(self, name, direction, flags)
        self.__element = element
        self.__minSize = minSize
        self.__maxSize = maxSize
        self.__resize = resizeWhenInputsChange
        if element is not None:
            # Elements made by the constructor are not Dynamic ; elements
            # added later are (and so are serialised).
            for i in range(minSize):
                child = self.__newElement()
                child.setFlags(Plug.Flags.Dynamic, False)
                self.addChild(child)

    def elementPrototype(self):
        return self.__element

    def __newElement(self):
        base = self.__element.getName().rstrip("0123456789")
        index = len(self.children())
        child = self.__element.createCounterpart("%s%d" % (base, index), self.direction())
        child.setFlags(Plug.Flags.Dynamic, True)
        return child

    def minSize(self):
        return self.__minSize

    def maxSize(self):
        return self.__maxSize

    def resize(self, size):
        size = max(self.__minSize, min(self.__maxSize, size))
        while len(self.children()) < size:
            self.addChild(self.__newElement())
        while len(self.children()) > size:
            self.removeChild(self.children()[-1])

    def next(self):
        children = self.children()
        if children and children[-1].getInput() is None:
            return children[-1]
        if len(children) >= self.__maxSize:
            return None
        child = self.__newElement()
        self.addChild(child)
        return child

    def _childInputChanged(self):
        if not self.__resize:
            return
        children = self.children()
        if children and children[-1].getInput() is not None and len(children) < self.__maxSize:
            self.addChild(self.__newElement())

    def acceptsInput(self, input):
        return Plug.acceptsInput(self, input)

    def createCounterpart(self, name, direction):
        return ArrayPlug(name, direction, self.__element, self.__minSize, self.__maxSize, self.getFlags(), self.__resize)


# Plug types that only appear in GafferTest.TestCase's list of terminal types.
for _name in (
    "V3fPlug", "V3iPlug", "Color3fPlug", "RampffPlug", "RampfColor3fPlug", "RampfColor4fPlug",
    "Box2iPlug", "Box3iPlug", "Box2fPlug", "Box3fPlug", "TransformPlug", "Transform2DPlug", "OptionalValuePlug",
):
    globals()[_name] = type(_name, (ValuePlug,), {"__module__": __name__})


class CompoundDataPlug(ValuePlug):

    class MemberPlug(ValuePlug):
        pass

    def __init__(self, name=None, direction=Plug.Direction.In, flags=Plug.Flags.Default):
        ValuePlug.__init__(self, name, direction, flags)


# ---------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------


class Node(GraphComponent):

    def __init__(self, name=None):
        GraphComponent.__init__(self, name)
        self.addChild(Plug("user", flags=Plug.Flags.Default))

    def plugDirtiedSignal(self):
        return self._signal("plugDirtied")

    def plugSetSignal(self):
        return self._signal("plugSet")

    def plugInputChangedSignal(self):
        return self._signal("plugInputChanged")

    def userPlug(self):
        return self["user"]

    def acceptsChild(self, potentialChild):
        return isinstance(potentialChild, (Plug, Node))

    def acceptsInput(self, plug, inputPlug):
        return True

    def scriptNode(self):
        return self.ancestor(ScriptNode) if not isinstance(self, ScriptNode) else self


class DependencyNode(Node):

    def affects(self, input):
        # `DependencyNode::affects()` (src/Gaffer/DependencyNode.cpp) throws
        # for plugs with children : Gaffer only asks about leaf plugs.
        if len(input.children(Plug)):
            raise IECore.Exception("DependencyNode::affects() called with non-leaf plug %s" % input.fullName())
        return []

    def enabledPlug(self):
        return None

    def correspondingInput(self, output):
        return None

    def isInstanceOf(self, typeNameOrId):
        return Node.isInstanceOf(self, typeNameOrId)


class ComputeNode(DependencyNode):
    # Python sees no `hash`, `compute`, `computeCachePolicy` or
    # `hashCachePolicy` on ComputeNode : subclasses may override them, but
    # the binding offers only `affects`, `enabledPlug` and
    # `correspondingInput` as bases (`src/GafferModule/NodeBinding.cpp`,
    # `include/GafferBindings/DependencyNodeBinding.inl`,
    # `ComputeNodeBinding.h`). The base hash is added by `_computedHash()`.
    pass


def _requireTaskCollaboration(what):
    """Called by the stand-in's `ImageAlgo` functions, which spawn TBB tasks
    in Gaffer. A process that spawns tasks must use a task-based cache
    policy (`include/Gaffer/ValuePlug.h` : "TaskCollaboration ... must be
    used by any process that spawns TBB tasks" ; compare
    `src/GafferML/ImageToTensor.cpp`), or other threads waiting on it can
    deadlock. Gaffer deadlocks at random ; the stand-in refuses."""
    process = _currentProcess()
    if process is None or process.policy is None:
        return
    if process.policy not in (ValuePlug.CachePolicy.TaskCollaboration, ValuePlug.CachePolicy.Uncached):
        method = "hashCachePolicy" if process.kind == "hash" else "computeCachePolicy"
        raise IECore.Exception(
            "%s spawns TBB tasks while %s is in a %s with %s %s : use TaskCollaboration" % (
                what, process.plug.fullName(), process.kind, method, process.policy.name
            )
        )


# ScriptNode is defined in _Serialisation ; imported lazily for error messages.
class ScriptNode(Node):  # replaced in _Serialisation
    pass


for _cls, _typeName in (
    (GraphComponent, "Gaffer::GraphComponent"),
    (Plug, "Gaffer::Plug"),
    (ValuePlug, "Gaffer::ValuePlug"),
    (FloatPlug, "Gaffer::FloatPlug"),
    (IntPlug, "Gaffer::IntPlug"),
    (BoolPlug, "Gaffer::BoolPlug"),
    (StringPlug, "Gaffer::StringPlug"),
    (V2iPlug, "Gaffer::V2iPlug"),
    (V2fPlug, "Gaffer::V2fPlug"),
    (Color4fPlug, "Gaffer::Color4fPlug"),
    (ObjectPlug, "Gaffer::ObjectPlug"),
    (CompoundObjectPlug, "Gaffer::CompoundObjectPlug"),
    (AtomicCompoundDataPlug, "Gaffer::AtomicCompoundDataPlug"),
    (StringVectorDataPlug, "Gaffer::StringVectorDataPlug"),
    (IntVectorDataPlug, "Gaffer::IntVectorDataPlug"),
    (FloatVectorDataPlug, "Gaffer::FloatVectorDataPlug"),
    (BoolVectorDataPlug, "Gaffer::BoolVectorDataPlug"),
    (V2fVectorDataPlug, "Gaffer::V2fVectorDataPlug"),
    (ArrayPlug, "Gaffer::ArrayPlug"),
    (CompoundDataPlug, "Gaffer::CompoundDataPlug"),
    (Node, "Gaffer::Node"),
    (DependencyNode, "Gaffer::DependencyNode"),
    (ComputeNode, "Gaffer::ComputeNode"),
):
    IECore.registerRunTimeTyped(_cls, _typeName)
