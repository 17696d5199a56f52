"""Serialisation (the .gfr / .grf Python script format), ScriptNode,
SubGraph, Box, Reference and PlugAlgo.promote.

The walk and the text it produces follow src/GafferBindings/Serialisation.cpp,
NodeBinding.cpp, PlugBinding.cpp, ValuePlugBinding.cpp and
src/GafferModule/SubGraphBinding.cpp : module imports, version metadata,
`__children = {}`, constructors + `parent.addChild()`, then connections,
values and metadata, then `del __children`.
"""

import base64
import os
import pickle

import IECore
import imath

from . import _Core
from ._Context import Context
from ._Core import (
    ArrayPlug, ComputeNode, DependencyNode, GraphComponent, Node, Plug, ValuePlug, _CompoundNumericPlug,
    _LeafValuePlug, _TypedObjectPlug,
)
from ._Metadata import Metadata

# Serialised as by Gaffer 1.5 (the first release with GafferML).
VERSION = (1, 5, 0, 0)

# ---------------------------------------------------------------------------
# Serialisers
# ---------------------------------------------------------------------------


def _modulePath(obj):
    cls = obj if isinstance(obj, type) else type(obj)
    module = getattr(cls, "__module__", "")
    parts = [p for p in module.split(".") if not p.startswith("_")]
    if parts and parts[-1] == cls.__name__:
        parts = parts[:-1]
    return ".".join(parts)


class Serialisation:

    def __init__(self, parent, parentName="parent", filter=None):
        self.__parent = parent
        self.__parentName = parentName
        self.__filter = filter
        self.__modules = set()
        self.__hierarchy = ""
        self.__connections = ""
        self.__post = ""
        context = Context.current()
        self.__protect = context.get("serialiser:protectParentNamespace", True)
        self.omitParentNodePlugValues = context.get("valuePlugSerialiser:omitParentNodePlugValues", False)
        self.__walk(parent, parentName, _acquire(parent))
        if context.get("serialiser:includeParentMetadata", False):
            self.__post += _metadataSerialisation(parent, parentName, self)

    @staticmethod
    def modulePath(obj):
        return _modulePath(obj)

    @staticmethod
    def classPath(obj):
        cls = obj if isinstance(obj, type) else type(obj)
        module = _modulePath(cls)
        qualName = cls.__qualname__
        if "." in qualName and module.endswith("." + qualName.split(".")[0]):
            qualName = qualName.split(".", 1)[1]
        return (module + "." if module else "") + qualName

    @staticmethod
    def objectToBase64(obj):
        return base64.b64encode(pickle.dumps(obj)).decode()

    @staticmethod
    def objectFromBase64(text):
        return pickle.loads(base64.b64decode(text))

    def parent(self):
        return self.__parent

    def addModule(self, module):
        if module:
            self.__modules.add(module)

    def __walk(self, parent, parentIdentifier, parentSerialiser):
        for child in parent.children():
            if parent is self.__parent and self.__filter is not None and child not in self.__filter:
                continue
            if not parentSerialiser.childNeedsSerialisation(child, self):
                continue
            childSerialiser = _acquire(child)
            self.addModule(_modulePath(child))
            constructor = ""
            if parentSerialiser.childNeedsConstruction(child, self):
                constructor = childSerialiser.constructor(child, self)
            if parent is self.__parent and constructor and self.__protect:
                identifier = '__children["%s"]' % child.getName()
            else:
                identifier = self.childIdentifier(parentIdentifier, child)
            if constructor:
                if parent is self.__parent:
                    self.__hierarchy += "%s = %s\n" % (identifier, constructor)
                    if self.__protect:
                        self.__hierarchy += "%s.addChild( %s )\n" % (parentIdentifier, identifier)
                else:
                    self.__hierarchy += "%s.addChild( %s )\n" % (parentIdentifier, constructor)
            self.__hierarchy += childSerialiser.postConstructor(child, identifier, self)
            self.__connections += childSerialiser.postHierarchy(child, identifier, self)
            self.__post += childSerialiser.postScript(child, identifier, self)
            self.__walk(child, identifier, childSerialiser)

    def childIdentifier(self, parentIdentifier, child):
        if not parentIdentifier:
            return ""
        parent = child.parent()
        if isinstance(parent, ArrayPlug):
            return "%s[%d]" % (parentIdentifier, parent.children().index(child))
        return '%s["%s"]' % (parentIdentifier, child.getName())

    def identifier(self, graphComponent):
        if graphComponent is None:
            return ""
        parent = graphComponent.parent()
        if parent is None:
            return ""
        if parent is self.__parent:
            if self.__filter is not None and graphComponent not in self.__filter:
                return ""
            if self.__protect and _acquire(parent).childNeedsConstruction(graphComponent, self):
                parentIdentifier = "__children"
            else:
                parentIdentifier = self.__parentName
        else:
            parentIdentifier = self.identifier(parent)
        return self.childIdentifier(parentIdentifier, graphComponent)

    def result(self):
        result = "".join("import %s\n" % m for m in sorted(self.__modules))
        if isinstance(self.__parent, Node) and Context.current().get("serialiser:includeVersionMetadata", True):
            result += "\n"
            for name, value in zip(("milestone", "major", "minor", "patch"), VERSION):
                result += 'Gaffer.Metadata.registerValue( %s, "serialiser:%sVersion", %d, persistent=False )\n' % (
                    self.__parentName, name, value
                )
        if self.__protect:
            result += "\n__children = {}\n\n"
        result += self.__hierarchy + self.__connections + self.__post
        if self.__protect:
            result += "\n\ndel __children\n"
        return result


