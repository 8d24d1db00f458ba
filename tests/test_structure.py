"""The package's shape: every module imports on its own, imports form no cycle and point down, files stay short."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "hashlib_tutorial"
MAX_LINES = 350

# Who may import whom: a module imports only modules of its own rank or lower.
RANKS = {
    "data": 0, "model": 0, "retrieval": 0, "plotting": 0, "diagrams": 0, "exercises": 0,  # the parts: no import of the package above them
    "training": 1,                                          # configuration, methods, loop, evaluation, run folders
    "report": 2, "benchmark": 2, "cards": 2, "course": 2, "gradcam": 2, "search": 2, "widgets": 2,  # what uses trained runs
    "handout": 2,                                           # the student edition, autograding, the course site
    "__main__": 3,                                          # the command line
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its file (inside functions too)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: one level is the module's own package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]  # `from . import losses`
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name}
    return found


GRAPH = {name: imported_modules(name) for name in MODULES}


def rank(name: str) -> int:
    parts = name.split(".")
    return RANKS[parts[1]] if len(parts) > 1 else -1  # the package's own __init__ is below everything


def test_every_module_imports_on_its_own():
    # one fresh interpreter; before each import every module of the package is forgotten
    script = (f"import importlib, sys\nfor name in {sorted(MODULES)!r}:\n"
              "    for loaded in [m for m in sys.modules if m.split('.')[0] == 'hashlib_tutorial']:\n"
              "        del sys.modules[loaded]\n"
              "    importlib.import_module(name)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=PACKAGE.parent, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_import_graph_has_no_cycle():
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(GRAPH[name]):
            assert state.get(target) != "open", "import cycle: " + " -> ".join(path + [name, target])
            if target not in state:
                visit(target, path + [name])
        state[name] = "done"

    for name in MODULES:
        if name not in state:
            visit(name, [])


def test_imports_point_down():
    assert set(RANKS) == {name.split(".")[1] for name in MODULES if "." in name}, "give every new module a rank"
    upward = [f"{name} -> {target}" for name, targets in GRAPH.items() for target in targets if rank(target) > rank(name)]
    assert not upward, upward


def test_the_readme_table_names_every_module():
    readme = (PACKAGE.parent / "README.md").read_text()
    missing = [str(path.relative_to(PACKAGE)) for path in MODULES.values()
               if path.name != "__init__.py" and f"| `{path.relative_to(PACKAGE)}` |" not in readme]
    assert not missing, f"add these to the README's module table: {missing}"


def test_no_module_is_longer_than_one_sitting():
    lengths = {name: len(path.read_text().splitlines()) for name, path in MODULES.items()}
    offenders = {name: n for name, n in lengths.items() if n > MAX_LINES}
    print("longest modules:", sorted(lengths.items(), key=lambda item: -item[1])[:5])
    assert not offenders, f"modules over {MAX_LINES} lines: {offenders}"
