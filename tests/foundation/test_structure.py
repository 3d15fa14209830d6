"""The package's shape, read from the source with `ast` (nothing is imported):

- the product never imports the offline harness (`edtune.shapes`), except the CLI's one list of harness command
  groups, which names them as strings;
- the product reads top-down: each module imports only modules of its own layer or below (LAYERS), with no import
  cycle between modules or between packages;
- no module (src/ and benchmarks/) is longer than MAX_LINES unless EXEMPT names it with a reason.
A planted product -> harness import and a planted upward import in a temporary tree must fail the same checks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
MAX_LINES = 400
HARNESS = "edtune.shapes"

# product layers, lowest first: a module may import its own layer and those below, never above
LAYERS: list[tuple[str, ...]] = [
    # foundations: errors, data contracts, URIs and atomic writes, logging, output, run layout
    (
        "edtune",
        "edtune.errors",
        "edtune.schemas",
        "edtune.io",
        "edtune.log",
        "edtune.output",
        "edtune.layout",
        "edtune.tasklog",
    ),
    # one run's settings and the files a run reads and writes
    ("edtune.config", "edtune.datasets", "edtune.runfiles"),
    # the roles (student, teacher, skill index) and the adapter registry (the final stage publishes through it);
    # a split's card (chance, best constant: scored as the student is) and the importers of others' formats
    (
        "edtune.student",
        "edtune.teacher",
        "edtune.skills",
        "edtune.publish",
        "edtune.taskcard",
        "edtune.imports",
    ),
    # one plain function per stage; the report reads what the stages wrote
    ("edtune.stages", "edtune.report", "edtune.preflight"),
    # running the stages: in process, as a KFP pipeline; serving what was published
    ("edtune.loop", "edtune.pipeline", "edtune.serve"),
    # the command line
    ("edtune.cli", "edtune.run_cli", "edtune.data_cli", "edtune.__main__"),
]

# module -> why it may stay longer than MAX_LINES (shrink it, then remove the line)
EXEMPT: dict[str, str] = {
    "edtune.skills.index": "one Milvus collection's whole life (schema, ingest, three query modes, lock release);"
    " splitting the query modes from the schema would spread one contract over files",
    "edtune.teacher.diagnose": "the answer-switch algorithm and its async driver are one contract (paper §3.2)",
    "edtune.teacher.prompts": "every prompt the teacher sees, versioned together by PROMPT_VERSION",
    "edtune.shapes.world.reference_teacher": "the reference teacher server: scene recovery, step checking and the"
    " noise hooks are one reply contract",
    "edtune.shapes.world.families": "the table of question families of the shapes world: each family's maker,"
    " wordings, step templates and parse regexes side by side, so a family is changed in one place",
    "benchmarks.retrieval": "the retrieval benchmark's three measurements (recall, latency, scale) share one"
    " fixture pool and one results file",
    "benchmarks.study_report": "the study's Markdown tables and figures are rendered from one results schema",
    "benchmarks.tune_throughput": "one table of trainers (ours, HF Trainer, TRL) measured on the same batches",
}


def modules(src: Path, package: str = "edtune") -> dict[str, Path]:
    out = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of `known` that `name` imports anywhere in its body (lazy imports inside functions count too)."""
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_pkg else 0)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            for a in node.names:
                sub = f"{mod}.{a.name}"
                if sub in known:
                    out.add(sub)
                elif mod in known:
                    out.add(mod)
    out.discard(name)
    return out