def _valueRepr(value, serialisation=None):
    if isinstance(value, IECore.CompoundObject):
        if serialisation is not None:
            serialisation.addModule("IECore")
        if not len(value):
            return "IECore.CompoundObject()"
        return "IECore.CompoundObject( { %s} )" % ", ".join(
            "'%s' : %s" % (k, _valueRepr(v, serialisation)) for k, v in value.items()
        )
    if isinstance(value, (bool, int, float, str)):
        return repr(value)
    if isinstance(value, (imath._Vec, imath._Box)):
        if serialisation is not None:
            serialisation.addModule("imath")
        return repr(value)
    if isinstance(value, IECore.Data) and not repr(value).startswith("<"):
        if serialisation is not None:
            serialisation.addModule("IECore")
        return repr(value)
    if isinstance(value, IECore.Object):
        if serialisation is not None:
            serialisation.addModule("Gaffer")
        return 'Gaffer.Serialisation.objectFromBase64( "%s" )' % Serialisation.objectToBase64(value)
    if hasattr(value, "__repr__") and type(value).__module__ not in ("builtins",):
        text = repr(value)
        if not text.startswith("<"):
            return text
    return ""


def _metadataSerialisation(target, identifier, serialisation=None):
    result = ""
    for key, value in Metadata._persistentInstanceValues(target):
        result += "Gaffer.Metadata.registerValue( %s, %s, %s )\n" % (identifier, repr(key), _valueRepr(value, serialisation))
    return result


class GraphComponentSerialiser:

    def childNeedsSerialisation(self, child, serialisation):
        return True

    def childNeedsConstruction(self, child, serialisation):
        return False

    def constructor(self, graphComponent, serialisation):
        return repr(graphComponent)

    def postConstructor(self, graphComponent, identifier, serialisation):
        return ""

    def postHierarchy(self, graphComponent, identifier, serialisation):
        return ""

    def postScript(self, graphComponent, identifier, serialisation):
        return ""


class NodeSerialiser(GraphComponentSerialiser):

    def childNeedsSerialisation(self, child, serialisation):
        if isinstance(child, Plug):
            return child.getFlags(Plug.Flags.Serialisable)
        return serialisation.parent() is child.parent()

    def childNeedsConstruction(self, child, serialisation):
        if isinstance(child, Plug):
            return child.getFlags(Plug.Flags.Dynamic)
        return True

    def postHierarchy(self, graphComponent, identifier, serialisation):
        return _metadataSerialisation(graphComponent, identifier, serialisation)


