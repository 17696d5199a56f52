"""Test-only stand-in for GafferDispatch : TaskNode, TaskPlug, Dispatcher,
LocalDispatcher (foreground execution only) and TaskList.

Mirrors GafferHQ/gaffer 1.5.16.5 :

* src/GafferDispatch/TaskNode.cpp : hash / execute / executeSequence /
  requiresSequenceExecution / preTasks / postTasks called through the
  TaskPlug in a process (StringPlugs read there are substituted) ;
* src/GafferDispatch/Dispatcher.cpp : frames from `framesMode` (the current
  frame, `frameRange:start/end` of the current context, or `frameRange`) ;
  the `Batcher` builds the DAG of `_TaskBatch`es exactly as Gaffer does -
  per frame and per task plug of `tasks`, depth first through preTasks ;
  a task is identified by its hash (+ its context for no-ops, + its plug) ;
  tasks go into the current batch of their (plug, context without `frame`)
  until `dispatcher.batchSize` tasks are in it (no-ops count but add no
  frame) ; `requiresSequenceExecution()` tasks all go in one batch, frames
  sorted ; postTasks become batches the task is a preTask of ; cycles
  raise ; `immediate` batches execute during dispatch ; the script is
  saved to `jobsDirectory/jobName/NNNNNN/` ; the root batch goes to
  `_doDispatch()` (a Python dispatcher overrides it) ;
* python/GafferDispatch/LocalDispatcher.py : a Job walks the batches
  depth first, preTasks first, each batch once (`localDispatcher:executed`
  blind data), skipping batches without frames ; messages go to the job's
  own handler ("Executing frames 1-3", "Completed ...", "Execution failed
  for ...") ; failures are re-raised in the foreground ;
* src/GafferDispatch/TaskList.cpp : a no-op that gathers preTasks.

Stand-in limits : foreground execution only ; `PlugAlgo::contextSensitiveSource()`
follows plain connections only (no Switch / ContextProcessor) ; no
dispatch signals ; an empty `jobsDirectory` raises (Gaffer would use the
current directory).
"""

import bisect
import enum
import os
import struct

import IECore

import Gaffer
from Gaffer import _Core


