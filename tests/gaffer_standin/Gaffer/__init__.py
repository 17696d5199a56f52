"""Test-only stand-in for the subset of Gaffer that GafferSegmentation uses.
See tests/gaffer_standin/README.md."""

from ._Signals import Signal, Connection
from ._Context import Context, EditableScope
from ._Core import (
    GraphComponent, Plug, ValuePlug, FloatPlug, IntPlug, BoolPlug, StringPlug, V2iPlug, V2fPlug, Color4fPlug,
    ObjectPlug, CompoundObjectPlug, AtomicCompoundDataPlug, StringVectorDataPlug, IntVectorDataPlug,
    FloatVectorDataPlug, BoolVectorDataPlug, V2fVectorDataPlug, ArrayPlug, CompoundDataPlug,
    V3fPlug, V3iPlug, Color3fPlug, RampffPlug, RampfColor3fPlug, RampfColor4fPlug, Box2iPlug, Box3iPlug,
    Box2fPlug, Box3fPlug, TransformPlug, Transform2DPlug, OptionalValuePlug,
    Node, DependencyNode, ComputeNode, ProcessException, PerformanceMonitor,
)
from ._Metadata import Metadata
from ._Serialisation import Serialisation, SubGraph, Box, Reference, ScriptNode, PlugAlgo

import IECore as _IECore


class ApplicationRoot(GraphComponent):
    """The root of an application's graph ; NodeMenu keeps its menu on it."""

    def __init__(self, name="ApplicationRoot"):
        GraphComponent.__init__(self, name)


_IECore.registerRunTimeTyped(ApplicationRoot, "Gaffer::ApplicationRoot")

# Mirrors `IECore.loadConfig( "GAFFER_STARTUP_PATHS", subdirectory = "Gaffer" )`
# at the end of Gaffer/__init__.py.
_IECore.loadConfig("GAFFER_STARTUP_PATHS", subdirectory="Gaffer")
