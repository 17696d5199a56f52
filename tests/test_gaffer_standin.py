"""The Gaffer stand-in keeps the Gaffer behaviours the node tests rely on.

Each test states a behaviour of the real Gaffer (see GafferHQ/gaffer's own
tests: ComputeNodeTest, StringPlugTest, ArrayPlugTest, BoxTest,
ReferenceTest, LocalDispatcherTest, GafferTest.TestCase) and checks the
stand-in has it, so a stand-in bug cannot make the node tests pass for the
wrong reason."""

import pathlib
import sys
import unittest

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_STANDIN = str(ROOT / "tests" / "gaffer_standin")
if _STANDIN not in sys.path:
    sys.path.insert(0, _STANDIN)

import Gaffer  # noqa: E402
import GafferDispatch  # noqa: E402
import GafferTest  # noqa: E402
import IECore  # noqa: E402


class _Add(Gaffer.ComputeNode):

    computes = 0

    def __init__(self, name="Add"):
        Gaffer.ComputeNode.__init__(self, name)
        self["op1"] = Gaffer.IntPlug()
        self["op2"] = Gaffer.IntPlug()
        self["sum"] = Gaffer.IntPlug(direction=Gaffer.Plug.Direction.Out)

    def affects(self, input):
        outputs = Gaffer.ComputeNode.affects(self, input)
        if input.getName() in ("op1", "op2"):
            outputs.append(self["sum"])
        return outputs

    def hash(self, output, context, h):
        self["op1"].hash(h)
        self["op2"].hash(h)

    def compute(self, output, context):
        assert output.settable() and not self["op1"].settable()
        _Add.computes += 1
        output.setValue(self["op1"].getValue() + self["op2"].getValue())


IECore.registerRunTimeTyped(_Add, typeName="StandinTest::Add")


def setup_function():
    Gaffer.ValuePlug.clearCache()
    _Add.computes = 0


def test_compute_is_cached_by_hash_across_contexts():
    node = _Add()
    node["op1"].setValue(2)
    node["op2"].setValue(3)
    for frame in (1, 2, 3):
        context = Gaffer.Context()
        context.setFrame(frame)
        with context:
            assert node["sum"].getValue() == 5
    assert _Add.computes == 1
    node["op2"].setValue(4)
    assert node["sum"].getValue() == 6 and _Add.computes == 2


def test_dirty_propagation_follows_connections_and_affects():
    a, b = _Add("a"), _Add("b")
    b["op1"].setInput(a["sum"])
    dirtied = GafferTest.CapturingSlot(a.plugDirtiedSignal(), b.plugDirtiedSignal())
    a["op2"].setValue(1)
    assert {p.fullName() for (p,) in dirtied} == {"a.op2", "a.sum", "b.op1", "b.sum"}


def test_output_plugs_are_only_settable_while_computing():
    node = _Add()
    with pytest.raises(IECore.Exception):
        node["sum"].setValue(1)


def test_string_substitutions_in_values_and_hashes():
    plug = Gaffer.StringPlug(defaultValue="/plates/a.####.exr")
    hashes = set()
    for frame in (1, 12):
        context = Gaffer.Context()
        context.setFrame(frame)
        with context:
            # Outside a process `getValue()` does not substitute
            # (StringPlug.cpp) ; the hash always does.
            assert plug.getValue() == "/plates/a.####.exr"
            hashes.add(plug.hash())
    assert len(hashes) == 2


def test_array_plug_grows_and_serialises():
    script = Gaffer.ScriptNode()
    script["n"] = GafferDispatch.TaskNode()
    script["m"] = GafferDispatch.TaskNode()
    script["n"]["preTasks"][0].setInput(script["m"]["task"])
    assert len(script["n"]["preTasks"]) == 2
    script2 = Gaffer.ScriptNode()
    script2.execute(script.serialise())
    assert len(script2["n"]["preTasks"]) == 2
    assert script2["n"]["preTasks"][0].getInput().isSame(script2["m"]["task"])


def test_box_export_and_reference_load(tmp_path):
    script = Gaffer.ScriptNode()
    script["box"] = Gaffer.Box()
    script["box"]["add"] = _Add()
    plug = Gaffer.PlugAlgo.promote(script["box"]["add"]["op1"])
    plug.setValue(7)
    plug.resetDefault()
    Gaffer.PlugAlgo.promote(script["box"]["add"]["sum"])
    script["box"].exportForReference(tmp_path / "add.grf")

    script["reference"] = Gaffer.Reference()
    script["reference"].load(tmp_path / "add.grf")
    assert script["reference"]["op1"].getValue() == 7
    assert script["reference"]["sum"].getValue() == 7
    assert not script["reference"]["op1"].getFlags(Gaffer.Plug.Flags.Dynamic)
    serialised = script.serialise()
    assert ".load(" in serialised and "StandinTest" not in serialised.split("reference")[-1]