class TaskNode(Gaffer.DependencyNode):

    class TaskPlug(Gaffer.Plug):

        def __init__(self, name="TaskPlug", direction=Gaffer.Plug.Direction.In, flags=Gaffer.Plug.Flags.Default):
            Gaffer.Plug.__init__(self, name, direction, flags)

        def acceptsInput(self, input):
            return Gaffer.Plug.acceptsInput(self, input) and (input is None or isinstance(input, TaskNode.TaskPlug))

        def createCounterpart(self, name, direction):
            return TaskNode.TaskPlug(name, direction, self.getFlags())

        def __node(self):
            node = self.source().node()
            if not isinstance(node, TaskNode):
                raise IECore.Exception('TaskPlug "%s" has no TaskNode' % self.fullName())
            return node

        def __process(self, kind, function, *args):
            # TaskNode.cpp runs each of these in a `TaskNodeProcess`, so
            # StringPlugs read there are substituted.
            stack = _Core._processStack()
            stack.append(_Core._Process(kind, self, Gaffer.Context.current()))
            try:
                return function(*args)
            finally:
                stack.pop()

        def hash(self):
            return self.__process("taskNode:hash", lambda: self.__node().hash(Gaffer.Context.current()))

        def execute(self):
            self.__process("taskNode:execute", lambda: self.__node().execute())

        def executeSequence(self, frames):
            self.__process("taskNode:executeSequence", lambda: self.__node().executeSequence([float(f) for f in frames]))

        def requiresSequenceExecution(self):
            return self.__process("taskNode:requiresSequenceExecution", lambda: self.__node().requiresSequenceExecution())

        def preTasks(self):
            return self.__process("taskNode:preTasks", lambda: self.__node().preTasks(Gaffer.Context.current()))

        def postTasks(self):
            return self.__node().postTasks(Gaffer.Context.current())

    class Task:

        def __init__(self, plug, context):
            self.__plug = plug
            self.__context = Gaffer.Context(context)

        def plug(self):
            return self.__plug

        def context(self, _copy=True):
            return Gaffer.Context(self.__context) if _copy else self.__context

    def __init__(self, name="TaskNode"):
        Gaffer.DependencyNode.__init__(self, name)
        self.addChild(Gaffer.ArrayPlug("preTasks", element=TaskNode.TaskPlug("preTask0")))
        self.addChild(Gaffer.ArrayPlug("postTasks", element=TaskNode.TaskPlug("postTask0")))
        self.addChild(TaskNode.TaskPlug("task", Gaffer.Plug.Direction.Out))
        dispatcher = Gaffer.Plug("dispatcher")
        dispatcher.addChild(Gaffer.IntPlug("batchSize", defaultValue=1, minValue=1))
        dispatcher.addChild(Gaffer.BoolPlug("immediate", defaultValue=False))
        self.addChild(dispatcher)

    def affects(self, input):
        outputs = Gaffer.DependencyNode.affects(self, input)
        if self.affectsTask(input):
            outputs.append(self["task"])
        return outputs

    def affectsTask(self, input):
        if input.direction() != Gaffer.Plug.Direction.In or input is self["task"]:
            return False
        for container in (self["user"], self["postTasks"]):
            if container.isAncestorOf(input):
                return False
        return True

    def preTasks(self, context):
        return [TaskNode.Task(p, context) for p in self["preTasks"].children() if p.getInput() is not None]

    def postTasks(self, context):
        return [TaskNode.Task(p, context) for p in self["postTasks"].children() if p.getInput() is not None]

    def hash(self, context):
        h = IECore.MurmurHash()
        h.append(self.typeName())
        return h

    def execute(self):
        pass

    def executeSequence(self, frames):
        context = Gaffer.Context(Gaffer.Context.current())
        with context:
            for frame in frames:
                context.setFrame(frame)
                self.execute()

    def requiresSequenceExecution(self):
        return False


