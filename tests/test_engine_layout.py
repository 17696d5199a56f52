"""The engine's layout: few top-level entries, subpackages that import only
downwards (no cycles), explicit public surfaces, no torch or Gaffer."""

import ast
import importlib
import pathlib

import pytest

ENGINE = pathlib.Path(__file__).resolve().parents[1] / "python" / "SegmentationCore"

# Which subpackages each one may import (directly). Anything else is a layering
# violation; the order also rules out cycles between subpackages.
ALLOWED = {
    "core": set(),
    "models": {"core"},
    "plates": {"core"},
    "idmatte": {"core"},
    "synthetic": {"core"},
    "pipeline": {"core", "models", "plates", "idmatte", "synthetic"},
    "server": {"core", "models", "plates", "idmatte", "synthetic", "pipeline"},
    "cli": {"core", "models", "plates", "idmatte", "synthetic", "pipeline", "server"},
}
SUBPACKAGES = ("core", "models", "pipeline", "plates", "idmatte", "server", "synthetic")


def _imports(path: pathlib.Path):
    """(absolute dotted module, names) for every SegmentationCore import in a file."""
    package = list(path.relative_to(ENGINE.parent).with_suffix("").parts)
    package = package[:-1]
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] == "SegmentationCore":
                yield node.lineno, module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "SegmentationCore":
                    yield node.lineno, alias.name, []


def _owner(path: pathlib.Path) -> str:
    parts = path.relative_to(ENGINE).parts
    return parts[0] if len(parts) > 1 else pathlib.Path(parts[0]).stem


def test_top_level_has_few_entries():
    entries = sorted(p.name for p in ENGINE.iterdir() if p.name != "__pycache__")
    assert entries == sorted(["__init__.py", "cli.py", *SUBPACKAGES]), entries


def test_subpackages_import_only_downwards():
    bad = []
    for path in sorted(ENGINE.rglob("*.py")):
        owner = _owner(path)
        if owner == "__init__":
            continue
        for line, module, names in _imports(path):
            parts = module.split(".")
            targets = {parts[1]} if len(parts) > 1 else set(names)
            for target in targets:
                if target in ("__version__",) or target == owner:
                    continue
                if target not in ALLOWED.get(owner, set()):
                    bad.append(f"{path.relative_to(ENGINE)}:{line} ({owner}) imports {target}")
    assert not bad, "\n".join(bad)


def test_server_modules_have_no_cycle():
    server = ENGINE / "server"
    graph = {}
    for path in server.glob("*.py"):
        deps = set()
        for _, module, names in _imports(path):
            parts = module.split(".")
            if parts[:2] == ["SegmentationCore", "server"]:
                deps.update([parts[2]] if len(parts) > 2 else [n for n in names if (server / f"{n}.py").exists()])
        graph[path.stem] = deps - {path.stem}

    def visit(node, stack):
        if node in stack:
            raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(node):] + [node]))
        for dep in graph.get(node, ()):
            visit(dep, stack + [node])

    for node in graph:
        visit(node, [])


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_public_surface_is_explicit_and_importable(name):
    module = importlib.import_module(f"SegmentationCore.{name}")
    exported = getattr(module, "__all__", None)
    assert exported, f"SegmentationCore.{name} must list its public names in __all__"
    for item in exported:
        assert hasattr(module, item), f"SegmentationCore.{name}.__all__ names {item}, which it lacks"


def test_engine_never_imports_torch_or_gaffer():
    bad = []
    for path in ENGINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            for name in names:
                root = name.split(".")[0]
                if root == "torch" or root.startswith("Gaffer") or root.startswith("IECore"):
                    bad.append(f"{path.relative_to(ENGINE)} imports {name}")
    assert not bad, bad


def test_readme_import_of_extract_matte_works():
    from SegmentationCore.idmatte import extract_matte

    assert callable(extract_matte)