class BoxSerialiser(NodeSerialiser):

    def childNeedsSerialisation(self, child, serialisation):
        if isinstance(child, Node):
            return True
        return NodeSerialiser.childNeedsSerialisation(self, child, serialisation)


class ReferenceSerialiser(NodeSerialiser):

    def postConstructor(self, graphComponent, identifier, serialisation):
        fileName = graphComponent.fileName()
        if not fileName:
            return ""
        return '%s.load( "%s" )\n' % (identifier, fileName)


class PlugSerialiser(GraphComponentSerialiser):

    @staticmethod
    def directionRepr(direction):
        return "Gaffer.Plug.Direction.%s" % Plug.Direction(direction).name

    @staticmethod
    def flagsRepr(flags):
        flags = int(flags)
        names = []
        default = int(Plug.Flags.Default)
        if flags & default == default:
            names.append("Gaffer.Plug.Flags.Default")
            flags &= ~default
        for flag in (Plug.Flags.Dynamic, Plug.Flags.Serialisable, Plug.Flags.AcceptsInputs, Plug.Flags.Cacheable,
                     Plug.Flags.AcceptsDependencyCycles):
            if flags & int(flag):
                names.append("Gaffer.Plug.Flags.%s" % flag.name)
        return " | ".join(names) if names else "Gaffer.Plug.Flags.None_"

    @staticmethod
    def repr(plug, extraArguments="", serialisation=None):
        if isinstance(plug, (ValuePlug,)) and hasattr(plug, "defaultValue"):
            return ValuePlugSerialiser.repr(plug, extraArguments, serialisation)
        result = '%s( "%s", ' % (Serialisation.classPath(plug), plug.getName())
        if plug.direction() != Plug.Direction.In:
            result += "direction = %s, " % PlugSerialiser.directionRepr(plug.direction())
        if plug.getFlags() != Plug.Flags.Default:
            result += "flags = %s, " % PlugSerialiser.flagsRepr(plug.getFlags())
        if extraArguments:
            result += extraArguments + " "
        return result + ")"

    def childNeedsSerialisation(self, child, serialisation):
        return child.getFlags(Plug.Flags.Serialisable)

    def childNeedsConstruction(self, child, serialisation):
        return child.getFlags(Plug.Flags.Dynamic)

    def constructor(self, graphComponent, serialisation):
        return PlugSerialiser.repr(graphComponent, "", serialisation)

    def postHierarchy(self, plug, identifier, serialisation):
        result = ""
        if plug.getFlags(Plug.Flags.Serialisable):
            input = plug.getInput()
            parent = plug.parent()
            # The parent plug's input is serialised instead (shouldSerialiseInput()).
            impliedByParent = (
                isinstance(parent, Plug) and parent.getInput() is not None and parent is not serialisation.parent()
            )
            if input is not None and not impliedByParent:
                inputIdentifier = serialisation.identifier(input)
                if inputIdentifier:
                    result += "%s.setInput( %s )\n" % (identifier, inputIdentifier)
        return result + _metadataSerialisation(plug, identifier, serialisation)


