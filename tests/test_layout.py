"""The layers and the imports between them: every module of ``sw``, ``hw`` and ``sim`` sits
in one layer, imports point one way (the allowed edges below), and nothing imports in a
cycle. Imports inside functions count too."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sw", "hw", "sim")
#: The command-line layer: the modules behind ``python -m ...`` (and their shared
#: convention, ``sw.cli``) compose anything.
COMMAND_LINE = {"sw.cli", "sw.fetch", "sw.train", "sw.host", "sw.backtest", "hw.build",
                "hw.export", "hw.prove", "hw.seeds", "hw.equiv", "sim.run",
                "sim.software_bench"}
#: Layer -> the layers its modules may import (its own included).
ALLOWED = {
    "sw.spec": {"sw.spec"},
    "sw.data": {"sw.data", "sw.spec"},
    "sw.learn": {"sw.learn", "sw.spec"},
    "hw.gateware": {"hw.gateware", "sw.spec"},
    "hw.board": {"hw.board", "hw.gateware", "sw.spec"},
    "hw.flow": {"hw.flow", "hw.board", "hw.gateware", "sw.spec"},
    "sim": {"sim", "hw.gateware", "hw.board", "hw.flow", "sw.spec", "sw.data"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict:
    """``{module name: path}`` of every module in :data:`PACKAGES`."""
    return {module_name(path): path for package in PACKAGES
            for path in sorted((ROOT / package).rglob("*.py"))}


def imports(name: str, path: Path, modules) -> set:
    """The project modules ``name`` imports, anywhere in its file; ``from a import b`` is
    ``a.b`` when that is a module, else ``a``."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules
                         else base for alias in node.names)
    return {target for target in found if target in modules and target != name}


def import_graph() -> dict:
    """``{module: {modules it imports}}`` for the whole project."""
    modules = project_modules()
    return {name: imports(name, path, modules) for name, path in modules.items()}


def layer(module: str) -> str | None:
    """The layer of ``module``: a key of :data:`ALLOWED`, ``"command line"``, ``"package"``
    (the ``__init__`` of ``sw`` or ``hw``, which imports nothing), or ``None`` when it is
    placed nowhere."""
    if module in COMMAND_LINE:
        return "command line"
    for name in sorted(ALLOWED, key=len, reverse=True):
        if module == name or module.startswith(name + "."):
            return name
    return "package" if module in PACKAGES else None


def cycles(graph: dict) -> list:
    """Every import cycle, as a list of modules (one per strongly connected component)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def violations(graph: dict) -> list:
    """What breaks the rules in ``graph``: modules in no layer, imports a layer does not
    allow and import cycles, one line each."""
    found = []
    for module in sorted(graph):
        home = layer(module)
        if home is None:
            found.append(f"{module}: in no layer (add it to COMMAND_LINE or a layer of ALLOWED)")
            continue
        for target in sorted(graph[module]):
            if home == "command line":
                continue
            if home == "package":
                found.append(f"{module} imports {target}: a package's __init__ imports nothing")
            elif layer(target) not in ALLOWED[home]:
                found.append(f"{module} imports {target}: {home} may import only "
                             f"{', '.join(sorted(ALLOWED[home]))}")
    found += [f"import cycle: {' <-> '.join(cycle)}" for cycle in cycles(graph)]
    return found


def test_imports_follow_the_layers():
    found = violations(import_graph())
    assert not found, "\n".join(found)


def test_the_graph_sees_every_kind_of_import():
    graph = import_graph()
    assert "sw.spec.artifact" in graph["hw.gateware.core"]          # from a.b import c
    assert "sw.spec.artifact" in graph["sw.spec.frames"]            # inside a function
    assert {"sw.learn.train", "sw.data.load"} <= graph["sw.train"]  # the command line
    assert set(graph) >= {"sw", "hw.flow", "sim.report", "hw.build"}


@pytest.mark.parametrize("edge, message", [
    (("hw.gateware.dense", "sw.learn.quant"),
     "hw.gateware.dense imports sw.learn.quant: hw.gateware may import only hw.gateware, "
     "sw.spec"),
    (("hw.gateware.core", "hw.board.top"), "hw.gateware.core imports hw.board.top"),
    (("hw.flow.build", "sw.data.bybit"), "hw.flow.build imports sw.data.bybit"),
    (("sw.spec.golden", "sw.learn.model"), "sw.spec.golden imports sw.learn.model"),
    (("sw.learn.train", "sw.data.load"), "sw.learn.train imports sw.data.load"),
    (("sim.bench", "sw.learn.train"), "sim.bench imports sw.learn.train"),
    (("sw.data.bybit", "sw.fetch"), "sw.data.bybit imports sw.fetch"),
])
def test_a_forbidden_edge_fails(edge, message):
    graph = {"sw.spec.golden": set(), "sw.learn.model": set(), "sw.learn.train": set(),
             "sw.data.load": set(), "sw.data.bybit": set(), "sw.fetch": set(),
             "hw.gateware.dense": set(), "hw.gateware.core": set(), "hw.board.top": set(),
             "hw.flow.build": set(), "sim.bench": set(), "sw.learn.quant": set()}
    graph[edge[0]].add(edge[1])
    assert [line for line in violations(graph) if line.startswith(message)] and \
        len(violations(graph)) == 1


def test_a_cycle_fails():
    graph = {"sw.data.bybit": {"sw.data.load"}, "sw.data.load": {"sw.data.bybit"},
             "sw.spec.klines": set()}
    assert violations(graph) == ["import cycle: sw.data.bybit <-> sw.data.load"]
    graph = {"sw.learn.precision": {"sw.learn.train"}, "sw.learn.train": {"sw.learn.quant"},
             "sw.learn.quant": {"sw.learn.precision"}}
    assert violations(graph) == [
        "import cycle: sw.learn.precision <-> sw.learn.quant <-> sw.learn.train"]


def test_a_module_in_no_layer_fails():
    assert violations({"sw.helpers": set()}) == [
        "sw.helpers: in no layer (add it to COMMAND_LINE or a layer of ALLOWED)"]


def test_the_command_line_composes_anything():
    graph = {"hw.build": {"sw.learn.train", "sw.data.bybit", "hw.flow.build"},
             "sw.learn.train": set(), "sw.data.bybit": set(), "hw.flow.build": set()}
    assert violations(graph) == []
