"""Gaffer.Context : variables (frame, framesPerSecond, ...) scoped per thread."""

import threading

import IECore
import imath


class _Missing:
    pass


class Context:

    __local = threading.local()

    def __init__(self, other=None, canceller=None):
        if other is None:
            self.__variables = {"frame": 1.0, "framesPerSecond": 24.0}
            self.__canceller = None
        else:
            self.__variables = dict(other._Context__variables)
            self.__canceller = canceller if canceller is not None else other._Context__canceller
        self.__changedSignal = None

    # Frame and time

    def getFrame(self):
        return float(self.get("frame"))

    def setFrame(self, frame):
        self.set("frame", float(frame))

    def getFramesPerSecond(self):
        return float(self.get("framesPerSecond"))

    def setFramesPerSecond(self, fps):
        self.set("framesPerSecond", float(fps))

    def getTime(self):
        return self.getFrame() / self.getFramesPerSecond()

    def setTime(self, time):
        self.setFrame(time * self.getFramesPerSecond())

    # Variables

    def get(self, name, defaultValue=_Missing):
        if name in self.__variables:
            value = self.__variables[name]
            return value.copy() if isinstance(value, IECore.Object) else value
        if defaultValue is _Missing:
            raise IECore.Exception('Context has no variable named "%s"' % name)
        return defaultValue

    def set(self, name, value):
        if not isinstance(value, (bool, int, float, str, imath._Vec, imath._Box, IECore.Data)):
            raise TypeError("Context.set : unsupported type %s" % type(value).__name__)
        if isinstance(value, IECore.Object):
            value = value.copy()
        changed = name not in self.__variables or self.__variables[name] != value
        self.__variables[name] = value
        if changed and self.__changedSignal is not None:
            self.__changedSignal(self, name)

    __setitem__ = set

    def __getitem__(self, name):
        return self.get(name)

    def __contains__(self, name):
        return name in self.__variables

    def remove(self, name):
        if name in self.__variables:
            del self.__variables[name]

    __delitem__ = remove

    def removeMatching(self, pattern):
        import fnmatch
        for name in list(self.__variables):
            if any(fnmatch.fnmatchcase(name, p) for p in pattern.split()):
                del self.__variables[name]

    def names(self):
        return list(self.__variables.keys())

    keys = names

    def changedSignal(self):
        if self.__changedSignal is None:
            from ._Signals import Signal
            self.__changedSignal = Signal()
        return self.__changedSignal

    def hash(self):
        h = IECore.MurmurHash()
        for name in sorted(self.__variables):
            if name.startswith("ui:"):
                continue
            h.append(name)
            value = self.__variables[name]
            if isinstance(value, IECore.Object):
                value.hash(h)
            else:
                h.append(value)
        return h

    def variableHash(self, name):
        h = IECore.MurmurHash()
        value = self.__variables.get(name)
        if value is not None:
            h.append(name)
            value.hash(h) if isinstance(value, IECore.Object) else h.append(value)
        return h

    def substitute(self, input, substitutions=IECore.StringAlgo.Substitutions.AllSubstitutions):
        variables = {k: (v.value if isinstance(v, IECore._SimpleData) else v) for k, v in self.__variables.items()}
        return IECore.StringAlgo.substitute(input, variables, substitutions)

    def canceller(self):
        return self.__canceller

    def __eq__(self, other):
        return isinstance(other, Context) and self.__variables == other._Context__variables

    def __ne__(self, other):
        return not self == other

    __hash__ = None

    # Scoping

    @staticmethod
    def current():
        stack = getattr(Context.__local, "stack", None)
        if stack:
            return stack[-1]
        default = getattr(Context, "_defaultContext", None)
        if default is None:
            Context._defaultContext = default = Context()
        return default

    def __enter__(self):
        local = Context.__local
        if not hasattr(local, "stack"):
            local.stack = []
        local.stack.append(self)
        return self

    def __exit__(self, *args):
        Context.__local.stack.pop()


class EditableScope:
    """Python-side equivalent of Gaffer::Context::EditableScope."""

    def __init__(self, context):
        self.__context = Context(context)

    def __enter__(self):
        self.__context.__enter__()
        return self.__context

    def __exit__(self, *args):
        self.__context.__exit__(*args)
