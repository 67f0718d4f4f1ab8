"""The library's folders show its parts, and its imports respect them (docs/development.md, "Library layout").

Read from the source with ``ast`` (every import, including the ones inside functions): no import circle between
modules, no module importing a higher layer (core < models < stages < sampling, any_editor < params < pipeline < cli), and no
ComfyUI module anywhere in ``zone_ops``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "zone_ops"
LAYERS = {"core": 0, "models": 1, "stages": 2, "sampling": 3, "any_editor": 3, "params": 4, "pipeline": 5, "cli": 6}
COMFY_MODULES = ("comfy", "comfy_extras", "folder_paths", "nodes", "server", "execution", "comfy_api")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in LIB.rglob("*.py")}


def imports_of(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports (absolute names; ``from pkg import mod`` resolves to ``pkg.mod`` when that is a
    module of the library)."""
    known = modules()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known)
    return found


def internal_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {m for m in imports_of(name, path) if m in known and m != name} for name, path in known.items()}


def layer(name: str) -> int | None:
    parts = name.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def test_every_stage_is_a_module_named_like_its_node():
    stages = {p.stem for p in (LIB / "stages").glob("*.py")}
    assert {"action_classifier", "fused_sampler", "attention_to_mask", "sam_region_iou", "fft_edge_smoother",
            "layer_composite"} <= stages


def test_every_package_says_what_lives_there():
    for init in LIB.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 40, f"{init.relative_to(ROOT)} has no docstring saying what lives there"


def test_no_import_circle():
    graph = internal_graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start)


def test_no_upward_import():
    bad = []
    for name, targets in internal_graph().items():
        mine = layer(name)
        for target in targets:
            theirs = layer(target)
            if mine is None or theirs is None or target.split(".")[1] == name.split(".")[1]:
                continue
            if theirs >= mine:
                bad.append(f"{name} imports {target}")
    assert not bad, "imports against the layers (core < models < stages < sampling, any_editor < params < pipeline < cli): " + "; ".join(bad)


def test_library_imports_no_comfyui():
    bad = [f"{name} imports {m}" for name, path in modules().items() for m in imports_of(name, path)
           if m.split(".")[0] in COMFY_MODULES]
    assert not bad, bad


def test_cli_and_pipeline_import_paths_users_rely_on():
    import zone_ops.cli
    import zone_ops.pipeline

    assert callable(zone_ops.cli.main)
    assert callable(zone_ops.pipeline.run_zone) and callable(zone_ops.pipeline.run_localize)
