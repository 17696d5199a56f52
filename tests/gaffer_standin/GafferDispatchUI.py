"""Test-only stand-in for the TaskNode metadata of GafferDispatchUI.

Mirrors Gaffer 1.5.16.5 (GafferHQ/gaffer b933ecd1) `python/GafferDispatchUI/TaskNodeUI.py`
(per-plug metadata as flat key/value lists, as 1.5 requires)."""

import Gaffer
import GafferDispatch

Gaffer.Metadata.registerNode(
    GafferDispatch.TaskNode,
    "description",
    """
    Base class for nodes which have external side effects.
    """,
    plugs={
        "preTasks": ["description", "Input connections to upstream nodes which must be executed before this node."],
        "postTasks": ["description", "Input connections to nodes which must be executed after this node."],
        "task": ["description", "Output connections to downstream nodes."],
        "dispatcher": ["description", "Container for custom plugs which dispatchers use to control their behaviour."],
        "dispatcher.batchSize": ["description", "Maximum number of frames to batch together."],
        "dispatcher.immediate": ["description", "Causes this node to be executed immediately upon dispatch."],
    },
)
