"""Imports run one way (README, "Layout"): the time-limit core imports nothing of the
engine, the case machine only the core, and so on up to the interfaces; no module imports
another that imports it back, even lazily inside a function.

Read from the source with `ast`, every import counted (at the top of a module, inside a
function, or under TYPE_CHECKING)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# What each part may import besides itself, by module prefix. The order is the layering:
# a part may only import parts listed before it (and `enforcement`, the package root).
ALLOWED: dict[str, tuple[str, ...]] = {
    "enforcement.law": (),
    "enforcement.case": ("enforcement.law",),
    "enforcement.families": ("enforcement.law", "enforcement.case"),
    # settings, logs and the codec are read by every process; they know no case
    "enforcement.ops": (),  # the package itself: its modules are parts of their own
    "enforcement.ops.settings": (),
    "enforcement.ops.process": (),
    "enforcement.privacy": ("enforcement.ops.settings", "enforcement.ops.logs"),
    "enforcement.ops.logs": ("enforcement.privacy.redact",),
    "enforcement.ops.metrics": ("enforcement.ops.settings",),
    "workflows": ("enforcement.law", "enforcement.case", "enforcement.families",
                  "enforcement.ops.metrics"),
    "activities": ("enforcement.case", "enforcement.families", "enforcement.privacy",
                   "enforcement.ops.settings"),
    "enforcement.ops.temporal": ("enforcement.law", "enforcement.case", "enforcement.families",
                                 "enforcement.ops.settings", "enforcement.privacy.codec",
                                 "workflows"),
    "enforcement.simulation": ("enforcement.law", "enforcement.case", "enforcement.families",
                               "enforcement.privacy.codec", "enforcement.ops.temporal",
                               "workflows", "activities"),
    "enforcement.interfaces": ("enforcement.law", "enforcement.case", "enforcement.families",
                               "enforcement.ops", "enforcement.privacy",
                               "enforcement.simulation", "activities"),
    # the weekly digest's activity: it reads the cases, forecasts and mails, like a root
    "enforcement.ops.digest": ("enforcement.law", "enforcement.case", "enforcement.families",
                               "enforcement.ops.settings", "enforcement.ops.temporal",
                               "enforcement.simulation", "activities", "workflows"),
    # the composition roots: `make run` and `python worker.py` start everything
    "enforcement.ops.run": ("enforcement.ops", "enforcement.interfaces", "worker"),
    "worker": ("enforcement.ops", "workflows", "activities"),
}


def modules() -> dict[str, Path]:
    found = {}
    for path in [*ROOT.glob("enforcement/**/*.py"), *ROOT.glob("workflows/*.py"),
                 *ROOT.glob("activities/*.py"), ROOT / "worker.py"]:
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The project's modules `path` imports, anywhere in it."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in out if m in known}


def part(module: str) -> str:
    """The longest prefix of ALLOWED the module falls under."""
    matches = [p for p in ALLOWED if module == p or module.startswith(p + ".")]
    assert matches, f"{module} belongs to no part of the layout: add it to ALLOWED"
    return max(matches, key=len)


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_every_import_runs_down_the_layers() -> None:
    known = modules()
    wrong = []
    for name, path in sorted(known.items()):
        if name == "enforcement":
            continue  # the package root: a docstring
        mine = part(name)
        for target in sorted(imports(path, known)):
            if target == "enforcement" or part(target) == mine:
                continue
            if not within(target, ALLOWED[mine]):
                wrong.append(f"{name} imports {target} ({mine} may import only "
                             f"{', '.join(ALLOWED[mine]) or 'itself'})")
    assert wrong == []


def test_no_module_imports_one_that_imports_it_back() -> None:
    known = modules()
    graph = {name: imports(path, known) - {name} for name, path in known.items()}
    cycles = []
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue  # a package and its own modules
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []
