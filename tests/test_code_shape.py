"""The package stays readable: no module over 300 lines, no function over 60, no class over 120 (one concept per
module; a function or class that outgrows these does more than one job)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bannet"
MODULES = sorted(PACKAGE.rglob("*.py"))
LIMITS = {"module": 300, "function": 60, "class": 120}


def _too_long(source: str) -> list[str]:
    """Each function or class of a module's source longer than its limit, as 'kind name: lines'."""
    found = []
    for node in ast.walk(ast.parse(source)):
        kind = ("function" if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                else "class" if isinstance(node, ast.ClassDef) else None)
        if kind and (length := node.end_lineno - node.lineno + 1) > LIMITS[kind]:
            found.append(f"{kind} {node.name}: {length} lines")
    return found


@pytest.mark.parametrize("module", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_modules_functions_and_classes_stay_within_their_limits(module):
    source = module.read_text()
    assert len(source.splitlines()) <= LIMITS["module"]
    assert _too_long(source) == []


def test_the_limits_catch_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMITS["function"]))
    assert _too_long(f"def f():\n{body}\n") == [f"function f: {LIMITS['function'] + 1} lines"]