class ValuePlugSerialiser(PlugSerialiser):

    @staticmethod
    def repr(plug, extraArguments="", serialisation=None):
        result = '%s( "%s", ' % (Serialisation.classPath(plug), plug.getName())
        if plug.direction() != Plug.Direction.In:
            result += "direction = %s, " % PlugSerialiser.directionRepr(plug.direction())
        if hasattr(plug, "defaultValue"):
            default = _valueRepr(plug.defaultValue(), serialisation)
            if not default:
                raise IECore.Exception('Default value for plug "%s" cannot be serialised' % plug.fullName())
            result += "defaultValue = %s, " % default
        if getattr(plug, "hasMinValue", lambda: False)():
            result += "minValue = %s, " % _valueRepr(plug.minValue(), serialisation)
        if getattr(plug, "hasMaxValue", lambda: False)():
            result += "maxValue = %s, " % _valueRepr(plug.maxValue(), serialisation)
        if plug.getFlags() != Plug.Flags.Default:
            result += "flags = %s, " % PlugSerialiser.flagsRepr(plug.getFlags())
        substitutions = getattr(plug, "substitutions", None)
        if substitutions is not None and substitutions() != IECore.StringAlgo.Substitutions.AllSubstitutions:
            extra = "substitutions = IECore.StringAlgo.Substitutions.%s" % substitutions().name
            extraArguments = extra + (", " + extraArguments if extraArguments else "")
            if serialisation is not None:
                serialisation.addModule("IECore")
        if extraArguments:
            result += extraArguments + " "
        return result + ")"

    def constructor(self, graphComponent, serialisation):
        return ValuePlugSerialiser.repr(graphComponent, "", serialisation)

    def postHierarchy(self, plug, identifier, serialisation):
        result = PlugSerialiser.postHierarchy(self, plug, identifier, serialisation)
        if plug is serialisation.parent() or not isinstance(plug.parent(), ValuePlug):
            if plug.node() is not serialisation.parent() or not serialisation.omitParentNodePlugValues:
                result = self.__valueWalk(plug, identifier, serialisation)[0] + result
        return result

    def __valueWalk(self, plug, identifier, serialisation):
        if not plug.getFlags(Plug.Flags.Serialisable):
            return "", False
        childSerialisations = ""
        canCondenseChildren = True
        for child in plug.children(ValuePlug):
            text, canCondense = self.__valueWalk(child, serialisation.childIdentifier(identifier, child), serialisation)
            childSerialisations += text
            canCondenseChildren = canCondenseChildren and canCondense
        if not canCondenseChildren:
            return childSerialisations, False
        if not hasattr(plug, "getValue"):
            return childSerialisations, False
        if not plug.children():
            if plug.getInput() is not None or plug.direction() == Plug.Direction.Out:
                return "", False
        if plug.isSetToDefault():
            return "", True
        value = plug._rawValue() if isinstance(plug, _LeafValuePlug) else plug.getValue()
        return "%s.setValue( %s )\n" % (identifier, _valueRepr(value, serialisation)), True


_serialisers = []


def registerSerialiser(cls, serialiser):
    _serialisers.insert(0, (cls, serialiser))


def _acquire(graphComponent):
    for cls, serialiser in _serialisers:
        if isinstance(graphComponent, cls):
            return serialiser
    return GraphComponentSerialiser()


# ---------------------------------------------------------------------------
# SubGraph, Box, Reference, ScriptNode
# ---------------------------------------------------------------------------


class SubGraph(DependencyNode):
    pass


class Box(SubGraph):

    def __init__(self, name="Box"):
        SubGraph.__init__(self, name)

    def exportForReference(self, fileName):
        script = self.scriptNode()
        if script is None:
            raise IECore.Exception("Box::exportForReference called without ScriptNode")
        toExport = []
        for child in self.children():
            if isinstance(child, Node):
                toExport.append(child)
            elif isinstance(child, Plug) and not child.getName().startswith("__") and child is not self["user"]:
                toExport.append(child)
        context = Context(Context.current())
        context["valuePlugSerialiser:omitParentNodePlugValues"] = True
        context["serialiser:includeParentMetadata"] = True
        with context:
            script.serialiseToFile(fileName, self, toExport)


class Reference(SubGraph):

    def __init__(self, name="Reference"):
        SubGraph.__init__(self, name)
        self.__fileName = ""

    def fileName(self):
        return self.__fileName

    def load(self, fileName):
        fileName = str(fileName)
        path = IECore.SearchPath(os.environ.get("GAFFER_REFERENCE_PATHS", "")).find(fileName) or fileName
        if not os.path.isfile(path):
            raise IECore.Exception('Reference "%s" : file "%s" not found' % (self.getName(), fileName))
        for child in list(self.children()):
            if isinstance(child, Node) or (isinstance(child, Plug) and child is not self["user"]):
                self.removeChild(child)
        script = self.scriptNode()
        if script is None:
            raise IECore.Exception("Reference::load called without ScriptNode")
        before = set(id(c) for c in self.children())
        script.executeFile(path, parent=self)
        for child in self.children(Plug):
            if id(child) in before:
                continue
            for p in [child] + Plug.RecursiveRange(child):
                p.setFlags(Plug.Flags.Dynamic, False)
                # Metadata comes from the file : it is not saved with the script.
                for key, value in Metadata._persistentInstanceValues(p):
                    Metadata.registerValue(p, key, value, persistent=False)
        for key, value in Metadata._persistentInstanceValues(self):
            Metadata.registerValue(self, key, value, persistent=False)
        self.__fileName = fileName
        self._signal("referenceLoaded")(self)

    def referenceLoadedSignal(self):
        return self._signal("referenceLoaded")


