"""Packaging metadata: the license ships in the wheel and the project links resolve to files.

Building the wheel needs hatchling from the package index, so this checks the declaration;
`pip wheel --no-deps -w dist .` then shows ``dist-info/licenses/LICENSE`` in the wheel.
"""

from __future__ import annotations

from pathlib import Path

try:  # Python 3.11+
    import tomllib
except ImportError:  # Python 3.10: the same parser, from the dev extra
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent


def _project() -> dict[str, object]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project: dict[str, object] = data["project"]
    return project


def test_license_file_is_declared_and_is_mit() -> None:
    project = _project()
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 yativo_async developers" in text


def test_project_urls() -> None:
    urls = _project()["urls"]
    assert isinstance(urls, dict)
    assert set(urls) >= {"Homepage", "Repository", "Documentation", "Changelog"}
    assert all(u.startswith("https://github.com/yativo/yativo-async") for u in urls.values())


def test_gitignore_keeps_build_output_and_secrets_out() -> None:
    lines = set((ROOT / ".gitignore").read_text(encoding="utf-8").splitlines())
    assert {"__pycache__/", "dist/", "build/", "*.egg-info/", ".venv/", ".env"} <= lines


def test_classifiers_name_every_python_the_matrix_runs() -> None:
    """noxfile.py runs the suite on each Python it lists: the classifiers claim exactly those,
    and requires-python starts at the oldest."""
    import ast

    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    pythons = next(
        ast.literal_eval(node.value) for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PYTHONS"
    )
    project = _project()
    prefix = "Programming Language :: Python :: "
    claimed = [c.removeprefix(prefix) for c in project["classifiers"]  # type: ignore[attr-defined]
               if c.startswith(prefix) and c.removeprefix(prefix)[:1].isdigit() and "." in c]
    assert claimed == pythons
    assert project["requires-python"] == f">={pythons[0]}"
