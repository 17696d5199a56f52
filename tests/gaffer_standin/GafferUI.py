"""Test-only stand-in for the parts of GafferUI that GafferSegmentation's
startup files and documentation tests touch : NodeMenu, and the metadata
that the real GafferUI registers for every Node (NodeUI.py).

Mirrors Gaffer 1.5.16.5 (GafferHQ/gaffer b933ecd1) : `python/GafferUI/NodeMenu.py`
(`acquire()`, `append()`, `definition()`) and `python/GafferUI/NodeUI.py`
(the Node metadata, as flat key/value lists as 1.5 requires).
"""

import IECore

import Gaffer


class NodeMenu:

    def __init__(self):
        self.__definition = IECore.MenuDefinition()

    @staticmethod
    def acquire(applicationOrApplicationRoot):
        root = applicationOrApplicationRoot
        if not isinstance(root, Gaffer.ApplicationRoot):
            root = root.root()
        menu = getattr(root, "_nodeMenu", None)
        if menu is None:
            menu = NodeMenu()
            root._nodeMenu = menu
        return menu

    def definition(self):
        return self.__definition

    def append(self, path, nodeCreator, plugValues={}, postCreator=None, **kw):
        def command(menu=None):
            # The real command needs a GraphEditor to add the node to ; the
            # stand-in adds it to the `script` given by the caller.
            node = nodeCreator()
            for name, value in plugValues.items():
                node.descendant(name).setValue(value)
            if menu is not None:
                menu.addChild(node)
                if postCreator is not None:
                    postCreator(node, menu)
            return node
        self.__definition.append(path, IECore.MenuItemDefinition(command=command, **kw))


Gaffer.Metadata.registerNode(
    Gaffer.Node,
    "description",
    """
    A container for plugs.
    """,
    plugs={
        "user": [
            "description", """
            Container for user-defined plugs. Nodes
            should never make their own plugs here,
            so users are free to do as they wish.
            """,
            "layout:section", "User",
        ],
        "*": ["layout:section", "Settings"],
    },
)
