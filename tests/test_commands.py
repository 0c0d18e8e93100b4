"""The `lit-vision` command tree: every command listed by `--help`, each with its own `--help`, and an import graph
without cycles (the entry module dispatches; no module imports its caller)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from lit_vision.commands import COMMANDS, help_text, main, resolve

TAKE_CONFIG = {"fit", "validate", "test", "predict", "sweep"}  # commands that run configs stack YAML files
PACKAGE = Path(__file__).resolve().parents[1] / "src" / "lit_vision"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str], module_level: bool) -> set[str]:
    """lit_vision modules that `path` imports (at module level only, or anywhere)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level else list(ast.walk(tree))
    if module_level:  # imports under `if`/`try` at module level run at import time too
        nodes = [n for top in tree.body if not isinstance(top, ast.FunctionDef | ast.ClassDef) for n in ast.walk(top)]
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name in modules}


def import_graph(module_level: bool = True) -> dict[str, set[str]]:
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: imported_modules(path, set(paths), module_level) - {name} for name, path in paths.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target, [*path, target])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert len(graph) > 50 and "lit_vision.sweep.runner" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_check_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_module_imports_its_caller():
    anywhere = import_graph(module_level=False)
    assert not any("lit_vision.sweep" in target for target in anywhere["lit_vision.cli"]), "cli must not import sweep"
    assert [name for name, targets in anywhere.items() if "lit_vision.commands" in targets] == []
    assert anywhere["lit_vision.commands"] <= {"lit_vision"}  # the entry module imports commands by name only


def test_lit_vision_help_lists_every_command():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lit-vision")), "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.split("commands:")[1].splitlines() if line.startswith("  ")]
    assert listed == list(COMMANDS)
    assert {"fit", "validate", "test", "predict", "sweep"} <= set(COMMANDS)
    assert result.stdout == help_text() + "\n"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_resolves_and_has_its_own_help(name, capsys):
    assert callable(resolve(name))
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "usage:" in out, out[:500]
    if name in TAKE_CONFIG:
        assert "--config" in out, out[:500]


def test_an_unknown_command_is_one_line(capsys):
    with pytest.raises(SystemExit) as done:
        main(["trian"])
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and len(err) == 1 and "unknown command 'trian'" in err[0]
