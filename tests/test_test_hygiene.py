"""The test suite's own house rules, read from its source with ast: no test module imports
another (a helper two modules need goes to conftest.py, factories.py, pages.py, scenes.py or
servers.py, or tests/browser/'s own helpers), and no test skips itself because part of the
project failed to import (a rename must fail, not turn into a skip)."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from protection.i18n import local_today
from tests.pages import org_today

TESTS = Path(__file__).resolve().parent
SOURCES = sorted(TESTS.rglob("*.py"))


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)


def _imported_modules(tree: ast.Module, package: str) -> list[tuple[int, str]]:
    """(line, dotted name) of every module an import statement may load, `from x import y`
    counted as both x and x.y (y may be a module)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def _is_test_module(name: str) -> bool:
    return name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(TESTS)))
def test_no_test_module_imports_another(path):
    package = _module_name(path).rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    offending = [f"line {line}: {name}" for line, name in _imported_modules(tree, package)
                 if _is_test_module(name)]
    assert not offending, (f"{path.relative_to(TESTS)} imports a test module; move the helper to "
                           f"tests/factories.py or tests/pages.py: {offending}")


def _skips_on_import(node: ast.AST) -> bool:
    """pytest.importorskip(...) anywhere, or an `except ImportError`-like handler that skips."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "importorskip":
        return True
    if isinstance(node, ast.ExceptHandler) and node.type is not None:
        caught = {getattr(name, "id", getattr(name, "attr", "")) for name in ast.walk(node.type)}
        if caught & {"ImportError", "ModuleNotFoundError", "AttributeError", "Exception"}:
            return any(isinstance(inner, ast.Attribute) and inner.attr in {"skip", "xfail"}
                       for statement in node.body for inner in ast.walk(statement))
    return False


def _project_packages() -> set[str]:
    return {"app", *(path.parent.name for path in TESTS.parent.glob("*/__init__.py") if path.parent != TESTS)}


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(TESTS)))
def test_no_skip_guard_on_the_projects_own_code(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    project = _project_packages()
    guards = []
    for node in ast.walk(tree):
        if not _skips_on_import(node):
            continue
        if isinstance(node, ast.Call):
            target = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else ""
            if str(target).split(".")[0] in project:
                guards.append(f"line {node.lineno}: importorskip({target!r})")
        else:
            guards.append(f"line {node.lineno}: a failed import or attribute is turned into a skip")
    assert not guards, f"{path.relative_to(TESTS)} skips when the project's own code changes: {guards}"


def test_the_rules_see_what_they_look_for():
    """The scanners above find what they must (so an always-green rule cannot hide)."""
    importing = ast.parse("from tests import test_cases_views as pages\nimport tests.test_x\n"
                          "from tests.browser.test_journeys import nav\nfrom .test_y import z\n")
    names = [name for _line, name in _imported_modules(importing, "tests") if _is_test_module(name)]
    assert names == ["tests.test_cases_views", "tests.test_x", "tests.browser.test_journeys", "tests.test_y"]
    allowed = ast.parse("from tests import factories, pages\nfrom tests.conftest import post_form\n")
    assert not [name for _line, name in _imported_modules(allowed, "tests") if _is_test_module(name)]
    guard = ast.parse("try:\n    import cases.x\nexcept ImportError:\n    pytest.skip('no x')\n")
    assert any(_skips_on_import(node) for node in ast.walk(guard))
    assert any(_skips_on_import(node) for node in ast.walk(ast.parse("pytest.importorskip('cases.x')")))
    assert "cases" in _project_packages() and "protection" in _project_packages()


def test_the_pinned_clock_is_either_side_of_midnight_in_vietnam(around_vietnam_midnight, app):
    """The `around_vietnam_midnight` fixture: the same UTC day at both moments, a different
    day (and year) in Vietnam, where the app and tests/pages.py count."""
    with app.app_context():
        today = local_today()
    assert datetime.now(UTC).date() == date(2026, 12, 31)
    assert org_today() == today == (date(2026, 12, 31) if around_vietnam_midnight.hour == 16 else date(2027, 1, 1))
