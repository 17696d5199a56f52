"""Test-only stand-in for GafferDispatch : TaskNode, TaskPlug, Dispatcher and
LocalDispatcher (foreground execution only).

As in src/GafferDispatch/{TaskNode,Dispatcher}.cpp and
python/GafferDispatch/LocalDispatcher.py :

* `dispatcher["tasks"][i]` take `node["task"]` inputs ; `dispatcher["task"].execute()` dispatches ;
* frames come from `framesMode` (current frame, the script's frame range, or `frameRange`) ;
* each task is hashed per frame in a context holding that frame ; tasks with an
  empty hash are not executed, identical hashes are executed once ;
* pre-tasks run first ; nodes whose `requiresSequenceExecution()` is true get
  one `executeSequence( allFrames )` call, others batches of `batchSize` frames ;
* the script is serialised to the job directory before execution ;
* execution messages go to the IECore message handler (Info), failures are
  reported at Error level and re-raised.
"""

import enum
import os

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

    class FramesMode(enum.IntEnum):
        CurrentFrame = 0
        FullRange = 1
        CustomRange = 2

    __registered = {}

    def __init__(self, name="Dispatcher"):
        TaskNode.__init__(self, name)
        self.addChild(Gaffer.ArrayPlug("tasks", element=TaskNode.TaskPlug("task0")))
        self.addChild(Gaffer.IntPlug("framesMode", defaultValue=0, minValue=0, maxValue=2))
        self.addChild(Gaffer.StringPlug("frameRange", defaultValue="1-10"))
        self.addChild(Gaffer.StringPlug("jobName"))
        self.addChild(Gaffer.StringPlug("jobsDirectory"))

    @staticmethod
    def registerDispatcher(name, creator, setupPlugsFn=None):
        Dispatcher._Dispatcher__registered[name] = creator

    @staticmethod
    def registeredDispatchers():
        return list(Dispatcher._Dispatcher__registered)

    @staticmethod
    def create(name):
        return Dispatcher._Dispatcher__registered[name]()

    def hash(self, context):
        return IECore.MurmurHash()

    def __frames(self, script):
        mode = self["framesMode"].getValue()
        if mode == Dispatcher.FramesMode.CurrentFrame:
            return [Gaffer.Context.current().getFrame()]
        if mode == Dispatcher.FramesMode.FullRange:
            return [float(f) for f in range(script["frameRange"]["start"].getValue(), script["frameRange"]["end"].getValue() + 1)]
        return [float(f) for f in IECore.FrameList.parse(self["frameRange"].getValue()).asList()]

    def execute(self):
        roots = [p for p in self["tasks"].children() if p.getInput() is not None]
        if not roots:
            return
        scripts = {id(p.source().node().scriptNode()): p.source().node().scriptNode() for p in roots}
        if len(scripts) != 1 or None in scripts.values():
            raise IECore.Exception("Dispatcher : all tasks must belong to the same ScriptNode")
        script = next(iter(scripts.values()))
        frames = self.__frames(script)

        # Gaffer's default is "${project:rootDirectory}/dispatcher/local",
        # which outside the gui and dispatch apps resolves to
        # "/dispatcher/local" : the stand-in asks for an explicit folder.
        jobsDirectory = self["jobsDirectory"].getValue()
        if not jobsDirectory:
            raise IECore.Exception("Dispatcher : set jobsDirectory (project:rootDirectory is not defined here)")
        jobName = self["jobName"].getValue() or "untitled"
        os.makedirs(jobsDirectory, exist_ok=True)
        existing = [int(d) for d in os.listdir(jobsDirectory) if d.isdigit()]
        jobDirectory = os.path.join(jobsDirectory, "%06d" % (max(existing, default=-1) + 1))
        os.makedirs(jobDirectory)
        scriptFileName = os.path.join(jobDirectory, jobName + ".gfr")
        script.serialiseToFile(scriptFileName)

        baseContext = Gaffer.Context(Gaffer.Context.current())
        baseContext["dispatcher:jobDirectory"] = jobDirectory
        baseContext["dispatcher:scriptFileName"] = scriptFileName

        order = []      # nodes, upstream first
        batches = {}    # id( node ) -> [ frames ]
        seen = set()

        def walk(plug, context):
            node = plug.source().node()
            with context:
                h = plug.hash()
                preTasks = plug.preTasks()
            for task in preTasks:
                walk(task.plug(), task.context())
            key = (id(node), h)
            if key in seen or h == IECore.MurmurHash():
                return
            seen.add(key)
            if id(node) not in batches:
                batches[id(node)] = []
                order.append(node)
            batches[id(node)].append(context.getFrame())

        for frame in frames:
            for plug in roots:
                context = Gaffer.Context(baseContext)
                context.setFrame(frame)
                walk(plug, context)

        with self._jobMessageHandler():
            self.__executeBatches(order, batches, baseContext, script)

    def _jobMessageHandler(self):
        """Where execution messages go ; LocalDispatcher gives each job its own."""
        return IECore.MessageHandler.currentHandler()

    def __executeBatches(self, order, batches, baseContext, script):
        for node in order:
            nodeFrames = batches[id(node)]
            with baseContext:
                sequence = node["task"].requiresSequenceExecution()
            size = len(nodeFrames) if sequence else node["dispatcher"]["batchSize"].getValue()
            for i in range(0, len(nodeFrames), size):
                batch = nodeFrames[i:i + size]
                name = "%s.%s" % (node.relativeName(script), ",".join("%d" % f for f in batch))
                IECore.msg(IECore.Msg.Level.Info, node.relativeName(script), "Executing %s" % name)
                context = Gaffer.Context(baseContext)
                context.setFrame(batch[0])
                try:
                    with context:
                        node["task"].executeSequence(batch)
                except Exception:
                    IECore.msg(IECore.Msg.Level.Error, node.relativeName(script), "Execution failed for %s" % name)
                    raise
                IECore.msg(IECore.Msg.Level.Info, node.relativeName(script), "Completed %s" % name)


class LocalDispatcher(Dispatcher):

    class JobPool:

        def __init__(self):
            self.__jobs = []

        def jobs(self):
            return list(self.__jobs)

        def _LocalDispatcher__addJob(self, job):
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

    class Job:
        """Holds a dispatch's messages, as LocalDispatcher.Job does (they do not
        reach the default message handler)."""

        def __init__(self):
            self.messageHandler = IECore.CapturingMessageHandler()
            self.status = "running"

        def messages(self):
            return list(self.messageHandler.messages)

    def _jobMessageHandler(self):
        job = LocalDispatcher.Job()
        self.__jobPool._LocalDispatcher__addJob(job)
        return job.messageHandler

    def execute(self):
        if self["executeInBackground"].getValue():
            raise IECore.Exception("The GafferDispatch stand-in executes in the foreground only")
        Dispatcher.execute(self)


for _cls, _typeName in (
    (TaskNode, "GafferDispatch::TaskNode"),
    (TaskNode.TaskPlug, "GafferDispatch::TaskNode::TaskPlug"),
    (Dispatcher, "GafferDispatch::Dispatcher"),
    (LocalDispatcher, "GafferDispatch::LocalDispatcher"),
):
    IECore.registerRunTimeTyped(_cls, _typeName)

Dispatcher.registerDispatcher("Local", LocalDispatcher)
