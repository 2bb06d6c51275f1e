"""The zoo's import graph runs one way: families -> builder/weights/layers -> registry.

Every ``zoo/*.py`` is parsed, and every import counts: at module level, inside functions and under
``if TYPE_CHECKING:`` alike (an import hidden in a function is still a cycle, only a later one).
"""

import ast
from pathlib import Path

import pytest

import zoo

ZOO = Path(zoo.__file__).parent
MODULES = sorted(f"zoo.{path.stem}" for path in ZOO.glob("*.py") if path.stem != "__init__")
# Modules that sit below every family: a family may import them, they import no family.
BELOW_FAMILIES = {
    "zoo.builder",
    "zoo.convert",
    "zoo.download",
    "zoo.files",
    "zoo.heads",
    "zoo.imagenet",
    "zoo.layers",
    "zoo.preprocessing",
    "zoo.registry",
    "zoo.torch_checkpoint",
    "zoo.weights",
}


def _targets(node: ast.Import | ast.ImportFrom, modules: set[str]) -> list[str]:
    """What an import statement loads: zoo modules by name, "zoo" for the package itself."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative to the zoo package
        base = ".".join(filter(None, ["zoo", base]))
    if base != "zoo":
        return [base]
    # `from zoo import x` loads submodule zoo.x, or runs zoo/__init__.py for any other name.
    return [f"zoo.{a.name}" if f"zoo.{a.name}" in modules else "zoo" for a in node.names]


def _imported(module: str, tree: ast.AST, modules: set[str]) -> set[str]:
    """The zoo modules (and "zoo", "transfer") that `module` imports anywhere in its source."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name in _targets(node, modules):
                if name.split(".")[0] in ("zoo", "transfer"):
                    found.add(name if name in modules or name == "zoo" else name.split(".")[0])
    return found - {module}


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for module in MODULES:
        path = ZOO / f"{module.removeprefix('zoo.')}.py"
        tree = ast.parse(path.read_text(), filename=str(path))
        graph[module] = _imported(module, tree, set(MODULES))
    # zoo/__init__.py imports every module (pkgutil), so importing the package imports them all.
    graph["zoo"] = set(MODULES)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None (depth-first search, three colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_zoo_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_zoo_never_imports_transfer_or_its_package():
    graph = import_graph()
    for module in MODULES:
        assert not {name for name in graph[module] if name.startswith("transfer")}, module
        assert "zoo" not in graph[module], f"{module} imports the zoo package (all of it)"


@pytest.mark.parametrize("module", sorted(BELOW_FAMILIES))
def test_infrastructure_imports_no_family(module):
    families = set(MODULES) - BELOW_FAMILIES
    assert not import_graph()[module] & families


def test_the_detector_finds_cycles_hidden_in_functions():
    """The checker itself: a function-level import that closes a loop is reported."""
    modules = {"zoo.a_mod", "zoo.b_mod"}
    a = ast.parse("from zoo import b_mod\n")
    b = ast.parse("def f():\n    from zoo.a_mod import x\n")
    graph = {
        "zoo.a_mod": _imported("zoo.a_mod", a, modules),
        "zoo.b_mod": _imported("zoo.b_mod", b, modules),
    }
    assert find_cycle(graph) == ["zoo.a_mod", "zoo.b_mod", "zoo.a_mod"]
    assert _imported("zoo.c", ast.parse("from zoo import list_models\n"), modules) == {"zoo"}
    assert find_cycle({"x": {"y"}, "y": set()}) is None
