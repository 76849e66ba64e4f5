"""Dependencies point one way: cases -> audit -> protection. The kernel announces (signals)
instead of importing the layers above it, and audit never imports the domain."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"protection": {"audit", "cases"}, "audit": {"cases"}}


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