def test_test_case_fails_on_warnings():
    class T(GafferTest.TestCase):
        def test(self):
            IECore.msg(IECore.Msg.Level.Warning, "test", "something is wrong")

    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(T).run(result)
    assert len(result.failures) == 1 and "something is wrong" in result.failures[0][1]


class _Writer(GafferDispatch.TaskNode):

    def __init__(self, name="Writer", sequence=False):
        GafferDispatch.TaskNode.__init__(self, name)
        self.sequence = sequence
        self.calls = []

    def hash(self, context):
        h = GafferDispatch.TaskNode.hash(self, context)
        h.append(context.getFrame())
        return h

    def execute(self):
        self.calls.append([Gaffer.Context.current().getFrame()])

    def executeSequence(self, frames):
        if not self.sequence:
            GafferDispatch.TaskNode.executeSequence(self, frames)
        else:
            self.calls.append(list(frames))

    def requiresSequenceExecution(self):
        return self.sequence


IECore.registerRunTimeTyped(_Writer, typeName="StandinTest::Writer")


@pytest.mark.parametrize("sequence", [False, True])
def test_local_dispatcher_frame_ranges(tmp_path, sequence):
    script = Gaffer.ScriptNode()
    script["writer"] = _Writer(sequence=sequence)
    script["dispatcher"] = GafferDispatch.LocalDispatcher(jobPool=GafferDispatch.LocalDispatcher.JobPool())
    script["dispatcher"]["jobsDirectory"].setValue(str(tmp_path))
    script["dispatcher"]["framesMode"].setValue(GafferDispatch.Dispatcher.FramesMode.CustomRange)
    script["dispatcher"]["frameRange"].setValue("2-6x2")
    script["dispatcher"]["tasks"][0].setInput(script["writer"]["task"])
    script["dispatcher"]["task"].execute()
    expected = [[2.0, 4.0, 6.0]] if sequence else [[2.0], [4.0], [6.0]]
    assert script["writer"].calls == expected
    assert list(tmp_path.glob("*/*.gfr"))


# ---------------------------------------------------------------------------
# The stand-in rejects what Gaffer 1.5 / Cortex 10.5 reject (issue 18). Each
# test fails with a stand-in more permissive than Gaffer.
# ---------------------------------------------------------------------------

import os  # noqa: E402

import numpy  # noqa: E402

import GafferImage  # noqa: E402
import imath  # noqa: E402


def test_murmurhash_append_takes_only_what_cortex_binds():
    # Cortex src/IECorePython/MurmurHashBinding.cpp
    h = IECore.MurmurHash()
    for value in ([1001, 1002], (1, 2), numpy.arange(3), IECore.CompoundObject(), None, object()):
        with pytest.raises(TypeError, match="did not match C\\+\\+ signature"):
            h.append(value)
    before = h.copy()
    h.append(IECore.IntVectorData([1001, 1002]))
    h.append(1).append(0.5).append("a").append(imath.V2i(1, 2)).append(IECore.MurmurHash())
    assert h != before
    assert IECore.MurmurHash().copyFrom(h) == h


class _Leaf(Gaffer.ComputeNode):

    def __init__(self, name="Leaf", policy=None, imageHash=False):
        Gaffer.ComputeNode.__init__(self, name)
        self["in"] = GafferImage.ImagePlug()
        self["file"] = Gaffer.StringPlug()
        self["out"] = Gaffer.StringPlug(direction=Gaffer.Plug.Direction.Out)
        self.policy = policy
        self.imageHash = imageHash

    def affects(self, input):
        outputs = Gaffer.ComputeNode.affects(self, input)
        if input.isSame(self["file"]) or self["in"].isAncestorOf(input):
            outputs.append(self["out"])
        return outputs

    def hash(self, output, context, h):
        fileName = self["file"].getValue()
        h.append(open(fileName).read() if os.path.isfile(fileName) else "")
        if self.imageHash:
            h.append(GafferImage.ImageAlgo.imageHash(self["in"]))

    def compute(self, output, context):
        output.setValue("x")

    def hashCachePolicy(self, output):
        return self.policy if self.policy is not None else Gaffer.ValuePlug.CachePolicy.Default


def test_computenode_has_no_python_base_methods_but_affects():
    # src/GafferModule/NodeBinding.cpp, include/GafferBindings/ComputeNodeBinding.h
    for name in ("hash", "compute", "computeCachePolicy", "hashCachePolicy"):
        assert not hasattr(Gaffer.ComputeNode, name), name
    for name in ("affects", "enabledPlug", "correspondingInput"):
        assert hasattr(Gaffer.ComputeNode, name), name

    class CallsBase(_Leaf):
        def computeCachePolicy(self, output):
            return Gaffer.ComputeNode.computeCachePolicy(self, output)

    with pytest.raises(Exception, match="computeCachePolicy"):
        CallsBase()["out"].getValue()