def import_graph(src: Path) -> dict[str, set[str]]:
    mods = modules(src)
    graph = {name: imports_of(name, path, set(mods)) for name, path in mods.items()}
    # a package's __init__ re-exporting its own submodules is not a cycle: its submodules never import it back
    for name in graph:
        if mods[name].name == "__init__.py":
            graph[name] = {m for m in graph[name] if not m.startswith(name + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def unit_of(module: str) -> str:
    """The layer unit a module belongs to: its package under edtune (edtune.student.hf -> edtune.student)."""
    parts = module.split(".")
    return ".".join(parts[:2])


def layer_of(module: str) -> int | None:
    unit = unit_of(module)
    for i, units in enumerate(LAYERS):
        if unit in units:
            return i
    return None


def harness_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{m} -> {d}"
        for m, deps in graph.items()
        if not m.startswith(HARNESS)
        for d in deps
        if d == HARNESS or d.startswith(HARNESS + ".")
    )


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for m, deps in graph.items():
        if m.startswith(HARNESS):
            continue
        lm = layer_of(m)
        for d in deps:
            ld = layer_of(d)
            if lm is not None and ld is not None and ld > lm:
                bad.append(f"{m} (layer {lm}) -> {d} (layer {ld})")
    return sorted(bad)


def unlayered(graph: dict[str, set[str]]) -> list[str]:
    return sorted(m for m in graph if not m.startswith(HARNESS) and layer_of(m) is None)


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for m, deps in graph.items():
        out.setdefault(unit_of(m), set()).update(unit_of(d) for d in deps if unit_of(d) != unit_of(m))
    return out


def long_modules(files: dict[str, Path]) -> dict[str, int]:
    return {
        name: n
        for name, path in files.items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES and name not in EXEMPT
    }


# ---------------------------------------------------------------- the real tree


def test_no_product_module_imports_the_harness() -> None:
    assert harness_imports(import_graph(SRC)) == []


def test_the_cli_names_the_harness_only_in_its_list_of_harness_command_groups() -> None:
    tree = ast.parse((SRC / "edtune" / "cli.py").read_text())
    lists = {
        t.id: [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    harness_strings = [
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and str(n.value).startswith(HARNESS)
    ]
    assert lists["HARNESS_AREAS"] and all(a.startswith(HARNESS + ".") for a in lists["HARNESS_AREAS"])
    assert sorted(harness_strings) == sorted(lists["HARNESS_AREAS"])
    assert not any(a.startswith(HARNESS) for a in lists["AREAS"])


def test_every_product_module_is_in_a_layer_and_none_imports_upward() -> None:
    graph = import_graph(SRC)
    assert unlayered(graph) == [], "add new product packages to LAYERS"
    assert upward_imports(graph) == []


def test_no_import_cycle_between_modules_or_between_packages() -> None:
    graph = import_graph(SRC)
    assert cycles(graph) == []
    assert cycles(package_graph(graph)) == []


def test_report_reads_run_files_not_stages() -> None:
    graph = import_graph(SRC)
    assert not any(d.startswith("edtune.stages") for d in graph["edtune.report"])


def test_every_module_is_short_or_exempt_with_a_reason() -> None:
    files = {**modules(SRC), **modules(ROOT, "benchmarks")}
    assert long_modules(files) == {}, "split these modules or add them to EXEMPT with a reason"
    assert all(reason.strip() for reason in EXEMPT.values())
    assert set(EXEMPT) <= set(files), "drop exemptions of modules that no longer exist"


# ---------------------------------------------------------------- the checks can fail


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "src"
    for rel, text in files.items():
        f = src / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return src


PLANTED = [
    # (case, files, which checker must complain)
    (
        "product imports the harness",
        {
            "edtune/__init__.py": "",
            "edtune/student/__init__.py": "",
            "edtune/student/hf.py": "from edtune.shapes.world.scenes import Scene\n",
            "edtune/shapes/__init__.py": "",
            "edtune/shapes/world/__init__.py": "",
            "edtune/shapes/world/scenes.py": "Scene = 1\n",
        },
        "harness",
    ),
    (
        "a lazy upward import inside a function",
        {
            "edtune/__init__.py": "",
            "edtune/config.py": "def f():\n    from edtune.stages import x\n",
            "edtune/stages/__init__.py": "x = 1\n",
        },
        "upward",
    ),
    (
        "two packages import each other",
        {
            "edtune/__init__.py": "",
            "edtune/student/__init__.py": "",
            "edtune/student/a.py": "import edtune.teacher.b\n",
            "edtune/teacher/__init__.py": "",
            "edtune/teacher/b.py": "from edtune.student import c\n",
            "edtune/student/c.py": "",
        },
        "package-cycle",
    ),
]


@pytest.mark.parametrize(("case", "files", "rule"), PLANTED, ids=[c for c, _, _ in PLANTED])
def test_a_planted_violation_fails_the_checker(
    tmp_path: Path, case: str, files: dict[str, str], rule: str
) -> None:
    graph = import_graph(_tree(tmp_path, files))
    found = {
        "harness": harness_imports(graph),
        "upward": upward_imports(graph),
        "package-cycle": cycles(package_graph(graph)),
    }
    assert found[rule], f"{case}: the {rule} check did not fire"
    assert all(not v for k, v in found.items() if k != rule), f"{case}: only the {rule} check should fire"


def test_a_planted_long_module_fails_the_size_check(tmp_path: Path) -> None:
    src = _tree(tmp_path, {"edtune/__init__.py": "", "edtune/big.py": "x = 1\n" * (MAX_LINES + 1)})
    assert long_modules(modules(src)) == {"edtune.big": MAX_LINES + 1}