class Dispatcher(TaskNode):
    """src/GafferDispatch/Dispatcher.cpp (1.5.16.5) : `execute()` builds the
    DAG of TaskBatches with the `Batcher` below, executes `immediate` batches,
    saves the script to the job directory and hands the root batch to
    `_doDispatch()`. `preTasks()`/`postTasks()`/`hash()` of a nested dispatcher
    are the per-frame ones of Dispatcher.cpp."""

    class FramesMode(enum.IntEnum):
        CurrentFrame = 0
        FullRange = 1
        CustomRange = 2

    class _Batch:
        """Dispatcher::TaskBatch's state (the C++ object)."""

        def __init__(self, plug=None, context=None):
            self._plug = plug
            self._context = context
            self._blindData = IECore.CompoundData()
            self._frames = []
            self._preTasks = []
            self._size = 0
            self._postTaskIndex = 0
            self._immediate = False
            self._visited = False
            self._executed = False

        def execute(self):
            if not self._frames:
                return
            with self._context:
                self._plug.executeSequence(self._frames)

    class _TaskBatch:
        """Dispatcher::TaskBatch as bound in DispatcherBinding.cpp (`_TaskBatch`).
        As with Boost.Python, every call handing a batch to Python makes a
        new wrapper object : identity is in `blindData()`, not `id()`."""

        def __init__(self, batch):
            self.__batch = batch

        def execute(self):
            self.__batch.execute()

        def node(self):
            return self.__batch._plug.node() if self.__batch._plug is not None else None

        def plug(self):
            return self.__batch._plug

        def context(self, _copy=True):
            context = self.__batch._context
            if context is None:
                return None
            return Gaffer.Context(context) if _copy else context

        def frames(self):
            return list(self.__batch._frames)

        def preTasks(self):
            return [Dispatcher._TaskBatch(b) for b in self.__batch._preTasks]

        def blindData(self):
            return self.__batch._blindData

    class _Batcher:
        """Dispatcher::Batcher : one batch per (node, context without `frame`),
        split when `dispatcher.batchSize` tasks are in it ; tasks are identified
        by their hash plus their plug ; no-op tasks (empty hash) are never
        coalesced and add no frame (but do count towards the batch size) ;
        sequence tasks collect every frame in one batch, sorted ; preTasks
        become batch preTasks, postTasks are emulated by making this batch a
        preTask of theirs."""

        def __init__(self):
            self.__rootBatch = Dispatcher._Batch()
            self.__currentBatches = {}
            self.__tasksToBatches = {}

        def addTask(self, task):
            batch = self.__batchTasksWalk(task)
            if batch is not None:
                self.__addPreTask(self.__rootBatch, batch)

        def rootBatch(self):
            return self.__rootBatch

        def hash(self):
            # The "sum of hashes" of Batcher::hash() : independent of order.
            h1 = sum(taskHash.h1() for taskHash, plugId in self.__tasksToBatches) % (1 << 64)
            h2 = sum(taskHash.h2() for taskHash, plugId in self.__tasksToBatches) % (1 << 64)
            return IECore.MurmurHash(struct.pack("<QQ", h1, h2).hex())

        def __batchTasksWalk(self, task, ancestors=frozenset()):
            # PlugAlgo::contextSensitiveSource() : plain connections here.
            source = task.plug().source()
            if not isinstance(source, TaskNode.TaskPlug):
                return None
            task = TaskNode.Task(source, task.context(_copy=False))
            if task.plug().direction() != Gaffer.Plug.Direction.Out:
                return None

            batch = self.__acquireBatch(task)
            if id(batch) in ancestors:
                raise IECore.Exception(
                    "Dispatched tasks cannot have cyclic dependencies but %s is involved in a cycle."
                    % batch._plug.relativeName(batch._plug.ancestor(Gaffer.ScriptNode))
                )

            with task.context(_copy=False):
                preTasks = task.plug().preTasks()
                postTasks = task.plug().postTasks()

            postBatches = [b for b in (self.__batchTasksWalk(t) for t in postTasks) if b is not None]

            preTaskAncestors = set(ancestors) | {id(batch)} | {id(b) for b in postBatches}
            for preTask in preTasks:
                preBatch = self.__batchTasksWalk(preTask, frozenset(preTaskAncestors))
                if preBatch is not None:
                    self.__addPreTask(batch, preBatch)

            for postBatch in postBatches:
                self.__addPreTask(postBatch, batch, forPostTask=True)
                self.__addPreTask(self.__rootBatch, postBatch)

            return batch

        def __acquireBatch(self, task):
            context = task.context(_copy=False)
            with context:
                taskHash = task.plug().hash()
                taskIsNoOp = taskHash == IECore.MurmurHash()
                if taskIsNoOp:
                    # Never coalesce no-ops (DispatcherTest.testNoOpDoesntBreakFrameParallelism).
                    taskHash = taskHash.copy().append(context.hash())
                # Identical tasks of different nodes stay apart.
                key = (taskHash, id(task.plug()))
                if key in self.__tasksToBatches:
                    return self.__tasksToBatches[key]

                requiresSequenceExecution = task.plug().requiresSequenceExecution()

                batchContext = Gaffer.Context(context)
                batchContext.remove("frame")
                batchMapKey = (batchContext.hash().toString(), id(task.plug()))

                batch = self.__currentBatches.get(batchMapKey)
                if batch is not None and not requiresSequenceExecution:
                    batchSizePlug = task.plug().node()["dispatcher"].getChild("batchSize")
                    limit = batchSizePlug.getValue() if batchSizePlug is not None else 1
                    if batch._size >= limit:
                        batch = None
                if batch is None:
                    batch = Dispatcher._Batch(task.plug(), batchContext)
                    self.__currentBatches[batchMapKey] = batch

                if not taskIsNoOp:
                    frame = context.getFrame()
                    if requiresSequenceExecution:
                        bisect.insort(batch._frames, frame)
                    else:
                        batch._frames.append(frame)
                batch._size += 1

                immediatePlug = task.plug().node()["dispatcher"].getChild("immediate")
                if immediatePlug is not None and immediatePlug.getValue():
                    batch._immediate = True

            self.__tasksToBatches[key] = batch
            return batch

        def __addPreTask(self, batch, preTask, forPostTask=False):
            if any(p is preTask for p in batch._preTasks):
                return
            if forPostTask:
                batch._preTasks.insert(batch._postTaskIndex, preTask)
                batch._postTaskIndex += 1
            else:
                batch._preTasks.append(preTask)

    __registered = {}

    def __init__(self, name="Dispatcher"):
        TaskNode.__init__(self, name)
        self.addChild(Gaffer.ArrayPlug("tasks", element=TaskNode.TaskPlug("task0")))
        self.addChild(Gaffer.IntPlug("framesMode", defaultValue=0, minValue=0))
        self.addChild(Gaffer.StringPlug("frameRange", defaultValue="1-100x10"))
        self.addChild(Gaffer.StringPlug("jobName"))
        self.addChild(Gaffer.StringPlug("jobsDirectory"))
        self.__jobDirectory = ""

    @staticmethod
    def registerDispatcher(name, creator, setupPlugsFn=None):
        Dispatcher._Dispatcher__registered[name] = creator

    @staticmethod
    def registeredDispatchers():
        return tuple(Dispatcher._Dispatcher__registered)

    @staticmethod
    def create(name):
        creator = Dispatcher._Dispatcher__registered.get(name)
        return creator() if creator is not None else None

    def jobDirectory(self):
        return self.__jobDirectory

    def frameRange(self):
        context = Gaffer.Context.current()
        mode = self["framesMode"].getValue()
        if mode == Dispatcher.FramesMode.CurrentFrame:
            return IECore.FrameList([int(context.getFrame())])
        if mode == Dispatcher.FramesMode.FullRange:
            return IECore.FrameList(range(int(context.get("frameRange:start", 1)), int(context.get("frameRange:end", 100)) + 1))
        try:
            return IECore.FrameList.parse(context.substitute(self["frameRange"].getValue()))
        except Exception:
            raise IECore.Exception("Dispatcher: Custom Frame Range is not a valid IECore::FrameList")

    def __frameTasks(self, context, array):
        tasks = []
        for frame in self.frameRange().asList():
            frameContext = Gaffer.Context(context)
            frameContext.setFrame(frame)
            tasks.extend(TaskNode.Task(p, frameContext) for p in array.children())
        return tasks

    def preTasks(self, context):
        return self.__frameTasks(context, self["preTasks"])

    def postTasks(self, context):
        return self.__frameTasks(context, self["postTasks"])

    def hash(self, context):
        h = TaskNode.hash(self, context)
        batcher = Dispatcher._Batcher()
        for frame in self.frameRange().asList():
            jobContext = Gaffer.Context(context)
            jobContext.setFrame(frame)
            for plug in self["tasks"].children():
                batcher.addTask(TaskNode.Task(plug, jobContext))
        h.append(batcher.hash())
        return h

    def __createJobDirectory(self, script, context):
        # Gaffer falls back to the current directory ; the stand-in asks for
        # an explicit folder (Gaffer's default, "${project:rootDirectory}/dispatcher/local",
        # is "/dispatcher/local" outside the gui and dispatch apps).
        jobsDirectory = self["jobsDirectory"].getValue()
        if not jobsDirectory:
            raise IECore.Exception("Dispatcher : set jobsDirectory (project:rootDirectory is not defined here)")
        jobDirectory = jobsDirectory
        jobName = self["jobName"].getValue()
        if jobName:
            jobDirectory = os.path.join(jobDirectory, jobName)
        outer = context.get("dispatcher:jobDirectory", "")
        if outer and (not jobDirectory or jobDirectory == os.path.dirname(outer)):
            self.__jobDirectory = outer
            return
        os.makedirs(jobDirectory, exist_ok=True)
        i = max((int(d) for d in os.listdir(jobDirectory) if d.isdigit()), default=-1)
        while True:
            i += 1
            numbered = os.path.join(jobDirectory, "%06d" % i)
            try:
                os.mkdir(numbered)
                break
            except FileExistsError:
                continue
        self.__jobDirectory = numbered
        context["dispatcher:jobDirectory"] = numbered
        fileName = script["fileName"].getValue()
        context["dispatcher:scriptFileName"] = os.path.join(numbered, os.path.basename(fileName) if fileName else "untitled.gfr")

    def execute(self):
        self.__jobDirectory = ""
        script = self.scriptNode()
        haveTasks = False
        for plug in self["tasks"].children():
            if plug.getInput() is None:
                continue
            s = plug.source().ancestor(Gaffer.ScriptNode)
            if s is None:
                raise IECore.Exception("%s does not belong to a ScriptNode." % plug.fullName())
            if script is not None and s is not script:
                raise IECore.Exception("%s does not belong to ScriptNode %s." % (plug.fullName(), script.fullName()))
            script = s
            haveTasks = True
        if not haveTasks:
            return

        jobContext = Gaffer.Context(Gaffer.Context.current())
        with jobContext:
            self.__createJobDirectory(script, jobContext)
            batcher = Dispatcher._Batcher()
            for frame in self.frameRange().asList():
                for plug in self["tasks"].children():
                    jobContext.setFrame(frame)
                    batcher.addTask(TaskNode.Task(plug, Gaffer.Context.current()))

            self.__executeAndPruneImmediateBatches(batcher.rootBatch())

            scriptFileName = jobContext["dispatcher:scriptFileName"]
            if not os.path.exists(scriptFileName):
                script.serialiseToFile(scriptFileName)

            if batcher.rootBatch()._preTasks:
                self._doDispatch(Dispatcher._TaskBatch(batcher.rootBatch()))

    def __executeAndPruneImmediateBatches(self, batch, immediate=False):
        if batch._visited:
            return
        immediate = immediate or batch._immediate
        kept = []
        for preTask in batch._preTasks:
            self.__executeAndPruneImmediateBatches(preTask, immediate)
            if not preTask._executed:
                kept.append(preTask)
        batch._preTasks = kept
        if immediate:
            batch.execute()
            batch._executed = True
        batch._visited = True

    def _doDispatch(self, batch):
        raise IECore.Exception("doDispatch() python method not defined")


