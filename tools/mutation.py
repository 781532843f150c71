"""A small mutation tester: does each module's own test file notice a one-token change?

    python tools/mutation.py                     # every module in MODULES
    python tools/mutation.py _retry _sansio      # some of them
    python tools/mutation.py --list _retry       # the mutants, without running them

For each mutant (one change at a time: a comparison flipped, ``and``/``or`` swapped, ``+``/``-``
swapped, a number moved by one, ``True``/``False`` swapped, a ``not`` dropped, a guard's
``return``/``raise``/``continue`` replaced by ``pass``), the module is rewritten in a scratch copy
of the project and the module's own test files run there (``pytest -x``). A mutant that no test
kills is a survivor: printed with its line, so the missing test is easy to write.

Slow by nature (a test run per mutant); run it by hand, not in CI.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: module -> its own test files
MODULES: dict[str, list[str]] = {
    "_errors": ["tests/test_errors.py", "tests/test_edges.py"],
    "_ratelimit": ["tests/test_ratelimit.py", "tests/test_lanes.py", "tests/test_edges.py"],
    "_sansio": ["tests/test_sansio.py", "tests/test_edges.py"],
    "_retry": ["tests/test_retry.py", "tests/test_edges.py"],
    "_hooks": ["tests/test_hooks.py", "tests/test_otel.py"],
    "_otel": ["tests/test_otel.py"],
    "sync": ["tests/test_sync.py"],
}

_CMP_SWAP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
_BIN_SWAP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult, ast.Pow: ast.Mult,
}


def _docstring_ids(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _equivalent_ids(tree: ast.AST) -> set[int]:
    """Nodes whose mutants cannot change behaviour: docstrings; ``return None`` (or a bare
    ``return``) closing a function, which ``pass`` equals; everything in a stub whose body is
    ``...`` (a Protocol's method: its defaults are documentation)."""
    ids = _docstring_ids(tree)
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        body = [b for b in node.body if id(getattr(b, "value", None)) not in ids]
        if body and isinstance(body[-1], ast.Return) and (
            body[-1].value is None
            or (isinstance(body[-1].value, ast.Constant) and body[-1].value.value is None)
        ):
            ids.add(id(body[-1]))
        if len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(
            body[0].value, ast.Constant
        ) and body[0].value.value is Ellipsis:
            ids.update(id(n) for n in ast.walk(node.args))
    return ids


def _sites(tree: ast.AST) -> Iterator[tuple[ast.AST, str, str]]:
    """(node, what, description) for every place one mutation applies."""
    skip = _equivalent_ids(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _CMP_SWAP:
                    yield node, f"cmp:{i}", f"{type(op).__name__} -> {_CMP_SWAP[type(op)].__name__}"
        elif isinstance(node, ast.BoolOp):
            yield node, "boolop", "and <-> or"
        elif isinstance(node, ast.BinOp) and type(node.op) in _BIN_SWAP:
            yield node, "binop", f"{type(node.op).__name__} -> {_BIN_SWAP[type(node.op)].__name__}"
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node, "not", "drop not"
        elif isinstance(node, ast.Constant) and id(node) not in skip:
            if isinstance(node.value, bool):
                yield node, "bool", f"{node.value} -> {not node.value}"
            elif isinstance(node.value, (int, float)):
                yield node, "num", f"{node.value!r} -> {node.value + 1!r}"
        elif isinstance(node, (ast.Return, ast.Raise, ast.Continue, ast.Break)):
            yield node, "stmt", f"{type(node).__name__.lower()} -> pass"


def _apply(tree: ast.Module, index: int) -> tuple[ast.Module, int, str]:
    tree = copy.deepcopy(tree)
    for i, (node, what, desc) in enumerate(_sites(tree)):
        if i != index:
            continue
        if what.startswith("cmp:"):
            assert isinstance(node, ast.Compare)
            j = int(what[4:])
            node.ops[j] = _CMP_SWAP[type(node.ops[j])]()
        elif what == "boolop":
            assert isinstance(node, ast.BoolOp)
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        elif what == "binop":
            assert isinstance(node, ast.BinOp)
            node.op = _BIN_SWAP[type(node.op)]()
        elif what == "not":
            assert isinstance(node, ast.UnaryOp)
            node.op = ast.UAdd()  # +x keeps the shape; with bools it is x
        elif what == "bool":
            assert isinstance(node, ast.Constant)
            node.value = not node.value
        elif what == "num":
            assert isinstance(node, ast.Constant)
            node.value = node.value + 1
        elif what == "stmt":
            _replace_with_pass(tree, node)
        return tree, getattr(node, "lineno", 0), desc
    raise IndexError(index)


def _replace_with_pass(tree: ast.AST, target: ast.AST) -> None:
    for parent in ast.walk(tree):
        for _field, value in ast.iter_fields(parent):
            if isinstance(value, list) and target in value:
                value[value.index(target)] = ast.copy_location(ast.Pass(), target)
                return


def _scratch() -> Path:
    work = Path(tempfile.mkdtemp(prefix="yativo-mutation-"))
    shutil.copytree(ROOT / "yativo_async", work / "yativo_async")
    shutil.copytree(ROOT / "tests", work / "tests")
    shutil.copy(ROOT / "pyproject.toml", work / "pyproject.toml")
    return work


def run_module(name: str, tests: list[str], *, timeout: float) -> dict[str, object]:
    source = (ROOT / "yativo_async" / f"{name}.py").read_text()
    tree = ast.parse(source)
    n = sum(1 for _ in _sites(tree))
    work = _scratch()
    target = work / "yativo_async" / f"{name}.py"
    tests = [t for t in tests if (ROOT / t).exists()]
    survivors = []
    killed = 0
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        for index in range(n):
            mutant, line, desc = _apply(tree, index)
            target.write_text(ast.unparse(mutant))
            try:
                proc = subprocess.run(
                    [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                     "-W", "ignore", *tests],
                    cwd=work, env=env, capture_output=True, timeout=timeout,
                )
                survived = proc.returncode == 0
            except subprocess.TimeoutExpired:
                survived = False  # a hang is noticed (by CI's timeout, at worst)
            if survived:
                text = source.splitlines()[line - 1].strip() if line else ""
                survivors.append({"line": line, "mutation": desc, "code": text})
                print(f"  SURVIVED {name}.py:{line}: {desc}: {text}", flush=True)
            else:
                killed += 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    score = 100.0 * killed / n if n else 100.0
    print(f"{name}.py: {killed}/{n} killed, score {score:.1f}%", flush=True)
    return {"module": name, "mutants": n, "killed": killed, "score": round(score, 1),
            "survivors": survivors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", default=list(MODULES))
    parser.add_argument("--list", action="store_true", help="list the mutants only")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per test run")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    results = []
    for name in args.modules:
        if args.list:
            tree = ast.parse((ROOT / "yativo_async" / f"{name}.py").read_text())
            for i, (node, _, desc) in enumerate(_sites(tree)):
                print(f"{name}.py:{getattr(node, 'lineno', 0)} #{i}: {desc}")
            continue
        results.append(run_module(name, MODULES[name], timeout=args.timeout))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
