"""Test-only stand-in for GafferTest.TestCase and GafferTest.CapturingSlot,
behaving as python/GafferTest/TestCase.py does for everything the
GafferSegmentation tests call."""

import inspect
import pathlib
import shutil
import tempfile
import unittest

import IECore

import Gaffer


class CapturingSlot(list):

    def __init__(self, *signals):
        list.__init__(self)
        self.__connections = [s.connect(self.__slot, scoped=True) for s in signals]

    def __slot(self, *args):
        self.append(args)


class TestCase(unittest.TestCase):

    # Messages at this level or more severe fail the test, as in Gaffer.
    failureMessageLevel = IECore.MessageHandler.Level.Warning

    def setUp(self):
        self.__temporaryDirectory = None
        self.__ignored = set()
        self.__previousHandler = IECore.MessageHandler.getDefaultHandler()
        self.__captured = IECore.CapturingMessageHandler()
        handler = IECore.CompoundMessageHandler()
        handler.addHandler(self.__previousHandler)
        if self.failureMessageLevel is not None:
            handler.addHandler(IECore.LevelFilteredMessageHandler(self.__captured, self.failureMessageLevel))
        IECore.MessageHandler.setDefaultHandler(handler)
        Gaffer.ValuePlug.clearCache()
        Gaffer.ValuePlug.clearHashCache()

    def tearDown(self):
        IECore.MessageHandler.setDefaultHandler(self.__previousHandler)
        if self.__temporaryDirectory is not None:
            shutil.rmtree(self.__temporaryDirectory, ignore_errors=True)
        for message in self.__captured.messages:
            text = "%s : %s : %s" % (IECore.Msg.levelAsString(message.level), message.context, message.message)
            if text not in self.__ignored:
                self.fail("Unexpected message : %s" % text)

    def ignoreMessage(self, level, context, message):
        self.__ignored.add("%s : %s : %s" % (IECore.Msg.levelAsString(level), context, message))

    def assertModuleDoesNotImportUI(self, moduleName):
        # python/GafferTest/TestCase.py (Gaffer 1.5.16.5) runs the same script
        # with `gaffer python` ; the stand-in runs it with this Python and
        # this `sys.path`.
        import os
        import subprocess
        import sys
        script = self.temporaryDirectory() / "test.py"
        with open(script, "w", encoding="utf-8") as f:
            f.write("import {}\n".format(moduleName))
            f.write("import sys\n")
            f.write("assert( 'GafferUI' not in sys.modules )\n")
        subprocess.check_call(
            [sys.executable, str(script)],
            env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)),
        )

    def temporaryDirectory(self):
        if self.__temporaryDirectory is None:
            self.__temporaryDirectory = pathlib.Path(tempfile.mkdtemp(prefix="gafferTest"))
        return self.__temporaryDirectory

    def assertTypeNamesArePrefixed(self, module, namesToIgnore=()):
        wrong = []
        for name in dir(module):
            cls = getattr(module, name)
            if inspect.isclass(cls) and issubclass(cls, IECore.RunTimeTyped):
                if cls.staticTypeName() in namesToIgnore:
                    continue
                if cls.staticTypeName() != module.__name__.replace(".", "::") + "::" + cls.__name__:
                    wrong.append(cls.staticTypeName())
        self.assertEqual(wrong, [])

    def assertDefaultNamesAreCorrect(self, module, namesToIgnore=()):
        for name in dir(module):
            cls = getattr(module, name)
            if not inspect.isclass(cls) or not issubclass(cls, Gaffer.GraphComponent):
                continue
            try:
                instance = cls()
            except Exception:
                continue
            if instance.getName() in namesToIgnore:
                continue
            self.assertEqual(instance.getName(), cls.staticTypeName().rpartition(":")[2])

    def __nodeHasDescription(self, node):
        description = Gaffer.Metadata.value(node, "description")
        return bool(description) and not description.isspace()

    def __undocumentedPlugs(self, node, additionalTerminalPlugTypes=()):
        terminal = (
            Gaffer.ArrayPlug, Gaffer.V2fPlug, Gaffer.V3fPlug, Gaffer.V2iPlug, Gaffer.V3iPlug,
            Gaffer.Color3fPlug, Gaffer.Color4fPlug, Gaffer.RampffPlug, Gaffer.RampfColor3fPlug,
            Gaffer.RampfColor4fPlug, Gaffer.Box2iPlug, Gaffer.Box3iPlug, Gaffer.Box2fPlug, Gaffer.Box3fPlug,
            Gaffer.TransformPlug, Gaffer.Transform2DPlug, Gaffer.CompoundDataPlug.MemberPlug,
            Gaffer.OptionalValuePlug,
        ) + tuple(additionalTerminalPlugTypes)
        result = []

        def check(g):
            if isinstance(g, Gaffer.Plug) and not g.getName().startswith("__"):
                description = Gaffer.Metadata.value(g, "description")
                if not description or description.isspace():
                    result.append(g.fullName())
            if not isinstance(g, terminal):
                for plug in g.children(Gaffer.Plug):
                    check(plug)

        check(node)
        return result

    def assertNodeIsDocumented(self, node, additionalTerminalPlugTypes=()):
        self.assertTrue(self.__nodeHasDescription(node))
        self.assertEqual(self.__undocumentedPlugs(node, additionalTerminalPlugTypes), [])

    def assertNodesAreDocumented(self, module, additionalTerminalPlugTypes=(), nodesToIgnore=None):
        undocumentedNodes = []
        undocumentedPlugs = []
        for name in dir(module):
            cls = getattr(module, name)
            if not inspect.isclass(cls) or not issubclass(cls, Gaffer.Node):
                continue
            if nodesToIgnore is not None and cls in nodesToIgnore:
                continue
            if not cls.__module__.startswith(module.__name__ + "."):
                continue
            try:
                node = cls()
            except Exception:
                continue
            if not self.__nodeHasDescription(node):
                undocumentedNodes.append(node.getName())
            undocumentedPlugs.extend(self.__undocumentedPlugs(node, additionalTerminalPlugTypes))
        self.assertEqual(undocumentedPlugs, [])
        self.assertEqual(undocumentedNodes, [])

    def assertNodesConstructWithDefaultValues(self, module, nodesToIgnore=None, plugsToIgnore=None):
        nonDefault = []
        for name in dir(module):
            cls = getattr(module, name)
            if not inspect.isclass(cls) or not issubclass(cls, Gaffer.Node):
                continue
            if nodesToIgnore is not None and cls in nodesToIgnore:
                continue
            try:
                node = cls()
            except Exception:
                continue
            for plug in Gaffer.Plug.RecursiveRange(node):
                if plugsToIgnore and cls in plugsToIgnore and plug.relativeName(node) in plugsToIgnore[cls]:
                    continue
                if plug.source().direction() != Gaffer.Plug.Direction.In or not isinstance(plug, Gaffer.ValuePlug):
                    continue
                if not plug.getFlags(Gaffer.Plug.Flags.Serialisable):
                    continue
                if not plug.isSetToDefault():
                    nonDefault.append(plug.fullName() + " not at default value following construction")
        self.assertEqual(nonDefault, [])