class ScriptNode(Node):

    def __init__(self, name="ScriptNode"):
        Node.__init__(self, name)
        self.addChild(_Core.StringPlug("fileName"))
        self.addChild(_Core.BoolPlug("unsavedChanges", flags=Plug.Flags.None_))
        frameRange = _Core.ValuePlug("frameRange")
        frameRange.addChild(_Core.IntPlug("start", defaultValue=1))
        frameRange.addChild(_Core.IntPlug("end", defaultValue=100))
        self.addChild(frameRange)
        self.addChild(_Core.FloatPlug("framesPerSecond", defaultValue=24.0, minValue=0.0))
        self.__context = Context()
        self.__context["script:name"] = ""
        # No `project:*` : a ScriptNode does not define them (src/Gaffer/
        # ScriptNode.cpp) ; only the gui and dispatch apps add them, in
        # `startup/gui/project.py` / `startup/dispatch/project.py`.
        # As ScriptNode.cpp : the frame range plugs drive these variables.
        self.__context["frameRange:start"] = 1
        self.__context["frameRange:end"] = 100
        self.plugSetSignal().connect(self.__plugSet)

    def __plugSet(self, plug):
        if plug.parent() is self["frameRange"]:
            self.__context["frameRange:start"] = self["frameRange"]["start"].getValue()
            self.__context["frameRange:end"] = self["frameRange"]["end"].getValue()
        elif plug is self["framesPerSecond"]:
            self.__context.setFramesPerSecond(plug.getValue())

    def context(self):
        return self.__context

    def scriptNode(self):
        return self

    def serialise(self, parent=None, filter=None):
        return Serialisation(parent if parent is not None else self, "parent", filter).result()

    def serialiseToFile(self, fileName, parent=None, filter=None):
        text = self.serialise(parent, filter)
        directory = os.path.dirname(str(fileName))
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(fileName, "w", encoding="utf-8") as f:
            f.write(text)

    def execute(self, serialisation, parent=None, continueOnError=False):
        namespace = {"parent": parent if parent is not None else self, "__name__": "__gafferScript__"}
        with self.__context:
            exec(compile(serialisation, "<serialisation>", "exec"), namespace, namespace)
        return False

    def executeFile(self, fileName, parent=None, continueOnError=False):
        with open(fileName, encoding="utf-8") as f:
            return self.execute(f.read(), parent, continueOnError)

    def save(self):
        fileName = self["fileName"].getValue()
        self.serialiseToFile(fileName)
        self.__context["script:name"] = os.path.splitext(os.path.basename(fileName))[0]

    def load(self, continueOnError=False):
        fileName = self["fileName"].getValue()
        for child in list(self.children(Node)):
            self.removeChild(child)
        self.executeFile(fileName, continueOnError=continueOnError)
        self.__context["script:name"] = os.path.splitext(os.path.basename(fileName))[0]


_Core.ScriptNode = ScriptNode

registerSerialiser(GraphComponent, GraphComponentSerialiser())
registerSerialiser(Node, NodeSerialiser())
registerSerialiser(Plug, PlugSerialiser())
registerSerialiser(ValuePlug, ValuePlugSerialiser())
registerSerialiser(Box, BoxSerialiser())
registerSerialiser(Reference, ReferenceSerialiser())

