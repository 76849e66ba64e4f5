"""Dependencies point one way: cases -> audit -> protection. The kernel announces (signals)
instead of importing the layers above it, and audit never imports the domain. And no
module takes part in an import cycle (grimp, the graph import-linter is built on; the
layers themselves are also checked by `lint-imports` in CI, see pyproject.toml). An import
inside a function hides a dependency from the reader, so each one says why it is there."""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"protection": {"audit", "cases"}, "audit": {"cases"}}
# Every package of the project (app.py is a single module: grimp takes packages only, and
# nothing may import it anyway, which import-linter checks).
PACKAGES = ("protection", "audit", "cases", "bench")


def upward_imports(package: str) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.split(".")[0] in FORBIDDEN[package]:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_runs_up_the_layers(package):
    assert upward_imports(package) == []


def test_the_check_sees_an_import_inside_a_function(tmp_path, monkeypatch):
    folder = tmp_path / "protection"
    folder.mkdir()
    (folder / "x.py").write_text("def f():\n    from audit import signing\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert upward_imports("protection") == ["protection/x.py:2: audit"]


# --- no import cycles ---------------------------------------------------------------------

def import_cycles(*packages: str) -> list[list[str]]:
    """The groups of modules that import each other, directly or through others (strongly
    connected components of the module graph, imports inside functions included)."""
    graph = grimp.build_graph(*packages, include_external_packages=False, cache_dir=None)
    imports = {module: sorted(graph.find_modules_directly_imported_by(module)) for module in graph.modules}
    # Tarjan's algorithm, iterative: a deep package must not hit the recursion limit.
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for start in sorted(imports):
        if start in order:
            continue
        work = [(start, iter(imports[start]))]
        order[start] = low[start] = len(order)
        stack.append(start)
        on_stack.add(start)
        while work:
            module, pending = work[-1]
            for target in pending:
                if target not in order:
                    order[target] = low[target] = len(order)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(imports[target])))
                    break
                if target in on_stack:
                    low[module] = min(low[module], order[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[module])
                if low[module] == order[module]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == module:
                            break
                    if len(group) > 1 or module in imports[module]:
                        cycles.append(sorted(group))
    return sorted(cycles)


def test_no_module_takes_part_in_an_import_cycle():
    assert import_cycles(*PACKAGES) == []


def test_the_cycle_check_finds_a_cycle_even_through_an_import_inside_a_function(tmp_path, monkeypatch):
    package = tmp_path / "hoso_cycle_probe"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "a.py").write_text("from hoso_cycle_probe import b\n", encoding="utf-8")
    (package / "b.py").write_text("def later():\n    from hoso_cycle_probe import c\n", encoding="utf-8")
    (package / "c.py").write_text("import hoso_cycle_probe.a\n", encoding="utf-8")
    (package / "d.py").write_text("from hoso_cycle_probe import a\n", encoding="utf-8")  # imports into it, not part of it
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("hoso_cycle_probe") == [["hoso_cycle_probe.a", "hoso_cycle_probe.b", "hoso_cycle_probe.c"]]


# --- no import inside a function without a reason -------------------------------------------

# Where the rule applies: the project's own code and its tests (migrations are Alembic's).
SCANNED = ("protection", "audit", "cases", "bench", "tests", "app.py")


def _comment_lines(source: str) -> tuple[set[int], set[int]]:
    """(lines that carry a comment, lines that are only a comment), read with tokenize so a
    `#` inside a string does not count."""
    carrying: set[int] = set()
    code_lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            carrying.add(token.start[0])
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                                tokenize.ENDMARKER):
            code_lines.update(range(token.start[0], token.end[0] + 1))
    return carrying, carrying - code_lines


def unexplained_function_imports(root: Path = ROOT, scanned: tuple[str, ...] = SCANNED) -> list[str]:
    """`path:line: statement` of each import inside a function (at any depth) with no comment
    on its first line or on a comment line just above it, saying why it is not at the top."""
    paths = []
    for name in scanned:
        target = root / name
        paths += [target] if target.is_file() else sorted(target.rglob("*.py"))
    found = []
    for path in paths:
        source = path.read_text(encoding="utf-8")
        carrying, alone = _comment_lines(source)
        tree = ast.parse(source, filename=str(path))
        inside = {node for function in ast.walk(tree)
                  if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
                  for node in ast.walk(function) if isinstance(node, ast.Import | ast.ImportFrom)}
        for node in sorted(inside, key=lambda node: node.lineno):
            if node.lineno in carrying or node.lineno - 1 in alone:
                continue
            found.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_every_import_inside_a_function_says_why():
    assert unexplained_function_imports() == [], (
        "move these imports to the top of their module, or say on the line (or the line above) "
        "why they must run late (a child process, an environment variable set first, an optional tool)")


def test_the_import_check_sees_what_it_looks_for(tmp_path):
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "x.py").write_text(
        "import os  # at the top: never counted\n"
        "def bare():\n"
        "    import json\n"
        "def explained_beside():\n"
        "    import csv  # only the export needs it\n"
        "def explained_above():\n"
        "    # set HOME first: the library reads it on import\n"
        "    import shutil\n"
        "def a_hash_in_a_string():\n"
        "    label = '#'; import zlib\n"
        "def after_a_trailing_comment():\n"
        "    label = 1  # about the label, not the import\n"
        "    from pathlib import Path\n"
        "class Holder:\n"
        "    async def method(self):\n"
        "        def inner():\n"
        "            import re\n",
        encoding="utf-8")
    (tmp_path / "single.py").write_text("def late():\n    from probe import x\n", encoding="utf-8")
    assert unexplained_function_imports(tmp_path, ("probe", "single.py")) == [
        "probe/x.py:3: import json",
        "probe/x.py:10: import zlib",
        "probe/x.py:13: from pathlib import Path",
        "probe/x.py:17: import re",
        "single.py:2: from probe import x",
    ]


# --- SQL lives in operations and queries, not in views ------------------------------------

# A view loads and authorises through an operation, runs one operation, renders: a query in
# a view is a rule (what may be listed, in what order) that nobody else can find or reuse.
VIEW_MODULES = ("cases/**/views.py", "audit/views.py", "protection/web.py", "protection/admin.py")
SQL_CALLS = {"select", "update", "delete", "insert", "text", "execute", "scalar", "scalars", "query"}


def sql_in_views(root: Path = ROOT, patterns: tuple[str, ...] = VIEW_MODULES) -> list[str]:
    found = []
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                if name in SQL_CALLS:
                    found.append(f"{path.relative_to(root)}:{node.lineno}: {name}()")
    return found


def test_views_hold_no_sql():
    assert sql_in_views() == []


def test_the_sql_check_sees_a_query_in_a_view(tmp_path):
    folder = tmp_path / "cases" / "feature"
    folder.mkdir(parents=True)
    (folder / "views.py").write_text(
        "def page():\n    return db.session.scalars(select(Case)).all()\n", encoding="utf-8")
    assert sql_in_views(tmp_path, ("cases/**/views.py",)) == [
        "cases/feature/views.py:2: scalars()", "cases/feature/views.py:2: select()"]