def test_imageplug_is_compound():
    # include/GafferImage/ImagePlug.h : eight children.
    plug = GafferImage.ImagePlug()
    assert plug.keys() == [
        "viewNames", "format", "dataWindow", "metadata", "deep", "sampleOffsets", "channelNames", "channelData",
    ]
    # Unconnected : the default format, no channels (not an empty image).
    image = GafferImage.ImageAlgo.image(plug)
    assert image.displayWindow.size() == imath.V2i(1919, 1079)
    assert image.keys() == []


def test_affects_throws_for_non_leaf_plugs_and_propagation_asks_leaves():
    # src/Gaffer/DependencyNode.cpp, src/Gaffer/Plug.cpp
    node = _Leaf()
    with pytest.raises(IECore.Exception, match="non-leaf plug"):
        node.affects(node["in"])
    assert node["out"] in node.affects(node["in"]["channelData"])
    reader = GafferImage.ImageReader()
    node["in"].setInput(reader["out"])
    dirtied = GafferTest.CapturingSlot(node.plugDirtiedSignal())
    reader["refreshCount"].setValue(1)
    assert node["out"] in {x[0] for x in dirtied}


def test_hashes_are_cached_per_dirty_count(tmp_path):
    # src/Gaffer/ValuePlug.cpp : HashCacheKey( plug, context, dirtyCount )
    fileName = tmp_path / "prompt.txt"
    fileName.write_text("person")
    node = _Leaf()
    node["file"].setValue(str(fileName))
    h = node["out"].hash()
    fileName.write_text("car")
    assert node["out"].hash() == h  # not recomputed : the file is not a plug
    node["file"].setValue(str(fileName) + "")  # no change, no dirtiness
    assert node["out"].hash() == h
    Gaffer.ValuePlug.clearHashCache()
    assert node["out"].hash() != h
    h2 = node["out"].hash()
    fileName.write_text("bus")
    assert node["out"].hash() == h2
    node["file"].setValue("")
    node["file"].setValue(str(fileName))  # dirtied : recomputed
    assert node["out"].hash() != h2


def test_task_spawning_hashes_need_task_collaboration():
    # include/Gaffer/ValuePlug.h : processes spawning TBB tasks need
    # TaskCollaboration ; ImageAlgo.imageHash() spawns them.
    with pytest.raises(Exception, match="TaskCollaboration"):
        _Leaf(policy=Gaffer.ValuePlug.CachePolicy.Default, imageHash=True)["out"].hash()
    _Leaf(policy=Gaffer.ValuePlug.CachePolicy.TaskCollaboration, imageHash=True)["out"].hash()


def test_scriptnode_defines_no_project_variables():
    # src/Gaffer/ScriptNode.cpp ; project:* come from startup/gui/project.py
    script = Gaffer.ScriptNode()
    assert "project:rootDirectory" not in script.context()
    assert "project:name" not in script.context()
    assert "script:name" in script.context()


def test_floatplug_holds_float32():
    # include/Gaffer/NumericPlug.h : a C++ float
    assert Gaffer.FloatPlug(defaultValue=0.35).getValue() == float(numpy.float32(0.35))
    assert Gaffer.FloatPlug(defaultValue=0.35).getValue() != 0.35


def test_registernode_takes_flat_lists_in_gaffer_1_5():
    # src/GafferModule/MetadataBinding.cpp at 1.5.16.5
    class _Meta(Gaffer.Node):
        pass
    IECore.registerRunTimeTyped(_Meta, typeName="GafferTest::StandinMetaNode")
    with pytest.raises(KeyError):
        Gaffer.Metadata.registerNode(_Meta, plugs={"user": {"description": "x"}})
    Gaffer.Metadata.registerNode(_Meta, plugs={"user": ["description", "x"]})
    assert Gaffer.Metadata.value(_Meta()["user"], "description") == "x"


def test_imagereader_hash_raises_for_a_missing_file(tmp_path):
    # src/GafferImage/OpenImageIOReader.cpp opens the file to hash it.
    reader = GafferImage.ImageReader()
    reader["fileName"].setValue(str(tmp_path / "missing.exr"))
    with pytest.raises(Exception, match="Could not open file"):
        reader["out"].hash()


# ---------------------------------------------------------------------------
# Dispatcher batching as src/GafferDispatch/Dispatcher.cpp's Batcher (issue 16)
# ---------------------------------------------------------------------------