class LocalDispatcher(Dispatcher):
    """python/GafferDispatch/LocalDispatcher.py (1.5.16.5), foreground only :
    `_doDispatch()` makes a Job that walks the batches depth first, preTasks
    first, each batch once, skipping batches without frames ; messages go
    to the job's own handler."""

    class Job:

        class Status(enum.IntEnum):
            Waiting = 1
            Running = 2
            Complete = 3
            Failed = 4
            Killed = 5

        def __init__(self, batch, dispatcher):
            self.__rootBatch = batch
            self.__name = dispatcher["jobName"].getValue()
            self.__directory = Gaffer.Context.current()["dispatcher:jobDirectory"]
            self.__scriptFile = Gaffer.Context.current()["dispatcher:scriptFileName"]
            self.__frameRange = dispatcher.frameRange()
            self.__id = os.path.basename(self.__directory)
            self.__messageHandler = IECore.CapturingMessageHandler()
            self.__status = self.Status.Waiting
            self.__initBatchWalk(batch)

        def name(self):
            return self.__name

        def id(self):
            return self.__id

        def directory(self):
            return self.__directory

        def frameRange(self):
            return self.__frameRange

        def status(self):
            return self.__status

        def messages(self):
            return list(self.__messageHandler.messages)

        def _execute(self):
            with self.__messageHandler:
                self.__status = self.Status.Running
                try:
                    self.__executeWalk(self.__rootBatch)
                except IECore.Cancelled:
                    self.__status = self.Status.Killed
                except BaseException:
                    self.__status = self.Status.Failed
                    raise
                else:
                    self.__status = self.Status.Complete

        def __executeWalk(self, batch):
            if "localDispatcher:executed" in batch.blindData():
                return
            for upstreamBatch in batch.preTasks():
                self.__executeWalk(upstreamBatch)
            if batch.plug() is None:
                return
            if len(batch.frames()) == 0:
                return
            nodeName = batch.blindData()["nodeName"].value
            frames = "frame%s %s" % ("s" if len(batch.frames()) > 1 else "", str(IECore.frameListFromList([int(x) for x in batch.frames()])))
            IECore.msg(IECore.Msg.Level.Info, nodeName, "Executing %s" % frames)
            try:
                batch.execute()
            except Exception:
                IECore.msg(IECore.Msg.Level.Error, nodeName, "Execution failed for %s" % frames)
                raise
            IECore.msg(IECore.Msg.Level.Info, nodeName, "Completed %s" % frames)
            batch.blindData()["localDispatcher:executed"] = IECore.BoolData(True)

        def __initBatchWalk(self, batch):
            if "nodeName" in batch.blindData():
                return
            nodeName = ""
            if batch.plug() is not None:
                nodeName = batch.plug().node().relativeName(batch.plug().node().scriptNode())
            batch.blindData()["nodeName"] = IECore.StringData(nodeName)
            for upstreamBatch in batch.preTasks():
                self.__initBatchWalk(upstreamBatch)

    class JobPool:

        def __init__(self):
            self.__jobs = []

        def jobs(self):
            return list(self.__jobs)

        def addJob(self, job):
            self.__jobs.append(job)

        def waitForAll(self):
            pass

    __defaultJobPool = None

    def __init__(self, name="LocalDispatcher", jobPool=None):
        Dispatcher.__init__(self, name)
        self.addChild(Gaffer.BoolPlug("executeInBackground", defaultValue=False))
        self.addChild(Gaffer.BoolPlug("ignoreScriptLoadErrors", defaultValue=False))
        self.addChild(Gaffer.StringPlug("environmentCommand"))
        self.__jobPool = jobPool if jobPool is not None else LocalDispatcher.defaultJobPool()

    @staticmethod
    def defaultJobPool():
        if LocalDispatcher._LocalDispatcher__defaultJobPool is None:
            LocalDispatcher._LocalDispatcher__defaultJobPool = LocalDispatcher.JobPool()
        return LocalDispatcher._LocalDispatcher__defaultJobPool

    def jobPool(self):
        return self.__jobPool

    def _doDispatch(self, batch):
        if self["executeInBackground"].getValue():
            raise IECore.Exception("The GafferDispatch stand-in executes in the foreground only")
        job = LocalDispatcher.Job(batch, self)
        self.__jobPool.addJob(job)
        job._execute()


class TaskList(TaskNode):
    """src/GafferDispatch/TaskList.cpp : a no-op (default hash is empty) that
    only gathers preTasks."""

    def hash(self, context):
        return IECore.MurmurHash()


for _cls, _typeName in (
    (TaskNode, "GafferDispatch::TaskNode"),
    (TaskNode.TaskPlug, "GafferDispatch::TaskNode::TaskPlug"),
    (Dispatcher, "GafferDispatch::Dispatcher"),
    (LocalDispatcher, "GafferDispatch::LocalDispatcher"),
    (TaskList, "GafferDispatch::TaskList"),
):
    IECore.registerRunTimeTyped(_cls, _typeName)

Dispatcher.registerDispatcher("Local", LocalDispatcher)
