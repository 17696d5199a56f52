"""Gaffer.Metadata : node-type, plug-path, plug-type, instance and string
target registrations, with the lookup order of src/Gaffer/Metadata.cpp."""

import fnmatch
import inspect
import weakref

import IECore

from ._Core import GraphComponent, Node, Plug


def match(path, pattern):
    """Gaffer's StringAlgo::match for "." separated paths : `*` within a
    name, `...` for any number of names, space separated alternatives."""
    for alternative in pattern.split():
        if _matchComponents(path.split("."), alternative.split(".")):
            return True
    return False


def _matchComponents(names, patterns):
    if not patterns:
        return not names
    if patterns[0] == "...":
        return any(_matchComponents(names[i:], patterns[1:]) for i in range(len(names) + 1))
    if not names:
        return False
    return fnmatch.fnmatchcase(names[0], patterns[0]) and _matchComponents(names[1:], patterns[1:])


def _prepare(key, value):
    if key == "description" and isinstance(value, str):
        return inspect.cleandoc(value)
    return value


class Metadata:

    _stringValues = {}       # target -> {key : value}
    _typeValues = {}         # class -> {key : value}
    _plugPathValues = {}     # nodeClass -> [ (pattern, key, value) ]
    _instanceValues = weakref.WeakKeyDictionary()  # graphComponent -> {key : ( value, persistent )}

    @staticmethod
    def registerNode(nodeType, *args, **kw):
        if len(args) % 2:
            raise ValueError("registerNode : expected key/value pairs")
        for i in range(0, len(args), 2):
            Metadata._typeValues.setdefault(nodeType, {})[args[i]] = _prepare(args[i], args[i + 1])
        for plugPath, values in kw.get("plugs", {}).items():
            # Gaffer 1.5's `registerNode()` (src/GafferModule/MetadataBinding.cpp)
            # indexes each plug's values as a flat [ key, value, ... ] list :
            # a dict raises KeyError( 0 ). Dicts are accepted from 1.6.3 on.
            if isinstance(values, dict):
                raise KeyError(0)
            items = [(values[i], values[i + 1]) for i in range(0, len(values), 2)]
            for key, value in items:
                Metadata._plugPathValues.setdefault(nodeType, []).append((plugPath, key, _prepare(key, value)))

    @staticmethod
    def registerValue(target, *args, persistent=True):
        if isinstance(target, GraphComponent):
            key, value = args
            Metadata._instanceValues.setdefault(target, {})[key] = (_prepare(key, value), persistent)
        elif isinstance(target, str):
            key, value = args
            Metadata._stringValues.setdefault(target, {})[key] = _prepare(key, value)
        elif isinstance(target, type) and len(args) == 3:
            plugPath, key, value = args
            Metadata._plugPathValues.setdefault(target, []).append((plugPath, key, _prepare(key, value)))
        elif isinstance(target, type):
            key, value = args
            Metadata._typeValues.setdefault(target, {})[key] = _prepare(key, value)
        else:
            raise TypeError("Metadata.registerValue : unsupported target %r" % (target,))

    @staticmethod
    def deregisterValue(target, *args):
        if isinstance(target, GraphComponent):
            Metadata._instanceValues.get(target, {}).pop(args[0], None)
        elif isinstance(target, str):
            Metadata._stringValues.get(target, {}).pop(args[0], None)
        elif len(args) == 2:
            plugPath, key = args
            values = Metadata._plugPathValues.get(target, [])
            values[:] = [v for v in values if not (v[0] == plugPath and v[1] == key)]
        else:
            Metadata._typeValues.get(target, {}).pop(args[0], None)

    @staticmethod
    def _instance(target):
        return Metadata._instanceValues.get(target, {})

    @staticmethod
    def value(target, key, instanceOnly=False, _copy=True):
        if isinstance(target, str):
            return Metadata._stringValues.get(target, {}).get(key)
        instance = Metadata._instance(target)
        if key in instance:
            return Metadata.__resolve(instance[key][0], target)
        if instanceOnly:
            return None
        if isinstance(target, Node):
            for cls in type(target).__mro__:
                values = Metadata._typeValues.get(cls)
                if values and key in values:
                    return Metadata.__resolve(values[key], target)
            return None
        if isinstance(target, Plug):
            node = target.node()
            if node is not None:
                path = target.relativeName(node)
                for cls in type(node).__mro__:
                    for pattern, k, value in reversed(Metadata._plugPathValues.get(cls, [])):
                        if k == key and match(path, pattern):
                            return Metadata.__resolve(value, target)
            for cls in type(target).__mro__:
                values = Metadata._typeValues.get(cls)
                if values and key in values:
                    return Metadata.__resolve(values[key], target)
        return None

    @staticmethod
    def __resolve(value, target):
        if callable(value) and not isinstance(value, (type, IECore.Object)):
            return _prepare("", value(target))
        return value

    @staticmethod
    def registeredValues(target, instanceOnly=False, persistentOnly=False):
        if isinstance(target, str):
            return list(Metadata._stringValues.get(target, {}).keys())
        keys = []
        if not instanceOnly:
            if isinstance(target, Node):
                for cls in reversed(type(target).__mro__):
                    keys.extend(Metadata._typeValues.get(cls, {}).keys())
            elif isinstance(target, Plug) and target.node() is not None:
                path = target.relativeName(target.node())
                for cls in reversed(type(target.node()).__mro__):
                    keys.extend(k for p, k, v in Metadata._plugPathValues.get(cls, []) if match(path, p))
        for key, (value, persistent) in Metadata._instance(target).items():
            if persistent or not persistentOnly:
                keys.append(key)
        result = []
        for k in keys:
            if k not in result:
                result.append(k)
        return result

    @staticmethod
    def _persistentInstanceValues(target):
        return [(k, v) for k, (v, persistent) in Metadata._instance(target).items() if persistent]

    @staticmethod
    def _copyInstanceValues(source, destination, persistent, exclude=""):
        """Used by PlugAlgo.promote."""
        for key in Metadata.registeredValues(source):
            if exclude and any(fnmatch.fnmatchcase(key, p) for p in exclude.split()):
                continue
            value = Metadata.value(source, key)
            if value is None:
                continue
            if Metadata.value(destination, key) == value:
                continue
            Metadata.registerValue(destination, key, value, persistent=persistent)
