"""The layers, read from the source: imports point down only, the pure layers stay pure, and the
app has no import cycles (shared/ARCHITECTURE.md).

Every `import` counts, at module level and inside functions (a lazy import is still a
dependency); imports under `if TYPE_CHECKING:` do not (they never run).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ["core", "functions", "function_app.py", "jobs"]
TOOLS = ["devtools", "benchmarks"]

# Lower number = lower layer. A module may import its own layer and the layers below.
LAYERS: list[tuple[str, int]] = [
    ("core.domain", 0),
    ("core.drift", 0),
    ("core.training", 1),
    ("core.ports", 2),
    ("core.concurrency", 2),
    ("core.settings", 2),
    ("core.services", 3),
    ("core.adapters", 3),
    ("core.bootstrap", 4),
    ("functions", 5),
    ("function_app", 6),
    ("jobs", 6),
]
# Same-rank packages that must not see each other: use cases reach the outside only through
# ports, adapters never call use cases.
APART = [("core.services", "core.adapters")]

IO_MODULES = {"os", "pathlib", "shutil", "tempfile", "socket", "subprocess", "urllib",
              "http", "requests", "sqlite3", "glob"}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def python_files(roots: list[str]) -> list[Path]:
    out: list[Path] = []
    for root in roots:
        path = ROOT / root
        out += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skipped.update(id(n) for n in ast.walk(child))
    return skipped


def imports_of(path: Path) -> list[tuple[str, int]]:
    """(imported module, line) for every import that runs."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = _type_checking_nodes(tree)
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            out.append((target, node.lineno))
            # `from core.drift import metrics` imports the submodule core.drift.metrics.
            for alias in node.names:
                out.append((f"{target}.{alias.name}", node.lineno))
    return out


def layer_of(module: str) -> tuple[str, int] | None:
    if module == "core":  # the package itself: a docstring describing the layers
        return ("core", 0)
    best = None
    for prefix, rank in LAYERS:
        if (module == prefix or module.startswith(prefix + ".")) and (
            best is None or len(prefix) > len(best[0])
        ):
            best = (prefix, rank)
    return best


APP_MODULES = {module_name(p): p for p in python_files(APP)}


def app_imports() -> dict[str, list[tuple[str, int]]]:
    out = {}
    for name, path in APP_MODULES.items():
        out[name] = [(m, line) for m, line in imports_of(path) if m in APP_MODULES]
    return out


def test_the_app_has_modules_in_every_layer():
    for prefix, _ in LAYERS:
        assert any(m == prefix or m.startswith(prefix + ".") for m in APP_MODULES), prefix


def test_imports_point_down_only():
    wrong = []
    for module, targets in app_imports().items():
        mine = layer_of(module)
        assert mine is not None, f"{module} is in no layer"
        for target, line in targets:
            theirs = layer_of(target)
            assert theirs is not None, f"{target} is in no layer"
            if theirs[1] > mine[1]:
                wrong.append(f"{module}:{line} imports {target} (a higher layer)")
            for a, b in APART:
                if {mine[0], theirs[0]} == {a, b}:
                    wrong.append(f"{module}:{line} imports {target} ({a} and {b} stay apart)")
    assert wrong == []


def test_core_never_imports_the_entry_points_the_tools_or_azure_functions():
    wrong = []
    for path in python_files(["core"]):
        for target, line in imports_of(path):
            top = target.split(".")[0]
            if top in ("functions", "function_app", "devtools", "benchmarks", "tests") or \
                    target.startswith(("azure.functions", "azurefunctions")):
                wrong.append(f"{module_name(path)}:{line} imports {target}")
    assert wrong == []


@pytest.mark.parametrize("package", ["core/domain", "core/drift"])
def test_the_pure_layers_import_no_azure_sdk_and_do_no_io(package):
    wrong = []
    for path in python_files([package]):
        tree = ast.parse(path.read_text())
        for target, line in imports_of(path):
            if target.split(".")[0] in IO_MODULES or target.startswith("azure"):
                wrong.append(f"{module_name(path)}:{line} imports {target}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                    node.func.id == "open":
                wrong.append(f"{module_name(path)}:{node.lineno} calls open()")
    assert wrong == []


def test_scikit_learn_is_imported_only_where_models_are_trained_or_scored():
    users = {module_name(p) for p in python_files(APP)
             if any(t.split(".")[0] == "sklearn" for t, _ in imports_of(p))}
    assert users and all(u.startswith("core.training") for u in users), users


def test_mlflow_is_imported_only_in_training_and_the_job_and_only_lazily():
    """MLflow costs about 1.5 s to import: only where a model is read or a run's tags are, and
    inside the function that needs it, never at module level (no cold start pays it)."""
    users, eager = set(), []
    for path in python_files(APP):
        tree = ast.parse(path.read_text())
        top_level = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) \
                    else [node.module or ""]
                if any(n.split(".")[0] == "mlflow" for n in names):
                    users.add(module_name(path))
                    if id(node) in top_level:
                        eager.append(f"{module_name(path)}:{node.lineno}")
    assert users and all(u.startswith(("core.training", "jobs")) for u in users), users
    assert eager == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_in_the_app_and_its_tools():
    modules = {module_name(p): p for p in python_files(APP + TOOLS)}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for target, _ in imports_of(path):
            if target in modules and target != name:
                graph[name].add(target)
    assert _cycles(dict(graph)) == []


# Optional SDKs live behind one adapter each: imported nowhere else in the app, so a process
# without the setting never loads them (tests/functions/test_telemetry.py checks that too).
ONE_ADAPTER = {
    "opentelemetry": "core.adapters.telemetry",
    "azure.monitor": "core.adapters.telemetry",
    "azure.eventgrid": "core.adapters.eventgrid",
}


@pytest.mark.parametrize("sdk", sorted(ONE_ADAPTER))
def test_telemetry_and_event_grid_sdks_are_imported_by_their_adapter_only(sdk):
    users = {module_name(p) for p in python_files(APP)
             if any(t == sdk or t.startswith(sdk + ".") for t, _ in imports_of(p))}
    assert users == {ONE_ADAPTER[sdk]}
