"""Test-only stand-in for the parts of GafferUI that GafferSegmentation's
startup files and documentation tests touch : NodeMenu, and the metadata
that the real GafferUI registers for every Node (NodeUI.py)."""

import Gaffer


class NodeMenu:

    __menus = {}

    def __init__(self):
        self.__entries = {}

    @classmethod
    def acquire(cls, applicationOrApplicationRoot):
        key = id(applicationOrApplicationRoot)
        if key not in cls._NodeMenu__menus:
            cls._NodeMenu__menus[key] = NodeMenu()
        return cls._NodeMenu__menus[key]

    def append(self, path, nodeCreator, plugValues={}, postCreator=None, **kw):
        entry = dict(kw)
        entry["nodeCreator"] = nodeCreator
        entry["plugValues"] = plugValues
        entry["postCreator"] = postCreator
        self.__entries[path] = entry

    def entries(self):
        """Stand-in only : the registered entries, by menu path."""
        return dict(self.__entries)


Gaffer.Metadata.registerNode(
    Gaffer.Node,
    "description",
    """
    A container for plugs.
    """,
    plugs={
        "user": {
            "description": """
            Container for user-defined plugs. Nodes
            should never make their own plugs here,
            so users are free to do as they wish.
            """,
            "layout:section": "User",
        },
        "*": {"layout:section": "Settings"},
    },
)
