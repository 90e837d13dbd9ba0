"""No test module imports conftest (issue 16): conftest.py holds fixtures, which pytest hands out by
name; what tests import (settings, scratch databases, merchants) is tests/testbed.py.

`from conftest import` only worked because pytest happens to register the rootdir conftest under
that bare name; a second conftest.py, or another import mode, would make it import the wrong file.
Every .py file under tests/, plugins/*/tests/ and bench/ is parsed, imports inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _python_files() -> list[Path]:
    return sorted([*(REPO / "tests").rglob("*.py"), *REPO.glob("plugins/*/tests/**/*.py"),
                   *(REPO / "bench").rglob("*.py")])


def conftest_import_lines(source: str) -> list[int]:
    """The line of each import of a module named conftest (bare, a package's, or relative) in `source`."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module] if node.module else [alias.name for alias in node.names]
        else:
            continue
        if any(name.split(".")[-1] == "conftest" for name in names):
            lines.append(node.lineno)
    return lines


def test_no_test_module_imports_conftest():
    files = _python_files()
    assert len(files) > 100  # the tree was found
    assert [f"{path.relative_to(REPO)}:{line}" for path in files
            for line in conftest_import_lines(path.read_text())] == []


def test_the_check_sees_every_spelling():
    source = ("import conftest\nfrom conftest import x\ndef f():\n    from tests.conftest import y\n"
              "    from . import conftest\nimport testbed\nfrom testbed import conftest_like\n")
    assert conftest_import_lines(source) == [1, 2, 4, 5]