class _Recorder(GafferDispatch.Dispatcher):
    """Records (node, frames, preTask indices) per batch, as a Python
    dispatcher's `_doDispatch()` sees them."""

    def __init__(self, name="Recorder"):
        GafferDispatch.Dispatcher.__init__(self, name)
        self.batches = []

    def _doDispatch(self, rootBatch):
        def visit(batch):
            if "index" in batch.blindData():
                return batch.blindData()["index"].value
            pre = [visit(b) for b in batch.preTasks()]
            if batch.plug() is None:
                return None
            batch.blindData()["index"] = IECore.IntData(len(self.batches))
            self.batches.append((batch.node().getName(), [int(f) for f in batch.frames()], pre))
            return len(self.batches) - 1

        for b in rootBatch.preTasks():
            visit(b)


class _NoOpOnEven(_Writer):

    def hash(self, context):
        if int(context.getFrame()) % 2 == 0:
            return IECore.MurmurHash()
        return _Writer.hash(self, context)


IECore.registerRunTimeTyped(_NoOpOnEven, typeName="StandinTest::NoOpOnEven")


def _record(tmp_path, script, node, frames):
    dispatcher = _Recorder()
    dispatcher["jobsDirectory"].setValue(str(tmp_path))
    dispatcher["framesMode"].setValue(GafferDispatch.Dispatcher.FramesMode.CustomRange)
    dispatcher["frameRange"].setValue(frames)
    dispatcher["tasks"][0].setInput(node["task"])
    dispatcher["task"].execute()
    return dispatcher.batches


def test_batch_size_splits_batches_in_dispatch_order(tmp_path):
    script = Gaffer.ScriptNode()
    script["w"] = _Writer()
    script["w"]["dispatcher"]["batchSize"].setValue(3)
    assert _record(tmp_path, script, script["w"], "1-7") == [("w", [1, 2, 3], []), ("w", [4, 5, 6], []), ("w", [7], [])]


def test_no_ops_count_towards_batch_size_but_add_no_frame(tmp_path):
    # Dispatcher.cpp : `batch->m_size++` for every task, frames only for
    # tasks whose hash is not empty.
    script = Gaffer.ScriptNode()
    script["w"] = _NoOpOnEven()
    script["w"]["dispatcher"]["batchSize"].setValue(2)
    assert [b[1] for b in _record(tmp_path, script, script["w"], "1-5")] == [[1], [3], [5]]


def test_sequence_execution_is_one_sorted_batch(tmp_path):
    script = Gaffer.ScriptNode()
    script["w"] = _Writer(sequence=True)
    script["w"]["dispatcher"]["batchSize"].setValue(1)
    assert _record(tmp_path, script, script["w"], "3,1,2") == [("w", [1, 2, 3], [])]


def test_per_frame_pre_tasks_link_matching_batches(tmp_path):
    script = Gaffer.ScriptNode()
    script["a"] = _Writer()
    script["b"] = _Writer()
    script["b"]["preTasks"][0].setInput(script["a"]["task"])
    for n in ("a", "b"):
        script[n]["dispatcher"]["batchSize"].setValue(2)
    batches = _record(tmp_path, script, script["b"], "1-4")
    assert batches == [("a", [1, 2], []), ("b", [1, 2], [0]), ("a", [3, 4], []), ("b", [3, 4], [2])]


def test_frame_independent_task_is_one_batch_depending_on_every_pre_task_batch(tmp_path):
    class Once(_Writer):
        def hash(self, context):
            return GafferDispatch.TaskNode.hash(self, context)

    script = Gaffer.ScriptNode()
    script["a"] = _Writer()
    script["a"]["dispatcher"]["batchSize"].setValue(2)
    script["once"] = Once()
    script["once"]["preTasks"][0].setInput(script["a"]["task"])
    batches = _record(tmp_path, script, script["once"], "1-5")
    assert batches[-1] == ("once", [1], [0, 1, 2])


def test_cycles_raise(tmp_path):
    script = Gaffer.ScriptNode()
    script["a"] = _Writer()
    script["b"] = _Writer()
    script["b"]["preTasks"][0].setInput(script["a"]["task"])
    script["a"]["preTasks"][0].setInput(script["b"]["task"])
    with pytest.raises(Exception, match="cyclic dependencies"):
        _record(tmp_path, script, script["b"], "1")


def test_task_batches_are_new_python_objects_each_time(tmp_path):
    # Boost.Python wraps the C++ batch anew on every call : a dispatcher
    # must not tell batches apart by id() (use blindData, as LocalDispatcher).
    script = Gaffer.ScriptNode()
    script["w"] = _Writer()
    seen = []

    class D(GafferDispatch.Dispatcher):
        def _doDispatch(self, root):
            seen.append(root.preTasks()[0] is root.preTasks()[0])
            seen.append(root.preTasks()[0].blindData() is root.preTasks()[0].blindData())

    d = D()
    d["jobsDirectory"].setValue(str(tmp_path))
    d["tasks"][0].setInput(script["w"]["task"])
    d["task"].execute()
    assert seen == [False, True]