for _cls, _typeName in (
    (SubGraph, "Gaffer::SubGraph"),
    (Box, "Gaffer::Box"),
    (Reference, "Gaffer::Reference"),
    (ScriptNode, "Gaffer::ScriptNode"),
):
    IECore.registerRunTimeTyped(_cls, _typeName)

# ---------------------------------------------------------------------------
# PlugAlgo
# ---------------------------------------------------------------------------


class PlugAlgo:

    @staticmethod
    def _externalNode(plug):
        node = plug.node()
        return node.parent() if node is not None and isinstance(node.parent(), Node) else None

    @staticmethod
    def canPromote(plug, parent=None):
        try:
            PlugAlgo.__validate(plug, parent)
        except IECore.Exception:
            return False
        return True

    @staticmethod
    def __validate(plug, parent):
        if plug is None:
            raise IECore.Exception("Cannot promote null plug")
        if PlugAlgo.isPromoted(plug):
            raise IECore.Exception('Cannot promote plug "%s" as it is already promoted.' % plug.fullName())
        if plug.direction() == Plug.Direction.In:
            if not plug.getFlags(Plug.Flags.Serialisable):
                raise IECore.Exception('Cannot promote plug "%s" as it is not serialisable.' % plug.fullName())
            if not plug.getFlags(Plug.Flags.AcceptsInputs):
                raise IECore.Exception('Cannot promote plug "%s" as it does not accept inputs.' % plug.fullName())
            if plug.getInput() is not None:
                raise IECore.Exception('Cannot promote plug "%s" as it already has an input.' % plug.fullName())
        if PlugAlgo._externalNode(plug) is None:
            raise IECore.Exception('Cannot promote plug "%s" as there is no external node.' % plug.fullName())

    @staticmethod
    def promote(plug, parent=None, excludeMetadata="layout:*"):
        return PlugAlgo.promoteWithName(plug, plug.relativeName(plug.node()).replace(".", "_"), parent, excludeMetadata)

    @staticmethod
    def promoteWithName(plug, name, parent=None, excludeMetadata="layout:*"):
        PlugAlgo.__validate(plug, parent)
        externalPlug = plug.createCounterpart(name, plug.direction())
        if externalPlug.direction() == Plug.Direction.In and isinstance(plug, ValuePlug):
            externalPlug.setFrom(plug)
        externalNode = PlugAlgo._externalNode(plug)
        dynamic = isinstance(externalNode, Box) or (parent is not None and parent is externalNode["user"])
        Metadata._copyInstanceValues(plug, externalPlug, persistent=dynamic, exclude=excludeMetadata)
        if dynamic:
            for p in [externalPlug] + (
                Plug.RecursiveRange(externalPlug) if type(externalPlug) in (Plug, ValuePlug) else []
            ):
                p.setFlags(Plug.Flags.Dynamic, True)
            externalPlug.setFlags(Plug.Flags.Serialisable, True)
        (parent if parent is not None else externalNode).addChild(externalPlug)
        if externalPlug.direction() == Plug.Direction.In:
            plug.setInput(externalPlug)
        else:
            externalPlug.setInput(plug)
        return externalPlug

    @staticmethod
    def isPromoted(plug):
        if plug is None or plug.node() is None:
            return False
        enclosing = plug.node().parent()
        if not isinstance(enclosing, Node):
            return False
        if plug.direction() == Plug.Direction.In:
            input = plug.getInput()
            return input is not None and input.node() is enclosing
        return any(o.node() is enclosing for o in plug.outputs())

    @staticmethod
    def unpromote(plug):
        if not PlugAlgo.isPromoted(plug):
            raise IECore.Exception('Cannot unpromote plug "%s" as it has not been promoted.' % plug.fullName())
        if plug.direction() == Plug.Direction.In:
            external = plug.getInput()
            plug.setInput(None)
        else:
            external = [o for o in plug.outputs() if o.node() is plug.node().parent()][0]
        external.parent().removeChild(external)

    @staticmethod
    def getValueAsData(plug):
        value = plug.getValue()
        return value if isinstance(value, IECore.Data) else IECore._toData(value)
